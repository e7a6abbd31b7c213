package ingest_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/cache"
	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/ingest"
	"github.com/agentic-run/agentic/internal/natstest"
	"github.com/agentic-run/agentic/store"
)

func TestAdminAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.tenant(t)

	routes := []req{
		{method: "POST", path: "/v1/admin/tenants", body: map[string]any{"name": "x"}},
		{method: "GET", path: "/v1/admin/tenants/ten_x"},
		{method: "PATCH", path: "/v1/admin/tenants/ten_x", body: map[string]any{"tier": "pro"}},
		{method: "POST", path: "/v1/admin/tenants/ten_x/api-keys"},
		{method: "DELETE", path: "/v1/admin/api-keys/key_x"},
	}
	for _, rq := range routes {
		t.Run(rq.method+" "+rq.path, func(t *testing.T) {
			rq := rq
			rq.token = ""
			r := e.do(t, rq)
			r.problem(t, http.StatusUnauthorized, "unauthorized")
			require.Equal(t, `Bearer realm="agentic"`, r.header.Get("WWW-Authenticate"))

			rq.token = "not-the-token"
			e.do(t, rq).problem(t, http.StatusUnauthorized, "unauthorized")
			rq.token = adminToken + "x"
			e.do(t, rq).problem(t, http.StatusUnauthorized, "unauthorized")
			rq.token = "ak_" + strings.Repeat("A", 43) // well-formed, unknown
			e.do(t, rq).problem(t, http.StatusUnauthorized, "unauthorized")

			rq.token = key
			e.do(t, rq).problem(t, http.StatusForbidden, "forbidden")
		})
	}

	// "Basic" is not a bearer token.
	r := e.do(t, req{method: "GET", path: "/v1/admin/tenants/ten_x", header: map[string]string{"Authorization": "Basic " + adminToken}})
	r.problem(t, http.StatusUnauthorized, "unauthorized")
	// The scheme is case-insensitive.
	r = e.do(t, req{method: "GET", path: "/v1/admin/tenants/ten_x", header: map[string]string{"Authorization": "bearer " + adminToken}})
	r.problem(t, http.StatusNotFound, "not_found")
}

func TestTenantCreateGetPatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	r := e.do(t, req{method: "POST", path: "/v1/admin/tenants", token: adminToken,
		body: map[string]any{"name": "  Acme  ", "tier": "basic", "monthly_budget_usd": 50}})
	require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	var created client.Tenant
	r.decode(t, &created)
	require.True(t, strings.HasPrefix(created.ID, "ten_"), created.ID)
	require.Equal(t, "/v1/admin/tenants/"+created.ID, r.header.Get("Location"))
	require.Equal(t, "Acme", created.Name)
	require.Equal(t, "basic", created.Tier)
	require.NotNil(t, created.MonthlyBudgetUSD)
	require.InDelta(t, 50.0, *created.MonthlyBudgetUSD, 1e-9)
	require.True(t, strings.HasPrefix(created.WebhookSecret, "whsec_"))
	secret, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(created.WebhookSecret, "whsec_"))
	require.NoError(t, err)
	require.Len(t, secret, 32)
	require.WithinDuration(t, time.Now(), created.CreatedAt, time.Minute)

	// Stored as sent.
	stored, err := e.store.GetTenant(context.Background(), created.ID)
	require.NoError(t, err)
	require.Equal(t, created.WebhookSecret, stored.WebhookSecret)
	require.Equal(t, int64(50_000_000), *stored.MonthlyBudgetMicros)

	// GET never shows the secret.
	r = e.do(t, req{method: "GET", path: "/v1/admin/tenants/" + created.ID, token: adminToken})
	require.Equal(t, http.StatusOK, r.status)
	require.NotContains(t, string(r.body), "whsec_")
	require.NotContains(t, string(r.body), "webhook_secret")
	var got client.Tenant
	r.decode(t, &got)
	require.Equal(t, created.ID, got.ID)
	require.True(t, created.CreatedAt.Equal(got.CreatedAt), "%s != %s", created.CreatedAt, got.CreatedAt)

	// PATCH the tier: the budget stays.
	r = e.do(t, req{method: "PATCH", path: "/v1/admin/tenants/" + created.ID, token: adminToken, body: `{"tier":"enterprise"}`})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	r.decode(t, &got)
	require.Equal(t, "enterprise", got.Tier)
	require.NotNil(t, got.MonthlyBudgetUSD)
	require.InDelta(t, 50.0, *got.MonthlyBudgetUSD, 1e-9)
	require.Empty(t, got.WebhookSecret)

	// PATCH a budget, then clear it with null.
	r = e.do(t, req{method: "PATCH", path: "/v1/admin/tenants/" + created.ID, token: adminToken, body: `{"monthly_budget_usd": 12.5}`})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	r.decode(t, &got)
	require.InDelta(t, 12.5, *got.MonthlyBudgetUSD, 1e-9)
	require.Equal(t, "enterprise", got.Tier)
	r = e.do(t, req{method: "PATCH", path: "/v1/admin/tenants/" + created.ID, token: adminToken, body: `{"monthly_budget_usd": null}`})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	require.Contains(t, string(r.body), `"monthly_budget_usd":null`)
	stored, err = e.store.GetTenant(context.Background(), created.ID)
	require.NoError(t, err)
	require.Nil(t, stored.MonthlyBudgetMicros)
	require.Equal(t, "enterprise", stored.Tier)

	// An empty patch changes nothing.
	r = e.do(t, req{method: "PATCH", path: "/v1/admin/tenants/" + created.ID, token: adminToken, body: `{}`})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)

	// Tier defaults to free; the budget to none.
	r = e.do(t, req{method: "POST", path: "/v1/admin/tenants", token: adminToken, body: `{"name":"b"}`})
	require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
	r.decode(t, &got)
	require.Equal(t, "free", got.Tier)
	require.Nil(t, got.MonthlyBudgetUSD)
	require.Contains(t, string(r.body), `"monthly_budget_usd":null`)
}

func TestTenantErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenantID, _ := e.tenant(t)
	admin := func(method, path string, body any) *reply {
		return e.do(t, req{method: method, path: path, token: adminToken, body: body})
	}

	cases := []struct {
		name   string
		reply  *reply
		status int
		code   string
		path   string
	}{
		{"missing name", admin("POST", "/v1/admin/tenants", `{"tier":"pro"}`), 422, "invalid_request", "/name"},
		{"blank name", admin("POST", "/v1/admin/tenants", `{"name":"   "}`), 422, "invalid_request", "/name"},
		{"long name", admin("POST", "/v1/admin/tenants", map[string]any{"name": strings.Repeat("n", 201)}), 422, "invalid_request", "/name"},
		{"bad tier", admin("POST", "/v1/admin/tenants", `{"name":"x","tier":"gold"}`), 422, "invalid_tier", "/tier"},
		{"negative budget", admin("POST", "/v1/admin/tenants", `{"name":"x","monthly_budget_usd":-1}`), 422, "invalid_budget", "/monthly_budget_usd"},
		{"huge budget", admin("POST", "/v1/admin/tenants", `{"name":"x","monthly_budget_usd":1e300}`), 422, "invalid_budget", "/monthly_budget_usd"},
		{"malformed", admin("POST", "/v1/admin/tenants", `{"name":`), 400, "invalid_json", ""},
		{"trailing data", admin("POST", "/v1/admin/tenants", `{"name":"x"} {}`), 400, "invalid_json", ""},
		{"wrong type", admin("POST", "/v1/admin/tenants", `{"name":5}`), 400, "invalid_json", "/name"},
		{"budget string", admin("POST", "/v1/admin/tenants", `{"name":"x","monthly_budget_usd":"5"}`), 400, "invalid_json", "/monthly_budget_usd"},
		{"array body", admin("POST", "/v1/admin/tenants", `[]`), 400, "invalid_json", "/"},
		{"empty body", admin("POST", "/v1/admin/tenants", ``), 400, "invalid_json", ""},
		{"unknown tenant", admin("GET", "/v1/admin/tenants/ten_nope", nil), 404, "not_found", ""},
		{"patch unknown tenant", admin("PATCH", "/v1/admin/tenants/ten_nope", `{"tier":"pro"}`), 404, "not_found", ""},
		{"patch bad tier", admin("PATCH", "/v1/admin/tenants/"+tenantID, `{"tier":"gold"}`), 422, "invalid_tier", "/tier"},
		{"patch null tier", admin("PATCH", "/v1/admin/tenants/"+tenantID, `{"tier":null}`), 400, "invalid_json", "/tier"},
		{"patch tier number", admin("PATCH", "/v1/admin/tenants/"+tenantID, `{"tier":3}`), 400, "invalid_json", "/tier"},
		{"patch negative budget", admin("PATCH", "/v1/admin/tenants/"+tenantID, `{"monthly_budget_usd":-0.01}`), 422, "invalid_budget", "/monthly_budget_usd"},
		{"patch budget string", admin("PATCH", "/v1/admin/tenants/"+tenantID, `{"monthly_budget_usd":"x"}`), 400, "invalid_json", "/monthly_budget_usd"},
		{"patch name", admin("PATCH", "/v1/admin/tenants/"+tenantID, `{"name":"new"}`), 422, "invalid_request", "/name"},
		{"patch unknown field", admin("PATCH", "/v1/admin/tenants/"+tenantID, `{"colour":"red"}`), 422, "invalid_request", "/colour"},
		{"patch null body", admin("PATCH", "/v1/admin/tenants/"+tenantID, `null`), 400, "invalid_json", ""},
		{"key for unknown tenant", admin("POST", "/v1/admin/tenants/ten_nope/api-keys", nil), 404, "not_found", ""},
		{"key name too long", admin("POST", "/v1/admin/tenants/"+tenantID+"/api-keys", map[string]any{"name": strings.Repeat("k", 201)}), 422, "invalid_request", "/name"},
		{"key body malformed", admin("POST", "/v1/admin/tenants/"+tenantID+"/api-keys", `{"name"`), 400, "invalid_json", ""},
		{"revoke unknown key", admin("DELETE", "/v1/admin/api-keys/key_nope", nil), 404, "not_found", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := c.reply.problem(t, c.status, c.code)
			if c.path != "" {
				require.NotEmpty(t, p.Errors, "body: %s", c.reply.body)
				require.Equal(t, c.path, p.Errors[0].Path)
			}
		})
	}

	// Not JSON, and too large.
	r := e.do(t, req{method: "POST", path: "/v1/admin/tenants", token: adminToken, body: `{"name":"x"}`,
		header: map[string]string{"Content-Type": "text/plain"}})
	r.problem(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
	r = e.do(t, req{method: "PATCH", path: "/v1/admin/tenants/" + tenantID, token: adminToken, body: `{}`,
		header: map[string]string{"Content-Type": "<unset>"}})
	r.problem(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
	r = e.do(t, req{method: "POST", path: "/v1/admin/tenants/" + tenantID + "/api-keys", token: adminToken, body: `{"name":"x"}`,
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
	r.problem(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
	big := `{"name":"` + strings.Repeat("x", 1<<20) + `"}`
	r = e.do(t, req{method: "POST", path: "/v1/admin/tenants", token: adminToken, body: big})
	r.problem(t, http.StatusRequestEntityTooLarge, "body_too_large")

	// application/merge-patch+json is JSON too.
	r = e.do(t, req{method: "PATCH", path: "/v1/admin/tenants/" + tenantID, token: adminToken, body: `{"tier":"free"}`,
		header: map[string]string{"Content-Type": "application/merge-patch+json"}})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
}

func TestAPIKeyLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()

	r := e.do(t, req{method: "POST", path: "/v1/admin/tenants", token: adminToken, body: `{"name":"acme"}`})
	require.Equal(t, http.StatusCreated, r.status)
	var ten client.Tenant
	r.decode(t, &ten)

	// Without a body.
	r = e.do(t, req{method: "POST", path: "/v1/admin/tenants/" + ten.ID + "/api-keys", token: adminToken})
	require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
	var k client.APIKey
	r.decode(t, &k)
	require.True(t, strings.HasPrefix(k.ID, "key_"), k.ID)
	require.Len(t, k.Key, 46)
	require.True(t, strings.HasPrefix(k.Key, "ak_"))
	raw, err := base64.RawURLEncoding.DecodeString(k.Key[3:])
	require.NoError(t, err)
	require.Len(t, raw, 32)
	require.Equal(t, k.Key[:7], k.Prefix)
	require.Empty(t, k.Name)

	// Only the hash is stored.
	sum := sha256.Sum256([]byte(k.Key))
	stored, err := e.store.APIKeyByHash(ctx, sum[:])
	require.NoError(t, err)
	require.Equal(t, k.ID, stored.ID)
	require.Equal(t, ten.ID, stored.TenantID)
	require.Equal(t, k.Prefix, stored.Prefix)

	// With a name.
	r = e.do(t, req{method: "POST", path: "/v1/admin/tenants/" + ten.ID + "/api-keys", token: adminToken, body: `{"name":"ci"}`})
	require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
	var named client.APIKey
	r.decode(t, &named)
	require.Equal(t, "ci", named.Name)
	require.NotEqual(t, k.Key, named.Key)

	// The key works, and lands in the shared cache.
	r = e.do(t, req{method: "GET", path: "/v1/agents", token: k.Key})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	var cached store.APIKey
	found, err := e.cache.Get(ctx, cache.GlobalKey("apikey:"+hex.EncodeToString(sum[:])), &cached)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, k.ID, cached.ID)
	require.Nil(t, cached.RevokedAt)

	// Revoked: the next request fails, the other key still works.
	r = e.do(t, req{method: "DELETE", path: "/v1/admin/api-keys/" + k.ID, token: adminToken})
	require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
	require.Empty(t, r.body)
	e.do(t, req{method: "GET", path: "/v1/agents", token: k.Key}).problem(t, http.StatusUnauthorized, "unauthorized")
	e.do(t, req{method: "POST", path: "/v1/tasks", token: k.Key, body: echoTask}).problem(t, http.StatusUnauthorized, "unauthorized")
	require.Equal(t, http.StatusOK, e.do(t, req{method: "GET", path: "/v1/agents", token: named.Key}).status)

	// The shared cache holds a tombstone.
	found, err = e.cache.Get(ctx, cache.GlobalKey("apikey:"+hex.EncodeToString(sum[:])), &cached)
	require.NoError(t, err)
	require.True(t, found)
	require.NotNil(t, cached.RevokedAt)

	// Revoking twice: 404.
	e.do(t, req{method: "DELETE", path: "/v1/admin/api-keys/" + k.ID, token: adminToken}).problem(t, http.StatusNotFound, "not_found")
}

func TestRevokedKeyStopsOnEveryReplica(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // default in-process TTL: 500ms
	other := e.replica()
	_, key := e.tenant(t)
	var keyID string
	{
		sum := sha256.Sum256([]byte(key))
		k, err := e.store.APIKeyByHash(context.Background(), sum[:])
		require.NoError(t, err)
		keyID = k.ID
	}

	// Both replicas have the key in their caches.
	for _, base := range []string{e.http.URL, other.URL} {
		r := e.do(t, req{method: "GET", path: "/v1/agents", token: key, base: base})
		require.Equal(t, http.StatusOK, r.status)
	}

	revoked := time.Now()
	r := e.do(t, req{method: "DELETE", path: "/v1/admin/api-keys/" + keyID, token: adminToken})
	require.Equal(t, http.StatusNoContent, r.status)
	// The replica that revoked refuses at once.
	e.do(t, req{method: "GET", path: "/v1/agents", token: key}).problem(t, http.StatusUnauthorized, "unauthorized")
	// The other within a second.
	require.Eventually(t, func() bool {
		return e.do(t, req{method: "GET", path: "/v1/agents", token: key, base: other.URL}).status == http.StatusUnauthorized
	}, 2*time.Second, 20*time.Millisecond)
	require.Less(t, time.Since(revoked), 1500*time.Millisecond)
	// And it stays refused after its in-process entry expired (the shared cache has the tombstone).
	e.do(t, req{method: "GET", path: "/v1/agents", token: key, base: other.URL}).problem(t, http.StatusUnauthorized, "unauthorized")
}

// invalidationSpy tells a test when its replica has handled an invalidation.
type invalidationSpy struct {
	inner *events.Invalidations
	seen  chan string
}

func (s invalidationSpy) On(kind string, fn func(id string)) {
	s.inner.On(kind, func(id string) {
		fn(id)
		s.seen <- kind
	})
}

// A revocation reaches the other replica over the bus: its in-process entry is dropped as
// soon as the invalidation arrives, not when its TTL runs out. No shared cache here, and the
// longest TTL allowed, so the bus is the only way the replica can learn of it in time.
func TestRevocationInvalidatesOtherReplicaAtOnce(t *testing.T) {
	t.Parallel()
	spy := invalidationSpy{seen: make(chan string, 4)}
	e := newEnv(t, func(c *ingest.Config) { c.KeyCache, c.LocalKeyTTL = nil, time.Second })
	iv, err := events.NewInvalidations(natstest.Conn(t), e.names)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, iv.Close()) })
	spy.inner = iv
	cfg := e.cfg
	cfg.Invalidations = spy
	other, err := ingest.New(cfg)
	require.NoError(t, err)
	otherHTTP := httptest.NewServer(other.Handler())
	t.Cleanup(otherHTTP.Close)

	tenantID, key := e.tenant(t)
	r := e.do(t, req{method: "GET", path: "/v1/agents", token: key, base: otherHTTP.URL})
	require.Equal(t, http.StatusOK, r.status, "the other replica caches the key")
	cached := time.Now()
	sum := sha256.Sum256([]byte(key))
	k, err := e.store.APIKeyByHash(context.Background(), sum[:])
	require.NoError(t, err)
	require.Equal(t, tenantID, k.TenantID)

	r = e.do(t, req{method: "DELETE", path: "/v1/admin/api-keys/" + k.ID, token: adminToken})
	require.Equal(t, http.StatusNoContent, r.status, "body: %s", r.body)
	select {
	case kind := <-spy.seen:
		require.Equal(t, events.InvalidateAPIKey, kind)
	case <-time.After(5 * time.Second):
		t.Fatal("the other replica never got the invalidation")
	}
	e.do(t, req{method: "GET", path: "/v1/agents", token: key, base: otherHTTP.URL}).
		problem(t, http.StatusUnauthorized, "unauthorized")
	require.Less(t, time.Since(cached), time.Second, "refused before the cache entry could expire")
}

