// Package cache is the platform's shared read-through cache on Redis: small JSON values under
// namespaced keys with a time to live, used where many replicas look up the same rarely
// changing record (an API key by its hash, say) and a stale entry must be removable at once
// from every replica.
//
// Keys are PREFIX:OWNER:name, and the owner is part of the Key type: TenantKey(tenant, name)
// or GlobalKey(name), so entries of different tenants never collide and no entry can be
// written without saying whose it is: "ten_123:agent:summarizer", "global:apikey:<hash>". Redis
// errors never leave the package: they come back wrapped around ErrUnavailable, and callers
// treat them as a miss and fall back to the source of truth.
package cache
