package cache

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// LookupsMetric is the name of the counter of cache lookups, agentic_cache_lookups_total in
// Prometheus. It is defined here only, so every process and package counts its caches in the
// one instrument with the same attributes: cache (the use's name: "api_keys", "tasks",
// "llm_responses"), layer and result.
const LookupsMetric = "agentic.cache.lookups"

// The layers a lookup is counted in: the layer attribute of LookupsMetric.
const (
	// LayerLocal is a small front cache of a process's own (ingest's API keys, kept ≤ 1 s).
	LayerLocal = "local"
	// LayerMemory is the in-process Memory cache of `agentic dev`.
	LayerMemory = "memory"
	// LayerRedis is the Redis cache shared by every replica.
	LayerRedis = "redis"
	// LayerOther is any other Cache implementation (a test's fake, say).
	LayerOther = "other"
)

// Result is how one lookup ended: the result attribute of LookupsMetric.
type Result string

// The results of a lookup.
const (
	// Hit: the entry was found and decoded.
	Hit Result = "hit"
	// Miss: no live entry.
	Miss Result = "miss"
	// Error: the lookup failed (Redis unavailable, a corrupt entry, a bad key); callers treat
	// it as a miss, but it is counted apart so that an outage shows.
	Error Result = "error"
)

// resultOf classifies a Get's outcome.
func resultOf(found bool, err error) Result {
	switch {
	case err != nil:
		return Error
	case found:
		return Hit
	}
	return Miss
}

// Lookups are one named cache's lookups since the process started.
type Lookups struct {
	Hits, Misses, Errors uint64
}

// Counts returns the hits, every lookup and the errors (health.CacheCounts).
func (l Lookups) Counts() (hits, lookups, errors uint64) { return l.Hits, l.Total(), l.Errors }

// Total returns every lookup: hits, misses and errors.
func (l Lookups) Total() uint64 { return l.Hits + l.Misses + l.Errors }

// Counter counts the lookups of one named cache, in LookupsMetric and in totals kept for
// health reports. A cache of several layers (an in-process front before Redis) counts each
// layer's lookups in one Counter, each under its layer. It is safe for concurrent use.
type Counter struct {
	name string
	inst metric.Int64Counter

	mu     sync.Mutex
	layers map[string]*layerAttrs

	hits, misses, errors atomic.Uint64
}

// layerAttrs are the pre-built attribute sets of one layer's three results, so counting does
// not allocate.
type layerAttrs struct {
	hit, miss, err metric.AddOption
}

// newLookupsCounter makes (or, on the same meter, finds) the one LookupsMetric instrument.
func newLookupsCounter(m metric.Meter) (metric.Int64Counter, error) {
	c, err := m.Int64Counter(LookupsMetric, metric.WithUnit("{lookup}"),
		metric.WithDescription("Cache lookups by cache (its use), layer (local: a process's own front cache; "+
			"memory: the in-process cache of agentic dev; redis: shared by the replicas) and result (hit, miss or error)."))
	if err != nil {
		return nil, fmt.Errorf("cache: metric %s: %w", LookupsMetric, err)
	}
	return c, nil
}

// NewCounter returns a Counter of the cache named name, recording on meter (nil: record
// nothing but the totals). Prefer a Registry's Counter, which lists it in health reports.
func NewCounter(name string, meter metric.Meter) (*Counter, error) {
	if name == "" {
		return nil, errors.New("cache: counter without a name")
	}
	if meter == nil {
		meter = noop.NewMeterProvider().Meter("")
	}
	inst, err := newLookupsCounter(meter)
	if err != nil {
		return nil, err
	}
	return &Counter{name: name, inst: inst, layers: make(map[string]*layerAttrs)}, nil
}

// Name returns the cache's name, the cache attribute of its lookups.
func (c *Counter) Name() string { return c.name }

// attrsOf returns layer's attribute sets, built at its first lookup.
func (c *Counter) attrsOf(layer string) *layerAttrs {
	c.mu.Lock()
	defer c.mu.Unlock()
	la, ok := c.layers[layer]
	if !ok {
		set := func(r Result) metric.AddOption {
			return metric.WithAttributeSet(attribute.NewSet(attribute.String("cache", c.name),
				attribute.String("layer", layer), attribute.String("result", string(r))))
		}
		la = &layerAttrs{hit: set(Hit), miss: set(Miss), err: set(Error)}
		c.layers[layer] = la
	}
	return la
}

