package ingest

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/agentic-run/agentic/health"
)

// checkResult is one readiness check's outcome. The cause of a failure is logged, not sent:
// the route is public.
type checkResult struct {
	Status    string `json:"status"` // ok | down
	LatencyMS int64  `json:"latency_ms"`
}

var okBody = []byte(`{"status":"ok"}`)

// GET /health and /health/live: the process serves.
func (s *Server) health(w http.ResponseWriter, _ *http.Request) error {
	writeRawJSON(w, http.StatusOK, okBody)
	return nil
}

// GET /health/ready: every ready check answers within 2 s (run concurrently), else 503
// naming those that did not.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) error {
	results := make(map[string]checkResult, len(s.cfg.ReadyChecks))
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		down []string
	)
	for name, check := range s.cfg.ReadyChecks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
			defer cancel()
			start := time.Now()
			err := runCheck(ctx, check)
			res := checkResult{Status: "ok", LatencyMS: time.Since(start).Milliseconds()}
			if err != nil {
				res.Status = "down"
				s.log.WarnContext(r.Context(), "readiness check failed", "check", name, "error", err.Error())
			}
			mu.Lock()
			defer mu.Unlock()
			results[name] = res
			if err != nil {
				down = append(down, name)
			}
		})
	}
	wg.Wait()
	if len(down) > 0 {
		slices.Sort(down)
		p := newProblem(http.StatusServiceUnavailable, codeNotReady, "not ready: "+strings.Join(down, ", ")+" down")
		p.Checks, p.retryAfter = results, 5
		return p
	}
	s.writeJSON(w, r, http.StatusOK, struct {
		Status  string                 `json:"status"`
		Version string                 `json:"version,omitempty"`
		Checks  map[string]checkResult `json:"checks"`
	}{"ok", s.cfg.Version, results})
	return nil
}

// runCheck runs check but returns when ctx ends even if the check ignores it.
func runCheck(ctx context.Context, check func(context.Context) error) error {
	done := make(chan error, 1)
	go func() { done <- check(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// detailedHandler answers GET /health/detailed (behind the admin guard): the ready checks,
// or the probes standing in for them, the providers and workers, and the process's caches, as
// health.DetailedHandler reports them.
func (s *Server) detailedHandler() handlerFunc {
	checks := make(map[string]health.Check, len(s.cfg.ReadyChecks))
	for name, check := range s.cfg.ReadyChecks {
		checks[name] = check
	}
	d := *s.cfg.Detailed
	d.AdminToken = ""
	if d.Cache == nil {
		d.Cache = s.metrics.cacheStatus
	}
	if d.Caches == nil {
		d.Caches = health.CacheStatuses(s.cfg.Caches.Lookups)
	}
	if d.Version == "" {
		d.Version = s.cfg.Version
	}
	h := health.DetailedHandler(checks, d)
	return func(w http.ResponseWriter, r *http.Request) error {
		h.ServeHTTP(w, r)
		return nil
	}
}
