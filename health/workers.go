package health

import (
	"sort"
	"sync"
	"time"
)

// Heartbeat is what a worker process announces about itself every HeartbeatInterval (as JSON
// on the workers' heartbeat subject), so that ingest can report the workers alive and their
// LLM providers' circuits.
type Heartbeat struct {
	ID          string    `json:"id"`
	Hostname    string    `json:"hostname"`
	Version     string    `json:"version,omitempty"`
	Concurrency int       `json:"concurrency"`
	Running     int       `json:"running_tasks"`
	StartedAt   time.Time `json:"started_at"`
	// Providers are the LLM providers the worker may call, Circuits its models' breakers.
	Providers []string  `json:"providers,omitempty"`
	Circuits  []Circuit `json:"circuits,omitempty"`
	// Stopping says the worker is shutting down: forget it now rather than when it expires.
	Stopping bool `json:"stopping,omitempty"`
}

// HeartbeatInterval is how often a worker announces itself; WorkerTTL is how long a
// collector remembers a worker since its last heartbeat.
const (
	HeartbeatInterval = 10 * time.Second
	WorkerTTL         = 30 * time.Second
)

// WorkerStatus is one worker as /health/detailed lists it.
type WorkerStatus struct {
	ID           string    `json:"id"`
	Hostname     string    `json:"hostname"`
	Version      string    `json:"version,omitempty"`
	Concurrency  int       `json:"concurrency"`
	RunningTasks int       `json:"running_tasks"`
	StartedAt    time.Time `json:"started_at"`
	LastSeen     time.Time `json:"last_seen"`
}

// WorkersStatus is the "workers" section of /health/detailed.
type WorkersStatus struct {
	Count        int            `json:"count"`
	RunningTasks int            `json:"running_tasks"`
	List         []WorkerStatus `json:"list"` // by id
}

// Workers keeps the last heartbeat of each worker for TTL. The zero value is ready to use; it
// is safe for concurrent use.
type Workers struct {
	// TTL is how long a worker is remembered after its last heartbeat (default WorkerTTL).
	TTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time

	mu   sync.Mutex
	seen map[string]seenWorker
}

type seenWorker struct {
	hb Heartbeat
	at time.Time
}

func (w *Workers) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

// Observe records a heartbeat; one without an id is ignored, one that says the worker is
// stopping forgets it.
func (w *Workers) Observe(hb Heartbeat) {
	if hb.ID == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if hb.Stopping {
		delete(w.seen, hb.ID)
		return
	}
	if w.seen == nil {
		w.seen = make(map[string]seenWorker)
	}
	w.seen[hb.ID] = seenWorker{hb: hb, at: w.now()}
}

// alive returns the heartbeats not older than TTL, by id, dropping the others.
func (w *Workers) alive() []seenWorker {
	ttl := w.TTL
	if ttl <= 0 {
		ttl = WorkerTTL
	}
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]seenWorker, 0, len(w.seen))
	for id, s := range w.seen {
		if now.Sub(s.at) > ttl {
			delete(w.seen, id)
			continue
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].hb.ID < out[j].hb.ID })
	return out
}

// Status reports the workers alive.
func (w *Workers) Status() WorkersStatus {
	alive := w.alive()
	st := WorkersStatus{Count: len(alive), List: make([]WorkerStatus, 0, len(alive))}
	for _, s := range alive {
		st.RunningTasks += s.hb.Running
		st.List = append(st.List, WorkerStatus{
			ID: s.hb.ID, Hostname: s.hb.Hostname, Version: s.hb.Version, Concurrency: s.hb.Concurrency,
			RunningTasks: s.hb.Running, StartedAt: s.hb.StartedAt, LastSeen: s.at,
		})
	}
	return st
}

// Providers folds the circuits the workers alive reported (a model's circuit is the most open
// any worker has) into each provider's status, as Circuits does for one process.
func (w *Workers) Providers() map[string]ProviderStatus {
	rank := map[string]int{"closed": 0, "half_open": 1, "open": 2}
	names := map[string]bool{}
	models := map[[2]string]string{}
	for _, s := range w.alive() {
		for _, p := range s.hb.Providers {
			names[p] = true
		}
		for _, c := range s.hb.Circuits {
			k := [2]string{c.Provider, c.Model}
			if cur, ok := models[k]; !ok || rank[c.State] > rank[cur] {
				models[k] = c.State
			}
		}
	}
	providers := make([]string, 0, len(names))
	for p := range names {
		providers = append(providers, p)
	}
	sort.Strings(providers)
	circuits := make([]Circuit, 0, len(models))
	for k, state := range models {
		circuits = append(circuits, Circuit{Provider: k[0], Model: k[1], State: state})
	}
	return Circuits(providers, circuits)
}
