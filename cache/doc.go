// Package cache is the platform's shared read-through cache on Redis: small JSON values under
// namespaced keys with a time to live, used where many replicas look up the same rarely
// changing record (an API key by its hash, say) and a stale entry must be removable at once
// from every replica.
//
// Keys are PREFIX + ":" + key. Callers put the tenant (or "global") into the key, so entries of
// different tenants never collide: "ten_123:agent:summarizer", "global:apikey:<hash>". Redis
// errors never leave the package: they come back wrapped around ErrUnavailable, and callers
// treat them as a miss and fall back to the source of truth.
package cache
