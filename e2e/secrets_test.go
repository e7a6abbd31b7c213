package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/store/postgres/pgtest"
)

// fakeVault answers the two calls of Vault's HTTP API the processes make with token auth:
// GET /v1/auth/token/lookup-self and the KV v2 read GET /v1/secret/data/agentic.
func fakeVault(t *testing.T, token string, data map[string]string) *httptest.Server {
	var reads atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("X-Vault-Token") != token {
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"errors":["permission denied"]}`))
			return
		}
		switch r.URL.Path {
		case "/v1/auth/token/lookup-self":
			_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{
				"ttl": 0, "renewable": false, "policies": []string{"agentic"}, "id": token}})
		case "/v1/secret/data/agentic":
			reads.Add(1)
			_ = json.NewEncoder(w).Encode(map[string]any{"request_id": "e2e", "lease_id": "", "renewable": false,
				"lease_duration": 0, "data": map[string]any{"data": data, "metadata": map[string]any{
					"created_time": "2026-11-25T00:00:00Z", "deletion_time": "", "destroyed": false, "version": 1}}})
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"errors":[]}`))
		}
	}))
	t.Cleanup(func() {
		srv.Close()
		if reads.Load() == 0 {
			t.Error("no process read its secrets from Vault")
		}
	})
	return srv
}

// A full run — credentials from a file and from Vault, tenants, keys, tasks, webhooks that
// succeed and fail, a secret rotation, a revocation, bad and revoked keys — at debug level,
// then every line every process wrote is searched for every credential the run used or
// created: none is there.
func TestLogsCarryNoSecrets(t *testing.T) {
	t.Parallel()
	const (
		vaultToken = "hvs.CAESIJ-e2e-vault-token-0123456789abcdef"
		dbPassword = "e2e-db-password-5d41402abc4b2a76"
		adminTok   = "e2e-admin-token-from-vault-9f86d081884c7d65"
	)
	vault := fakeVault(t, vaultToken, map[string]string{"AGENTIC_ADMIN_TOKEN": adminTok})
	tokenFile := filepath.Join(t.TempDir(), "vault-token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(vaultToken+"\n"), 0o600))
	dbURL, err := url.Parse(pgtest.URL(t))
	require.NoError(t, err)
	dbURL.User = url.UserPassword(dbURL.User.Username(), dbPassword) // trust auth ignores it; logs must too

	c := newCluster(t, "AGENTIC_RECONCILE_SCHEDULE=* * * * * *")
	env := c.env[:0:0]
	for _, kv := range c.env {
		if !strings.HasPrefix(kv, "AGENTIC_ADMIN_TOKEN=") && !strings.HasPrefix(kv, "DATABASE_URL=") {
			env = append(env, kv)
		}
	}
	c.env = append(env, "DATABASE_URL="+dbURL.String(), "VAULT_ADDR="+vault.URL, "VAULT_TOKEN_FILE="+tokenFile,
		"AGENTIC_VAULT_PATH=agentic")
	procs := []*proc{c.start("ingest"), c.start("worker"), c.start("scheduler")}
	ingest := procs[0]

	secrets := []string{vaultToken, dbPassword, adminTok}
	admin := ingest.api(adminTok)
	var keys []string
	var tenants []client.Tenant
	for range 2 {
		var ten client.Tenant
		require.Equal(t, http.StatusCreated, admin.do("POST", "/v1/admin/tenants", map[string]any{"name": "t", "tier": "pro"}, &ten))
		var key client.APIKey
		for range 2 {
			require.Equal(t, http.StatusCreated, admin.do("POST", "/v1/admin/tenants/"+ten.ID+"/api-keys", nil, &key))
			keys = append(keys, key.Key)
		}
		tenants = append(tenants, ten)
		secrets = append(secrets, ten.WebhookSecret, strings.TrimPrefix(ten.WebhookSecret, "whsec_"))
	}
	var rotated client.Tenant
	require.Equal(t, http.StatusOK, admin.do("POST", "/v1/admin/tenants/"+tenants[0].ID+"/webhook-secret", nil, &rotated))
	secrets = append(secrets, rotated.WebhookSecret, strings.TrimPrefix(rotated.WebhookSecret, "whsec_"))
	secrets = append(secrets, keys...)

	// Webhooks: one receiver that answers 200, one that fails (so failures are logged).
	ok := newHooks(t, &rotated.WebhookSecret)
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "receiver down: "+r.Header.Get("webhook-signature"), http.StatusServiceUnavailable)
	}))
	t.Cleanup(failing.Close)
	tn := ingest.api(keys[0])
	var ids []string
	for i, hook := range []string{ok.srv.URL, failing.URL, ok.srv.URL} {
		var task client.Task
		body := map[string]any{"agent": "echo", "input": map[string]any{"i": i}, "webhook_url": hook}
		idem := fmt.Sprint("idem-", i, "-", keys[1][:10])
		require.Equal(t, http.StatusAccepted, tn.do("POST", "/v1/tasks", body, &task, "Idempotency-Key", idem))
		ids = append(ids, task.ID)
		// the idempotency conflict
		tn.do("POST", "/v1/tasks", map[string]any{"agent": "echo", "input": map[string]any{"other": i}}, nil, "Idempotency-Key", idem)
	}
	var task client.Task
	require.Equal(t, http.StatusOK, tn.do("GET", "/v1/tasks/"+ids[0]+"?wait=30s", nil, &task))
	require.Eventually(t, func() bool { n, _ := ok.count(); return n >= 1 }, 30*time.Second, 20*time.Millisecond)

	// Bad credentials of every shape, a key of the other tenant, a revoked key.
	for _, auth := range []string{"ak_" + strings.Repeat("A", 43), adminTok + "x", keys[2], "sk-proj-" + strings.Repeat("z", 40)} {
		ingest.api(auth).do("GET", "/v1/tasks/"+ids[0], nil, nil)
	}
	var k client.APIKey
	require.Equal(t, http.StatusCreated, admin.do("POST", "/v1/admin/tenants/"+tenants[1].ID+"/api-keys", nil, &k))
	secrets = append(secrets, k.Key)
	require.Equal(t, http.StatusNoContent, admin.do("DELETE", "/v1/admin/api-keys/"+k.ID, nil, nil))
	require.Equal(t, http.StatusUnauthorized, ingest.api(k.Key).do("GET", "/v1/agents", nil, nil))
	ingest.api(keys[1]).do("POST", "/v1/admin/tenants", map[string]any{"name": "x"}, nil) // 403

	for _, p := range procs {
		require.Equal(t, 0, p.stop(syscall.SIGTERM, 40*time.Second), "%s exits 0", p.name)
	}

	logs := ""
	for _, p := range procs {
		logs += p.output()
	}
	require.Greater(t, strings.Count(logs, "\n"), 20, "the processes logged")
	require.Contains(t, logs, `"status":401`, "the bad credentials were logged as requests")
	for _, s := range secrets {
		require.NotEmpty(t, s)
		require.NotContains(t, logs, s, "a credential in the logs")
		// The key's hash is not a secret, but its body base64 is; check it raw too.
		if raw, err := base64.StdEncoding.DecodeString(s); err == nil && len(raw) >= 16 {
			require.NotContains(t, logs, string(raw))
		}
	}
	require.NotContains(t, logs, "Bearer ", "no Authorization header in any log line")
}
