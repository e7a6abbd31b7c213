package limits_test

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/limits"
)

// fairGrant is one answer of Fair.Next.
type fairGrant struct {
	tenant string
	n      int
}

// fairDrain calls Next(capacity) k times and returns the grants; it fails the test when Next
// has nothing to grant before that.
func fairDrain(t *testing.T, f *limits.Fair, capacity, k int) []fairGrant {
	t.Helper()
	var gs []fairGrant
	for range k {
		tenant, n, ok := f.Next(capacity)
		require.True(t, ok, "Next after %v", gs)
		gs = append(gs, fairGrant{tenant, n})
	}
	return gs
}

// fairCounts sums the tasks granted per tenant.
func fairCounts(gs []fairGrant) map[string]int {
	c := map[string]int{}
	for _, g := range gs {
		c[g.tenant] += g.n
	}
	return c
}

func TestFairSingleTenant(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                           string
		quantum, weight, pending, room int
		capacity                       int
		want                           []fairGrant
	}{
		{"quantum times weight caps a grant", 2, 3, 20, 100, 100,
			[]fairGrant{{"a", 6}, {"a", 6}, {"a", 6}, {"a", 2}}},
		{"pending caps it", 1, 50, 7, 100, 100, []fairGrant{{"a", 7}}},
		{"room caps it", 1, 50, 100, 3, 100, []fairGrant{{"a", 3}}},
		{"capacity caps it", 1, 50, 5, 100, 2, []fairGrant{{"a", 2}, {"a", 2}, {"a", 1}}},
		{"weight below 1 is 1", 1, 0, 2, 100, 100, []fairGrant{{"a", 1}, {"a", 1}}},
		{"quantum below 1 is 1", -4, 1, 2, 100, 100, []fairGrant{{"a", 1}, {"a", 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := limits.NewFair(tc.quantum)
			f.Update("a", tc.weight, tc.pending, tc.room)
			require.Equal(t, tc.want, fairDrain(t, f, tc.capacity, len(tc.want)))
			_, _, ok := f.Next(tc.capacity)
			require.False(t, ok, "nothing left to grant")
			require.Zero(t, f.Eligible())
		})
	}
}

func TestFairNothingToGrant(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		setup    func(f *limits.Fair)
		capacity int
	}{
		{"no tenants", func(*limits.Fair) {}, 10},
		{"idle tenant", func(f *limits.Fair) { f.Update("a", 1, 0, 5) }, 10},
		{"tenant without room", func(f *limits.Fair) { f.Update("a", 1, 5, 0) }, 10},
		{"negative pending and room", func(f *limits.Fair) { f.Update("a", 1, -1, -1) }, 10},
		{"no capacity", func(f *limits.Fair) { f.Update("a", 1, 5, 5) }, 0},
		{"removed tenant", func(f *limits.Fair) { f.Update("a", 1, 5, 5); f.Remove("a") }, 10},
		{"went idle", func(f *limits.Fair) { f.Update("a", 1, 5, 5); f.Update("a", 1, 0, 5) }, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := limits.NewFair(1)
			tc.setup(f)
			tenant, n, ok := f.Next(tc.capacity)
			require.False(t, ok)
			require.Equal(t, "", tenant)
			require.Zero(t, n)
		})
	}
}

