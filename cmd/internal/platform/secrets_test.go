package platform

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Credentials come from NAME_FILE as well as NAME, setting both is refused with one line
// naming them, and other variables pass through untouched.
func TestWithSecrets(t *testing.T) {
	file := filepath.Join(t.TempDir(), "admin-token")
	require.NoError(t, os.WriteFile(file, []byte("from-a-file-0123456789\n"), 0o600))
	env := map[string]string{"AGENTIC_ADMIN_TOKEN_FILE": file, "AGENTIC_HTTP_ADDR": ":9999"}
	getenv, closeFn, err := withSecrets(t.Context(), func(k string) string { return env[k] })
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, closeFn()) })
	require.Equal(t, "from-a-file-0123456789", getenv("AGENTIC_ADMIN_TOKEN"))
	require.Equal(t, ":9999", getenv("AGENTIC_HTTP_ADDR"))
	c, err := FromEnv(getenv)
	require.NoError(t, err)
	require.Equal(t, "from-a-file-0123456789", c.AdminToken)

	env["AGENTIC_ADMIN_TOKEN"] = "from-the-environment"
	_, _, err = withSecrets(t.Context(), func(k string) string { return env[k] })
	require.EqualError(t, err, "secrets: both AGENTIC_ADMIN_TOKEN and AGENTIC_ADMIN_TOKEN_FILE are set, set only one")
	require.NotContains(t, err.Error(), "from-")

	delete(env, "AGENTIC_ADMIN_TOKEN")
	env["AGENTIC_ADMIN_TOKEN_FILE"] = filepath.Join(t.TempDir(), "missing")
	_, _, err = withSecrets(t.Context(), func(k string) string { return env[k] })
	require.ErrorContains(t, err, "AGENTIC_ADMIN_TOKEN_FILE")
}
