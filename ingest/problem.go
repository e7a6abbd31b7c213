package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"

	"github.com/agentic-run/agentic/agents"
	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/webhook"
)

// problemTypeBase prefixes a problem's code to form its type URI.
const problemTypeBase = "https://agentic.dev/problems/"

// The stable problem codes the API answers with (API.md; openapi.json lists them too).
const (
	codeInvalidJSON           = "invalid_json"
	codeJSONTooDeep           = "json_too_deep"
	codeInvalidParameter      = "invalid_parameter"
	codeInvalidRequest        = "invalid_request"
	codeInvalidIdempotencyKey = "invalid_idempotency_key"
	codeUnauthorized          = "unauthorized"
	codeForbidden             = "forbidden"
	codeNotFound              = "not_found"
	codeMethodNotAllowed      = "method_not_allowed"
	codeIdempotencyConflict   = "idempotency_conflict"
	codeTaskFinished          = "task_finished"
	codeConflict              = "conflict"
	codeBodyTooLarge          = "body_too_large"
	codeUnsupportedMediaType  = "unsupported_media_type"
	codeUnknownAgent          = "unknown_agent"
	codeInvalidInput          = "invalid_input"
	codeInvalidWebhookURL     = "invalid_webhook_url"
	codeInvalidMetadata       = "invalid_metadata"
	codeInvalidQuality        = "invalid_quality"
	codeInvalidTier           = "invalid_tier"
	codeInvalidBudget         = "invalid_budget"
	codeRateLimited           = "rate_limited"
	codeBudgetExceeded        = "budget_exceeded"
	codeInternal              = "internal"
	codeUnavailable           = "unavailable"
	codeNotReady              = "not_ready"
)

var titles = map[string]string{
	codeInvalidJSON:           "Malformed JSON",
	codeJSONTooDeep:           "JSON nested too deeply",
	codeInvalidParameter:      "Invalid parameter",
	codeInvalidRequest:        "Invalid request",
	codeInvalidIdempotencyKey: "Invalid Idempotency-Key",
	codeUnauthorized:          "Unauthorized",
	codeForbidden:             "Forbidden",
	codeNotFound:              "Not found",
	codeMethodNotAllowed:      "Method not allowed",
	codeIdempotencyConflict:   "Idempotency-Key reused with a different request",
	codeTaskFinished:          "Task already finished",
	codeConflict:              "Conflict",
	codeBodyTooLarge:          "Request body too large",
	codeUnsupportedMediaType:  "Unsupported media type",
	codeUnknownAgent:          "Unknown agent",
	codeInvalidInput:          "Input does not match the agent's schema",
	codeInvalidWebhookURL:     "Webhook URL not allowed",
	codeInvalidMetadata:       "Invalid metadata",
	codeInvalidQuality:        "Invalid quality",
	codeInvalidTier:           "Invalid tier",
	codeInvalidBudget:         "Invalid budget",
	codeRateLimited:           "Too many requests",
	codeBudgetExceeded:        "Monthly budget exhausted",
	codeInternal:              "Internal error",
	codeUnavailable:           "Service unavailable",
	codeNotReady:              "Not ready",
}

// problem is an RFC 9457 problem: the body of every error answer. It is also an error, so
// handlers return it.
type problem struct {
	Type   string                 `json:"type"`
	Title  string                 `json:"title"`
	Status int                    `json:"status"`
	Detail string                 `json:"detail,omitempty"`
	Code   string                 `json:"code"`
	Errors []client.ProblemField  `json:"errors,omitempty"`
	Checks map[string]checkResult `json:"checks,omitempty"`

	retryAfter int    // seconds; sets Retry-After when > 0
	allow      string // sets Allow on 405
	cause      error  // logged for 5xx, never sent
}

func (p *problem) Error() string { return p.Code + ": " + p.Detail }

func newProblem(status int, code, detail string) *problem {
	title, ok := titles[code]
	if !ok {
		title = http.StatusText(status)
	}
	return &problem{Type: problemTypeBase + code, Title: title, Status: status, Detail: clip(detail, maxEchoDetail), Code: code}
}

// Caps on what a problem repeats back of a request, so that a huge value sent in is never
// reflected in full. Code that quotes a client's value clips it to maxEcho; newProblem and
// field clip everything else as a backstop (schema messages and pointers come from the input).
const (
	maxEcho        = 64   // a value quoted in a detail or message, such as an agent name
	maxEchoPath    = 256  // a field's JSON pointer or parameter name
	maxEchoMessage = 512  // a field's message
	maxEchoDetail  = 1024 // a problem's detail
)

