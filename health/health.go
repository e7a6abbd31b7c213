// Package health serves the liveness and readiness endpoints of API.md for every process:
// /health and /health/live answer while the process serves; /health/ready runs the
// process's dependency checks (database, NATS, Redis) concurrently and answers 503 naming
// what is down.
package health

import (
	"context"
	"crypto/subtle"
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

// ProviderStatus is one LLM provider as /health/detailed shows it: its circuit — the most
// open of its models' — and each model's.
type ProviderStatus struct {
	Status  string            `json:"status"`  // ok | degraded (a model's circuit is not closed) | down (every model's is open)
	Circuit string            `json:"circuit"` // closed | half_open | open
	Models  map[string]string `json:"models"`  // model id → its circuit
}

// Detailed is what /health/detailed reports besides the checks.
type Detailed struct {
	Version string
	// Providers gives the LLM providers' breakers (nil in a process that calls none).
	Providers func() map[string]ProviderStatus
	// AdminToken, when set, must come as the Bearer token.
	AdminToken string
}

// RegisterDetailed adds /health/detailed to mux: every check with its latency, and the LLM
// providers' circuits. Its status is "down" when a check fails, "degraded" when a circuit is
// not closed, else "ok"; it answers 200 either way, since it reports rather than gates.
func RegisterDetailed(mux *http.ServeMux, checks map[string]Check, d Detailed) {
	mux.HandleFunc("GET /health/detailed", func(w http.ResponseWriter, r *http.Request) {
		if d.AdminToken != "" && !bearerIs(r, d.AdminToken) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.Header().Set("WWW-Authenticate", "Bearer")
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]any{
				"type": "https://agentic.dev/problems/unauthorized", "title": "Unauthorized",
				"status": http.StatusUnauthorized, "detail": "the admin token is required", "code": "unauthorized",
			})
			return
		}
		res, down := Run(r.Context(), checks, 2*time.Second)
		status := "ok"
		var providers map[string]ProviderStatus
		if d.Providers != nil {
			providers = d.Providers()
			for _, p := range providers {
				if p.Circuit != "closed" {
					status = "degraded"
				}
			}
		}
		if len(down) > 0 {
			status = "down"
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "version": d.Version, "checks": res, "providers": providers})
	})
}

// bearerIs reports, in constant time, whether the request carries token as its Bearer token.
func bearerIs(r *http.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

// Circuit is one model's circuit breaker: closed, half_open or open.
type Circuit struct{ Provider, Model, State string }

// Circuits folds each model's circuit into its provider's status; a provider without
// circuits yet (never called) is ok and closed.
func Circuits(providers []string, models []Circuit) map[string]ProviderStatus {
	out := make(map[string]ProviderStatus, len(providers))
	for _, p := range providers {
		out[p] = ProviderStatus{Status: "ok", Circuit: "closed", Models: map[string]string{}}
	}
	rank := map[string]int{"closed": 0, "half_open": 1, "open": 2}
	for _, m := range models {
		p, ok := out[m.Provider]
		if !ok {
			p = ProviderStatus{Status: "ok", Circuit: "closed", Models: map[string]string{}}
		}
		p.Models[m.Model] = m.State
		if rank[m.State] > rank[p.Circuit] {
			p.Circuit = m.State
		}
		out[m.Provider] = p
	}
	for name, p := range out {
		open := 0
		for _, st := range p.Models {
			if st == "open" {
				open++
			}
		}
		switch {
		case len(p.Models) > 0 && open == len(p.Models):
			p.Status = "down"
		case p.Circuit != "closed":
			p.Status = "degraded"
		}
		out[name] = p
	}
	return out
}
