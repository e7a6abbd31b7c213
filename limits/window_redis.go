package limits

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisWindow is a Window on Redis, exact across every process that shares the Redis and the
// prefix. Each key is a sorted set of the events admitted within its window (the sliding
// log), scored by their time in microseconds; one Lua script expires, counts, admits and
// answers atomically, so there is no read-then-write race between replicas. The script reads
// the server's TIME, so decisions depend on one clock however skewed the replicas' clocks
// are, and times are whole microseconds (a window is rounded up to one).
//
// A key's set holds at most limit members, one per admitted event, of about 130 bytes each
// in Redis's memory (a full window of the enterprise tier's 10,000 requests a minute takes
// 1.3 MB), and expires a window after its last admitted event, so idle keys cost nothing. It needs Redis 5
// or later (scripts replicate their effects, so a script may read TIME and then write).
type RedisWindow struct {
	c      redis.UniversalClient
	prefix string
	// id and seq make each admitted event's member unique among all replicas: two events in
	// the same microsecond must still be two members.
	id  string
	seq atomic.Uint64
	// pipe sends concurrent decisions to Redis together, one pipeline for many.
	pipe *pipeline
}

var _ Window = (*RedisWindow)(nil)

// NewRedisWindow returns a Window storing key K as PREFIX:window:K on c, so that a window and
// a semaphore given the same prefix and key never collide. A cluster client works too: each
// call touches a single key.
func NewRedisWindow(c redis.UniversalClient, prefix string) *RedisWindow {
	return &RedisWindow{c: c, prefix: prefix + ":window:", id: rand.Text()[:16], pipe: newPipeline(c, windowScript)}
}

// Key returns the Redis key under which the window key is stored.
func (w *RedisWindow) Key(key string) string { return w.prefix + key }

// windowScript is the sliding log. KEYS[1] is the key's sorted set; ARGV is the limit, the
// window in microseconds and the member to add. It returns {admitted 0|1, events counted
// including an admitted one, microseconds until the window next frees a unit}. Times in
// microseconds have 16 digits: Lua's doubles hold them exactly, and Redis passes a Lua number
// on to a command with 17 significant digits.
var windowScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {1, count + 1, tonumber(oldest[2]) + window - now}
end
-- Denied: the call is admitted once count-limit+1 events have left, which the
-- (count-limit)th oldest does last. count > limit only after the limit was lowered.
local nth = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
return {0, count, tonumber(nth[2]) + window - now}
`)

// Allow implements Window.
func (w *RedisWindow) Allow(ctx context.Context, key string, limit int, window time.Duration) (Decision, error) {
	if err := checkWindowArgs(key, limit, window); err != nil {
		return Decision{}, err
	}
	windowUS := int64((window + time.Microsecond - 1) / time.Microsecond)
	member := w.id + ":" + strconv.FormatUint(w.seq.Add(1), 36)
	cmd, err := w.pipe.run(ctx, []string{w.Key(key)}, limit, windowUS, member)
	if err != nil {
		return Decision{}, windowUnavailable(err)
	}
	res, err := cmd.Int64Slice()
	if err != nil {
		return Decision{}, windowUnavailable(err)
	}
	if len(res) != 3 {
		return Decision{}, fmt.Errorf("window allow: script returned %d values, want 3", len(res))
	}
	wait := time.Duration(res[2]) * time.Microsecond
	if res[0] == 1 {
		return Decision{Allowed: true, Limit: limit, Remaining: limit - int(res[1]), ResetAfter: wait}, nil
	}
	return Decision{Limit: limit, ResetAfter: wait, RetryAfter: wait}, nil
}

// windowUnavailable translates a Redis error: the caller's own cancellation stays matchable,
// the rest wrap ErrUnavailable with the driver's text.
func windowUnavailable(err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("window allow: %w", context.Canceled)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("window allow: %w: %w", ErrUnavailable, context.DeadlineExceeded)
	}
	return fmt.Errorf("window allow: %w: %v", ErrUnavailable, err)
}
