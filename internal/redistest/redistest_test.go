package redistest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/internal/redistest"
)

func TestCleanupDeletesOnlyThePrefix(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	outer, outerPrefix := redistest.Client(t)
	require.NoError(t, outer.Set(ctx, outerPrefix+":keep", "1", 0).Err())

	var inner string
	t.Run("inner", func(t *testing.T) {
		c, prefix := redistest.Client(t)
		inner = prefix
		require.True(t, strings.HasPrefix(prefix, "agentic-test:"))
		require.NotEqual(t, outerPrefix, prefix)
		// More keys than one SCAN page.
		for i := range 1200 {
			require.NoError(t, c.Set(ctx, fmt.Sprintf("%s:k%d", prefix, i), i, 0).Err())
		}
	})

	n := 0
	var cursor uint64
	for {
		keys, next, err := outer.Scan(ctx, cursor, inner+"*", 1000).Result()
		require.NoError(t, err)
		n += len(keys)
		if next == 0 {
			break
		}
		cursor = next
	}
	require.Zero(t, n, "keys of the finished test remain")
	require.Equal(t, "1", outer.Get(ctx, outerPrefix+":keep").Val())
}