func TestFairShares(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		quantum  int
		weights  map[string]int
		capacity int
		// first is the order of the first grants; share the tasks each gets of the total.
		first []fairGrant
		total int
		share map[string]int
	}{
		{
			name: "equal tenants alternate", quantum: 1, capacity: 8,
			weights: map[string]int{"a": 1, "b": 1},
			first:   []fairGrant{{"a", 1}, {"b", 1}, {"a", 1}, {"b", 1}, {"a", 1}, {"b", 1}},
			total:   1000, share: map[string]int{"a": 500, "b": 500},
		},
		{
			name: "weights 1:3 give 1:3", quantum: 1, capacity: 8,
			weights: map[string]int{"a": 1, "b": 3},
			first:   []fairGrant{{"a", 1}, {"b", 3}, {"a", 1}, {"b", 3}},
			total:   1000, share: map[string]int{"a": 250, "b": 750},
		},
		{
			name: "weights 1:3 one slot at a time", quantum: 1, capacity: 1,
			weights: map[string]int{"a": 1, "b": 3},
			first:   []fairGrant{{"a", 1}, {"b", 1}, {"b", 1}, {"b", 1}, {"a", 1}, {"b", 1}, {"b", 1}, {"b", 1}},
			total:   1000, share: map[string]int{"a": 250, "b": 750},
		},
		{
			name: "default tiers", quantum: 2, capacity: 64,
			weights: map[string]int{"free": 1, "basic": 3, "pro": 10, "enterprise": 50},
			first:   []fairGrant{{"basic", 6}, {"enterprise", 64}, {"free", 2}, {"pro", 20}},
			total:   6400, share: map[string]int{"free": 100, "basic": 300, "pro": 1000, "enterprise": 5000},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := limits.NewFair(tc.quantum)
			// Arrival order is the tenants' name order, so the first grants are fixed.
			for _, name := range slices.Sorted(maps.Keys(tc.weights)) {
				f.Update(name, tc.weights[name], 1<<30, 1<<30)
			}
			gs := fairDrain(t, f, tc.capacity, len(tc.first))
			require.Equal(t, tc.first, gs)
			for sum := 0; sum < tc.total; {
				tenant, n, ok := f.Next(min(tc.capacity, tc.total-sum))
				require.True(t, ok)
				gs = append(gs, fairGrant{tenant, n})
				sum += n
			}
			require.Equal(t, tc.share, fairCounts(gs[len(tc.first):]), "shares after the first grants")
		})
	}
}

func TestFairTenantWithoutRoomIsSkippedAndResumes(t *testing.T) {
	t.Parallel()
	f := limits.NewFair(1)
	f.Update("a", 1, 100, 2) // room for 2: a basic tenant's limit, nearly full
	f.Update("b", 1, 100, 100)

	require.Equal(t, []fairGrant{{"a", 1}, {"b", 1}, {"a", 1}, {"b", 1}, {"b", 1}, {"b", 1}}, fairDrain(t, f, 1, 6),
		"a is skipped once its room is gone")
	require.Equal(t, 1, f.Eligible())

	f.Done("a", 1) // one of a's tasks finished
	require.Equal(t, 2, f.Eligible())
	require.Equal(t, []fairGrant{{"a", 1}, {"b", 1}, {"b", 1}}, fairDrain(t, f, 1, 3),
		"a is served at once: b was served more while a waited, a kept no credit for it")

	f.Done("a", 2)
	require.Equal(t, []fairGrant{{"a", 1}, {"b", 1}, {"a", 1}, {"b", 1}}, fairDrain(t, f, 1, 4),
		"a and b alternate again")
}

func TestFairBlockedTenantBanksNoCredit(t *testing.T) {
	t.Parallel()
	f := limits.NewFair(1)
	f.Update("a", 1, 1000, 0) // full: its concurrency limit is reached
	f.Update("b", 1, 1000, 1000)
	require.Equal(t, []fairGrant{{"b", 1}}, fairDrain(t, f, 1, 1))
	for range 100 {
		fairDrain(t, f, 1, 1)
	}
	f.Update("a", 1, 1000, 1000)
	// a comes back at the current virtual time: one grant ahead, then strict alternation,
	// not a run of the 100 grants b had while a could not start anything.
	require.Equal(t, []fairGrant{{"a", 1}, {"b", 1}, {"a", 1}, {"b", 1}}, fairDrain(t, f, 1, 4))
}

