package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/client"
)

// redisProc is a redis-server of the test's own, to stop and start again on the same port.
type redisProc struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
}

func startRedis(t *testing.T) *redisProc {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	require.NoError(t, err, "redis-server is needed (scripts/engines.sh installs it)")
	// A port below the ephemeral range: while the server is down, clients redial it in a
	// loop, and a dial from an ephemeral port equal to the server's connects to itself
	// (TCP simultaneous open), leaving the server unable to listen again.
	var port int
	for range 100 {
		p := 20000 + rand.IntN(10000)
		if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
			require.NoError(t, ln.Close())
			port = p
			break
		}
	}
	require.NotZero(t, port, "no free port for redis-server")
	r := &redisProc{t: t, port: port}
	r.start(bin)
	t.Cleanup(r.stop)
	return r
}

func (r *redisProc) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *redisProc) start(bin string) {
	r.t.Helper()
	r.cmd = exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(r.port), "--save", "", "--appendonly", "no")
	require.NoError(r.t, r.cmd.Start())
	require.Eventually(r.t, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", r.port))
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	}, 10*time.Second, 20*time.Millisecond, "redis-server did not start")
}

func (r *redisProc) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// scrape returns the value of a Prometheus sample whose name and labels match, or -1.
func scrape(t *testing.T, addr, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	line := regexp.MustCompile(`(?m)^` + name + `\{([^}]*)\} (\S+)$`)
	for _, m := range line.FindAllStringSubmatch(string(body), -1) {
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(m[1], l)
		}
		if ok {
			v, err := strconv.ParseFloat(m[2], 64)
			require.NoError(t, err)
			return v
		}
	}
	return -1
}

// Redis stops under a running ingest and worker. With the default AGENTIC_FAIL_OPEN
// (requests, executions, concurrency) tasks are still accepted and run, a budgeted tenant's
// submissions are refused with 503 (budgets fail closed), and each limit that could not decide
// is a log line and a count in agentic_limits_unavailable_total on /metrics. When Redis comes
// back, every limit applies again.
func TestLimitsWhenRedisStops(t *testing.T) {
	t.Parallel()
	rds := startRedis(t)
	c := newCluster(t, "REDIS_URL="+rds.url())
	ingest := c.start("ingest")
	worker := c.start("worker")
	_, open := tenant(t, ingest)
	budget := 10.0
	_, key := limitsTenant(t, ingest, "pro", &budget)
	capped := ingest.api(key)
	run := func(a *api) {
		t.Helper()
		var task client.Task
		require.Equal(t, http.StatusAccepted, a.do("POST", "/v1/tasks", client.SubmitRequest{
			Agent: "summarizer", Input: json.RawMessage(`{"text":"while redis is away"}`)}, &task))
		require.Equal(t, http.StatusOK, a.do("GET", "/v1/tasks/"+task.ID+"?wait=20s", nil, &task))
		require.Equal(t, "succeeded", task.Status)
	}
	run(open)
	run(capped)
	require.Equal(t, -1.0, scrape(t, ingest.addr, "agentic_limits_unavailable_total"), "no outage yet")

	rds.stop()
	run(open) // requests and executions fail open at ingest, concurrency in the worker
	var problem client.Problem
	require.Equal(t, http.StatusServiceUnavailable, capped.do("POST", "/v1/tasks", client.SubmitRequest{
		Agent: "summarizer", Input: json.RawMessage(`{"text":"budgets fail closed"}`)}, &problem))
	require.Equal(t, "unavailable", problem.Code)

	require.Positive(t, scrape(t, ingest.addr, "agentic_limits_unavailable_total", `limit="requests"`, `failing="open"`))
	require.Positive(t, scrape(t, ingest.addr, "agentic_limits_unavailable_total", `limit="executions"`, `failing="open"`))
	require.Positive(t, scrape(t, ingest.addr, "agentic_limits_unavailable_total", `limit="budgets"`, `failing="closed"`))
	require.Positive(t, scrape(t, worker.addr, "agentic_limits_unavailable_total", `limit="concurrency"`, `failing="open"`))
	for _, want := range []string{`"limit":"requests","failing":"open"`, `"limit":"budgets","failing":"closed"`} {
		require.Contains(t, ingest.output(), want)
	}
	require.Contains(t, worker.output(), `"limit":"concurrency","failing":"open"`)

	bin, err := exec.LookPath("redis-server")
	require.NoError(t, err)
	rds.start(bin)
	// The budget is checked again once Redis is back (the client redials within a second
	// or two).
	var task client.Task
	require.Eventually(t, func() bool {
		var got map[string]any
		if capped.do("POST", "/v1/tasks", client.SubmitRequest{
			Agent: "summarizer", Input: json.RawMessage(`{"text":"redis is back"}`)}, &got) != http.StatusAccepted {
			return false
		}
		task.ID, _ = got["id"].(string)
		return true
	}, 10*time.Second, 100*time.Millisecond, "budgets still fail closed with Redis back")
	require.Equal(t, http.StatusOK, capped.do("GET", "/v1/tasks/"+task.ID+"?wait=20s", nil, &task))
	require.Equal(t, "succeeded", task.Status)
	require.NotContains(t, ingest.output(), "redis: 20", "go-redis logs through the process's logger")
}
