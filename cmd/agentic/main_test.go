package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/internal/platformtest"
)

func TestMain(m *testing.M) { os.Exit(platformtest.Main(m)) }

// result is one run of the tool.
type result struct {
	stdout, stderr string
	code           int
	err            error
}

// cli runs the tool with args (without "agentic") and env as its whole environment.
func cli(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	err := run(ctx, append([]string{"agentic"}, args...), func(k string) string { return env[k] }, &out)
	code := report(err, &errOut)
	return result{stdout: out.String(), stderr: errOut.String(), code: code, err: err}
}

// ok requires exit status 0.
func (r result) ok(t *testing.T) result {
	t.Helper()
	require.Equal(t, 0, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	return r
}

// field returns the value of a "key  value" line of a task or tenant block.
func (r result) field(t *testing.T, key string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + `\s{2,}(.*?)\s*$`).FindStringSubmatch(r.stdout)
	require.NotNil(t, m, "no %q line in:\n%s", key, r.stdout)
	return m[1]
}

// env is a platform and a tenant's environment for the tool.
type env struct {
	p      *platformtest.Platform
	tenant map[string]string // AGENTIC_URL and AGENTIC_API_KEY
	admin  map[string]string // AGENTIC_URL and AGENTIC_ADMIN_TOKEN
}

func newEnv(t *testing.T, opts *platformtest.Options) *env {
	t.Helper()
	p := platformtest.New(t, opts)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, key, err := p.NewTenant(ctx, t.Name())
	require.NoError(t, err)
	return &env{
		p:      p,
		tenant: map[string]string{"AGENTIC_URL": p.URL, "AGENTIC_API_KEY": key},
		admin:  map[string]string{"AGENTIC_URL": p.URL, "AGENTIC_ADMIN_TOKEN": p.AdminToken},
	}
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal([]byte(s), &v), "not JSON:\n%s", s)
	return v
}

func lines(s string) []string { return strings.Split(strings.TrimRight(s, "\n"), "\n") }
