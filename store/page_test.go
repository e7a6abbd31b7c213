package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/store"
)

func TestPageLimit(t *testing.T) {
	t.Parallel()
	for in, want := range map[int]int{0: 20, -5: 1, 1: 1, 50: 50, 100: 100, 101: 100} {
		require.Equal(t, want, store.PageLimit(in), "limit %d", in)
	}
}

func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 25, 14, 3, 7, 123456000, time.UTC)
	gotAt, gotID, err := store.DecodeCursor(store.EncodeCursor(at, "tsk_01,x"))
	require.NoError(t, err)
	require.Equal(t, at, gotAt)
	require.Equal(t, "tsk_01,x", gotID, "an id may contain the separator")
	for _, bad := range []string{"", "!!", "bm90LWEtY3Vyc29y", "MTIz", "eCx0c2s"} {
		_, _, err := store.DecodeCursor(bad)
		require.ErrorIs(t, err, store.ErrInvalidCursor, bad)
	}
}
