package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/internal/natstest"
	"github.com/agentic-run/agentic/internal/redistest"
	"github.com/agentic-run/agentic/internal/syncbuf"
	"github.com/agentic-run/agentic/store/postgres"
	"github.com/agentic-run/agentic/store/postgres/pgtest"
)

// devRun is one start of `agentic dev`.
type devRun struct {
	url, adminToken, apiKey string
	stop                    func() error
}

var bannerRE = regexp.MustCompile(`(?s)running at (http://\S+) .*admin token:\s+(\S+).*demo API key:\s+(\S+)`)

func startDev(t *testing.T, dir string, extra ...string) devRun {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	out := &syncbuf.Buffer{}
	env := map[string]string{"AGENTIC_DATA_DIR": dir, "AGENTIC_HTTP_ADDR": "127.0.0.1:0", "AGENTIC_SIM_LATENCY": "1ms"}
	for i := 0; i+1 < len(extra); i += 2 {
		env[extra[i]] = extra[i+1]
	}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"agentic", "dev"}, func(k string) string { return env[k] }, out) }()
	var m []string
	require.Eventually(t, func() bool {
		select {
		case err := <-done:
			t.Fatalf("agentic dev exited: %v\n%s", err, out.String())
		default:
		}
		m = bannerRE.FindStringSubmatch(out.String())
		return m != nil
	}, 60*time.Second, 20*time.Millisecond)
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(60 * time.Second):
			t.Fatal("agentic dev did not stop within 60s")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	return devRun{url: m[1], adminToken: m[2], apiKey: m[3], stop: stop}
}

// agentic dev keeps every tenant, task and result across a restart.
func TestDevRestartKeepsEverything(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := startDev(t, dir)
	c, err := client.New(first.url, client.WithAPIKey(first.apiKey))
	require.NoError(t, err)
	var ids []string
	for i, agent := range []string{"echo", "summarizer", "sentiment", "echo"} {
		input := `{"text":"Agentic keeps what it accepted. Restarts lose nothing."}`
		if agent == "echo" {
			input = `{"n":` + string(rune('0'+i)) + `}`
		}
		task, created, err := c.Submit(t.Context(), client.SubmitRequest{Agent: agent, Input: json.RawMessage(input)}, nil)
		require.NoError(t, err)
		require.True(t, created)
		ids = append(ids, task.ID)
	}
	outputs := map[string]string{}
	for _, id := range ids {
		task, err := c.WaitTask(t.Context(), id, 30*time.Second)
		require.NoError(t, err)
		require.Equal(t, "succeeded", task.Status, "task %s", id)
		outputs[id] = string(task.Output)
	}
	require.NoError(t, first.stop())

	second := startDev(t, dir)
	require.Equal(t, first.adminToken, second.adminToken, "the admin token is kept")
	require.Equal(t, first.apiKey, second.apiKey, "the demo tenant and key are kept")
	c, err = client.New(second.url, client.WithAPIKey(second.apiKey))
	require.NoError(t, err)
	for _, id := range ids {
		task, err := c.GetTask(t.Context(), id)
		require.NoError(t, err)
		require.Equal(t, "succeeded", task.Status)
		require.Equal(t, outputs[id], string(task.Output))
	}
	// The bus came back too: new work still runs.
	task, _, err := c.Submit(t.Context(), client.SubmitRequest{Agent: "echo", Input: json.RawMessage(`{"after":"restart"}`)}, nil)
	require.NoError(t, err)
	task, err = c.WaitTask(t.Context(), task.ID, 30*time.Second)
	require.NoError(t, err)
	require.Equal(t, "succeeded", task.Status)
	require.NoError(t, second.stop())
}

// Bad input at start: one clear line each and a non-zero exit, never a stack trace.
func TestDevBadInput(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o600))
	corrupt := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(corrupt, "agentic.db"), bytes.Repeat([]byte("not sqlite "), 400), 0o600))
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()

	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"data dir not writable", map[string]string{"AGENTIC_DATA_DIR": filepath.Join(file, "sub"), "AGENTIC_HTTP_ADDR": "127.0.0.1:0"},
			[]string{"AGENTIC_DATA_DIR", "not a directory"}},
		{"port in use", map[string]string{"AGENTIC_DATA_DIR": t.TempDir(), "AGENTIC_HTTP_ADDR": busy.Addr().String()},
			[]string{"AGENTIC_HTTP_ADDR", "address already in use"}},
		{"corrupt database", map[string]string{"AGENTIC_DATA_DIR": corrupt, "AGENTIC_HTTP_ADDR": "127.0.0.1:0"},
			[]string{"AGENTIC_DATA_DIR", "not a valid database"}},
		{"bad variable", map[string]string{"AGENTIC_DATA_DIR": t.TempDir(), "AGENTIC_ACK_WAIT": "soon"},
			[]string{"AGENTIC_ACK_WAIT"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := cli(t, tc.env, "dev")
			require.Equal(t, 1, r.code, "stdout: %s", r.stdout)
			msg := strings.TrimSpace(r.stderr)
			require.NotContains(t, msg, "\n", "one line: %s", msg)
			require.NotContains(t, msg, "goroutine")
			for _, w := range tc.want {
				require.Contains(t, msg, w)
			}
		})
	}
}

// With DATABASE_URL, NATS_URL and REDIS_URL set, agentic dev runs on those engines.
func TestDevUsesConfiguredEngines(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)
	names := natstest.Names(t)
	dir := t.TempDir()
	d := startDev(t, dir, "DATABASE_URL", dbURL, "NATS_URL", natstest.URL(t), "AGENTIC_NATS_PREFIX", names.Prefix,
		"REDIS_URL", redistest.DefaultURL)
	c, err := client.New(d.url, client.WithAPIKey(d.apiKey))
	require.NoError(t, err)
	task, _, err := c.Submit(t.Context(), client.SubmitRequest{Agent: "echo", Input: json.RawMessage(`{"on":"real engines"}`)}, nil)
	require.NoError(t, err)
	task, err = c.WaitTask(t.Context(), task.ID, 30*time.Second)
	require.NoError(t, err)
	require.Equal(t, "succeeded", task.Status)

	// The task is in that PostgreSQL schema and its messages went through that NATS server.
	pool, err := postgres.Open(t.Context(), dbURL)
	require.NoError(t, err)
	defer pool.Close()
	var status string
	require.NoError(t, pool.QueryRow(t.Context(), `SELECT status FROM tasks WHERE id = $1`, task.ID).Scan(&status))
	require.Equal(t, "succeeded", status)
	js, _ := natstest.JetStream(t)
	stream, err := js.Stream(t.Context(), names.EventsStream())
	require.NoError(t, err)
	info, err := stream.Info(t.Context())
	require.NoError(t, err)
	require.EqualValues(t, 1, info.State.Msgs)
	_, err = os.Stat(filepath.Join(dir, "agentic.db"))
	require.ErrorIs(t, err, os.ErrNotExist, "no SQLite database when DATABASE_URL is set")
	require.NoError(t, d.stop())
}
