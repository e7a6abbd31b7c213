package limits_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/internal/syncbuf"
	"github.com/agentic-run/agentic/limits"
)

// Outages counts every undecided decision by limit and mode, and logs one line per limit per
// LogEvery, however many requests hit the outage at once.
func TestOutages(t *testing.T) {
	t.Parallel()
	var logs syncbuf.Buffer
	o := &limits.Outages{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
	var zero limits.Outages // the zero value counts, and logs nothing
	down := errors.New("dial tcp: connection refused")
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			o.Record(context.Background(), limits.LimitRequests, true, down)
			o.Record(context.Background(), limits.LimitBudgets, false, down)
			zero.Record(context.Background(), limits.LimitConcurrency, true, down)
		})
	}
	wg.Wait()
	require.EqualValues(t, 100, o.Count(limits.LimitRequests))
	require.EqualValues(t, 100, o.Count(limits.LimitBudgets))
	require.Zero(t, o.Count(limits.LimitConcurrency))
	require.EqualValues(t, 100, zero.Count(limits.LimitConcurrency))

	type sample struct {
		limit, failing string
		n              int64
	}
	var got []sample
	o.Each(func(limit, failing string, n int64) { got = append(got, sample{limit, failing, n}) })
	require.Equal(t, []sample{{"budgets", "closed", 100}, {"requests", "open", 100}}, got)

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.Len(t, lines, 2, "one line per limit: %s", logs.String())
	require.Contains(t, logs.String(), `"msg":"limits unavailable","limit":"requests","failing":"open","error":"dial tcp: connection refused"`)
	require.Contains(t, logs.String(), `"limit":"budgets","failing":"closed"`)
}
