package platform

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// The limits' settings: defaults, a tiers file, and one-line errors naming the variable.
func TestLimitsConfig(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	c, err := FromEnv(getenv)
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"requests": true, "executions": true, "concurrency": true}, c.FailOpen)
	require.Equal(t, 10, c.Tiers["free"].RequestsPerMinute)

	env["AGENTIC_FAIL_OPEN"] = "none"
	c, err = FromEnv(getenv)
	require.NoError(t, err)
	require.Empty(t, c.FailOpen)

	env["AGENTIC_FAIL_OPEN"] = "requests,budget"
	_, err = FromEnv(getenv)
	require.EqualError(t, err, `AGENTIC_FAIL_OPEN: "budget" is not a limit: use a comma-separated list of requests, executions, concurrency, budgets, or none`)
	delete(env, "AGENTIC_FAIL_OPEN")

	path := filepath.Join(t.TempDir(), "tiers.yaml")
	require.NoError(t, os.WriteFile(path, []byte("free: {requests_per_minute: 1, executions_per_hour: 1, concurrent: 1}\n"), 0o600))
	env["AGENTIC_TIERS_FILE"] = path
	_, err = FromEnv(getenv)
	require.EqualError(t, err, `AGENTIC_TIERS_FILE: tiers: tier "basic" is missing`)
}