// Rotating the webhook secret answers the new secret and when the old one stops signing;
// the tenant is announced to the dispatchers; an unknown tenant is 404.
func TestRotateWebhookSecret(t *testing.T) {
	t.Parallel()
	spy := invalidationSpy{seen: make(chan string, 4)}
	e := newEnv(t)
	iv, err := events.NewInvalidations(natstest.Conn(t), e.names)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, iv.Close()) })
	spy.inner = iv
	got := make(chan string, 1)
	spy.On(events.InvalidateTenant, func(id string) { got <- id })

	tenantID, key := e.tenant(t)
	before, err := e.store.GetTenant(context.Background(), tenantID)
	require.NoError(t, err)

	r := e.do(t, req{method: "POST", path: "/v1/admin/tenants/" + tenantID + "/webhook-secret", token: adminToken})
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	var ten client.Tenant
	r.decode(t, &ten)
	require.Equal(t, tenantID, ten.ID)
	require.Regexp(t, `^whsec_[A-Za-z0-9+/]{43}=$`, ten.WebhookSecret)
	require.NotEqual(t, before.WebhookSecret, ten.WebhookSecret)
	require.NotNil(t, ten.PreviousWebhookSecretExpiresAt)
	require.WithinDuration(t, time.Now().Add(24*time.Hour), *ten.PreviousWebhookSecretExpiresAt, time.Minute)
	select {
	case id := <-got:
		require.Equal(t, tenantID, id)
	case <-time.After(5 * time.Second):
		t.Fatal("no invalidation for the tenant")
	}

	after, err := e.store.GetTenant(context.Background(), tenantID)
	require.NoError(t, err)
	require.Equal(t, []string{ten.WebhookSecret, before.WebhookSecret}, after.WebhookSecrets(time.Now()))

	r = e.do(t, req{method: "GET", path: "/v1/admin/tenants/" + tenantID, token: adminToken})
	require.NotContains(t, string(r.body), "whsec_", "reads never show a secret")
	e.do(t, req{method: "POST", path: "/v1/admin/tenants/ten_unknown/webhook-secret", token: adminToken}).
		problem(t, http.StatusNotFound, "not_found")
	e.do(t, req{method: "POST", path: "/v1/admin/tenants/" + tenantID + "/webhook-secret", token: key}).
		problem(t, http.StatusForbidden, "forbidden")
}