// clip shortens s to its first n characters and an ellipsis when it is longer.
func clip(s string, n int) string {
	if len(s) <= n { // never more characters than bytes
		return s
	}
	chars := 0
	for i := range s {
		if chars == n {
			return s[:i] + "…"
		}
		chars++
	}
	return s
}

// withFields adds the fields that are wrong.
func (p *problem) withFields(f ...client.ProblemField) *problem {
	p.Errors = append(p.Errors, f...)
	return p
}

func field(path, msg string) client.ProblemField {
	return client.ProblemField{Path: clip(path, maxEchoPath), Message: clip(msg, maxEchoMessage)}
}

// Problems used in several places.
var (
	errUnauthorized = newProblem(http.StatusUnauthorized, codeUnauthorized, "missing or invalid credentials")
	errForbidden    = newProblem(http.StatusForbidden, codeForbidden, "this route needs the admin token")
)

func notFound(what string) *problem {
	return newProblem(http.StatusNotFound, codeNotFound, what+" not found")
}

func invalidParameter(name, msg string) *problem {
	return newProblem(http.StatusBadRequest, codeInvalidParameter, "parameter "+name+" "+msg).
		withFields(field(name, msg))
}

// problemFor maps any error a handler returns to the problem the client sees. It is the one
// place where errors become HTTP statuses.
func problemFor(err error) *problem {
	var (
		p       *problem
		tooBig  *http.MaxBytesError
		invalid *agents.InvalidInputError
	)
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &tooBig):
		return newProblem(http.StatusRequestEntityTooLarge, codeBodyTooLarge, "the request body exceeds 1 MiB")
	case errors.Is(err, store.ErrNotFound):
		return notFound("resource")
	case errors.Is(err, store.ErrTaskFinished):
		return newProblem(http.StatusConflict, codeTaskFinished, "the task has already finished")
	case errors.Is(err, store.ErrConflict):
		return newProblem(http.StatusConflict, codeConflict, "the resource conflicts with an existing one")
	case errors.Is(err, store.ErrInvalidCursor):
		return invalidParameter("cursor", "is not a cursor this API issued")
	case errors.As(err, &invalid):
		p := newProblem(http.StatusUnprocessableEntity, codeInvalidInput, "the input does not match the agent's input_schema")
		for _, f := range invalid.Fields {
			p.Errors = append(p.Errors, field(f.Path, f.Message))
		}
		return p
	case errors.Is(err, agents.ErrUnknownAgent):
		return newProblem(http.StatusUnprocessableEntity, codeUnknownAgent, "no agent with that id; see GET /v1/agents")
	case errors.Is(err, webhook.ErrForbiddenTarget), errors.Is(err, webhook.ErrInvalidURL):
		return newProblem(http.StatusUnprocessableEntity, codeInvalidWebhookURL,
			"webhook_url must be a public http(s) address").withFields(field("/webhook_url", "is not allowed"))
	case errors.Is(err, context.DeadlineExceeded):
		p := newProblem(http.StatusServiceUnavailable, codeUnavailable, "a dependency did not answer in time")
		p.retryAfter, p.cause = 1, err
		return p
	}
	p = newProblem(http.StatusInternalServerError, codeInternal, "an unexpected error occurred; it has been logged")
	p.cause = err
	return p
}

// writeError answers with the problem for err, logging the cause of server errors.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p := problemFor(err)
	if p.Status >= 500 && p.cause != nil {
		level := slog.LevelError
		if errors.Is(r.Context().Err(), context.Canceled) {
			level = slog.LevelDebug // the client left; not the server's fault
		}
		s.log.LogAttrs(r.Context(), level, "request failed",
			slog.String("method", r.Method), slog.String("route", r.Pattern),
			slog.Int("status", p.Status), slog.String("error", p.cause.Error()))
	}
	writeProblem(w, p)
}

// writeProblem sends p as application/problem+json.
func writeProblem(w http.ResponseWriter, p *problem) {
	b, err := json.Marshal(p)
	if err != nil { // cannot happen for these types; keep the answer well-formed anyway
		b = []byte(`{"type":"` + problemTypeBase + codeInternal + `","title":"Internal error","status":500,"code":"internal"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if p.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(p.retryAfter))
	}
	if p.allow != "" {
		h.Set("Allow", p.allow)
	}
	if p.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="agentic"`)
	}
	w.WriteHeader(p.Status)
	_, _ = w.Write(b)
}

// writeJSON sends v as application/json.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeRawJSON(w, status, b)
}

var newline = []byte{'\n'}

// writeRawJSON sends already encoded JSON (shared slices are never appended to).
func writeRawJSON(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(b)
	_, _ = w.Write(newline)
}

// ProblemCodes returns every problem code the server answers with, sorted.
func ProblemCodes() []string {
	codes := make([]string, 0, len(titles))
	for c := range titles {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	return codes
}
