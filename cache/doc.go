// Package cache is the platform's shared read-through cache: small JSON values under
// namespaced keys with a time to live, used where many replicas look up the same rarely
// changing record (an API key by its hash, say) and a stale entry must be removable at once
// from every replica.
//
// # Implementations
//
// Cache is the contract; two implementations pass one conformance suite (cache/cachetest), so
// they cannot drift apart:
//
//   - Redis, in production: shared by every replica, so an entry written or deleted by one is
//     seen by all. Redis errors never leave the package: they come back wrapped around
//     ErrUnavailable (a cancelled context stays matchable as context.Canceled), and callers
//     treat them as a miss and fall back to the source of truth.
//   - Memory, in `agentic dev`: the same semantics in one process, an LRU bounded by a number of
//     entries, with TTLs read from an injectable clock.
//
// Values are stored as JSON, so Get always decodes a fresh copy and a caller cannot change a
// cached value by mutating what it got. Stats counts Get's hits and misses for metrics and
// health checks (per Redis client, not across replicas).
//
// # Metrics
//
// One shared cache serves several uses, so lookups are counted per use: a process makes one
// Registry, and each use wraps the cache with Registry.Instrument under its name ("api_keys",
// "tasks", "llm_responses"). Every Get is then counted in agentic.cache.lookups by cache,
// layer and result (hit, miss or error) and in the registry's totals, which /health/detailed
// lists as "caches".
//
// # Keys
//
// Keys are PREFIX:OWNER:name, and the owner is part of the Key type: TenantKey(tenant, name)
// or GlobalKey(name), so entries of different tenants never collide and no entry can be
// written without saying whose it is: "ten_123:agent:summarizer", "global:apikey:<hash>". A key
// with an empty owner or name, an owner containing ':', or a tenant named GlobalOwner is
// refused with ErrBadKey.
//
// # TTL tiers
//
// TTLs come in five tiers, TTLShort (60 s), TTLMedium (5 min), TTLLong (10 min), TTLHour and
// TTLDay; each constant's comment says what it is for. The tier bounds how long an entry may be
// stale if its invalidation is lost; it is not a substitute for invalidating.
//
// # Invalidation
//
// When the source of truth changes, the writer invalidates: Delete removes named entries; Set
// over the key writes a tombstone, which read-through fills (Add, which writes only into an
// empty slot) cannot overwrite with the value they read before the change; DeletePrefix
// removes every entry of one owner whose name starts with a prefix ("agent:" for a tenant's
// agent catalog). On Redis DeletePrefix walks the keyspace with SCAN MATCH (never KEYS, which
// blocks the server) over a pattern in which glob characters are escaped, and removes each
// page with UNLINK. It is not atomic: an entry written during the walk may survive it, so a
// writer that must not race a fill writes tombstones, or versions its names (a generation
// number in the name, bumped to orphan the old entries, which then expire by their TTL).
package cache
