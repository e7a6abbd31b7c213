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

// Key returns the Redis key under which key is stored.
func (r *Redis) Key(key string) string { return r.prefix + key }

// Get loads key into dst (a pointer, as for json.Unmarshal). It reports false, and leaves dst
// alone, when the key is absent or expired.
func (r *Redis) Get(ctx context.Context, key string, dst any) (bool, error) {
	b, err := r.c.Get(ctx, r.prefix+key).Bytes()
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
func (r *Redis) Set(ctx context.Context, key string, v any, ttl time.Duration) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("cache set: encode: %w", err)
	}
	if ttl < 0 {
		ttl = 0
	}
	if err := r.c.Set(ctx, r.prefix+key, b, ttl).Err(); err != nil {
		return unavailable("set", err)
	}
	return nil
}

// Add stores v as JSON under key for ttl only if the key holds nothing, and reports whether it
// did. Read-through fills use it so that they never overwrite a newer entry written by an
// invalidation (a tombstone) between their read of the source and their fill.
func (r *Redis) Add(ctx context.Context, key string, v any, ttl time.Duration) (bool, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return false, fmt.Errorf("cache add: encode: %w", err)
	}
	if ttl < 0 {
		ttl = 0
	}
	ok, err := r.c.SetNX(ctx, r.prefix+key, b, ttl).Result()
	if err != nil {
		return false, unavailable("add", err)
	}
	return ok, nil
}

// Delete removes the keys; absent keys are not an error.
func (r *Redis) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = r.prefix + k
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
