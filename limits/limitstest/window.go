package limitstest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/limits"
)

// Timing of the window suite. Windows run on real time, the implementation's own (Redis's
// clock, or the process's), which the suite cannot set. So it brackets: an implementation's
// time for a call lies between the moments the test sent it and got the answer, and every
// duration in a Decision must fit between the bounds those moments give.
const (
	// winSlack absorbs what the brackets cannot see: Redis's microsecond times, and the drift
	// between the Redis server's wall clock and the process's monotonic one.
	winSlack = time.Millisecond
	// winPoll is how often a waiting caller retries.
	winPoll = 2 * time.Millisecond
	// winGap separates events that must leave the window at clearly different moments: far
	// more than a loaded machine takes between two calls.
	winGap = 300 * time.Millisecond
)

// RunWindow runs the Window conformance suite. newWindow returns a Window for a subtest,
// cleaned up with t. Every Window it returns during one RunWindow must share one store, as
// replicas of one deployment do (separate Redis clients on one prefix, or one in-process
// instance): the contention test takes two and checks that together they admit no more than
// the limit. Subtests run in parallel on keys of their own.
func RunWindow(t *testing.T, newWindow func(t *testing.T) limits.Window) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, newWindow func(t *testing.T) limits.Window)
	}{
		{"RejectsBadArguments", testWindowRejectsBadArguments},
		{"AllowsLimitThenDenies", testWindowAllowsLimitThenDenies},
		{"KeysAreIndependent", testWindowKeysAreIndependent},
		{"SlidesPastOldest", testWindowSlidesPastOldest},
		{"RetryAfterIsHonest", testWindowRetryAfterIsHonest},
		{"DeniedCallsDoNotConsume", testWindowDeniedCallsDoNotConsume},
		{"LimitChanges", testWindowLimitChanges},
		{"ConcurrentReplicasNeverExceedLimit", testWindowConcurrentReplicas},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newWindow)
		})
	}
}

// windowKey returns a key of the subtest's own, shaped as callers shape theirs.
func windowKey(t *testing.T, name string) string {
	return fmt.Sprintf("%s|%s", t.Name(), name)
}

// windowCall is one Allow call and the moments around it.
type windowCall struct {
	d          limits.Decision
	sent, recv time.Time
}

// allowAt calls Allow, failing the test on an error, and notes when it was sent and answered.
func allowAt(t *testing.T, w limits.Window, key string, limit int, window time.Duration) windowCall {
	t.Helper()
	sent := time.Now()
	d, err := w.Allow(t.Context(), key, limit, window)
	recv := time.Now()
	require.NoError(t, err)
	return windowCall{d: d, sent: sent, recv: recv}
}

// requireUntil asserts that got is what remains of span, counted from the implementation's time
// of call a, at its time of call b: span - (Tb - Ta), where Ta lies in [a.sent, a.recv] and
// Tb in [b.sent, b.recv].
func requireUntil(t *testing.T, got, span time.Duration, a, b windowCall, what string) {
	t.Helper()
	lo := span - b.recv.Sub(a.sent) - winSlack
	hi := span - b.sent.Sub(a.recv) + winSlack
	require.GreaterOrEqual(t, got, lo, "%s: %v is shorter than the window allows", what, got)
	require.LessOrEqual(t, got, hi, "%s: %v is longer than the window allows", what, got)
}

// requireAllowed asserts an admission and its remaining count.
func requireAllowed(t *testing.T, c windowCall, limit, remaining int, what string) {
	t.Helper()
	require.True(t, c.d.Allowed, "%s: denied", what)
	require.Equal(t, limit, c.d.Limit, "%s: limit", what)
	require.Equal(t, remaining, c.d.Remaining, "%s: remaining", what)
	require.Zero(t, c.d.RetryAfter, "%s: retry-after of an admission", what)
	require.Positive(t, c.d.ResetAfter, "%s: reset-after of an admission", what)
}

