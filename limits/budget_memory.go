package limits

import (
	"context"
	"sync"
	"time"
)

// MemoryBudget is a Budget for a single process (`agentic dev`): the same semantics as
// RedisBudget, held in maps and timed by the clock it was built with. It is safe for concurrent
// use.
//
// Memory stays bounded by the live reservations, the ids settled within SettledIDTTL, and one
// small ledger per tenant and month within BudgetRetention: expired entries are dropped
// whenever their ledger is used, and every ledger is swept at least once a minute of activity.
type MemoryBudget struct {
	now func() time.Time

	mu        sync.Mutex
	ledgers   map[budgetLedgerKey]*memLedger
	nextSweep time.Time
}

var _ Budget = (*MemoryBudget)(nil)

// budgetLedgerKey names one month's ledger of one tenant.
type budgetLedgerKey struct{ tenant, month string }

// memLedger is one month's ledger of one tenant.
type memLedger struct {
	expires  time.Time // BudgetRetention after the month's end
	spent    int64
	reserved int64 // the sum of res's amounts
	seeded   bool
	res      map[string]memReservation
	settled  map[string]time.Time // id -> when it is forgotten
	// forget lists the settled ids in the order they were settled, so purge finds the
	// forgotten ones at its front without scanning every settled id: with a clock that does
	// not go back, that is also the order they are forgotten in.
	forget []memSettled
}

// memSettled is an entry of memLedger.forget.
type memSettled struct {
	id    string
	until time.Time
}

// memReservation is one held reservation; it is live while now < expires.
type memReservation struct {
	amount  int64
	expires time.Time
}

// NewMemoryBudget returns an empty in-process Budget reading the time from now (nil:
// time.Now). Tests pass a fake clock.
func NewMemoryBudget(now func() time.Time) *MemoryBudget {
	if now == nil {
		now = time.Now
	}
	return &MemoryBudget{now: now, ledgers: make(map[budgetLedgerKey]*memLedger)}
}

