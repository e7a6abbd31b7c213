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

// Probe is a check that also reports figures about its dependency, shown beside the check's
// status in /health/detailed (the nats check's pending_tasks).
type Probe func(ctx context.Context) (map[string]any, error)

// Status is one check's outcome.
type Status struct {
	Status    string `json:"status"` // ok | down
	LatencyMS int64  `json:"latency_ms"`
	Error     string `json:"error,omitempty"`
	// Info holds the figures a Probe reported, encoded beside the fields above.
	Info map[string]any `json:"-"`
}

// MarshalJSON encodes the status with its Info's figures as fields of their own.
func (s Status) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(s.Info)+3)
	for k, v := range s.Info {
		m[k] = v
	}
	m["status"], m["latency_ms"] = s.Status, s.LatencyMS
	if s.Error != "" {
		m["error"] = s.Error
	}
	return json.Marshal(m)
}

// Run runs every check at once, each under timeout, and returns their outcomes and the names
// of those that failed, sorted.
func Run(ctx context.Context, checks map[string]Check, timeout time.Duration) (map[string]Status, []string) {
	probes := make(map[string]Probe, len(checks))
	for name, check := range checks {
		probes[name] = func(ctx context.Context) (map[string]any, error) { return nil, check(ctx) }
	}
	return RunProbes(ctx, probes, timeout)
}

// RunProbes is Run for probes: each ok outcome carries the figures its probe reported.
func RunProbes(ctx context.Context, probes map[string]Probe, timeout time.Duration) (map[string]Status, []string) {
	out := make(map[string]Status, len(probes))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, probe := range probes {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			start := time.Now()
			info, err := runProbe(cctx, probe)
			st := Status{Status: "ok", LatencyMS: time.Since(start).Milliseconds(), Info: info}
			if err != nil {
				st.Status, st.Error, st.Info = "down", err.Error(), nil
			}
			mu.Lock()
			out[name] = st
			mu.Unlock()
		})
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

// runProbe runs probe but returns when ctx ends even if the probe ignores it.
func runProbe(ctx context.Context, probe Probe) (map[string]any, error) {
	type result struct {
		info map[string]any
		err  error
	}
	done := make(chan result, 1)
	go func() {
		info, err := probe(ctx)
		done <- result{info, err}
	}()
	select {
	case r := <-done:
		return r.info, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
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
	// Probes stand in for the checks of the same name (or add checks), reporting figures
	// beside their status, such as the nats check's pending_tasks.
	Probes map[string]Probe
	// Workers, when set, gives the workers that announced themselves (on ingest); the report
	// is "degraded" while there are none.
	Workers func() WorkersStatus
	// Cache, when set, gives the process's caches' hit rates (API.md's "cache": {"hit_rate"}).
	Cache func() CacheStatus
	// Caches, when set, gives each named cache of the process ("api_keys", "tasks",
	// "llm_responses") with its own lookups, reported as "caches" beside "cache".
	Caches func() map[string]CacheStatus
	// AdminToken, when set, must come as the Bearer token.
	AdminToken string
}

// CacheStatus is a process's cache lookups since it started.
type CacheStatus struct {
	HitRate float64 `json:"hit_rate"` // hits / lookups, 0 before the first lookup
	Lookups int64   `json:"lookups"`
	Hits    int64   `json:"hits"`
	// Errors counts the lookups that failed (the cache was down, an entry was corrupt),
	// among Lookups; callers served them from the source as misses.
	Errors int64 `json:"errors,omitempty"`
}

// NewCacheStatus returns the status of hits and errors among lookups, with its hit rate.
func NewCacheStatus(hits, lookups, errors uint64) CacheStatus {
	st := CacheStatus{Hits: int64(hits), Lookups: int64(lookups), Errors: int64(errors)}
	if lookups > 0 {
		st.HitRate = float64(hits) / float64(lookups)
	}
	return st
}

// CacheCounts is what a named cache counts (cache.Lookups).
type CacheCounts interface {
	Counts() (hits, lookups, errors uint64)
}

// CacheStatuses returns Detailed.Caches for the named caches all lists.
func CacheStatuses[C CacheCounts](all func() map[string]C) func() map[string]CacheStatus {
	return func() map[string]CacheStatus {
		caches := all()
		out := make(map[string]CacheStatus, len(caches))
		for name, c := range caches {
			out[name] = NewCacheStatus(c.Counts())
		}
		return out
	}
}

// RegisterDetailed adds /health/detailed to mux (see DetailedHandler), guarded by
// d.AdminToken when it is set.
func RegisterDetailed(mux *http.ServeMux, checks map[string]Check, d Detailed) {
	h := DetailedHandler(checks, d)
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
		h.ServeHTTP(w, r)
	})
}

// DetailedHandler answers /health/detailed, without checking who asks (RegisterDetailed and
// ingest's admin guard do): every check (or its probe) with its latency, the LLM providers'
// circuits and, when set, the workers and the caches. Its status is "down" when a check fails,
// "degraded" when a circuit is not closed or no worker is alive, else "ok"; it answers 200
// either way, since it reports rather than gates.
func DetailedHandler(checks map[string]Check, d Detailed) http.Handler {
	probes := make(map[string]Probe, len(checks)+len(d.Probes))
	for name, check := range checks {
		probes[name] = func(ctx context.Context) (map[string]any, error) { return nil, check(ctx) }
	}
	for name, probe := range d.Probes {
		probes[name] = probe
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, down := RunProbes(r.Context(), probes, 2*time.Second)
		status := "ok"
		body := map[string]any{"version": d.Version, "checks": res}
		var providers map[string]ProviderStatus
		if d.Providers != nil {
			providers = d.Providers()
			for _, p := range providers {
				if p.Circuit != "closed" {
					status = "degraded"
				}
			}
		}
		body["providers"] = providers
		if d.Workers != nil {
			workers := d.Workers()
			if workers.Count == 0 {
				status = "degraded"
			}
			body["workers"] = workers
		}
		if d.Cache != nil {
			body["cache"] = d.Cache()
		}
		if d.Caches != nil {
			body["caches"] = d.Caches()
		}
		if len(down) > 0 {
			status = "down"
		}
		body["status"] = status
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(body)
	})
}

// bearerIs reports, in constant time, whether the request carries token as its Bearer token.
func bearerIs(r *http.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

// Circuit is one model's circuit breaker: closed, half_open or open.
type Circuit struct {
	Provider string `json:"provider"`
	Model    string `json:"model"`
	State    string `json:"state"`
}

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
