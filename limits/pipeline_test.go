package limits_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/internal/redistest"
	"github.com/agentic-run/agentic/limits"
)

// Concurrent decisions share pipelines, and a script Redis forgot (SCRIPT FLUSH, as after a
// restart) is loaded again without failing a call.
func TestRedisWindowPipelinesAndReloadsItsScript(t *testing.T) {
	t.Parallel()
	rc, prefix := redistest.Client(t)
	w := limits.NewRedisWindow(rc, prefix)
	ctx := context.Background()
	for round := range 2 {
		if round == 1 {
			require.NoError(t, rc.ScriptFlush(ctx).Err())
		}
		var wg sync.WaitGroup
		admitted := make(chan bool, 100)
		for i := range 100 {
			wg.Go(func() {
				d, err := w.Allow(ctx, "ten_p:"+string(rune('a'+round)), 60, time.Minute)
				require.NoError(t, err, "call %d", i)
				admitted <- d.Allowed
			})
		}
		wg.Wait()
		close(admitted)
		n := 0
		for ok := range admitted {
			if ok {
				n++
			}
		}
		require.Equal(t, 60, n, "round %d: exactly the limit admitted", round)
	}
}
