package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/internal/natstest"
	"github.com/agentic-run/agentic/store/postgres/pgtest"
)

var bins struct {
	dir string
	err error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "agentic-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins.dir = dir
	for _, name := range []string{"ingest", "worker", "scheduler"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), "../cmd/"+name).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", name, err, out)
			os.Exit(1)
		}
	}
	code := natstest.Main(m)
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

const adminToken = "e2e-admin-token-0123456789"

// cluster is one test's installation: shared engines, its own schema and prefix.
type cluster struct {
	t   *testing.T
	env []string
}

func newCluster(t *testing.T, extra ...string) *cluster {
	names := natstest.Names(t)
	redisURL := os.Getenv("REDIS_URL")
	if redisURL == "" {
		redisURL = "redis://127.0.0.1:6379/0"
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"DATABASE_URL=" + pgtest.URL(t),
		"NATS_URL=" + natstest.URL(t),
		"REDIS_URL=" + redisURL,
		"AGENTIC_NATS_PREFIX=" + names.Prefix,
		"AGENTIC_ADMIN_TOKEN=" + adminToken,
		"AGENTIC_WEBHOOK_ALLOW=127.0.0.1/32",
		"AGENTIC_HTTP_ADDR=127.0.0.1:0",
		"AGENTIC_METRICS_ADDR=127.0.0.1:0",
		"AGENTIC_ACK_WAIT=2s",
		"AGENTIC_SIM_LATENCY=1ms",
		"AGENTIC_LOG_LEVEL=debug",
	}
	return &cluster{t: t, env: append(env, extra...)}
}

// proc is a running process of the platform.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	addr string

	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

// start runs a binary with the cluster's environment plus extra, and waits until it
// listens.
func (c *cluster) start(name string, extra ...string) *proc {
	c.t.Helper()
	p := &proc{t: c.t, name: name, done: make(chan struct{})}
	p.cmd = exec.Command(filepath.Join(bins.dir, name))
	p.cmd.Env = append(append([]string(nil), c.env...), extra...)
	stdout, err := p.cmd.StdoutPipe()
	require.NoError(c.t, err)
	p.cmd.Stderr = &lockedWriter{p: p}
	require.NoError(c.t, p.cmd.Start())
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			p.mu.Lock()
			p.out.Write(line)
			p.out.WriteByte('\n')
			p.mu.Unlock()
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "listening" {
				select {
				case addr <- rec.Addr:
				default:
				}
			}
		}
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	c.t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if c.t.Failed() {
			c.t.Logf("--- %s output ---\n%s", name, p.output())
		}
	})
	select {
	case p.addr = <-addr:
	case <-p.done:
		c.t.Fatalf("%s exited before listening: %v\n%s", name, p.err, p.output())
	case <-time.After(30 * time.Second):
		c.t.Fatalf("%s did not start listening\n%s", name, p.output())
	}
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// stop sends sig and waits for the exit; it returns the exit code.
func (p *proc) stop(sig syscall.Signal, within time.Duration) int {
	p.t.Helper()
	require.NoError(p.t, p.cmd.Process.Signal(sig))
	select {
	case <-p.done:
	case <-time.After(within):
		p.t.Fatalf("%s did not exit within %s after %s\n%s", p.name, within, sig, p.output())
	}
	return p.cmd.ProcessState.ExitCode()
}

type lockedWriter struct{ p *proc }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.out.Write(b)
}

// api is a minimal HTTP client for the tests; the client package is the real one.
type api struct {
	t    *testing.T
	base string
	auth string
}

func (p *proc) api(auth string) *api { return &api{t: p.t, base: "http://" + p.addr, auth: auth} }

// do sends a request and decodes the JSON reply into out (if not nil); it returns the status.
func (a *api) do(method, path string, body any, out any, headers ...string) int {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(a.t, err)
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	require.NoError(a.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.auth != "" {
		req.Header.Set("Authorization", "Bearer "+a.auth)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(a.t, err)
	if out != nil && len(data) > 0 && strings.Contains(resp.Header.Get("Content-Type"), "json") {
		require.NoError(a.t, json.Unmarshal(data, out), "body: %s", data)
	}
	return resp.StatusCode
}

// doHeaders sends a GET-like request without a body and returns the answer's headers,
// decoding its JSON into out.
func (a *api) doHeaders(method, path string, out any) http.Header {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, nil)
	require.NoError(a.t, err)
	req.Header.Set("Authorization", "Bearer "+a.auth)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	require.NoError(a.t, json.NewDecoder(resp.Body).Decode(out))
	return resp.Header
}

// execCmd is a process of the cluster that is run to completion, not started.
func execCmd(c *cluster, name string, extra ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(bins.dir, name))
	cmd.Env = append(append([]string(nil), c.env...), extra...)
	return cmd
}

func splitLines(b []byte) []string {
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}