// requireDenied asserts a denial: nothing remaining, and reset-after equal to retry-after.
func requireDenied(t *testing.T, c windowCall, limit int, what string) {
	t.Helper()
	require.False(t, c.d.Allowed, "%s: admitted", what)
	require.Equal(t, limit, c.d.Limit, "%s: limit", what)
	require.Zero(t, c.d.Remaining, "%s: remaining", what)
	require.Positive(t, c.d.RetryAfter, "%s: retry-after of a denial", what)
	require.Equal(t, c.d.RetryAfter, c.d.ResetAfter, "%s: reset-after of a denial", what)
}

func testWindowRejectsBadArguments(t *testing.T, newWindow func(t *testing.T) limits.Window) {
	w := newWindow(t)
	key := windowKey(t, "ten_1:rpm")
	for _, tc := range []struct {
		name   string
		key    string
		limit  int
		window time.Duration
	}{
		{"zero limit", key, 0, time.Minute},
		{"negative limit", key, -1, time.Minute},
		{"zero window", key, 1, 0},
		{"negative window", key, 1, -time.Second},
		{"window over the cap", key, 1, limits.MaxWindow + time.Nanosecond},
		{"empty key", "", 1, time.Minute},
	} {
		d, err := w.Allow(t.Context(), tc.key, tc.limit, tc.window)
		require.Error(t, err, tc.name)
		require.False(t, errors.Is(err, limits.ErrUnavailable), "%s: %v is not a store failure", tc.name, err)
		require.Equal(t, limits.Decision{}, d, tc.name)
	}
	// The rejected calls counted nothing.
	requireAllowed(t, allowAt(t, w, key, 1, time.Minute), 1, 0, "first valid call")
	// The longest window is accepted.
	requireAllowed(t, allowAt(t, w, windowKey(t, "ten_1:weekly"), 1, limits.MaxWindow), 1, 0, "MaxWindow")
}

func testWindowAllowsLimitThenDenies(t *testing.T, newWindow func(t *testing.T) limits.Window) {
	w := newWindow(t)
	key := windowKey(t, "ten_1:rpm")
	const limit, window = 5, time.Minute

	first := allowAt(t, w, key, limit, window)
	requireAllowed(t, first, limit, limit-1, "call 1")
	require.Equal(t, window, first.d.ResetAfter, "call 1: reset-after of the only event")
	for i := 2; i <= limit; i++ {
		c := allowAt(t, w, key, limit, window)
		requireAllowed(t, c, limit, limit-i, fmt.Sprintf("call %d", i))
		// The window next frees a unit when the first event leaves it.
		requireUntil(t, c.d.ResetAfter, window, first, c, fmt.Sprintf("call %d reset-after", i))
	}
	for i := limit + 1; i <= limit+3; i++ {
		c := allowAt(t, w, key, limit, window)
		requireDenied(t, c, limit, fmt.Sprintf("call %d", i))
		requireUntil(t, c.d.RetryAfter, window, first, c, fmt.Sprintf("call %d retry-after", i))
		// In the headers: a wait of just under a minute is a minute, never 59 seconds.
		require.Equal(t, 60, c.d.RetryAfterSeconds())
		require.Equal(t, 60, c.d.ResetSeconds())
	}
}

func testWindowKeysAreIndependent(t *testing.T, newWindow func(t *testing.T) limits.Window) {
	w := newWindow(t)
	const limit, window = 3, time.Minute
	aRPM, aEPH, bRPM := windowKey(t, "ten_a:rpm"), windowKey(t, "ten_a:eph"), windowKey(t, "ten_b:rpm")

	for i := range limit {
		requireAllowed(t, allowAt(t, w, aRPM, limit, window), limit, limit-1-i, "tenant A")
	}
	requireDenied(t, allowAt(t, w, aRPM, limit, window), limit, "tenant A over its limit")

	// Another tenant, and another limit of the same tenant, start full.
	requireAllowed(t, allowAt(t, w, bRPM, limit, window), limit, limit-1, "tenant B")
	requireAllowed(t, allowAt(t, w, aEPH, limit, window), limit, limit-1, "tenant A's other limit")
	// And leave tenant A as it was.
	requireDenied(t, allowAt(t, w, aRPM, limit, window), limit, "tenant A afterwards")
}

