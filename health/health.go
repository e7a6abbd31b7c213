// Package health serves the liveness and readiness endpoints of API.md for every process:
// /health and /health/live answer while the process serves; /health/ready runs the
// process's dependency checks (database, NATS, Redis) concurrently and answers 503 naming
// what is down.
package health

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Check reports whether one dependency answers.
type Check func(ctx context.Context) error

// Status is one check's outcome.
type Status struct {
	Status    string `json:"status"` // ok | down
	LatencyMS int64  `json:"latency_ms"`
	Error     string `json:"error,omitempty"`
}

// Run runs every check at once, each under timeout, and returns their outcomes and the names
// of those that failed, sorted.
func Run(ctx context.Context, checks map[string]Check, timeout time.Duration) (map[string]Status, []string) {
	out := make(map[string]Status, len(checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, check := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			start := time.Now()
			err := check(cctx)
			st := Status{Status: "ok", LatencyMS: time.Since(start).Milliseconds()}
			if err != nil {
				st.Status, st.Error = "down", err.Error()
			}
			mu.Lock()
			out[name] = st
			mu.Unlock()
		}()
	}
	wg.Wait()
	var down []string
	for name, st := range out {
		if st.Status != "ok" {
			down = append(down, name)
		}
	}
	sort.Strings(down)
	return out, down
}

// Register adds /health, /health/live and /health/ready to mux.
func Register(mux *http.ServeMux, checks map[string]Check) {
	ok := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	}
	mux.HandleFunc("GET /health", ok)
	mux.HandleFunc("GET /health/live", ok)
	mux.HandleFunc("GET /health/ready", func(w http.ResponseWriter, r *http.Request) {
		res, down := Run(r.Context(), checks, 2*time.Second)
		if len(down) == 0 {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"status": "ok", "checks": res})
			return
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"type":   "https://agentic.dev/problems/not_ready",
			"title":  "Service Unavailable",
			"status": http.StatusServiceUnavailable,
			"detail": "down: " + strings.Join(down, ", "),
			"code":   "not_ready",
			"checks": res,
		})
	})
}
