package e2e

import (
	"fmt"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/internal/natstest"
)

// readiness is a /health/ready or /health/detailed answer.
type readiness struct {
	Status  any // the problem's 503, or "ok" | "degraded" | "down"
	Detail  string
	Code    string
	Checks  map[string]map[string]any
	Workers struct {
		Count        int
		RunningTasks int `json:"running_tasks"`
		List         []struct{ ID, Hostname string }
	}
	Providers map[string]struct{ Status, Circuit string }
}

func (a *api) health(path string) (int, readiness) {
	a.t.Helper()
	var r readiness
	code := a.do("GET", path, nil, &r)
	return code, r
}

// Each engine in turn — Redis, NATS, PostgreSQL, each the test's own — stops under a running
// ingest and worker: their /health/ready answers 503 naming it (and only it) within seconds,
// and 200 again once it is back. /health/detailed (admin) reports the checks, NATS's pending
// tasks, the workers that announce themselves and their providers.
func TestReadyNamesWhatIsDown(t *testing.T) {
	t.Parallel()
	pg := startPostgres(t)
	rds := startRedis(t)
	redisBin, err := exec.LookPath("redis-server")
	require.NoError(t, err)
	natsDir := t.TempDir()
	var natsSrv *server.Server
	natsSrv, natsURL := natstest.StartServer(t, natsDir)

	c := newCluster(t, "DATABASE_URL="+pg.url(), "NATS_URL="+natsURL, "REDIS_URL="+rds.url())
	ingest := c.start("ingest")
	worker := c.start("worker")
	ingestAPI, workerAPI := ingest.api(""), worker.api("")

	// Up: 200 on both.
	for _, a := range []*api{ingestAPI, workerAPI} {
		code, r := a.health("/health/ready")
		require.Equal(t, http.StatusOK, code, "%s: %+v", a.base, r)
		for _, engine := range []string{"database", "nats", "redis"} {
			require.Equal(t, "ok", r.Checks[engine]["status"], "%s %s", a.base, engine)
		}
	}

	// /health/detailed on ingest: admin only; the worker shows up through its heartbeat.
	code, _ := ingestAPI.health("/health/detailed")
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = ingest.api("not-the-admin-token").health("/health/detailed")
	require.Equal(t, http.StatusUnauthorized, code)
	var detailed readiness
	require.Eventually(t, func() bool {
		code, detailed = ingest.api(adminToken).health("/health/detailed")
		return code == http.StatusOK && detailed.Workers.Count == 1
	}, 10*time.Second, 100*time.Millisecond, "the worker's heartbeat reaches ingest: %+v", detailed)
	require.Equal(t, "ok", detailed.Status, "%+v", detailed)
	require.Zero(t, detailed.Workers.RunningTasks)
	require.NotEmpty(t, detailed.Workers.List[0].Hostname)
	require.Equal(t, 0.0, detailed.Checks["nats"]["pending_tasks"])
	for _, engine := range []string{"database", "nats", "redis"} {
		require.Equal(t, "ok", detailed.Checks[engine]["status"], engine)
		require.Contains(t, detailed.Checks[engine], "latency_ms", engine)
	}
	require.NotEmpty(t, detailed.Providers, "the worker's providers, from its heartbeats")
	for name, p := range detailed.Providers {
		require.Equal(t, "closed", p.Circuit, name)
	}
	// The worker's own, on its metrics address, still answers with the admin token.
	code, detailed = worker.api(adminToken).health("/health/detailed")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok", detailed.Checks["nats"]["status"])
	require.Contains(t, detailed.Checks["nats"], "pending_tasks")
	code, _ = workerAPI.health("/health/detailed")
	require.Equal(t, http.StatusUnauthorized, code)

	outages := []struct {
		engine      string
		stop, start func()
	}{
		{"redis", rds.stop, func() { rds.start(redisBin) }},
		{"nats", func() {
			natsSrv.Shutdown()
			natsSrv.WaitForShutdown()
		}, func() { natsSrv, _ = natstest.StartServer(t, natsDir) }},
		{"database", pg.stop, pg.start},
	}
	for _, o := range outages {
		start := time.Now()
		o.stop()
		for _, a := range []*api{ingestAPI, workerAPI} {
			var r readiness
			require.Eventually(t, func() bool {
				var code int
				code, r = a.health("/health/ready")
				return code == http.StatusServiceUnavailable
			}, 10*time.Second, 100*time.Millisecond, "%s: %s stopped, yet ready: %+v", a.base, o.engine, r)
			require.Equal(t, "not_ready", r.Code)
			require.Contains(t, r.Detail, o.engine, "%s: the 503 names what is down", a.base)
			for _, engine := range []string{"database", "nats", "redis"} {
				want := "ok"
				if engine == o.engine {
					want = "down"
				} else {
					require.NotContains(t, r.Detail, engine, "%s: only %s is down", a.base, o.engine)
				}
				require.Equal(t, want, r.Checks[engine]["status"], "%s: %s while %s is down", a.base, engine, o.engine)
			}
		}
		code, r := workerAPI.health("/health/ready")
		require.Equal(t, http.StatusServiceUnavailable, code)
		require.Equal(t, "down: "+o.engine, r.Detail)
		code, r = ingest.api(adminToken).health("/health/detailed")
		require.Equal(t, http.StatusOK, code, "it reports rather than gates")
		require.Equal(t, "down", r.Status)
		require.Equal(t, "down", r.Checks[o.engine]["status"])
		require.NotEmpty(t, r.Checks[o.engine]["error"])

		t.Logf("%s: 503 after %s", o.engine, time.Since(start).Round(time.Millisecond))
		o.start()
		for _, a := range []*api{ingestAPI, workerAPI} {
			var r readiness
			require.Eventually(t, func() bool {
				var code int
				code, r = a.health("/health/ready")
				return code == http.StatusOK
			}, 15*time.Second, 100*time.Millisecond, "%s: %s is back, yet not ready: %+v", a.base, o.engine, r)
		}
		t.Logf("%s: down and back in %s", o.engine, time.Since(start).Round(time.Millisecond))
	}

	// Everything is back: the worker still runs tasks.
	_, tenantAPI := tenant(t, ingest)
	var task map[string]any
	require.Equal(t, http.StatusAccepted, tenantAPI.do("POST", "/v1/tasks",
		map[string]any{"agent": "summarizer", "input": map[string]any{"text": "after the outages"}}, &task))
	require.Equal(t, http.StatusOK, tenantAPI.do("GET", fmt.Sprintf("/v1/tasks/%s?wait=20s", task["id"]), nil, &task))
	require.Equal(t, "succeeded", task["status"], "%v", task)
}