func testWindowSlidesPastOldest(t *testing.T, newWindow func(t *testing.T) limits.Window) {
	w := newWindow(t)
	key := windowKey(t, "ten_1:rpm")
	const limit, window = 3, 3 * winGap

	a := allowAt(t, w, key, limit, window)
	requireAllowed(t, a, limit, 2, "event A")
	time.Sleep(winGap) // spaces the events; it synchronizes nothing
	b := allowAt(t, w, key, limit, window)
	requireAllowed(t, b, limit, 1, "event B")
	requireUntil(t, b.d.ResetAfter, window, a, b, "event B reset-after")
	requireAllowed(t, allowAt(t, w, key, limit, window), limit, 0, "event C")
	denied := allowAt(t, w, key, limit, window)
	requireDenied(t, denied, limit, "event D")
	requireUntil(t, denied.d.RetryAfter, window, a, denied, "event D retry-after")

	// Once A leaves, exactly one more gets in: at A+window, not before and not much after.
	var p windowCall
	for deadline := time.Now().Add(2 * window); ; {
		require.True(t, time.Now().Before(deadline), "no room after the oldest event left")
		p = allowAt(t, w, key, limit, window)
		if p.d.Allowed {
			require.GreaterOrEqual(t, p.recv.Sub(a.sent), window-winSlack, "admitted before the oldest event left")
			break
		}
		requireDenied(t, p, limit, "while A is in the window")
		require.Less(t, p.sent.Sub(a.recv), window+winSlack, "denied after the oldest event left")
		time.Sleep(winPoll)
	}
	requireAllowed(t, p, limit, 0, "after A left")
	// B and C are still in the window, and now the new one too.
	q := allowAt(t, w, key, limit, window)
	require.Less(t, q.recv.Sub(b.sent), window, "precondition: the machine took over %v between two calls", winGap)
	requireDenied(t, q, limit, "after the one that got in")
	requireUntil(t, q.d.RetryAfter, window, b, q, "retry-after once B is the oldest")
}

func testWindowRetryAfterIsHonest(t *testing.T, newWindow func(t *testing.T) limits.Window) {
	w := newWindow(t)
	key := windowKey(t, "ten_1:rpm")
	const limit, window = 2, 2 * winGap

	first := allowAt(t, w, key, limit, window)
	requireAllowed(t, first, limit, 1, "event 1")
	time.Sleep(winGap / 2) // spaces the events; it synchronizes nothing
	second := allowAt(t, w, key, limit, window)
	requireAllowed(t, second, limit, 0, "event 2")
	denied := allowAt(t, w, key, limit, window)
	requireDenied(t, denied, limit, "event 3")
	retry := denied.d.RetryAfter
	requireUntil(t, retry, window, first, denied, "retry-after")

	// Retry until admitted. Every denial must name the same moment of admission, every call
	// before that moment must be denied, and the first call after it admitted.
	denials := 0
	var p windowCall
	for deadline := time.Now().Add(2 * window); ; {
		require.True(t, time.Now().Before(deadline), "never admitted")
		p = allowAt(t, w, key, limit, window)
		if p.d.Allowed {
			require.GreaterOrEqual(t, p.recv.Sub(denied.sent), retry-winSlack,
				"admitted before the retry-after of %v was up", retry)
			break
		}
		denials++
		requireDenied(t, p, limit, "retry")
		require.Less(t, p.sent.Sub(denied.recv), retry+winSlack, "denied after the retry-after of %v was up", retry)
		requireUntil(t, p.d.RetryAfter, retry, denied, p, "retry-after of a retry")
		time.Sleep(winPoll)
	}
	require.Positive(t, denials, "precondition: the test retried before the window had room")
	requireAllowed(t, p, limit, 0, "the retry admitted")
	requireUntil(t, p.d.ResetAfter, window, second, p, "reset-after once event 2 is the oldest")
}