func TestFairIdleTenantIsServedNext(t *testing.T) {
	t.Parallel()
	for _, backlog := range []int{2_000, 200_000} {
		t.Run(fmt.Sprintf("backlog %d", backlog), func(t *testing.T) {
			t.Parallel()
			f := limits.NewFair(1)
			tiers := limits.DefaultTiers()
			ent, pro, free := tiers["enterprise"], tiers["pro"], tiers["free"]
			f.Update("enterprise", ent.Weight, backlog, ent.Concurrent)
			f.Update("pro", pro.Weight, 0, pro.Concurrent)
			f.Update("free", free.Weight, 0, free.Concurrent)

			// A worker with 10 slots, all taken by the enterprise tenant.
			require.Equal(t, []fairGrant{{"enterprise", 10}}, fairDrain(t, f, 10, 1))
			for range 7 {
				f.Done("enterprise", 1)
				require.Equal(t, []fairGrant{{"enterprise", 1}}, fairDrain(t, f, 1, 1))
			}

			// The free tenant submits a task: the next free slot is its.
			f.Update("free", free.Weight, 1, free.Concurrent)
			f.Done("enterprise", 1)
			require.Equal(t, []fairGrant{{"free", 1}}, fairDrain(t, f, 1, 1))
			var sinceFree int

			// So is the next one for pro, and again after it has been served...
			f.Update("pro", pro.Weight, 1, pro.Concurrent)
			f.Done("enterprise", 1)
			require.Equal(t, []fairGrant{{"pro", 1}}, fairDrain(t, f, 1, 1))
			for range 5 { // half a second of enterprise tasks at 10 a second
				f.Done("enterprise", 1)
				require.Equal(t, []fairGrant{{"enterprise", 1}}, fairDrain(t, f, 1, 1))
				sinceFree++
			}
			f.Update("pro", pro.Weight, 1, pro.Concurrent-1)
			f.Done("enterprise", 1)
			require.Equal(t, []fairGrant{{"pro", 1}}, fairDrain(t, f, 1, 1),
				"pro (weight 10) owes nothing after 5 enterprise (weight 50) tasks")

			// ...while the free tenant, back at once, waits for its share: its weight is 1 to
			// the enterprise tenant's 50, and it took its first task in the gap between two of
			// enterprise's.
			f.Done("free", 1)
			f.Update("free", free.Weight, 1, free.Concurrent)
			for {
				f.Done("enterprise", 1)
				g := fairDrain(t, f, 1, 1)[0]
				if g.tenant == "free" {
					break
				}
				require.Equal(t, "enterprise", g.tenant)
				sinceFree++
			}
			require.Equal(t, 49, sinceFree, "enterprise tasks between the free tenant's first two")
		})
	}
}

func TestFairArrivalsAreServedInOrder(t *testing.T) {
	t.Parallel()
	f := limits.NewFair(1)
	f.Update("big", 50, 1<<20, 1<<20)
	fairDrain(t, f, 1, 3)
	for _, name := range []string{"x", "y", "z"} {
		f.Update(name, 1, 1, 1)
	}
	require.Equal(t, []fairGrant{{"x", 1}, {"y", 1}, {"z", 1}, {"big", 1}}, fairDrain(t, f, 1, 4))
}