// Reserve implements Budget.
func (m *MemoryBudget) Reserve(ctx context.Context, tenant, month, id string, amount, budget int64, ttl time.Duration) (bool, BudgetState, error) {
	exp, err := checkBudgetReserve(tenant, month, id, amount, budget, ttl)
	if err != nil {
		return false, BudgetState{}, err
	}
	if err := ctx.Err(); err != nil {
		return false, BudgetState{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now, k, l := m.ledger(tenant, month, exp)
	defer m.forgetPast(k, now)
	if l.isSettled(id, now) {
		return true, l.state(), nil
	}
	if _, ok := l.res[id]; ok {
		return true, l.state(), nil
	}
	if budget != UnlimitedBudget && l.spent+l.reserved+amount > budget {
		return false, l.state(), nil
	}
	if l.res == nil {
		l.res = make(map[string]memReservation)
	}
	l.res[id] = memReservation{amount: amount, expires: now.Add(ttl)}
	l.reserved += amount
	return true, l.state(), nil
}

// Settle implements Budget.
func (m *MemoryBudget) Settle(ctx context.Context, tenant, month, id string, actual int64) (BudgetState, error) {
	exp, err := checkBudgetCall("settle", tenant, month, id)
	if err != nil {
		return BudgetState{}, err
	}
	if err := checkMicros("settle", "actual", actual); err != nil {
		return BudgetState{}, err
	}
	if err := ctx.Err(); err != nil {
		return BudgetState{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now, k, l := m.ledger(tenant, month, exp)
	defer m.forgetPast(k, now)
	if l.isSettled(id, now) {
		return l.state(), nil
	}
	l.unreserve(id)
	l.spent += actual
	if l.settled == nil {
		l.settled = make(map[string]time.Time)
	}
	until := now.Add(SettledIDTTL)
	l.settled[id] = until
	l.forget = append(l.forget, memSettled{id, until})
	return l.state(), nil
}

// Release implements Budget.
func (m *MemoryBudget) Release(ctx context.Context, tenant, month, id string) (BudgetState, error) {
	exp, err := checkBudgetCall("release", tenant, month, id)
	if err != nil {
		return BudgetState{}, err
	}
	if err := ctx.Err(); err != nil {
		return BudgetState{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now, k, l := m.ledger(tenant, month, exp)
	defer m.forgetPast(k, now)
	l.unreserve(id)
	return l.state(), nil
}

// State implements Budget.
func (m *MemoryBudget) State(ctx context.Context, tenant, month string) (BudgetState, error) {
	exp, err := checkBudgetLedger("state", tenant, month)
	if err != nil {
		return BudgetState{}, err
	}
	if err := ctx.Err(); err != nil {
		return BudgetState{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now, k, l := m.ledger(tenant, month, exp)
	defer m.forgetPast(k, now)
	return l.state(), nil
}

// Seed implements Budget.
func (m *MemoryBudget) Seed(ctx context.Context, tenant, month string, spent int64) (bool, BudgetState, error) {
	exp, err := checkBudgetLedger("seed", tenant, month)
	if err != nil {
		return false, BudgetState{}, err
	}
	if err := checkMicros("seed", "spent", spent); err != nil {
		return false, BudgetState{}, err
	}
	if err := ctx.Err(); err != nil {
		return false, BudgetState{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now, k, l := m.ledger(tenant, month, exp)
	defer m.forgetPast(k, now)
	if l.seeded {
		return false, l.state(), nil
	}
	l.seeded = true
	l.spent += spent
	return true, l.state(), nil
}

// ledger reads the clock and returns the ledger of tenant and month, purged of expired entries
// and created if need be; once per memSweepEvery it purges every ledger and drops those past
// their retention. Callers hold mu, and call forgetPast when done.
func (m *MemoryBudget) ledger(tenant, month string, expires time.Time) (time.Time, budgetLedgerKey, *memLedger) {
	now := m.now()
	k := budgetLedgerKey{tenant, month}
	if !now.Before(m.nextSweep) {
		for lk, l := range m.ledgers {
			if !now.Before(l.expires) {
				delete(m.ledgers, lk)
				continue
			}
			l.purge(now)
		}
		m.nextSweep = now.Add(memSweepEvery)
	}
	l := m.ledgers[k]
	if l != nil && !now.Before(l.expires) {
		l = nil // as Redis would have expired it
	}
	if l == nil {
		l = &memLedger{expires: expires}
		m.ledgers[k] = l
	} else {
		l.purge(now)
	}
	return now, k, l
}

// forgetPast drops the ledger k if its retention is over by now, as Redis drops a key whose
// expiry is already past when it is set. Callers hold mu.
func (m *MemoryBudget) forgetPast(k budgetLedgerKey, now time.Time) {
	if l := m.ledgers[k]; l != nil && !now.Before(l.expires) {
		delete(m.ledgers, k)
	}
}

// purge drops the reservations expired by now and the settled ids forgotten by now, those at
// the front of forget. Live reservations are few (one per call in flight), so scanning them is
// cheap; settled ids are many.
func (l *memLedger) purge(now time.Time) {
	for id, r := range l.res {
		if !now.Before(r.expires) {
			l.reserved -= r.amount
			delete(l.res, id)
		}
	}
	n := 0
	for n < len(l.forget) && !now.Before(l.forget[n].until) {
		e := l.forget[n]
		if until, ok := l.settled[e.id]; ok && until.Equal(e.until) {
			delete(l.settled, e.id)
		}
		n++
	}
	if n > 0 {
		clear(l.forget[:n])
		l.forget = l.forget[n:]
	}
}

// isSettled reports whether id was settled and is still remembered at now. It checks the time
// itself, since an id settled under a clock that went back may not have been purged yet.
func (l *memLedger) isSettled(id string, now time.Time) bool {
	until, ok := l.settled[id]
	return ok && now.Before(until)
}

// unreserve drops the reservation id, if held.
func (l *memLedger) unreserve(id string) {
	if r, ok := l.res[id]; ok {
		l.reserved -= r.amount
		delete(l.res, id)
	}
}

// state returns the ledger's BudgetState.
func (l *memLedger) state() BudgetState {
	return BudgetState{SpentMicros: l.spent, ReservedMicros: l.reserved, Seeded: l.seeded}
}
