package store_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/store"
)

func TestNewID(t *testing.T) {
	t.Parallel()
	id := store.NewID("tsk")
	require.True(t, strings.HasPrefix(id, "tsk_"), id)
	require.Len(t, id, len("tsk_")+26)
	require.Equal(t, strings.ToLower(id), id)
	u, err := ulid.ParseStrict(strings.ToUpper(strings.TrimPrefix(id, "tsk_")))
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), ulid.Time(u.Time()), time.Minute)
}

func TestNewIDUniqueAcrossGoroutines(t *testing.T) {
	t.Parallel()
	const goroutines, each = 16, 1000
	var mu sync.Mutex
	seen := make(map[string]bool, goroutines*each)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			ids := make([]string, each)
			for i := range ids {
				ids[i] = store.NewID("key")
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range ids {
				seen[id] = true
			}
		})
	}
	wg.Wait()
	require.Len(t, seen, goroutines*each, "every id is distinct")
}

func TestNewIDSortsByCreation(t *testing.T) {
	t.Parallel()
	a := store.NewID("tsk")
	deadline := time.Now().Add(2 * time.Millisecond)
	for time.Now().Before(deadline) { // cross a millisecond boundary without sleeping
	}
	b := store.NewID("tsk")
	require.Less(t, a, b)
}
