package limits

import (
	"context"
	"fmt"
	"time"
)

// Window is a rate limit over a rolling (sliding) window: at any moment, a key admits an event
// only if fewer than limit events were admitted in the window that ends now, the half-open
// interval (now-window, now]. An event admitted at t stops counting at exactly t+window.
// There are no fixed buckets, so no burst of twice the limit at a bucket's edge.
//
// Each call is one event. A denied call is not counted: a client that retries in a tight loop
// gets in as soon as the window has room, not later.
//
// The key is opaque and chosen by the caller; it carries the tenant and the limit's name
// ("ten_123:rpm"). Limit and window are given per call, so a tier change applies at once.
// A key should keep its window: events older than the window of the latest call may be
// forgotten. Lowering the limit admits nothing until fewer than the new limit remain counted.
//
// Time is the implementation's own and not an argument, so no caller can pass a skewed clock:
// the Redis implementation reads the Redis server's clock inside its script, so replicas
// whose clocks disagree still agree on every decision; the in-process one reads the clock it
// was built with.
//
// A limit must be positive, a window positive and at most MaxWindow, and the key not empty;
// breaking any of these is an error, not a denial, and changes nothing. Errors talking to the
// store wrap ErrUnavailable, so the caller can choose to fail open or closed.
//
// Implementations are safe for concurrent use.
type Window interface {
	// Allow records one event for key and reports whether it was admitted, or, when it was
	// denied, records nothing and says how long until it would be.
	Allow(ctx context.Context, key string, limit int, window time.Duration) (Decision, error)
}

// MaxWindow is the longest window a Window accepts. Every admitted event is remembered for a
// window, so the cap bounds what a key can hold; it also keeps time arithmetic exact in the
// Redis script, whose numbers are doubles.
const MaxWindow = 7 * 24 * time.Hour

// Decision is a Window's answer for one event. It carries what the RateLimit-Limit,
// RateLimit-Remaining, RateLimit-Reset and Retry-After headers report.
type Decision struct {
	// Allowed reports whether the event was admitted (and counted).
	Allowed bool
	// Limit is the limit the decision was made against.
	Limit int
	// Remaining is how many more events the window admits now, after this one; 0 when denied.
	Remaining int
	// ResetAfter is how long until the window next frees a unit: until the oldest event it
	// counts stops counting. When denied it equals RetryAfter.
	ResetAfter time.Duration
	// RetryAfter is 0 when allowed. When denied, it is exactly how long until the same call
	// would be admitted (given no other calls in between): a retry at now+RetryAfter
	// succeeds, and one any earlier is denied.
	RetryAfter time.Duration
}

// ResetSeconds is ResetAfter in whole seconds, rounded up, for the RateLimit-Reset header.
func (d Decision) ResetSeconds() int { return ceilSeconds(d.ResetAfter) }

// RetryAfterSeconds is RetryAfter in whole seconds, rounded up so that a client that waits
// that long is never early, for the Retry-After header; 0 when allowed.
func (d Decision) RetryAfterSeconds() int { return ceilSeconds(d.RetryAfter) }

func ceilSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

// checkWindowArgs validates Allow's arguments.
func checkWindowArgs(key string, limit int, window time.Duration) error {
	if key == "" {
		return fmt.Errorf("window allow: empty key")
	}
	if limit <= 0 {
		return fmt.Errorf("window allow: limit %d is not positive", limit)
	}
	if window <= 0 || window > MaxWindow {
		return fmt.Errorf("window allow: window %v out of range (0, %v]", window, MaxWindow)
	}
	return nil
}