func TestFairFetched(t *testing.T) {
	t.Parallel()
	t.Run("short fetch idles the tenant and refunds its share", func(t *testing.T) {
		t.Parallel()
		f := limits.NewFair(10)
		f.Update("a", 1, 10, 10)
		f.Update("b", 1, 1<<20, 1<<20)
		require.Equal(t, []fairGrant{{"a", 10}}, fairDrain(t, f, 100, 1))
		f.Fetched("a", 10, 0) // the queue was empty after all
		require.Equal(t, 1, f.Eligible(), "a is idle")
		require.Equal(t, []fairGrant{{"b", 1}}, fairDrain(t, f, 1, 1))

		// a's tasks arrive. Charged for 10 tasks it would wait for b's next 9; charged for
		// none, it is next.
		f.Update("a", 1, 10, 10)
		require.Equal(t, []fairGrant{{"a", 1}}, fairDrain(t, f, 1, 1))
	})
	t.Run("partly short fetch charges the tasks got", func(t *testing.T) {
		t.Parallel()
		f := limits.NewFair(10)
		f.Update("a", 1, 10, 10)
		f.Update("b", 1, 1<<20, 1<<20)
		require.Equal(t, []fairGrant{{"a", 10}}, fairDrain(t, f, 100, 1))
		f.Fetched("a", 10, 4)
		f.Update("a", 1, 10, 10)
		// b started at 0 and moves on by 1 a grant; a comes back at 4 and wins the tie.
		require.Equal(t, []fairGrant{{"b", 1}, {"b", 1}, {"b", 1}, {"b", 1}, {"a", 1}}, fairDrain(t, f, 1, 5))
	})
	t.Run("full fetch changes nothing", func(t *testing.T) {
		t.Parallel()
		f := limits.NewFair(1)
		f.Update("a", 2, 3, 10)
		require.Equal(t, []fairGrant{{"a", 2}}, fairDrain(t, f, 10, 1))
		f.Fetched("a", 2, 2)
		require.Equal(t, []fairGrant{{"a", 1}}, fairDrain(t, f, 10, 1))
	})
	t.Run("fetching more than granted takes the extra", func(t *testing.T) {
		t.Parallel()
		f := limits.NewFair(1)
		f.Update("a", 2, 10, 5)
		require.Equal(t, []fairGrant{{"a", 2}}, fairDrain(t, f, 10, 1))
		f.Fetched("a", 2, 4) // room 5-2-2 = 1
		require.Equal(t, []fairGrant{{"a", 1}}, fairDrain(t, f, 10, 1))
		_, _, ok := f.Next(10)
		require.False(t, ok)
	})
	t.Run("unknown tenants are ignored", func(t *testing.T) {
		t.Parallel()
		f := limits.NewFair(1)
		f.Fetched("x", 3, 0)
		f.Done("x", 3)
		f.Remove("x")
		require.Zero(t, f.Eligible())
	})
}

func TestFairArrivedAndAdmitted(t *testing.T) {
	t.Parallel()
	t.Run("arrivals make a known tenant eligible", func(t *testing.T) {
		t.Parallel()
		f := limits.NewFair(1)
		require.False(t, f.Arrived("a", 1), "unknown tenants need an Update first")
		f.Update("a", 1, 0, 5)
		require.Zero(t, f.Eligible())
		require.True(t, f.Arrived("a", 2))
		require.Equal(t, []fairGrant{{"a", 1}, {"a", 1}}, fairDrain(t, f, 1, 2))
		require.Zero(t, f.Eligible())
	})
	t.Run("a tenant full elsewhere keeps its tasks and its place", func(t *testing.T) {
		t.Parallel()
		f := limits.NewFair(1)
		f.Update("a", 1, 10, 10)
		f.Update("b", 1, 10, 10)
		tenant, n, ok := f.Next(1)
		require.True(t, ok)
		require.Equal(t, "a", tenant)
		f.Admitted("a", n, 0) // a's slots are all held by other workers
		require.Equal(t, []fairGrant{{"b", 1}, {"b", 1}}, fairDrain(t, f, 1, 2), "a has no room")
		f.Done("a", 1) // one of a's slots is free again
		// a was not charged for the grant it could not use: it comes before b's next.
		require.Equal(t, []fairGrant{{"a", 1}}, fairDrain(t, f, 1, 1))
	})
	t.Run("partly admitted grants charge what started", func(t *testing.T) {
		t.Parallel()
		f := limits.NewFair(4)
		f.Update("a", 1, 10, 10)
		require.Equal(t, []fairGrant{{"a", 4}}, fairDrain(t, f, 10, 1))
		f.Admitted("a", 4, 1)
		require.Zero(t, f.Eligible())
		f.Update("a", 1, 9, 3)
		require.Equal(t, []fairGrant{{"a", 3}}, fairDrain(t, f, 10, 1), "9 pending, room 3")
	})
}

