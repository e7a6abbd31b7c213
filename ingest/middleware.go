package ingest

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// serveHTTP is the outermost handler: it recovers panics, logs the request and turns the
// router's own plain-text 404/405 answers into problems.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w, req: r}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler { //nolint:errorlint // the sentinel is compared by identity
				panic(v)
			}
			s.log.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
				slog.String("method", r.Method), slog.String("route", r.Pattern),
				slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))
			if rec.status == 0 {
				writeProblem(rec, newProblem(http.StatusInternalServerError, codeInternal,
					"an unexpected error occurred; it has been logged"))
			}
		}
		d := time.Since(start)
		if r.Pattern != "" {
			route := r.Pattern
			if _, path, ok := strings.Cut(route, " "); ok {
				route = path
			}
			trace.SpanFromContext(r.Context()).SetAttributes(attribute.String("http.route", route))
		}
		s.logRequest(r, rec, d)
		s.metrics.request(r.Context(), r.Method, r.Pattern, cmp.Or(rec.status, http.StatusOK), d)
	}()
	s.mux.ServeHTTP(rec, r)
}

// logRequest writes one line per request. It names the route pattern, not the raw URL, and
// never logs headers, so credentials cannot reach the log.
func (s *Server) logRequest(r *http.Request, rec *recorder, d time.Duration) {
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelWarn
	}
	route := r.Pattern
	if route == "" {
		route = "unmatched"
	}
	s.log.LogAttrs(r.Context(), level, "http request",
		slog.String("method", r.Method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Duration("duration", d),
		slog.Int64("bytes", rec.bytes))
}

// recorder notes the status and size of a response. When the router answers by itself (no
// pattern matched: 404, 405, a bad request line), it replaces that plain-text answer by a
// problem.
type recorder struct {
	http.ResponseWriter
	req     *http.Request
	status  int
	bytes   int64
	swallow bool
}

func (w *recorder) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	if w.req.Pattern == "" && code >= 400 {
		// The ServeMux's own answer: it set r.Pattern to "" and is about to write text.
		w.swallow = true
		var p *problem
		switch code {
		case http.StatusNotFound:
			p = newProblem(code, codeNotFound, "no route "+w.req.URL.Path)
		case http.StatusMethodNotAllowed:
			p = newProblem(code, codeMethodNotAllowed, w.req.Method+" is not allowed on "+w.req.URL.Path)
			p.allow = w.Header().Get("Allow")
		default:
			p = newProblem(code, codeInvalidRequest, http.StatusText(code))
		}
		h := w.ResponseWriter.Header()
		h.Del("X-Content-Type-Options")
		writeProblem(w.ResponseWriter, p)
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.swallow {
		return len(b), nil
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (Flush, deadlines).
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush sends buffered data to the client.
func (w *recorder) Flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// handlerFunc is a route handler that returns its error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// public adapts an unauthenticated handler.
func (s *Server) public(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}