// Count records one lookup in layer that ended in r.
func (c *Counter) Count(ctx context.Context, layer string, r Result) {
	la := c.attrsOf(layer)
	switch r {
	case Hit:
		c.hits.Add(1)
		c.inst.Add(ctx, 1, la.hit)
	case Miss:
		c.misses.Add(1)
		c.inst.Add(ctx, 1, la.miss)
	default:
		c.errors.Add(1)
		c.inst.Add(ctx, 1, la.err)
	}
}

// Lookups returns the lookups counted so far, every layer's together.
func (c *Counter) Lookups() Lookups {
	return Lookups{Hits: c.hits.Load(), Misses: c.misses.Load(), Errors: c.errors.Load()}
}

// Wrap returns cache counting its Gets in c, under the layer its implementation names
// (LayerRedis, LayerMemory, else LayerOther).
func (c *Counter) Wrap(cache Cache) *Instrumented {
	return &Instrumented{Cache: cache, counter: c, layer: layerOf(cache)}
}

// layerOf names the layer an implementation is.
func layerOf(c Cache) string {
	switch c := c.(type) {
	case *Redis:
		return LayerRedis
	case *Memory:
		return LayerMemory
	case *Instrumented:
		return c.layer
	}
	return LayerOther
}

// Instrumented is a Cache that counts every Get in its Counter (the LookupsMetric counter and
// the named cache's totals) and otherwise passes each call to the cache it wraps. One shared
// cache may be wrapped once per use, each under its own name. It is safe for concurrent use.
type Instrumented struct {
	Cache
	counter *Counter
	layer   string

	hits, misses atomic.Uint64
}

var _ Cache = (*Instrumented)(nil)

// Instrument returns c counting its Gets as the cache named name on meter (nil: none). It
// is NewCounter and Wrap; a process lists its caches for health reports with a Registry's
// Instrument instead.
func Instrument(c Cache, name string, meter metric.Meter) (*Instrumented, error) {
	ctr, err := NewCounter(name, meter)
	if err != nil {
		return nil, err
	}
	return ctr.Wrap(c), nil
}

// Get implements Cache, counting the lookup as a hit, a miss or an error.
func (i *Instrumented) Get(ctx context.Context, key Key, dst any) (bool, error) {
	found, err := i.Cache.Get(ctx, key, dst)
	r := resultOf(found, err)
	switch r {
	case Hit:
		i.hits.Add(1)
	case Miss:
		i.misses.Add(1)
	}
	i.counter.Count(ctx, i.layer, r)
	return found, err
}

// Stats implements Cache: the Gets made through this wrapper, not those of other uses of the
// cache it wraps.
func (i *Instrumented) Stats() Stats {
	return Stats{Hits: i.hits.Load(), Misses: i.misses.Load()}
}

// Registry is a process's named caches: it makes their Counters on one meter and lists their
// lookups for /health/detailed. A process makes one and hands it to every part that caches,
// so that one report shows them all. It is safe for concurrent use.
type Registry struct {
	meter metric.Meter

	mu       sync.Mutex
	counters map[string]*Counter
}

// NewRegistry returns an empty registry recording on meter (nil: record nothing but the
// totals).
func NewRegistry(meter metric.Meter) *Registry {
	if meter == nil {
		meter = noop.NewMeterProvider().Meter("")
	}
	return &Registry{meter: meter, counters: make(map[string]*Counter)}
}

// Counter returns the Counter of the cache named name, made at the first call: every use of
// one name counts in one Counter.
func (r *Registry) Counter(name string) (*Counter, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.counters[name]; ok {
		return c, nil
	}
	c, err := NewCounter(name, r.meter)
	if err != nil {
		return nil, err
	}
	r.counters[name] = c
	return c, nil
}

// Instrument returns c counting its Gets under name, listed in the registry. A nil c stays
// nil and lists nothing (no cache configured), so callers can wrap an optional cache
// unconditionally; the result is then a nil Cache, not a nil *Instrumented.
func (r *Registry) Instrument(c Cache, name string) (Cache, error) {
	if c == nil {
		return nil, nil
	}
	ctr, err := r.Counter(name)
	if err != nil {
		return nil, err
	}
	return ctr.Wrap(c), nil
}

// Lookups returns each named cache's lookups so far, by name.
func (r *Registry) Lookups() map[string]Lookups {
	r.mu.Lock()
	counters := maps.Clone(r.counters)
	r.mu.Unlock()
	out := make(map[string]Lookups, len(counters))
	for name, c := range counters {
		out[name] = c.Lookups()
	}
	return out
}