// TestFairConcurrentUse has dispatch loops, task completions and a poller share one Fair, as
// a worker's goroutines do; Next's grants must never exceed a tenant's pending tasks or room.
func TestFairConcurrentUse(t *testing.T) {
	t.Parallel()
	const (
		tenants = 8
		tasks   = 500 // per tenant
		limit   = 3   // concurrency per tenant
	)
	f := limits.NewFair(1)
	name := func(i int) string { return fmt.Sprintf("ten_%d", i) }
	var running, started [tenants]atomic.Int64
	for i := range tenants {
		f.Update(name(i), 1+i%4, tasks, limit)
	}
	index := map[string]int{}
	for i := range tenants {
		index[name(i)] = i
	}

	var wg sync.WaitGroup
	done := make(chan struct{})
	// A poller reports queue depths meanwhile: here of a tenant that stays idle.
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
				f.Update("idle", 1, 0, limit)
				_ = f.Eligible()
			}
		}
	})
	var loops sync.WaitGroup
	for range 4 {
		loops.Go(func() {
			for {
				tenant, n, ok := f.Next(2)
				if !ok {
					// Tasks still running may give room back; stop once none are.
					var busy int64
					for i := range tenants {
						busy += running[i].Load()
					}
					if busy == 0 && f.Eligible() == 0 {
						return
					}
					continue
				}
				i := index[tenant]
				if r := running[i].Add(int64(n)); r > limit {
					t.Errorf("%s runs %d tasks, limit %d", tenant, r, limit)
				}
				started[i].Add(int64(n))
				running[i].Add(-int64(n))
				f.Done(tenant, n)
			}
		})
	}
	loops.Wait()
	close(done)
	wg.Wait()
	for i := range tenants {
		require.Equal(t, int64(tasks), started[i].Load(), "tasks started for %s", name(i))
	}
}

// The simulation below drives a Fair the way a worker does: tasks arrive in bursts for
// random tenants, tasks finish at random, concurrency limits change, and the worker asks for
// grants whenever it has free slots, sometimes fewer than it has. It keeps its own account
// of every tenant's queue and room, checks each grant against it, and logs grants and every
// change of a tenant's eligibility for the fairness checks that follow.

type fairSimConfig struct {
	seed    uint64
	quantum int
	slots   int // the worker's handler pool
	// full makes every grant a full quantum (or what is left of a tenant's pending tasks or
	// room): the worker asks for more than any tenant's quantum×weight whenever it has a free
	// slot, and may overshoot its pool by the excess.
	full    bool
	heavy   int // tenants that stay eligible throughout, each with backlog tasks
	backlog int
	churn   int // tenants that come and go, with small concurrency limits
	sparse  int // tenants that send one task now and then
	steps   int
}

type fairSimTenant struct {
	name                    string
	weight, limit           int
	pending, running        int
	heavy, sparse, eligible bool
}

func (s *fairSimTenant) room() int { return s.limit - s.running }

type fairSimEventKind int

const (
	fairSimGrant fairSimEventKind = iota
	fairSimEligible
	fairSimIneligible
)

type fairSimEvent struct {
	kind   fairSimEventKind
	tenant int
	n      int
}

type fairSimResult struct {
	tenants []*fairSimTenant
	log     []fairSimEvent
	grants  int
}

var fairSimWeights = []int{1, 1, 2, 3, 3, 5, 7, 10, 10, 50}

