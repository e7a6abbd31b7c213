package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrUnavailable wraps every failure to talk to Redis (connection refused, timeouts, a closed
// client). The Redis error's text is kept in the message; its type is not.
var ErrUnavailable = errors.New("cache: unavailable")

// ErrCorrupt is returned by Get when a stored value is not valid JSON for dst.
var ErrCorrupt = errors.New("cache: corrupt entry")

// Redis is a JSON cache on a Redis client. It is safe for concurrent use.
type Redis struct {
	c      *redis.Client
	prefix string
}

// NewRedis returns a cache storing its keys under prefix + ":" on c.
func NewRedis(c *redis.Client, prefix string) *Redis {
	return &Redis{c: c, prefix: prefix + ":"}
}

// Key names an entry: whose it is (a tenant, or global) and what it is. There is no other
// way to make one, so every entry carries its tenant.
type Key struct {
	owner, name string
}

// TenantKey names a tenant's entry: stored as PREFIX:TENANT:name.
func TenantKey(tenantID, name string) Key { return Key{owner: tenantID, name: name} }

// GlobalKey names an entry that is no tenant's (an API key looked up by its hash, before the
// tenant is known): stored as PREFIX:global:name.
func GlobalKey(name string) Key { return Key{owner: globalOwner, name: name} }

const globalOwner = "global"

// errNoOwner refuses a tenant key with an empty tenant id, which would share a namespace.
var errNoOwner = errors.New("cache: key without a tenant")

// Key returns the Redis key under which k is stored.
func (r *Redis) Key(k Key) string { return r.prefix + k.owner + ":" + k.name }

// redisKey is Key, refusing a key without an owner.
func (r *Redis) redisKey(k Key) (string, error) {
	if k.owner == "" {
		return "", errNoOwner
	}
	return r.Key(k), nil
}

// Get loads key into dst (a pointer, as for json.Unmarshal). It reports false, and leaves dst
// alone, when the key is absent or expired.
func (r *Redis) Get(ctx context.Context, key Key, dst any) (bool, error) {
	rk, err := r.redisKey(key)
	if err != nil {
		return false, err
	}
	b, err := r.c.Get(ctx, rk).Bytes()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, unavailable("get", err)
	}
	if err := json.Unmarshal(b, dst); err != nil {
		return false, fmt.Errorf("cache get: %w: %v", ErrCorrupt, err)
	}
	return true, nil
}

// Set stores v as JSON under key for ttl, replacing any value there. A ttl of zero or less
// keeps the entry until it is deleted.
func (r *Redis) Set(ctx context.Context, key Key, v any, ttl time.Duration) error {
	rk, err := r.redisKey(key)
	if err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("cache set: encode: %w", err)
	}
	if ttl < 0 {
		ttl = 0
	}
	if err := r.c.Set(ctx, rk, b, ttl).Err(); err != nil {
		return unavailable("set", err)
	}
	return nil
}

// Add stores v as JSON under key for ttl only if the key holds nothing, and reports whether it
// did. Read-through fills use it so that they never overwrite a newer entry written by an
// invalidation (a tombstone) between their read of the source and their fill.
func (r *Redis) Add(ctx context.Context, key Key, v any, ttl time.Duration) (bool, error) {
	rk, err := r.redisKey(key)
	if err != nil {
		return false, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return false, fmt.Errorf("cache add: encode: %w", err)
	}
	if ttl < 0 {
		ttl = 0
	}
	ok, err := r.c.SetNX(ctx, rk, b, ttl).Result()
	if err != nil {
		return false, unavailable("add", err)
	}
	return ok, nil
}

// Delete removes the keys; absent keys are not an error.
func (r *Redis) Delete(ctx context.Context, keys ...Key) error {
	if len(keys) == 0 {
		return nil
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		rk, err := r.redisKey(k)
		if err != nil {
			return err
		}
		full[i] = rk
	}
	if err := r.c.Del(ctx, full...).Err(); err != nil {
		return unavailable("delete", err)
	}
	return nil
}

// Ping checks that Redis answers; a readiness check.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.c.Ping(ctx).Err(); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// unavailable translates a Redis error: the caller's own context errors stay matchable, the
// rest become ErrUnavailable with the driver's text.
func unavailable(op string, err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("cache %s: %w", op, context.Canceled)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("cache %s: %w: %w", op, ErrUnavailable, context.DeadlineExceeded)
	}
	return fmt.Errorf("cache %s: %w: %v", op, ErrUnavailable, err)
}
