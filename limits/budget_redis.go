package limits

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisBudget is a Budget shared by every process on one Redis. A month's ledger is three keys
// under one hash tag, so a cluster keeps them in one slot and one Lua script per operation
// reads and writes them atomically: no two replicas can both see the last of the budget.
//
//   - PREFIX:budget:{TENANT:MONTH}, a hash: "spent" and "reserved" (the sum of the live
//     reservations), kept with HINCRBY so sums are exact integers; "seeded"; and "r:ID", the
//     amount of each reservation.
//   - ...:res, a sorted set of the reserved ids scored by their expiry.
//   - ...:settled, a sorted set of the settled ids scored by when they are forgotten.
//
// Expiries are milliseconds of the Redis server's own clock (TIME), so the replicas' clocks
// never matter; ttls are rounded up to whole milliseconds. Each script first drops the expired
// reservations (taking their amounts off "reserved") and forgotten settled ids, so expired
// state never counts and never piles up. The keys expire BudgetRetention after the month ends.
// It needs Redis 5 or later (scripts replicate their effects, so a script may read TIME and
// then write) and is safe for concurrent use.
type RedisBudget struct {
	c      redis.UniversalClient
	prefix string
}

var _ Budget = (*RedisBudget)(nil)

// NewRedisBudget returns a Budget storing the ledger of tenant T and month M under
// PREFIX:budget:{T:M}. A cluster client works too.
func NewRedisBudget(c redis.UniversalClient, prefix string) *RedisBudget {
	return &RedisBudget{c: c, prefix: prefix + ":budget:"}
}

// Key returns the Redis key of the hash holding the ledger of tenant and month; the ledger's
// other keys are the same with ":res" and ":settled" appended.
func (b *RedisBudget) Key(tenant, month string) string {
	return b.prefix + "{" + tenant + ":" + month + "}"
}

// keys returns the keys of a ledger, in the order the scripts take them.
func (b *RedisBudget) keys(tenant, month string) []string {
	k := b.Key(tenant, month)
	return []string{k, k + ":res", k + ":settled"}
}

// budgetPrelude starts every budget script. KEYS are the ledger's hash, its reservations and
// its settled ids. It reads the server's clock in milliseconds into now; then drops the
// expired reservations (a reservation is live while now < expiry) in batches, so that unpack
// stays far below Lua's stack limit, and the settled ids whose memory has run out. Amounts are
// handled as the strings Redis stores, so HINCRBY keeps sums exact; a zero amount is skipped,
// since "-0" is not an integer to Redis. state() returns what every script answers: {ok,
// spent, reserved, seeded}, the sums as strings so no double rounds them; given the keys'
// expiry at (Unix seconds), it sets it after reading the state, so that a call on a month
// past its retention answers as if it were kept and leaves nothing behind, as MemoryBudget
// does.
const budgetPrelude = `
local led, res, settled = KEYS[1], KEYS[2], KEYS[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
while true do
  local gone = redis.call('ZRANGEBYSCORE', res, '-inf', now, 'LIMIT', 0, 256)
  if #gone == 0 then break end
  local fields = {}
  for i, id in ipairs(gone) do fields[i] = 'r:' .. id end
  local amounts = redis.call('HMGET', led, unpack(fields))
  for i = 1, #fields do
    local a = amounts[i]
    if a and a ~= '0' then redis.call('HINCRBY', led, 'reserved', '-' .. a) end
  end
  redis.call('HDEL', led, unpack(fields))
  redis.call('ZREM', res, unpack(gone))
end
redis.call('ZREMRANGEBYSCORE', settled, '-inf', now)
local function unreserve(id)
  local a = redis.call('HGET', led, 'r:' .. id)
  if a then
    redis.call('HDEL', led, 'r:' .. id)
    redis.call('ZREM', res, id)
    if a ~= '0' then redis.call('HINCRBY', led, 'reserved', '-' .. a) end
  end
end
local function state(ok, at)
  local v = redis.call('HMGET', led, 'spent', 'reserved', 'seeded')
  if at then
    for _, k in ipairs(KEYS) do redis.call('EXPIREAT', k, at) end
  end
  return {ok, v[1] or '0', v[2] or '0', v[3] and 1 or 0}
end
`

// budgetReserveScript holds ARGV[2] under the id ARGV[1] for ARGV[4] milliseconds if it fits
// the budget ARGV[3] (-1: unlimited); ARGV[5] is the keys' expiry in Unix seconds. An id
// already held or settled answers 1 and changes nothing.
var budgetReserveScript = redis.NewScript(budgetPrelude + `
local id, amount, budget = ARGV[1], ARGV[2], tonumber(ARGV[3])
if redis.call('ZSCORE', settled, id) or redis.call('ZSCORE', res, id) then
  return state(1)
end
local v = redis.call('HMGET', led, 'spent', 'reserved')
if budget >= 0 and tonumber(v[1] or '0') + tonumber(v[2] or '0') + tonumber(amount) > budget then
  return state(0)
end
redis.call('ZADD', res, now + tonumber(ARGV[4]), id)
redis.call('HSET', led, 'r:' .. id, amount)
if amount ~= '0' then redis.call('HINCRBY', led, 'reserved', amount) end
return state(1, ARGV[5])
`)

// budgetSettleScript settles the id ARGV[1] at the cost ARGV[2] unless it is settled already,
// and remembers it for ARGV[3] milliseconds; ARGV[4] is the keys' expiry in Unix seconds.
var budgetSettleScript = redis.NewScript(budgetPrelude + `
local id, actual = ARGV[1], ARGV[2]
if redis.call('ZSCORE', settled, id) then
  return state(0)
end
unreserve(id)
if actual ~= '0' then redis.call('HINCRBY', led, 'spent', actual) end
redis.call('ZADD', settled, now + tonumber(ARGV[3]), id)
return state(1, ARGV[4])
`)