func runFairSim(t *testing.T, cfg fairSimConfig) fairSimResult {
	t.Helper()
	rng := rand.New(rand.NewPCG(cfg.seed, cfg.seed^0x9e3779b97f4a7c15))
	f := limits.NewFair(cfg.quantum)
	var res fairSimResult
	byName := map[string]int{}
	add := func(s *fairSimTenant) {
		byName[s.name] = len(res.tenants)
		res.tenants = append(res.tenants, s)
	}
	for i := range cfg.heavy {
		add(&fairSimTenant{name: fmt.Sprintf("heavy%d", i), weight: fairSimWeights[rng.IntN(len(fairSimWeights))],
			limit: 1 << 30, pending: cfg.backlog, heavy: true})
	}
	for i := range cfg.churn {
		add(&fairSimTenant{name: fmt.Sprintf("churn%d", i), weight: fairSimWeights[rng.IntN(len(fairSimWeights))],
			limit: 1 + rng.IntN(10)})
	}
	for i := range cfg.sparse {
		add(&fairSimTenant{name: fmt.Sprintf("sparse%d", i), weight: fairSimWeights[rng.IntN(len(fairSimWeights))],
			limit: 1 + rng.IntN(3), sparse: true})
	}
	// note logs a change of s's eligibility.
	note := func(i int) {
		s := res.tenants[i]
		if e := s.pending > 0 && s.room() > 0; e != s.eligible {
			s.eligible = e
			kind := fairSimIneligible
			if e {
				kind = fairSimEligible
			}
			res.log = append(res.log, fairSimEvent{kind: kind, tenant: i})
		}
	}
	update := func(i int) {
		s := res.tenants[i]
		f.Update(s.name, s.weight, s.pending, s.room())
		note(i)
	}
	for i := range res.tenants {
		update(i)
	}

	var running []int // the tenant of each running task
	for range cfg.steps {
		// Tasks finish.
		pDone := 0.05 + 0.4*rng.Float64()
		for k := 0; k < len(running); {
			if rng.Float64() >= pDone {
				k++
				continue
			}
			i := running[k]
			running[k] = running[len(running)-1]
			running = running[:len(running)-1]
			res.tenants[i].running--
			f.Done(res.tenants[i].name, 1)
			note(i)
		}
		// Tasks arrive, limits change. Heavy tenants stay backlogged.
		for i, s := range res.tenants {
			switch {
			case s.heavy:
				if s.pending < cfg.backlog/2 {
					s.pending += cfg.backlog / 2
					update(i)
				}
			case s.sparse:
				if rng.IntN(200) == 0 {
					s.pending++
					update(i)
				}
			default:
				if rng.IntN(20) == 0 {
					s.pending += rng.IntN(30)
					update(i)
				}
				if rng.IntN(100) == 0 {
					s.limit = 1 + rng.IntN(10)
					update(i)
				}
			}
		}
		// The worker fills its free slots.
		for free := cfg.slots - len(running); free > 0; {
			capacity := free
			switch {
			case cfg.full:
				capacity = 1 << 30
			case rng.IntN(3) == 0:
				capacity = 1 + rng.IntN(free)
			}
			name, n, ok := f.Next(capacity)
			if !ok {
				// Work-conserving: no grant only when nobody could take one.
				for _, s := range res.tenants {
					require.False(t, s.pending > 0 && s.room() > 0,
						"Next granted nothing with %d free slots while %s has %d pending and room %d",
						capacity, s.name, s.pending, s.room())
				}
				break
			}
			i, known := byName[name]
			require.True(t, known, "granted unknown tenant %q", name)
			s := res.tenants[i]
			require.GreaterOrEqual(t, n, 1)
			require.LessOrEqual(t, n, capacity, "grant beyond capacity")
			require.LessOrEqual(t, n, s.pending, "grant beyond %s's pending tasks", name)
			require.LessOrEqual(t, n, s.room(), "grant beyond %s's room", name)
			require.LessOrEqual(t, n, cfg.quantum*s.weight, "grant beyond %s's quantum", name)
			s.pending -= n
			s.running += n
			for range n {
				running = append(running, i)
			}
			free -= n
			res.grants++
			res.log = append(res.log, fairSimEvent{kind: fairSimGrant, tenant: i, n: n})
			note(i)
		}
	}
	return res
}