func testWindowDeniedCallsDoNotConsume(t *testing.T, newWindow func(t *testing.T) limits.Window) {
	w := newWindow(t)
	key := windowKey(t, "ten_1:rpm")
	const limit, window = 1, winGap

	first := allowAt(t, w, key, limit, window)
	requireAllowed(t, first, limit, 0, "event 1")
	// Hammer the key. Were denials counted, the window would never have room again.
	denials := 0
	var p windowCall
	for deadline := time.Now().Add(window + time.Second); ; {
		require.True(t, time.Now().Before(deadline), "never admitted after %d denials", denials)
		p = allowAt(t, w, key, limit, window)
		if p.d.Allowed {
			break
		}
		denials++
		require.Less(t, p.sent.Sub(first.recv), window+winSlack, "denied after event 1 left")
	}
	require.Greater(t, denials, 10, "precondition: the test hammered the key")
	require.GreaterOrEqual(t, p.recv.Sub(first.sent), window-winSlack, "admitted before event 1 left")
	// Only the admitted call is counted now.
	requireAllowed(t, p, limit, 0, "after event 1 left")
	require.Equal(t, window, p.d.ResetAfter, "reset-after of the only event counted")
}

func testWindowLimitChanges(t *testing.T, newWindow func(t *testing.T) limits.Window) {
	w := newWindow(t)
	key := windowKey(t, "ten_1:eph")
	const window = 4 * winGap

	e0 := allowAt(t, w, key, 4, window)
	requireAllowed(t, e0, 4, 3, "event 1")
	requireAllowed(t, allowAt(t, w, key, 4, window), 4, 2, "event 2")
	time.Sleep(winGap) // spaces the events; it synchronizes nothing
	e2 := allowAt(t, w, key, 4, window)
	requireAllowed(t, e2, 4, 1, "event 3")
	requireAllowed(t, allowAt(t, w, key, 4, window), 4, 0, "event 4")

	// Lowered to 2 (a downgrade): four events count, so two must leave before a third fits,
	// and the later of them is event 3.
	low := allowAt(t, w, key, 2, window)
	requireDenied(t, low, 2, "under the lowered limit")
	requireUntil(t, low.d.RetryAfter, window, e2, low, "retry-after under the lowered limit")

	// Raised to 6 (an upgrade): admitted at once, with the events so far counted.
	high := allowAt(t, w, key, 6, window)
	requireAllowed(t, high, 6, 1, "under the raised limit")
	requireUntil(t, high.d.ResetAfter, window, e0, high, "reset-after under the raised limit")
}

func testWindowConcurrentReplicas(t *testing.T, newWindow func(t *testing.T) limits.Window) {
	replicas := []limits.Window{newWindow(t), newWindow(t)}
	key := windowKey(t, "ten_1:rpm")
	const limit, window, callers, calls = 50, time.Minute, 32, 8

	var (
		mu        sync.Mutex
		remaining []int // of the admitted calls
		denied    int
		errs      []error
	)
	ctx := t.Context()
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			w := replicas[i%len(replicas)]
			<-start
			for range calls {
				d, err := w.Allow(ctx, key, limit, window)
				mu.Lock()
				switch {
				case err != nil:
					errs = append(errs, err)
				case d.Allowed:
					remaining = append(remaining, d.Remaining)
				case d.Remaining != 0 || d.RetryAfter <= 0:
					errs = append(errs, fmt.Errorf("bad denial %+v", d))
				default:
					denied++
				}
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	require.Empty(t, errs)
	require.Len(t, remaining, limit, "admitted calls")
	require.Equal(t, callers*calls-limit, denied, "denied calls")
	// Each admission saw a different count: none read a count another was about to change.
	slices.Sort(remaining)
	want := make([]int, limit)
	for i := range want {
		want[i] = i
	}
	require.Equal(t, want, remaining)
	// Both replicas see the window full.
	for i, w := range replicas {
		requireDenied(t, allowAt(t, w, key, limit, window), limit, fmt.Sprintf("replica %d afterwards", i))
	}
}
