package limits

import (
	"container/heap"
	"sync"
)

// Fair decides which tenant a worker takes its next tasks from, so that tenants share the
// worker's slots in proportion to their weights and one tenant's backlog never holds back
// another's tasks: weighted fair dispatch over per-tenant queues, not global FIFO.
//
// The worker tells Fair what it sees (Update: a tenant's weight, how many of its tasks are
// queued, how many more it may start now under its concurrency limit) and asks, whenever it
// has free slots, from whom to fetch (Next). A tenant is eligible while it has tasks pending
// and room to start one; Next only ever names eligible tenants and answers whenever one
// exists (work-conserving). Fair does no I/O and never blocks.
//
// # Algorithm
//
// Start-time fair queuing (Goyal, Vin and Cheng, 1996) over tenants. Fair keeps a virtual
// time V and, for each tenant, the virtual time its next grant starts at. Next grants the
// eligible tenant with the earliest start up to quantum×weight tasks, sets V to that start,
// and moves the tenant's start on by tasks/weight, so a tenant of weight 3 is named three
// times as often as one of weight 1 while both are backlogged. A tenant that becomes
// eligible again (new tasks after idling, or room after running full) starts at the later
// of V and where its last grant ended: it cannot bank credit while idle or blocked, and
// cannot shed a debt by briefly going idle. A tenant idle long enough to owe nothing starts
// at V, ahead of every tenant that was served since, and ties go to such arrivals first: its
// first task is the very next grant, whatever the size of the other tenants' backlogs.
//
// Guarantees, with Q_j = quantum×weight_j:
//   - A tenant that becomes eligible owing nothing (new, or idle long enough that the
//     grants to others since have paid for its last one) is named by the very next call of
//     Next, after only the tenants that became eligible the same way before it, one grant
//     each.
//   - An eligible tenant is named again before any other tenant j is granted more than 2×Q_j
//     tasks, counted from when it became eligible or from its last grant: nobody starves, and
//     the wait depends on the others' weights, never on their backlogs.
//   - Over any stretch in which a set of tenants stays eligible throughout, each gets its
//     weighted share of the tasks granted to the set within ±2×Q_i (the lag bound of
//     start-time fair queuing: a tenant's next start stays within one quantum of V). When
//     every grant is a full Q_i the tenants take turns in a fixed cycle, as in deficit round
//     robin, and the bound is ±Q_i; grants cut short by the caller's capacity interleave
//     tenants more finely and may reorder that cycle.
//
// Deficit round robin was the alternative. Its turns of quantum×weight tasks make a light
// tenant that returns during an enterprise tenant's turn wait out that whole turn (up to 50
// tasks for the default tiers), even when it has used far less than its share; with virtual
// time it waits only as long as its own share demands. The price is a heap of the eligible
// tenants: every method is a map lookup and at most one heap operation, O(log n) for n
// eligible tenants, never a scan over tenants.
//
// Fair is safe for concurrent use: the dispatch loop, task completions and the poller that
// reads queue depths may call it from different goroutines.
type Fair struct {
	mu      sync.Mutex
	quantum int
	now     int64  // V, the virtual time: the start of the latest grant
	seq     uint64 // orders tenants whose starts are equal
	tenants map[string]*fairTenant
	ready   fairHeap // the eligible tenants, earliest start first
}

// vtScale is the virtual time one task takes for a tenant of weight 1. It is 2^4·3^2·5^2·7·11·13,
// divisible by every weight up to 16 and by 18, 20, 25, 30, 50, 100 and more, so a grant's cost
// tasks×vtScale/weight is exact for the usual weights (for others it is rounded down, by less
// than one unit in 3.6 million of a task). V grows by at most that much per task granted, so
// an int64 lasts 2.5×10^12 tasks: over 8 years at 10,000 grants a second.
const vtScale = 3_603_600

// maxFairWeight caps a weight so that one task still costs a tenant thousands of units of
// virtual time; weights beyond it would buy (almost) free grants.
const maxFairWeight = 10_000

// maxFairQuantum caps the quantum, so quantum×weight cannot overflow.
const maxFairQuantum = 1 << 16

type fairTenant struct {
	name    string
	weight  int
	pending int
	room    int
	// start is the virtual time of the tenant's next grant while it is eligible; finish
	// where its latest grant ended, kept while it is not, to place it when it comes back.
	start, finish int64
	// served puts tenants served at a start after those arriving at it; seq orders the rest.
	served bool
	seq    uint64
	idx    int // position in ready, -1 when not eligible
}

func (t *fairTenant) eligible() bool { return t.pending > 0 && t.room > 0 }

// NewFair returns a scheduler that grants a tenant of weight w at most quantum×w tasks at a
// time. quantum is the batch size per unit of weight: 1 gives the finest interleaving, which
// suits tasks of similar cost; a larger quantum means larger fetches and coarser fairness.
// A quantum below 1 is taken as 1 (and one above 65,536 as 65,536).
func NewFair(quantum int) *Fair {
	return &Fair{
		quantum: min(max(quantum, 1), maxFairQuantum),
		tenants: make(map[string]*fairTenant),
	}
}