// fairShareDeviation checks weighted shares from sampled starting points: from each, the set
// of tenants eligible there, for as long as each stays eligible, and at every grant the
// deviation of each member's tasks from its weighted share of what the set got since the
// start. It returns the largest deviation in units of the member's quantum×weight.
func fairShareDeviation(res fairSimResult, quantum int, starts int, rng *rand.Rand) float64 {
	var worst float64
	n := len(res.tenants)
	for range starts {
		a := rng.IntN(len(res.log))
		eligible := make([]bool, n)
		for _, e := range res.log[:a] {
			switch e.kind {
			case fairSimEligible:
				eligible[e.tenant] = true
			case fairSimIneligible:
				eligible[e.tenant] = false
			}
		}
		got := make([]int, n)
		for _, e := range res.log[a:] {
			switch e.kind {
			case fairSimIneligible:
				eligible[e.tenant] = false // drops out of the set for good
				continue
			case fairSimEligible:
				continue // joins after the start: not in the set
			}
			got[e.tenant] += e.n
			var total, weights int
			for j := range n {
				if eligible[j] {
					total += got[j]
					weights += res.tenants[j].weight
				}
			}
			for j := range n {
				if !eligible[j] {
					continue
				}
				w := res.tenants[j].weight
				share := float64(total) * float64(w) / float64(weights)
				dev := math.Abs(float64(got[j])-share) / float64(quantum*w)
				worst = max(worst, dev)
			}
		}
	}
	return worst
}

// fairWaitStats are the longest waits for a grant, in tasks granted to other tenants
// meanwhile: Per is the most one other tenant j got, in units of quantum×weight_j; Sum is
// what all others got together, in units of the sum of their quantum×weight.
type fairWaitStats struct {
	arrivalPer, arrivalSum float64 // waits that began when the tenant became eligible
	allPer, allSum         float64 // those and the waits between a tenant's grants
	arrivals               int
}

// fairWaits measures every wait in the log: from when a tenant became eligible, or from a
// grant after which it stayed eligible, to its next grant.
func fairWaits(res fairSimResult, quantum int) fairWaitStats {
	n := len(res.tenants)
	var st fairWaitStats
	var sumQ int
	for _, s := range res.tenants {
		sumQ += quantum * s.weight
	}
	cum := make([]int, n)
	snap := make([][]int, n)
	arrival := make([]bool, n)
	for k, e := range res.log {
		i := e.tenant
		switch e.kind {
		case fairSimEligible:
			snap[i] = append(snap[i][:0], cum...)
			arrival[i] = true
		case fairSimIneligible:
			snap[i] = nil
		case fairSimGrant:
			if snap[i] != nil {
				var per, total float64
				for j := range n {
					if j == i {
						continue
					}
					d := cum[j] - snap[i][j]
					per = max(per, float64(d)/float64(quantum*res.tenants[j].weight))
					total += float64(d)
				}
				total /= float64(sumQ - quantum*res.tenants[i].weight)
				st.allPer, st.allSum = max(st.allPer, per), max(st.allSum, total)
				if arrival[i] {
					st.arrivals++
					st.arrivalPer, st.arrivalSum = max(st.arrivalPer, per), max(st.arrivalSum, total)
				}
			}
			cum[i] += e.n
			arrival[i] = false
			// Still eligible unless the next event says otherwise: a new wait starts.
			if k+1 < len(res.log) && res.log[k+1].kind == fairSimIneligible && res.log[k+1].tenant == i {
				snap[i] = nil
			} else {
				snap[i] = append(snap[i][:0], cum...)
			}
		}
	}
	return st
}

