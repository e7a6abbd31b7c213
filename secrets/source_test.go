package secrets_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/secrets"
)

// env is a getenv over a map, the way cmd/ tests pass configuration.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// writeFile writes content to a new file in a per-test directory and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestEnv(t *testing.T) {
	t.Parallel()
	src := secrets.Env(env(map[string]string{"OPENAI_API_KEY": "sk-env", "EMPTY": ""}))
	tests := []struct {
		name, want string
		wantOK     bool
	}{
		{"OPENAI_API_KEY", "sk-env", true},
		{"EMPTY", "", false},
		{"UNSET", "", false},
	}
	for _, tt := range tests {
		v, ok, err := src.Lookup(t.Context(), tt.name)
		require.NoError(t, err, tt.name)
		assert.Equal(t, tt.wantOK, ok, tt.name)
		assert.Equal(t, tt.want, v, tt.name)
	}
}

func TestFilesTrimsOneLineEnding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, content, want string
	}{
		{"newline", "s3cret\n", "s3cret"},
		{"crlf", "s3cret\r\n", "s3cret"},
		{"no line ending", "s3cret", "s3cret"},
		{"only one newline removed", "s3cret\n\n", "s3cret\n"},
		{"bare carriage return kept", "s3cret\r", "s3cret\r"},
		{"other whitespace kept", "  s3cret\t\n", "  s3cret\t"},
		{"inner newlines kept", "line1\nline2\n", "line1\nline2"},
		{"empty file is an empty value", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := secrets.Files(env(map[string]string{"DB_PASSWORD_FILE": writeFile(t, tt.content)}))
			v, ok, err := src.Lookup(t.Context(), "DB_PASSWORD")
			require.NoError(t, err)
			assert.True(t, ok)
			assert.Equal(t, tt.want, v)
		})
	}
}

func TestFilesNotSet(t *testing.T) {
	t.Parallel()
	// NAME alone is not the file source's business; Env answers for it.
	src := secrets.Files(env(map[string]string{"DB_PASSWORD": "plain"}))
	v, ok, err := src.Lookup(t.Context(), "DB_PASSWORD")
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Empty(t, v)
}

func TestFilesBothSetIsAnError(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "from-file\n")
	src := secrets.Files(env(map[string]string{
		"AGENTIC_ADMIN_TOKEN":      "from-env",
		"AGENTIC_ADMIN_TOKEN_FILE": path,
	}))
	_, ok, err := src.Lookup(t.Context(), "AGENTIC_ADMIN_TOKEN")
	require.Error(t, err)
	assert.False(t, ok)
	assert.Equal(t, "secrets: both AGENTIC_ADMIN_TOKEN and AGENTIC_ADMIN_TOKEN_FILE are set, set only one", err.Error())
}

func TestFilesUnreadable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	tests := []struct {
		name, path, wantMsg string
		wantIs              error
	}{
		{"missing file", missing,
			`secrets: ANTHROPIC_API_KEY_FILE: read "` + missing + `": no such file or directory`, fs.ErrNotExist},
		{"directory", dir,
			`secrets: ANTHROPIC_API_KEY_FILE: read "` + dir + `": is a directory`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := secrets.Files(env(map[string]string{"ANTHROPIC_API_KEY_FILE": tt.path}))
			_, ok, err := src.Lookup(t.Context(), "ANTHROPIC_API_KEY")
			require.Error(t, err)
			assert.False(t, ok)
			// The exact message: variable, path and cause, nothing else.
			assert.Equal(t, tt.wantMsg, err.Error())
			if tt.wantIs != nil {
				assert.ErrorIs(t, err, tt.wantIs)
			}
		})
	}
}

func TestChain(t *testing.T) {
	t.Parallel()
	errBroken := errors.New("broken")
	fixed := func(vals map[string]string) secrets.Source {
		return secrets.SourceFunc(func(_ context.Context, name string) (string, bool, error) {
			v, ok := vals[name]
			return v, ok, nil
		})
	}
	failing := secrets.SourceFunc(func(_ context.Context, name string) (string, bool, error) {
		if name == "BROKEN" {
			return "", false, errBroken
		}
		return "", false, nil
	})
	src := secrets.Chain(
		nil,
		fixed(map[string]string{"A": "first"}),
		failing,
		fixed(map[string]string{"A": "second", "B": "second", "BROKEN": "stale", "EMPTY": ""}),
	)
	tests := []struct {
		name, want string
		wantOK     bool
		wantErr    error
	}{
		{name: "A", want: "first", wantOK: true},
		{name: "B", want: "second", wantOK: true},
		{name: "EMPTY", want: "", wantOK: true},
		{name: "NONE"},
		{name: "BROKEN", wantErr: errBroken},
	}
	for _, tt := range tests {
		v, ok, err := src.Lookup(t.Context(), tt.name)
		if tt.wantErr != nil {
			require.ErrorIs(t, err, tt.wantErr, tt.name)
			continue
		}
		require.NoError(t, err, tt.name)
		assert.Equal(t, tt.wantOK, ok, tt.name)
		assert.Equal(t, tt.want, v, tt.name)
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "file-value\n")
	src := secrets.Chain(secrets.Files(env(map[string]string{
		"FROM_FILE_FILE": path,
		"MISSING_FILE":   filepath.Join(t.TempDir(), "nope"),
	})))

	v, err := secrets.Resolve(t.Context(), src, "FROM_FILE")
	require.NoError(t, err)
	assert.Equal(t, "file-value", v)

	v, err = secrets.Resolve(t.Context(), src, "UNSET")
	require.NoError(t, err, "an unset name resolves to empty, like getenv")
	assert.Empty(t, v)

	_, err = secrets.Resolve(t.Context(), src, "MISSING")
	require.ErrorIs(t, err, fs.ErrNotExist)
}

func TestFromEnvWithoutVault(t *testing.T) {
	t.Parallel()
	vars := map[string]string{
		"OPENAI_API_KEY":           "sk-env",
		"ANTHROPIC_API_KEY_FILE":   writeFile(t, "sk-ant-file\r\n"),
		"AGENTIC_ADMIN_TOKEN":      "env-admin",
		"AGENTIC_ADMIN_TOKEN_FILE": writeFile(t, "file-admin\n"),
	}
	src, closeFn, err := secrets.FromEnv(t.Context(), env(vars))
	require.NoError(t, err)
	require.NotNil(t, closeFn)
	t.Cleanup(func() { assert.NoError(t, closeFn()) })

	tests := []struct {
		name, want, wantErr string
	}{
		{name: "OPENAI_API_KEY", want: "sk-env"},
		{name: "ANTHROPIC_API_KEY", want: "sk-ant-file"},
		{name: "DATABASE_URL", want: ""},
		{name: "AGENTIC_ADMIN_TOKEN", wantErr: "both AGENTIC_ADMIN_TOKEN and AGENTIC_ADMIN_TOKEN_FILE are set"},
	}
	for _, tt := range tests {
		v, err := secrets.Resolve(t.Context(), src, tt.name)
		if tt.wantErr != "" {
			require.ErrorContains(t, err, tt.wantErr, tt.name)
			assert.NotContains(t, err.Error(), "admin", "no value in the error")
			continue
		}
		require.NoError(t, err, tt.name)
		assert.Equal(t, tt.want, v, tt.name)
	}
	require.NoError(t, closeFn(), "close twice")
}
