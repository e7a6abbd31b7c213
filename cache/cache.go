package cache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Cache is the shared cache's contract: Redis in production, Memory in `agentic dev`. Both
// pass the conformance suite in cache/cachetest.
//
// Values are stored as JSON, so Get always decodes a copy. A ttl of zero or less keeps an entry
// until it is deleted. Keys must have an owner and a name (see Key); a bad key is refused with
// an error wrapping ErrBadKey and nothing is read or written.
type Cache interface {
	// Get loads key into dst (a pointer, as for json.Unmarshal). It reports false, and leaves
	// dst alone, when the key is absent or expired; ErrCorrupt when the stored value does not
	// decode into dst.
	Get(ctx context.Context, key Key, dst any) (bool, error)
	// Set stores v as JSON under key for ttl, replacing any value there.
	Set(ctx context.Context, key Key, v any, ttl time.Duration) error
	// Add stores v as JSON under key for ttl only if the key holds nothing (or only an
	// expired entry), and reports whether it did.
	Add(ctx context.Context, key Key, v any, ttl time.Duration) (bool, error)
	// Delete removes the keys; absent keys are not an error. If any key is bad none is deleted.
	Delete(ctx context.Context, keys ...Key) error
	// DeletePrefix removes every entry of owner (a tenant id, or GlobalOwner for the entries
	// of GlobalKey) whose name starts with namePrefix, and returns how many it removed. The
	// prefix is literal: glob characters in it match only themselves. An empty namePrefix
	// removes all of the owner's entries. It is not atomic: an entry written while it runs
	// may survive it.
	DeletePrefix(ctx context.Context, owner, namePrefix string) (int, error)
	// Ping checks that the cache answers; a readiness check.
	Ping(ctx context.Context) error
	// Stats returns the lookup counts since the cache was made.
	Stats() Stats
}

// Sweeper is a Cache whose expired entries stay until they are read or swept (Memory); the
// scheduler's hourly cache sweep calls Sweep. Redis expires entries itself and is not one.
type Sweeper interface {
	// Sweep drops every expired entry and returns how many it dropped.
	Sweep(ctx context.Context) (int, error)
}

// Stats counts a cache's lookups, for metrics and health checks.
type Stats struct {
	// Hits counts Gets that found an entry and decoded it (returned true).
	Hits uint64
	// Misses counts Gets that found no live entry (returned false without an error). Gets
	// that fail (a bad key, a corrupt entry, Redis unavailable) count in neither.
	Misses uint64
}

// TTL tiers. Pick the tier by how long a stale entry may be served, not by how expensive the
// source is: an entry that can change must also be invalidated explicitly (Delete, a
// tombstone written with Set, or DeletePrefix), and the TTL only bounds the damage of a lost
// invalidation.
const (
	// TTLShort is for records that change under their readers and whose staleness shows:
	// negative lookups ("no such API key"), a tenant's tier and budget, a task still running.
	TTLShort = 60 * time.Second
	// TTLMedium is for records that change rarely and are invalidated when they do: API-key
	// lookups (revocation writes a tombstone), the agent catalog, tenant settings.
	TTLMedium = 300 * time.Second
	// TTLLong is for records that no longer change: terminal tasks (succeeded, failed,
	// canceled) polled by clients, finished run summaries.
	TTLLong = 600 * time.Second
	// TTLHour is for expensive results keyed by everything they depend on: LLM responses
	// keyed by a hash of model, parameters and prompt, tool results keyed by their input.
	TTLHour = time.Hour
	// TTLDay is for content-addressed or reference data: embeddings keyed by content hash,
	// model catalogs and price tables.
	TTLDay = 24 * time.Hour
)

// ErrBadKey is wrapped by the error of every call given a key, or an owner, that cannot be
// stored: an empty owner or name, an owner containing ':', a tenant id equal to GlobalOwner.
var ErrBadKey = errors.New("cache: bad key")

// GlobalOwner is the owner of the entries named by GlobalKey; DeletePrefix takes it to remove
// global entries. It is not a valid tenant id.
const GlobalOwner = "global"

// Key names an entry: whose it is (a tenant, or global) and what it is. There is no other
// way to make one, so every entry carries its tenant.
type Key struct {
	owner, name string
	global      bool
}

// TenantKey names a tenant's entry: stored as PREFIX:TENANT:name. The tenant id must be
// non-empty, must not contain ':' and must not be GlobalOwner; the name must be non-empty.
func TenantKey(tenantID, name string) Key { return Key{owner: tenantID, name: name} }

// GlobalKey names an entry that is no tenant's (an API key looked up by its hash, before the
// tenant is known): stored as PREFIX:global:name.
func GlobalKey(name string) Key { return Key{owner: GlobalOwner, name: name, global: true} }

// String returns "owner:name", the key as stored without the cache's prefix; for logs and
// test messages.
func (k Key) String() string { return k.owner + ":" + k.name }

// check refuses a key that would share a namespace or collide with another's.
func (k Key) check() error {
	if !k.global {
		if k.owner == "" {
			return fmt.Errorf("%w: key without a tenant", ErrBadKey)
		}
		if k.owner == GlobalOwner {
			return fmt.Errorf("%w: tenant id %q is reserved for global keys", ErrBadKey, GlobalOwner)
		}
	}
	if err := checkOwner(k.owner); err != nil {
		return err
	}
	if k.name == "" {
		return fmt.Errorf("%w: key without a name", ErrBadKey)
	}
	return nil
}

// checkOwner refuses an owner that is empty or would run into the name ("ten_1:x" as an
// owner would make TenantKey("ten_1:x", "y") and TenantKey("ten_1", "x:y") the same entry).
func checkOwner(owner string) error {
	if owner == "" {
		return fmt.Errorf("%w: empty owner", ErrBadKey)
	}
	if strings.Contains(owner, ":") {
		return fmt.Errorf("%w: owner %q contains ':'", ErrBadKey, owner)
	}
	return nil
}
