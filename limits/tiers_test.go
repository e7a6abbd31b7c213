package limits_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/limits"
)

func TestDefaultTiersAreDesignMD(t *testing.T) {
	t.Parallel()
	ts := limits.DefaultTiers()
	require.Equal(t, []string{"basic", "enterprise", "free", "pro"}, ts.Names())
	require.Equal(t, limits.Tier{RequestsPerMinute: 10, ExecutionsPerHour: 10, Concurrent: 1, Weight: 1}, ts["free"])
	require.Equal(t, limits.Tier{RequestsPerMinute: 10_000, ExecutionsPerHour: 10_000, Concurrent: 50, Weight: 50}, ts["enterprise"])
}

func TestParseTiers(t *testing.T) {
	t.Parallel()
	const all = `
free: {requests_per_minute: 5, executions_per_hour: 6, concurrent: 1}
basic: {requests_per_minute: 100, executions_per_hour: 100, concurrent: 3}
pro: {requests_per_minute: 1000, executions_per_hour: 1000, concurrent: 10, weight: 20}
enterprise: {requests_per_minute: 10000, executions_per_hour: 10000, concurrent: 50}
`
	ts, err := limits.ParseTiers([]byte(all + "startup: {requests_per_minute: 50, executions_per_hour: 50, concurrent: 2}\n"))
	require.NoError(t, err)
	require.Equal(t, limits.Tier{RequestsPerMinute: 5, ExecutionsPerHour: 6, Concurrent: 1, Weight: 1}, ts["free"])
	require.Equal(t, 20, ts["pro"].Weight, "an explicit weight stays")
	require.Equal(t, 2, ts["startup"].Weight, "the weight defaults to the concurrency")

	for name, tc := range map[string]struct{ yaml, err string }{
		"missing tier":    {`free: {requests_per_minute: 5, executions_per_hour: 6, concurrent: 1}`, `tiers: tier "basic" is missing`},
		"zero limit":      {all + "x: {requests_per_minute: 0, executions_per_hour: 1, concurrent: 1}", "tiers: x.requests_per_minute must be a positive integer"},
		"missing limit":   {all + "x: {requests_per_minute: 1, concurrent: 1}", "tiers: x.executions_per_hour must be a positive integer"},
		"unknown field":   {all + "x: {requests_per_minute: 1, executions_per_hour: 1, concurrent: 1, burst: 3}", "tiers: line 6: field burst not found in type limits.Tier"},
		"not a map":       {"- free", "tiers: line 1: cannot unmarshal !!seq into limits.Tiers"},
		"empty":           {"", "tiers: EOF"},
		"negative weight": {all + "x: {requests_per_minute: 1, executions_per_hour: 1, concurrent: 1, weight: -1}", "tiers: x.weight must not be negative"},
	} {
		_, err := limits.ParseTiers([]byte(tc.yaml))
		require.EqualError(t, err, tc.err, name)
	}
}

func TestLoadTiers(t *testing.T) {
	t.Parallel()
	ts, err := limits.LoadTiers("")
	require.NoError(t, err)
	require.Equal(t, limits.DefaultTiers(), ts)

	_, err = limits.LoadTiers(filepath.Join(t.TempDir(), "missing.yaml"))
	require.ErrorContains(t, err, "no such file")

	path := filepath.Join(t.TempDir(), "tiers.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`
free: {requests_per_minute: 1, executions_per_hour: 1, concurrent: 1}
basic: {requests_per_minute: 2, executions_per_hour: 2, concurrent: 2}
pro: {requests_per_minute: 3, executions_per_hour: 3, concurrent: 3}
enterprise: {requests_per_minute: 4, executions_per_hour: 4, concurrent: 4}
`), 0o600))
	ts, err = limits.LoadTiers(path)
	require.NoError(t, err)
	require.Equal(t, 4, ts["enterprise"].Concurrent)
}