// TestFairSimulation checks the scheduler's guarantees on seeded random workloads, with
// backlogs of 2,000 and 200,000 tasks held by the heavy tenants, and the same bounds for both:
//   - every grant is within the worker's capacity and the tenant's pending tasks, room and
//     quantum×weight, and Next grants whenever some tenant could take a task (in runFairSim);
//   - over any stretch in which a set of tenants stays eligible, each gets its weighted share
//     of the set's tasks within ±2×quantum×weight, and within ±1 when grants are full;
//   - a tenant that becomes eligible, or stays eligible after a grant, is granted again
//     before any other tenant j got more than 2×quantum×weight_j tasks, and before all
//     others together got twice the sum of their quantum×weight: the wait is bounded by the
//     others' weights, not their backlogs.
func TestFairSimulation(t *testing.T) {
	t.Parallel()
	const eps = 1e-9
	for _, cfg := range []fairSimConfig{
		{seed: 1, quantum: 1, slots: 20, heavy: 4, backlog: 2_000, churn: 20, sparse: 20, steps: 3000},
		{seed: 9, quantum: 1, slots: 20, heavy: 4, backlog: 200_000, churn: 20, sparse: 20, steps: 3000},
		{seed: 2, quantum: 2, slots: 100, heavy: 6, backlog: 2_000, churn: 30, sparse: 10, steps: 1500},
		{seed: 3, quantum: 1, slots: 5, heavy: 2, backlog: 200_000, churn: 10, sparse: 40, steps: 4000},
		{seed: 4, quantum: 3, slots: 50, heavy: 8, backlog: 20_000, churn: 5, sparse: 5, steps: 1500},
		{seed: 5, quantum: 1, slots: 300, heavy: 3, backlog: 2_000, churn: 40, sparse: 40, steps: 500},
		{seed: 6, quantum: 1, slots: 40, full: true, heavy: 5, backlog: 200_000, churn: 20, sparse: 20, steps: 1500},
		{seed: 7, quantum: 2, slots: 200, full: true, heavy: 8, backlog: 2_000, churn: 10, sparse: 30, steps: 800},
	} {
		t.Run(fmt.Sprintf("seed %d backlog %d full %t", cfg.seed, cfg.backlog, cfg.full), func(t *testing.T) {
			t.Parallel()
			res := runFairSim(t, cfg)
			require.Greater(t, res.grants, 1000)
			dev := fairShareDeviation(res, cfg.quantum, 100, rand.New(rand.NewPCG(cfg.seed, 7)))
			w := fairWaits(res, cfg.quantum)
			t.Logf("%d grants; largest share deviation %.2f×quantum×weight; waits: largest per other tenant %.2f×quantum×weight "+
				"(%.2f after arrivals), largest total %.2f×sum of others' quantum×weight (%.2f after arrivals, %d arrivals)",
				res.grants, dev, w.allPer, w.arrivalPer, w.allSum, w.arrivalSum, w.arrivals)
			bound := 2.0
			if cfg.full {
				bound = 1
			}
			require.LessOrEqual(t, dev, bound+eps, "share deviation")
			require.LessOrEqual(t, w.allPer, 2+eps, "tasks to one other tenant while one waits")
			require.LessOrEqual(t, w.allSum, 2+eps, "tasks to all others while one waits")
			require.Greater(t, w.arrivals, 100)
		})
	}
}

// TestFairBacklogSizeDoesNotMatter runs the same workload with the heavy tenants holding
// 2,000 and 200,000 tasks: every grant, and so every wait, is the same. Only whether a
// tenant has tasks counts, never how many beyond a grant.
func TestFairBacklogSizeDoesNotMatter(t *testing.T) {
	t.Parallel()
	cfg := fairSimConfig{seed: 8, quantum: 1, slots: 30, heavy: 3, churn: 15, sparse: 30, steps: 2000}
	cfg.backlog = 2_000
	small := runFairSim(t, cfg)
	cfg.backlog = 200_000
	large := runFairSim(t, cfg)
	require.Greater(t, small.grants, 1000)
	require.Equal(t, small.log, large.log)
}
