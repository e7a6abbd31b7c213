// Package cachetest holds the conformance suite every cache.Cache implementation must pass, so
// the Redis cache of production and the in-process one of `agentic dev` cannot drift apart.
package cachetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/cache"
)

// Timing of the suite's expiry tests. TTLs are real time: the suite runs against Redis's clock
// as well as the process's.
const (
	// shortTTL is the TTL of entries that must expire during a test.
	shortTTL = 50 * time.Millisecond
	// expiryWait is how long after its TTL an entry may still be seen on a loaded machine.
	expiryWait = 5 * time.Second
	// poll is how often an expiry test looks again.
	poll = 10 * time.Millisecond
)

// manyEntries is how many entries the paging test removes with one DeletePrefix: several
// SCAN pages on Redis.
const manyEntries = 2000

// Record is the value type the suite stores.
type Record struct {
	ID    string         `json:"id"`
	Count int            `json:"count"`
	Tags  []string       `json:"tags,omitempty"`
	Attrs map[string]int `json:"attrs,omitempty"`
}

// Run runs the Cache conformance suite. newCache returns a new, empty cache for one subtest,
// cleaned up with t, with Stats at zero and room for at least 5,000 entries.
func Run(t *testing.T, newCache func(t *testing.T) cache.Cache) {
	t.Helper()

	t.Run("MissLeavesDst", func(t *testing.T) {
		t.Parallel()
		c := newCache(t)
		dst := Record{ID: "untouched"}
		ok, err := c.Get(t.Context(), cache.GlobalKey("absent"), &dst)
		require.NoError(t, err)
		require.False(t, ok)
		require.Equal(t, Record{ID: "untouched"}, dst)
		requireAbsent(t, c, cache.TenantKey("ten_a", "absent"))
	})

	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		c := newCache(t)
		key := cache.TenantKey("ten_a", "rec")
		want := Record{ID: "a", Count: 3, Tags: []string{"x", "y"}, Attrs: map[string]int{"k": 1}}
		require.NoError(t, c.Set(ctx, key, want, time.Minute))
		require.Equal(t, want, mustGet(t, c, key))

		// Set replaces, TTL and all.
		require.NoError(t, c.Set(ctx, key, Record{ID: "b"}, time.Minute))
		require.Equal(t, Record{ID: "b"}, mustGet(t, c, key))

		// Any JSON value goes, not only objects.
		require.NoError(t, c.Set(ctx, cache.GlobalKey("n"), 42, time.Minute))
		var n int
		ok, err := c.Get(ctx, cache.GlobalKey("n"), &n)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, 42, n)
	})

	t.Run("ValuesAreCopies", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		c := newCache(t)
		key := cache.TenantKey("ten_a", "rec")
		v := Record{ID: "a", Tags: []string{"x"}, Attrs: map[string]int{"k": 1}}
		require.NoError(t, c.Set(ctx, key, v, time.Minute))
		v.Tags[0], v.Attrs["k"] = "changed after set", 2

		got := mustGet(t, c, key)
		require.Equal(t, Record{ID: "a", Tags: []string{"x"}, Attrs: map[string]int{"k": 1}}, got)
		got.Tags[0], got.Attrs["k"] = "changed after get", 3
		require.Equal(t, Record{ID: "a", Tags: []string{"x"}, Attrs: map[string]int{"k": 1}}, mustGet(t, c, key))
	})

	t.Run("EntryExpires", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		c := newCache(t)
		require.NoError(t, c.Set(ctx, cache.GlobalKey("short"), Record{ID: "x"}, shortTTL))
		require.NoError(t, c.Set(ctx, cache.GlobalKey("long"), Record{ID: "y"}, time.Minute))
		requireExpires(t, c, cache.GlobalKey("short"))
		require.Equal(t, Record{ID: "y"}, mustGet(t, c, cache.GlobalKey("long")))
	})

	t.Run("NoTTLKeeps", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		c := newCache(t)
		require.NoError(t, c.Set(ctx, cache.GlobalKey("zero"), Record{ID: "z"}, 0))
		require.NoError(t, c.Set(ctx, cache.GlobalKey("negative"), Record{ID: "n"}, -time.Second))
		added, err := c.Add(ctx, cache.GlobalKey("added"), Record{ID: "a"}, 0)
		require.NoError(t, err)
		require.True(t, added)
		time.Sleep(3 * shortTTL)
		require.Equal(t, Record{ID: "z"}, mustGet(t, c, cache.GlobalKey("zero")))
		require.Equal(t, Record{ID: "n"}, mustGet(t, c, cache.GlobalKey("negative")))
		require.Equal(t, Record{ID: "a"}, mustGet(t, c, cache.GlobalKey("added")))
	})

	t.Run("AddOnlyWhenAbsent", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		c := newCache(t)
		key := cache.TenantKey("ten_a", "k")
		requireAdd(t, c, key, Record{ID: "first"}, time.Minute, true)
		requireAdd(t, c, key, Record{ID: "second"}, time.Minute, false)
		require.Equal(t, Record{ID: "first"}, mustGet(t, c, key))

		// Over an entry written by Set (an invalidation's tombstone), too.
		require.NoError(t, c.Set(ctx, key, Record{ID: "tombstone"}, time.Minute))
		requireAdd(t, c, key, Record{ID: "fill"}, time.Minute, false)
		require.Equal(t, Record{ID: "tombstone"}, mustGet(t, c, key))

		// After a Delete the slot is free again.
		require.NoError(t, c.Delete(ctx, key))
		requireAdd(t, c, key, Record{ID: "after delete"}, time.Minute, true)
		require.Equal(t, Record{ID: "after delete"}, mustGet(t, c, key))

		// And after the entry expired.
		short := cache.TenantKey("ten_a", "short")
		requireAdd(t, c, short, Record{ID: "short"}, shortTTL, true)
		require.Eventually(t, func() bool {
			added, err := c.Add(ctx, short, Record{ID: "after expiry"}, time.Minute)
			return err == nil && added
		}, expiryWait, poll, "add never took the expired slot")
		require.Equal(t, Record{ID: "after expiry"}, mustGet(t, c, short))
	})

	t.Run("ConcurrentAddsOneWins", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		c := newCache(t)
		key := cache.GlobalKey("race")
		const n = 16
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			winner = -1
			wins   int
		)
		for i := range n {
			wg.Go(func() {
				added, err := c.Add(ctx, key, Record{Count: i}, time.Minute)
				if err != nil {
					t.Errorf("add %d: %v", i, err)
					return
				}
				if added {
					mu.Lock()
					winner, wins = i, wins+1
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		require.Equal(t, 1, wins)
		require.Equal(t, Record{Count: winner}, mustGet(t, c, key))
	})

	t.Run("Delete", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		c := newCache(t)
		for _, name := range []string{"a", "b", "c"} {
			require.NoError(t, c.Set(ctx, cache.GlobalKey(name), Record{ID: name}, time.Minute))
		}
		require.NoError(t, c.Delete(ctx, cache.GlobalKey("a"), cache.GlobalKey("b"), cache.GlobalKey("never-there")))
		require.NoError(t, c.Delete(ctx))
		requireAbsent(t, c, cache.GlobalKey("a"))
		requireAbsent(t, c, cache.GlobalKey("b"))
		require.Equal(t, Record{ID: "c"}, mustGet(t, c, cache.GlobalKey("c")))
	})

	t.Run("TenantIsolation", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		c := newCache(t)
		keys := map[cache.Key]string{
			cache.TenantKey("ten_a", "agent:x"):  "a",
			cache.TenantKey("ten_b", "agent:x"):  "b",
			cache.TenantKey("ten_aa", "agent:x"): "aa",
			cache.GlobalKey("agent:x"):           "global",
		}
		for k, id := range keys {
			require.NoError(t, c.Set(ctx, k, Record{ID: id}, time.Minute))
		}
		for k, id := range keys {
			require.Equal(t, Record{ID: id}, mustGet(t, c, k))
		}
		requireAbsent(t, c, cache.TenantKey("ten_c", "agent:x"))

		// Deleting one owner's entry leaves the others'.
		require.NoError(t, c.Delete(ctx, cache.TenantKey("ten_a", "agent:x")))
		requireAbsent(t, c, cache.TenantKey("ten_a", "agent:x"))
		for k, id := range keys {
			if id != "a" {
				require.Equal(t, Record{ID: id}, mustGet(t, c, k))
			}
		}

		// Add into one owner's slot is not stopped by another's entry.
		requireAdd(t, c, cache.TenantKey("ten_c", "agent:x"), Record{ID: "c"}, time.Minute, true)
		require.Equal(t, Record{ID: "global"}, mustGet(t, c, cache.GlobalKey("agent:x")))
	})

	t.Run("BadKeysRefused", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		c := newCache(t)
		good := cache.TenantKey("ten_a", "k")
		require.NoError(t, c.Set(ctx, good, Record{ID: "kept"}, time.Minute))
		for _, tc := range []struct {
			name string
			key  cache.Key
		}{
			{"empty tenant", cache.TenantKey("", "k")},
			{"empty name", cache.TenantKey("ten_a", "")},
			{"empty global name", cache.GlobalKey("")},
			{"tenant named like the global owner", cache.TenantKey(cache.GlobalOwner, "k")},
			{"tenant with a colon", cache.TenantKey("ten_a:k", "x")},
			{"zero key", cache.Key{}},
		} {
			var dst Record
			_, err := c.Get(ctx, tc.key, &dst)
			requireBadKey(t, err, "get: %s", tc.name)
			requireBadKey(t, c.Set(ctx, tc.key, Record{}, time.Minute), "set: %s", tc.name)
			added, err := c.Add(ctx, tc.key, Record{}, time.Minute)
			requireBadKey(t, err, "add: %s", tc.name)
			require.False(t, added, "add: %s", tc.name)
			// One bad key refuses the whole Delete.
			requireBadKey(t, c.Delete(ctx, good, tc.key), "delete: %s", tc.name)
		}
		require.Equal(t, Record{ID: "kept"}, mustGet(t, c, good))

		for _, owner := range []string{"", "ten_a:k", ":"} {
			n, err := c.DeletePrefix(ctx, owner, "")
			requireBadKey(t, err, "delete prefix of owner %q", owner)
			require.Zero(t, n)
		}
		require.Equal(t, Record{ID: "kept"}, mustGet(t, c, good))
		require.Equal(t, cache.Stats{Hits: 2}, c.Stats(), "refused gets were counted")
	})

	t.Run("DeletePrefix", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		c := newCache(t)
		gone := []cache.Key{
			cache.TenantKey("ten_a", "agent:x"),
			cache.TenantKey("ten_a", "agent:y"),
			cache.TenantKey("ten_a", "agent:"),
			cache.TenantKey("ten_a", "agent:z:1"),
		}
		kept := []cache.Key{
			cache.TenantKey("ten_a", "xagent:x"),      // contains the prefix, does not start with it
			cache.TenantKey("ten_a", "other:agent:x"), // likewise
			cache.TenantKey("ten_a", "agent"),         // shorter than the prefix
			cache.TenantKey("ten_a", "Agent:x"),       // case matters
			cache.TenantKey("ten_b", "agent:x"),       // another tenant
			cache.TenantKey("ten_aa", "agent:x"),      // a tenant whose id starts with ten_a
			cache.TenantKey("ten", "a:agent:x"),       // ten + a:agent:x spells ten:a:agent:x, not ten_a
			cache.GlobalKey("agent:x"),                // global
		}
		setAll(t, c, gone, kept)
		n, err := c.DeletePrefix(ctx, "ten_a", "agent:")
		require.NoError(t, err)
		require.Equal(t, len(gone), n)
		requireGone(t, c, gone, kept)

		// Nothing left to remove.
		n, err = c.DeletePrefix(ctx, "ten_a", "agent:")
		require.NoError(t, err)
		require.Zero(t, n)
		n, err = c.DeletePrefix(ctx, "ten_nobody", "")
		require.NoError(t, err)
		require.Zero(t, n)

		// The global owner's entries.
		n, err = c.DeletePrefix(ctx, cache.GlobalOwner, "agent:")
		require.NoError(t, err)
		require.Equal(t, 1, n)
		requireAbsent(t, c, cache.GlobalKey("agent:x"))
		require.Equal(t, Record{ID: "ten_b:agent:x"}, mustGet(t, c, cache.TenantKey("ten_b", "agent:x")))
	})

	t.Run("DeletePrefixEmptyRemovesTheOwner", func(t *testing.T) {
		t.Parallel()
		c := newCache(t)
		gone := []cache.Key{cache.TenantKey("ten_1", "a"), cache.TenantKey("ten_1", "b:c"), cache.TenantKey("ten_1", "*")}
		kept := []cache.Key{cache.TenantKey("ten_10", "a"), cache.TenantKey("ten_2", "a"), cache.GlobalKey("ten_1:a")}
		setAll(t, c, gone, kept)
		n, err := c.DeletePrefix(t.Context(), "ten_1", "")
		require.NoError(t, err)
		require.Equal(t, len(gone), n)
		requireGone(t, c, gone, kept)
	})

	t.Run("DeletePrefixGlobCharactersAreLiteral", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		c := newCache(t)
		for _, tc := range []struct {
			prefix string
			gone   []string
		}{
			{"a*", []string{"a*", "a*b"}},
			{"a?", []string{"a?", "a?c"}},
			{"a[x]", []string{"a[x]", "a[x]d"}},
			{"a[", []string{"a[", "a[x]", "a[x]d"}},
			{"a]", []string{"a]"}},
			{`a\`, []string{`a\`, `a\e`, `a\*`, `a\\`}},
			{`a\*`, []string{`a\*`}},
		} {
			// Every name also matched by the prefix read as a glob, or by a sloppy escape.
			names := []string{"a*", "a*b", "ab", "axb", "a?", "a?c", "abc", "a[x]", "a[x]d", "ax", "axd",
				"a[", "a]", `a\`, `a\e`, "ae", `a\*`, `a\\`, "a", "b*"}
			var gone, kept []cache.Key
			for _, name := range names {
				k := cache.TenantKey("ten_g", name)
				if slices.Contains(tc.gone, name) {
					gone = append(gone, k)
				} else {
					kept = append(kept, k)
				}
			}
			require.NoError(t, clearOwner(ctx, c, "ten_g"))
			setAll(t, c, gone, kept)
			n, err := c.DeletePrefix(ctx, "ten_g", tc.prefix)
			require.NoError(t, err, "prefix %q", tc.prefix)
			require.Equal(t, len(gone), n, "prefix %q", tc.prefix)
			requireGone(t, c, gone, kept)
		}

		// Glob characters in the owner are literal too.
		gone := []cache.Key{cache.TenantKey("ten_*", "k"), cache.TenantKey("ten_*", "j")}
		kept := []cache.Key{cache.TenantKey("ten_1", "k"), cache.TenantKey("ten_?", "k"), cache.TenantKey("ten_[*]", "k"), cache.TenantKey(`ten_\*`, "k")}
		setAll(t, c, gone, kept)
		n, err := c.DeletePrefix(ctx, "ten_*", "")
		require.NoError(t, err)
		require.Equal(t, len(gone), n)
		requireGone(t, c, gone, kept)
		n, err = c.DeletePrefix(ctx, "ten_?", "")
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Equal(t, Record{ID: "ten_1:k"}, mustGet(t, c, cache.TenantKey("ten_1", "k")))
	})

	t.Run("DeletePrefixManyEntries", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		c := newCache(t)
		const others = 500
		for i := range manyEntries {
			require.NoError(t, c.Set(ctx, cache.TenantKey("ten_a", fmt.Sprintf("bulk:%d", i)), Record{Count: i}, time.Minute))
		}
		for i := range others {
			require.NoError(t, c.Set(ctx, cache.TenantKey("ten_b", fmt.Sprintf("bulk:%d", i)), Record{Count: i}, time.Minute))
			require.NoError(t, c.Set(ctx, cache.TenantKey("ten_a", fmt.Sprintf("kept:%d", i)), Record{Count: i}, time.Minute))
		}
		n, err := c.DeletePrefix(ctx, "ten_a", "bulk:")
		require.NoError(t, err)
		require.Equal(t, manyEntries, n)
		for _, i := range []int{0, 1, 499, 500, 1234, manyEntries - 1} {
			requireAbsent(t, c, cache.TenantKey("ten_a", fmt.Sprintf("bulk:%d", i)))
		}
		for i := range others {
			require.Equal(t, Record{Count: i}, mustGet(t, c, cache.TenantKey("ten_b", fmt.Sprintf("bulk:%d", i))))
			require.Equal(t, Record{Count: i}, mustGet(t, c, cache.TenantKey("ten_a", fmt.Sprintf("kept:%d", i))))
		}
		n, err = c.DeletePrefix(ctx, "ten_a", "")
		require.NoError(t, err)
		require.Equal(t, others, n)
	})

	t.Run("DeletePrefixSkipsExpired", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		c := newCache(t)
		require.NoError(t, c.Set(ctx, cache.TenantKey("ten_a", "p:short"), Record{}, shortTTL))
		require.NoError(t, c.Set(ctx, cache.TenantKey("ten_a", "p:long"), Record{}, time.Minute))
		requireExpires(t, c, cache.TenantKey("ten_a", "p:short"))
		n, err := c.DeletePrefix(ctx, "ten_a", "p:")
		require.NoError(t, err)
		require.Equal(t, 1, n, "an expired entry was counted")
	})

	t.Run("Stats", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		c := newCache(t)
		require.Equal(t, cache.Stats{}, c.Stats())
		requireAbsent(t, c, cache.GlobalKey("k"))
		requireAbsent(t, c, cache.TenantKey("ten_a", "k"))
		require.Equal(t, cache.Stats{Misses: 2}, c.Stats())

		require.NoError(t, c.Set(ctx, cache.GlobalKey("k"), Record{ID: "k"}, time.Minute))
		mustGet(t, c, cache.GlobalKey("k"))
		mustGet(t, c, cache.GlobalKey("k"))
		require.Equal(t, cache.Stats{Hits: 2, Misses: 2}, c.Stats())

		// Writes, deletes and failed gets count in neither.
		requireAdd(t, c, cache.GlobalKey("k"), Record{}, time.Minute, false)
		require.NoError(t, c.Delete(ctx, cache.GlobalKey("k")))
		var n int
		_, err := c.Get(ctx, cache.TenantKey("", "k"), &n)
		require.Error(t, err)
		require.Equal(t, cache.Stats{Hits: 2, Misses: 2}, c.Stats())

		// Concurrent gets are all counted.
		require.NoError(t, c.Set(ctx, cache.GlobalKey("k"), Record{ID: "k"}, time.Minute))
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 10 {
					var r Record
					if _, err := c.Get(ctx, cache.GlobalKey("k"), &r); err != nil {
						t.Errorf("get: %v", err)
					}
					if _, err := c.Get(ctx, cache.GlobalKey("absent"), &r); err != nil {
						t.Errorf("get: %v", err)
					}
				}
			})
		}
		wg.Wait()
		require.Equal(t, cache.Stats{Hits: 82, Misses: 82}, c.Stats())
	})

	t.Run("MismatchedValueIsCorrupt", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		c := newCache(t)
		require.NoError(t, c.Set(ctx, cache.GlobalKey("s"), "a string", time.Minute))
		n := 7
		ok, err := c.Get(ctx, cache.GlobalKey("s"), &n)
		require.ErrorIs(t, err, cache.ErrCorrupt)
		require.NotErrorIs(t, err, cache.ErrUnavailable)
		require.False(t, ok)
	})

	t.Run("RejectsUnencodable", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		c := newCache(t)
		err := c.Set(ctx, cache.GlobalKey("ch"), make(chan int), time.Minute)
		require.Error(t, err)
		require.NotErrorIs(t, err, cache.ErrUnavailable)
		added, err := c.Add(ctx, cache.GlobalKey("ch"), func() {}, time.Minute)
		require.Error(t, err)
		require.False(t, added)
		requireAbsent(t, c, cache.GlobalKey("ch"))
	})

	t.Run("CanceledContext", func(t *testing.T) {
		t.Parallel()
		c := newCache(t)
		require.NoError(t, c.Set(t.Context(), cache.GlobalKey("k"), Record{}, time.Minute))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		var r Record
		_, err := c.Get(ctx, cache.GlobalKey("k"), &r)
		require.ErrorIs(t, err, context.Canceled, "get")
		require.ErrorIs(t, c.Set(ctx, cache.GlobalKey("k"), Record{}, time.Minute), context.Canceled, "set")
		_, err = c.Add(ctx, cache.GlobalKey("j"), Record{}, time.Minute)
		require.ErrorIs(t, err, context.Canceled, "add")
		require.ErrorIs(t, c.Delete(ctx, cache.GlobalKey("k")), context.Canceled, "delete")
		_, err = c.DeletePrefix(ctx, cache.GlobalOwner, "")
		require.ErrorIs(t, err, context.Canceled, "delete prefix")
		require.ErrorIs(t, c.Ping(ctx), context.Canceled, "ping")
		require.Equal(t, Record{}, mustGet(t, c, cache.GlobalKey("k")))
	})

	t.Run("Ping", func(t *testing.T) {
		t.Parallel()
		require.NoError(t, newCache(t).Ping(t.Context()))
	})
}

// mustGet returns key's entry, failing the test if there is none.
func mustGet(t *testing.T, c cache.Cache, key cache.Key) Record {
	t.Helper()
	var r Record
	ok, err := c.Get(t.Context(), key, &r)
	require.NoError(t, err)
	require.True(t, ok, "entry %v missing", key)
	return r
}

// requireAbsent fails the test if key has a live entry.
func requireAbsent(t *testing.T, c cache.Cache, key cache.Key) {
	t.Helper()
	var r Record
	ok, err := c.Get(t.Context(), key, &r)
	require.NoError(t, err)
	require.False(t, ok, "entry %v present: %+v", key, r)
}

// requireExpires waits for key's entry to expire.
func requireExpires(t *testing.T, c cache.Cache, key cache.Key) {
	t.Helper()
	require.Eventually(t, func() bool {
		var r Record
		ok, err := c.Get(t.Context(), key, &r)
		return err == nil && !ok
	}, expiryWait, poll, "entry %v never expired", key)
}

// requireAdd adds v under key and checks whether it was added.
func requireAdd(t *testing.T, c cache.Cache, key cache.Key, v Record, ttl time.Duration, want bool) {
	t.Helper()
	added, err := c.Add(t.Context(), key, v, ttl)
	require.NoError(t, err)
	require.Equal(t, want, added, "add %v", key)
}

// requireBadKey checks that err refuses a bad key, not a failure to reach the cache.
func requireBadKey(t *testing.T, err error, msgAndArgs ...any) {
	t.Helper()
	require.ErrorIs(t, err, cache.ErrBadKey, msgAndArgs...)
	require.NotErrorIs(t, err, cache.ErrUnavailable, msgAndArgs...)
}

// setAll stores an entry under every key, its ID the key's String.
func setAll(t *testing.T, c cache.Cache, groups ...[]cache.Key) {
	t.Helper()
	for _, keys := range groups {
		for _, k := range keys {
			require.NoError(t, c.Set(t.Context(), k, Record{ID: k.String()}, time.Minute))
		}
	}
}

// requireGone checks that the gone keys have no entry and the kept ones still have theirs.
func requireGone(t *testing.T, c cache.Cache, gone, kept []cache.Key) {
	t.Helper()
	for _, k := range gone {
		requireAbsent(t, c, k)
	}
	for _, k := range kept {
		require.Equal(t, Record{ID: k.String()}, mustGet(t, c, k), "entry %v", k)
	}
}

// clearOwner removes all of owner's entries.
func clearOwner(ctx context.Context, c cache.Cache, owner string) error {
	_, err := c.DeletePrefix(ctx, owner, "")
	return err
}
