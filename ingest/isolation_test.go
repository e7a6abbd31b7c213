package ingest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/store"
)

// Tenant A probes every tenant route that names a resource with tenant B's ids: each answer
// is 404 not_found — never 403, nothing that says the id exists — and B's task is unchanged.
// Every route of the server is classified, so a new tenant route cannot go unprobed.
func TestTenantsNeverSeeEachOther(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, keyA := e.tenant(t)
	tenantB, keyB := e.tenant(t)
	theirs := e.submit(t, keyB, map[string]any{"agent": "echo", "input": map[string]any{"secret": "B's"},
		"metadata": map[string]string{"owner": "b"}})
	running := e.submit(t, keyB, map[string]any{"agent": "echo", "input": map[string]any{}})
	_, err := e.store.StartTask(context.Background(), running.ID, running.CreatedAt, running.CreatedAt.Add(1e12))
	require.NoError(t, err)

	probes := map[string][]string{ // route pattern → paths A tries
		"GET /v1/tasks/{id}":                         {"/v1/tasks/" + theirs.ID, "/v1/tasks/" + theirs.ID + "?wait=1", "/v1/tasks/" + running.ID + "?wait=1"},
		"POST /v1/tasks/{id}/cancel":                 {"/v1/tasks/" + theirs.ID + "/cancel", "/v1/tasks/" + running.ID + "/cancel"},
		"GET /v1/tasks/{id}/events":                  {"/v1/tasks/" + theirs.ID + "/events", "/v1/tasks/" + running.ID + "/events"},
		"GET /v1/tasks/{id}/deliveries":              {"/v1/tasks/" + theirs.ID + "/deliveries"},
		"GET /v1/agents/{id}":                        nil, // the catalog is shared, not a tenant's
		"GET /v1/agents":                             nil,
		"POST /v1/tasks":                             nil, // below: another tenant's Idempotency-Key
		"GET /v1/tasks":                              nil, // below: filters and cursors
		"GET /v1/usage":                              nil, // the caller's own totals; TestUsage checks another's never count
		"GET /health":                                nil,
		"GET /health/live":                           nil,
		"GET /health/ready":                          nil,
		"GET /openapi.json":                          nil,
		"POST /v1/admin/tenants":                     nil, // admin routes answer a tenant key with 403 (API.md)
		"GET /v1/admin/tenants/{id}":                 {"/v1/admin/tenants/" + tenantB},
		"PATCH /v1/admin/tenants/{id}":               {"/v1/admin/tenants/" + tenantB},
		"POST /v1/admin/tenants/{id}/api-keys":       {"/v1/admin/tenants/" + tenantB + "/api-keys"},
		"DELETE /v1/admin/api-keys/{id}":             nil,
		"POST /v1/admin/tenants/{id}/webhook-secret": {"/v1/admin/tenants/" + tenantB + "/webhook-secret"},
	}
	for _, route := range e.srv.Routes() {
		paths, known := probes[route]
		require.True(t, known, "route %q is not classified in this test: decide what tenant A may learn through it", route)
		method, _, _ := strings.Cut(route, " ")
		for _, path := range paths {
			r := e.do(t, req{method: method, path: path, token: keyA, body: bodyFor(method)})
			if strings.HasPrefix(path, "/v1/admin/") {
				r.problem(t, http.StatusForbidden, "forbidden") // a tenant key on an admin route, whoever's id
				continue
			}
			p := r.problem(t, http.StatusNotFound, "not_found")
			require.NotContains(t, string(r.body), "B's", "%s %s", method, path)
			require.NotContains(t, p.Detail, tenantB, "%s %s", method, path)
		}
	}

	// Lists with filters that match B's task find nothing for A; B's own key finds it.
	for _, q := range []string{"", "?metadata.owner=b", "?agent=echo", "?status=queued"} {
		r := e.do(t, req{method: "GET", path: "/v1/tasks" + q, token: keyA})
		require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
		require.JSONEq(t, `{"data":[],"next_cursor":null}`, string(r.body), q)
	}
	r := e.do(t, req{method: "GET", path: "/v1/tasks?metadata.owner=b", token: keyB})
	require.Contains(t, string(r.body), theirs.ID)

	// B's Idempotency-Key, used by A, makes A a task of its own rather than replaying B's.
	for _, k := range []string{keyB, keyA} {
		r := e.do(t, req{method: "POST", path: "/v1/tasks", token: k, header: map[string]string{"Idempotency-Key": "same-key"},
			body: map[string]any{"agent": "echo", "input": map[string]any{}}})
		require.Equal(t, http.StatusAccepted, r.status, "each tenant's first use of the key: body %s", r.body)
	}

	// A's probes changed nothing of B's.
	for _, id := range []string{theirs.ID, running.ID} {
		stored, err := e.store.GetTask(context.Background(), tenantB, id)
		require.NoError(t, err)
		require.False(t, stored.CancelRequested, "A's cancel reached B's task %s", id)
		require.NotEqual(t, store.StatusCanceled, stored.Status)
	}
}

// bodyFor gives a body to methods that may carry one.
func bodyFor(method string) any {
	if method == http.MethodPost || method == http.MethodPatch {
		return map[string]any{"tier": "enterprise", "name": "x"}
	}
	return nil
}