// Update tells the scheduler a tenant's current state, creating the tenant when it is new:
// its weight in fair dispatch (its Tier's Weight; below 1 is taken as 1, above 10,000 as
// 10,000), how many of its tasks are queued (0: idle), and how many more it may start now
// (its concurrency limit minus the tasks it runs: 0 when it is full, and below 0 when it runs
// more than a limit that was lowered, so that Done counts up from there). pending and room
// replace the values the scheduler had, including what Next and Done changed since; pending
// below 0 counts as 0. A new weight applies from the tenant's next grant.
func (f *Fair) Update(tenant string, weight, pending, room int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tenants[tenant]
	if t == nil {
		t = &fairTenant{name: tenant, idx: -1, finish: f.now}
		f.tenants[tenant] = t
	}
	t.weight = min(max(weight, 1), maxFairWeight)
	t.pending = max(pending, 0)
	t.room = room
	f.place(t)
}

// Next names the tenant to take up to n tasks from now, n ≥ 1, at most capacity (the
// caller's free slots) and at most the tenant's pending tasks, room and quantum×weight. It
// counts the grant as started: the tenant's pending and room drop by n until Done, Fetched
// or Update say otherwise, so concurrent callers never over-grant. ok is false when capacity
// is below 1 or no tenant is eligible.
func (f *Fair) Next(capacity int) (tenant string, n int, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if capacity < 1 || len(f.ready) == 0 {
		return "", 0, false
	}
	t := f.ready[0]
	f.now = t.start
	n = min(f.quantum*t.weight, t.pending, t.room, capacity)
	t.pending -= n
	t.room -= n
	t.finish = t.start + fairCost(n, t.weight)
	if t.eligible() {
		t.start = t.finish
		t.served = true
		t.seq = f.nextSeq()
		heap.Fix(&f.ready, 0)
	} else {
		heap.Pop(&f.ready)
	}
	return t.name, n, true
}

// Fetched reports how many of the tasks Next granted a tenant the caller got from its queue.
// A short fetch means the queue held fewer tasks than the scheduler believed: the tenant is
// taken as idle (pending 0) until the next Update, and is charged in fair dispatch, and
// holds room, only for the tasks it got. got above granted counts the extra tasks as taken.
// Unknown tenants are ignored.
func (f *Fair) Fetched(tenant string, granted, got int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tenants[tenant]
	if t == nil {
		return
	}
	granted, got = max(granted, 0), max(got, 0)
	switch {
	case got < granted:
		t.room += granted - got
		t.pending = 0
		// The refund cannot make the tenant eligible (pending is 0), so it only moves where
		// the tenant comes back.
		t.finish -= fairCost(granted-got, t.weight)
	case got > granted:
		t.pending = max(t.pending-(got-granted), 0)
		t.room -= got - granted
	}
	f.place(t)
}

// Arrived tells the scheduler n more of a known tenant's tasks are queued, as a publisher's
// notice says between two Updates, and reports whether the tenant was known: Update
// introduces a tenant with its weight.
func (f *Fair) Arrived(tenant string, n int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tenants[tenant]
	if t == nil {
		return false
	}
	if n > 0 {
		t.pending += n
		f.place(t)
	}
	return true
}

// Admitted reports that of the tasks Next granted a tenant, only admitted may start: the
// tenant's concurrency limit is full elsewhere (another worker holds its slots). The rest
// stay queued, uncharged, and the tenant has no room until Done or Update gives it some.
// Unknown tenants are ignored.
func (f *Fair) Admitted(tenant string, granted, admitted int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tenants[tenant]
	if t == nil || admitted >= granted {
		return
	}
	admitted = max(admitted, 0)
	t.pending += granted - admitted
	t.room = 0
	t.finish -= fairCost(granted-admitted, t.weight)
	f.place(t)
}

// Done gives back room for n of a tenant's tasks that ended (finished, failed, or were
// returned to the queue without running: those are pending again, which the next Update
// tells). Unknown tenants are ignored.
func (f *Fair) Done(tenant string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tenants[tenant]
	if t == nil || n <= 0 {
		return
	}
	t.room += n
	f.place(t)
}

// Remove forgets a tenant, for one that is gone for good; an idle tenant otherwise stays
// known, with its weight, room and place.
func (f *Fair) Remove(tenant string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tenants[tenant]
	if t == nil {
		return
	}
	if t.idx >= 0 {
		heap.Remove(&f.ready, t.idx)
	}
	delete(f.tenants, tenant)
}

// Eligible returns how many tenants have tasks pending and room to start one.
func (f *Fair) Eligible() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ready)
}

// place puts t into or out of the ready heap after its state changed.
func (f *Fair) place(t *fairTenant) {
	switch in := t.idx >= 0; {
	case t.eligible() && !in:
		// Back from idle or full: no earlier than now (no banked credit), no earlier than its
		// last grant ended (no debt shed).
		t.start = max(t.finish, f.now)
		t.served = false
		t.seq = f.nextSeq()
		heap.Push(&f.ready, t)
	case !t.eligible() && in:
		heap.Remove(&f.ready, t.idx)
	}
}

func (f *Fair) nextSeq() uint64 {
	f.seq++
	return f.seq
}

// fairCost is the virtual time n tasks take for a tenant of weight w.
func fairCost(n, w int) int64 { return int64(n) * vtScale / int64(w) }

// fairHeap orders eligible tenants by start, then arrivals before tenants just served at
// that start, then by seq. It implements heap.Interface.
type fairHeap []*fairTenant

func (h fairHeap) Len() int { return len(h) }

func (h fairHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	if a.start != b.start {
		return a.start < b.start
	}
	if a.served != b.served {
		return !a.served
	}
	return a.seq < b.seq
}

func (h fairHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx = i
	h[j].idx = j
}

func (h *fairHeap) Push(x any) {
	t := x.(*fairTenant)
	t.idx = len(*h)
	*h = append(*h, t)
}

func (h *fairHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.idx = -1
	return t
}
