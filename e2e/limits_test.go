package e2e

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/client"
)

// Two ingest processes on one Redis count a free tenant's requests together: its 11th in a
// minute, whichever process gets it, is 429 with Retry-After; a pro tenant is untouched.
func TestRateLimitAcrossIngestProcesses(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	a, b := c.start("ingest"), c.start("ingest")
	admin := a.api(adminToken)
	var ten client.Tenant
	require.Equal(t, http.StatusCreated, admin.do("POST", "/v1/admin/tenants", map[string]any{"name": "free", "tier": "free"}, &ten))
	var key client.APIKey
	require.Equal(t, http.StatusCreated, admin.do("POST", "/v1/admin/tenants/"+ten.ID+"/api-keys", nil, &key))

	for i := range 10 {
		p := a
		if i%2 == 1 {
			p = b
		}
		require.Equal(t, http.StatusOK, p.api(key.Key).do("GET", "/v1/agents", nil, nil), "request %d", i+1)
	}
	for _, p := range []*proc{a, b} {
		var problem client.Problem
		h := p.api(key.Key).doHeaders("GET", "/v1/tasks", &problem)
		require.Equal(t, http.StatusTooManyRequests, problem.Status)
		require.Equal(t, "rate_limited", problem.Code)
		retry, err := strconv.Atoi(h.Get("Retry-After"))
		require.NoError(t, err)
		require.True(t, retry >= 1 && retry <= 60, "Retry-After %d", retry)
		require.Equal(t, "10", h.Get("RateLimit-Limit"))
		require.Equal(t, "0", h.Get("RateLimit-Remaining"))
	}
	_, pro := tenant(t, a)
	require.Equal(t, http.StatusOK, pro.do("GET", "/v1/agents", nil, nil))
}