// budgetReleaseScript drops the reservation ARGV[1].
var budgetReleaseScript = redis.NewScript(budgetPrelude + `
unreserve(ARGV[1])
return state(1)
`)

// budgetStateScript reports the ledger.
var budgetStateScript = redis.NewScript(budgetPrelude + `
return state(1)
`)

// budgetSeedScript adds ARGV[1] to the spend of a ledger not yet seeded and marks it seeded;
// ARGV[2] is the keys' expiry in Unix seconds.
var budgetSeedScript = redis.NewScript(budgetPrelude + `
if redis.call('HSETNX', led, 'seeded', '1') == 0 then
  return state(0)
end
if ARGV[1] ~= '0' then redis.call('HINCRBY', led, 'spent', ARGV[1]) end
return state(1, ARGV[2])
`)

// Reserve implements Budget.
func (b *RedisBudget) Reserve(ctx context.Context, tenant, month, id string, amount, budget int64, ttl time.Duration) (bool, BudgetState, error) {
	exp, err := checkBudgetReserve(tenant, month, id, amount, budget, ttl)
	if err != nil {
		return false, BudgetState{}, err
	}
	if budget == UnlimitedBudget {
		budget = -1
	}
	return b.run(ctx, "reserve", budgetReserveScript, tenant, month,
		id, amount, budget, budgetMillis(ttl), exp.Unix())
}

// Settle implements Budget.
func (b *RedisBudget) Settle(ctx context.Context, tenant, month, id string, actual int64) (BudgetState, error) {
	exp, err := checkBudgetCall("settle", tenant, month, id)
	if err != nil {
		return BudgetState{}, err
	}
	if err := checkMicros("settle", "actual", actual); err != nil {
		return BudgetState{}, err
	}
	_, st, err := b.run(ctx, "settle", budgetSettleScript, tenant, month,
		id, actual, SettledIDTTL.Milliseconds(), exp.Unix())
	return st, err
}

// Release implements Budget.
func (b *RedisBudget) Release(ctx context.Context, tenant, month, id string) (BudgetState, error) {
	if _, err := checkBudgetCall("release", tenant, month, id); err != nil {
		return BudgetState{}, err
	}
	_, st, err := b.run(ctx, "release", budgetReleaseScript, tenant, month, id)
	return st, err
}

// State implements Budget.
func (b *RedisBudget) State(ctx context.Context, tenant, month string) (BudgetState, error) {
	if _, err := checkBudgetLedger("state", tenant, month); err != nil {
		return BudgetState{}, err
	}
	_, st, err := b.run(ctx, "state", budgetStateScript, tenant, month)
	return st, err
}

// Seed implements Budget.
func (b *RedisBudget) Seed(ctx context.Context, tenant, month string, spent int64) (bool, BudgetState, error) {
	exp, err := checkBudgetLedger("seed", tenant, month)
	if err != nil {
		return false, BudgetState{}, err
	}
	if err := checkMicros("seed", "spent", spent); err != nil {
		return false, BudgetState{}, err
	}
	return b.run(ctx, "seed", budgetSeedScript, tenant, month, spent, exp.Unix())
}

// run executes one budget script on the ledger of tenant and month and decodes its answer.
func (b *RedisBudget) run(ctx context.Context, op string, s *redis.Script, tenant, month string, args ...any) (bool, BudgetState, error) {
	v, err := s.Run(ctx, b.c, b.keys(tenant, month), args...).Slice()
	if err != nil {
		return false, BudgetState{}, budgetUnavailable(op, err)
	}
	ok, st, err := decodeBudgetReply(v)
	if err != nil {
		return false, BudgetState{}, fmt.Errorf("budget %s: %w", op, err)
	}
	return ok, st, nil
}

// decodeBudgetReply decodes a script's {ok, spent, reserved, seeded}.
func decodeBudgetReply(v []any) (bool, BudgetState, error) {
	if len(v) != 4 {
		return false, BudgetState{}, fmt.Errorf("script returned %d values, want 4", len(v))
	}
	ok, okOK := v[0].(int64)
	spent, spentOK := v[1].(string)
	reserved, reservedOK := v[2].(string)
	seeded, seededOK := v[3].(int64)
	if !okOK || !spentOK || !reservedOK || !seededOK {
		return false, BudgetState{}, fmt.Errorf("script returned %v, want {int, string, string, int}", v)
	}
	var st BudgetState
	var err error
	if st.SpentMicros, err = strconv.ParseInt(spent, 10, 64); err != nil {
		return false, BudgetState{}, fmt.Errorf("spent %q: %w", spent, err)
	}
	if st.ReservedMicros, err = strconv.ParseInt(reserved, 10, 64); err != nil {
		return false, BudgetState{}, fmt.Errorf("reserved %q: %w", reserved, err)
	}
	st.Seeded = seeded == 1
	return ok == 1, st, nil
}

// budgetMillis rounds a positive duration up to whole milliseconds, so a ttl is never shortened
// to nothing.
func budgetMillis(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// budgetUnavailable turns a Redis error into one of this package's: the caller's cancellation
// stays matchable, anything else wraps ErrUnavailable with the driver's text.
func budgetUnavailable(op string, err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("budget %s: %w", op, context.Canceled)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("budget %s: %w: %w", op, ErrUnavailable, context.DeadlineExceeded)
	}
	return fmt.Errorf("budget %s: %w: %v", op, ErrUnavailable, err)
}
