package limits

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisSemaphore is a Semaphore shared by every process on one Redis: each key is a sorted set
// of holders scored by the lease's expiry in Redis's own clock (TIME), so the replicas' clocks
// never matter, and every change is one Lua script, so no two replicas can both see the last
// free slot. A key expires shortly after its last lease, so abandoned keys leave nothing behind.
// Leases are kept in whole milliseconds (rounded up). It needs Redis 5 or later (scripts
// replicate their effects, so a script may read TIME and then write) and is safe for
// concurrent use.
type RedisSemaphore struct {
	c      redis.UniversalClient
	prefix string
	// Concurrent calls share pipelines, one per script: a busy worker releases a slot for
	// every task it finishes.
	acquire, acquireN, release *pipeline
}

var _ Semaphore = (*RedisSemaphore)(nil)

// NewRedisSemaphore returns a Semaphore storing key K as PREFIX:sem:K on c. A cluster client
// works too: each call touches a single key.
func NewRedisSemaphore(c redis.UniversalClient, prefix string) *RedisSemaphore {
	return &RedisSemaphore{c: c, prefix: prefix + ":sem:", acquire: newPipeline(c, semAcquireScript),
		acquireN: newPipeline(c, semAcquireNScript), release: newPipeline(c, semReleaseScript)}
}

// Key returns the Redis key under which the semaphore key is stored.
func (s *RedisSemaphore) Key(key string) string { return s.prefix + key }

// semKeyGrace is how long a semaphore's Redis key outlives its last lease. Only a safety margin:
// an expired lease already counts for nothing.
const semKeyGrace = time.Second

// semAcquireScript takes or renews a slot. KEYS[1] is the sorted set; ARGV are the holder, the
// limit (0: renew only, never admit), the lease and the key's grace, both in milliseconds. It
// returns 1 when the holder holds the slot afterwards, 0 otherwise.
//
// Expired holders are removed first (score <= now: a lease is live while now < expiry), so
// they neither count against the limit nor renew.
var semAcquireScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  local limit = tonumber(ARGV[2])
  if limit <= 0 or redis.call('ZCARD', KEYS[1]) >= limit then
    return 0
  end
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[1], tonumber(last[2]) - now + tonumber(ARGV[4]))
return 1
`)

// semAcquireNScript takes slots of KEYS[1] for ARGV[4..] in order while the limit ARGV[1]
// allows, with the lease ARGV[2] and the key's grace ARGV[3] in milliseconds, as
// semAcquireScript does for one; it returns how many holders hold a slot, counted from the
// first.
var semAcquireNScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local limit = tonumber(ARGV[1])
local n = 0
for i = 4, #ARGV do
  if not redis.call('ZSCORE', KEYS[1], ARGV[i]) and redis.call('ZCARD', KEYS[1]) >= limit then
    break
  end
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[i])
  n = n + 1
end
if n > 0 then
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  redis.call('PEXPIRE', KEYS[1], tonumber(last[2]) - now + tonumber(ARGV[3]))
end
return n
`)

// semReleaseScript removes the holder ARGV[1] from KEYS[1]. A script rather than ZREM, so
// that releases share the pipelines of scripts.
var semReleaseScript = redis.NewScript(`return redis.call('ZREM', KEYS[1], ARGV[1])`)

// semCountScript counts the live holders of KEYS[1] in Redis's clock, without writing.
var semCountScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], string.format('(%d', now), '+inf')
`)

// Acquire implements Semaphore.
func (s *RedisSemaphore) Acquire(ctx context.Context, key, holder string, limit int, lease time.Duration) (bool, error) {
	if err := checkSemAcquire(key, holder, limit, lease); err != nil {
		return false, err
	}
	return s.run(ctx, "acquire", key, holder, limit, lease)
}

// AcquireN implements Semaphore.
func (s *RedisSemaphore) AcquireN(ctx context.Context, key string, holders []string, limit int, lease time.Duration) (int, error) {
	if err := checkSemAcquireN(key, holders, limit, lease); err != nil || len(holders) == 0 {
		return 0, err
	}
	args := make([]any, 0, 3+len(holders))
	args = append(args, limit, leaseMillis(lease), semKeyGrace.Milliseconds())
	for _, h := range holders {
		args = append(args, h)
	}
	cmd, err := s.acquireN.run(ctx, []string{s.Key(key)}, args...)
	if err != nil {
		return 0, semUnavailable("acquire", err)
	}
	n, err := cmd.Int()
	if err != nil {
		return 0, semUnavailable("acquire", err)
	}
	return n, nil
}

// Renew implements Semaphore.
func (s *RedisSemaphore) Renew(ctx context.Context, key, holder string, lease time.Duration) (bool, error) {
	if err := checkSemRenew(key, holder, lease); err != nil {
		return false, err
	}
	return s.run(ctx, "renew", key, holder, 0, lease)
}

// run executes semAcquireScript.
func (s *RedisSemaphore) run(ctx context.Context, op, key, holder string, limit int, lease time.Duration) (bool, error) {
	cmd, err := s.acquire.run(ctx, []string{s.Key(key)}, holder, limit, leaseMillis(lease), semKeyGrace.Milliseconds())
	if err != nil {
		return false, semUnavailable(op, err)
	}
	n, err := cmd.Int()
	if err != nil {
		return false, semUnavailable(op, err)
	}
	return n == 1, nil
}

// Release implements Semaphore.
func (s *RedisSemaphore) Release(ctx context.Context, key, holder string) error {
	if err := checkSemSlot("release", key, holder); err != nil {
		return err
	}
	if _, err := s.release.run(ctx, []string{s.Key(key)}, holder); err != nil {
		return semUnavailable("release", err)
	}
	return nil
}

// Count implements Semaphore.
func (s *RedisSemaphore) Count(ctx context.Context, key string) (int, error) {
	if key == "" {
		return 0, errors.New("semaphore count: empty key")
	}
	n, err := semCountScript.Run(ctx, s.c, []string{s.Key(key)}).Int()
	if err != nil {
		return 0, semUnavailable("count", err)
	}
	return n, nil
}

// leaseMillis rounds a positive duration up to whole milliseconds, so a lease is never shortened
// to nothing.
func leaseMillis(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// semUnavailable turns a Redis error into one of this package's: the context's own errors stay
// matchable, anything else wraps ErrUnavailable.
func semUnavailable(op string, err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("semaphore %s: %w", op, context.Canceled)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("semaphore %s: %w: %w", op, ErrUnavailable, context.DeadlineExceeded)
	}
	return fmt.Errorf("semaphore %s: %w: %v", op, ErrUnavailable, err)
}
