package overlap_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/internal/overlap"
)

func TestMax(t *testing.T) {
	t.Parallel()
	span := func(iv [2]int) (time.Time, time.Time) { return time.Unix(int64(iv[0]), 0), time.Unix(int64(iv[1]), 0) }
	require.Zero(t, overlap.Max(nil, span))
	require.Equal(t, 1, overlap.Max([][2]int{{0, 1}, {1, 2}, {2, 3}}, span), "back to back")
	require.Equal(t, 3, overlap.Max([][2]int{{0, 10}, {1, 3}, {2, 4}, {3, 5}}, span))
	require.Equal(t, 2, overlap.Max([][2]int{{5, 9}, {0, 6}}, span), "in any order")
}
