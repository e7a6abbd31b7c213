package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
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

	hits, misses atomic.Uint64
}

var _ Cache = (*Redis)(nil)

// NewRedis returns a cache storing its keys under prefix + ":" on c.
func NewRedis(c *redis.Client, prefix string) *Redis {
	return &Redis{c: c, prefix: prefix + ":"}
}

// Key returns the Redis key under which k is stored.
func (r *Redis) Key(k Key) string { return r.prefix + k.owner + ":" + k.name }

// redisKey is Key, refusing a bad key.
func (r *Redis) redisKey(k Key) (string, error) {
	if err := k.check(); err != nil {
		return "", err
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
		r.misses.Add(1)
		return false, nil
	}
	if err != nil {
		return false, unavailable("get", err)
	}
	if err := decode(b, dst); err != nil {
		return false, err
	}
	r.hits.Add(1)
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

// scanCount is the COUNT hint of DeletePrefix's SCAN: how many keys Redis looks at per call,
// and so about how many one UNLINK removes.
const scanCount = 500

// DeletePrefix removes every entry of owner whose name starts with namePrefix and returns how
// many it removed. It walks the keyspace with SCAN MATCH (never KEYS, which blocks Redis for
// the whole keyspace) and removes each page's keys with UNLINK, which frees memory off the
// main thread. The cache prefix, owner and name prefix are escaped in the pattern, so glob
// characters in them are literal. On an error the entries already removed stay removed, and
// their count is returned with the error.
func (r *Redis) DeletePrefix(ctx context.Context, owner, namePrefix string) (int, error) {
	if err := checkOwner(owner); err != nil {
		return 0, err
	}
	match := escapeGlob(r.prefix+owner+":"+namePrefix) + "*"
	n := 0
	var cursor uint64
	for {
		keys, next, err := r.c.Scan(ctx, cursor, match, scanCount).Result()
		if err != nil {
			return n, unavailable("delete prefix", err)
		}
		if len(keys) > 0 {
			// SCAN may return a key twice; UNLINK counts only the keys it removed.
			d, err := r.c.Unlink(ctx, keys...).Result()
			if err != nil {
				return n, unavailable("delete prefix", err)
			}
			n += int(d)
		}
		if next == 0 {
			return n, nil
		}
		cursor = next
	}
}

// escapeGlob escapes the characters special in a Redis MATCH pattern, so s matches itself.
func escapeGlob(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, c := range []byte(s) {
		switch c {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Stats implements Cache: the Gets of this *Redis (not of other replicas).
func (r *Redis) Stats() Stats {
	return Stats{Hits: r.hits.Load(), Misses: r.misses.Load()}
}

// Ping checks that Redis answers; a readiness check.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.c.Ping(ctx).Err(); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// decode unmarshals a stored value into dst, reporting a failure as ErrCorrupt.
func decode(b []byte, dst any) error {
	if err := json.Unmarshal(b, dst); err != nil {
		return fmt.Errorf("cache get: %w: %v", ErrCorrupt, err)
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
