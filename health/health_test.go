package health_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/health"
)

func TestCircuits(t *testing.T) {
	t.Parallel()
	got := health.Circuits([]string{"anthropic", "openai", "sim"}, []health.Circuit{
		{Provider: "openai", Model: "gpt-4o", State: "open"},
		{Provider: "openai", Model: "gpt-4o-mini", State: "closed"},
		{Provider: "anthropic", Model: "claude-3-5-haiku", State: "open"},
	})
	require.Equal(t, health.ProviderStatus{Status: "degraded", Circuit: "open",
		Models: map[string]string{"gpt-4o": "open", "gpt-4o-mini": "closed"}}, got["openai"])
	require.Equal(t, health.ProviderStatus{Status: "down", Circuit: "open",
		Models: map[string]string{"claude-3-5-haiku": "open"}}, got["anthropic"])
	require.Equal(t, health.ProviderStatus{Status: "ok", Circuit: "closed", Models: map[string]string{}}, got["sim"], "never called")
}

// /health/detailed wants the admin token, reports every check and circuit, and is "down" when
// a check fails and "degraded" when a circuit is not closed.
func TestDetailed(t *testing.T) {
	t.Parallel()
	var circuits []health.Circuit
	failing := false
	mux := http.NewServeMux()
	health.RegisterDetailed(mux, map[string]health.Check{
		"database": func(context.Context) error {
			if failing {
				return errors.New("connection refused")
			}
			return nil
		},
	}, health.Detailed{Version: "v1", AdminToken: "secret-admin-token", Providers: func() map[string]health.ProviderStatus {
		return health.Circuits([]string{"openai"}, circuits)
	}})
	get := func(token string) (int, map[string]any) {
		req := httptest.NewRequest("GET", "/health/detailed", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		var body map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
		return rec.Code, body
	}
	code, _ := get("")
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = get("wrong")
	require.Equal(t, http.StatusUnauthorized, code)

	code, body := get("secret-admin-token")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok", body["status"])
	require.Equal(t, "v1", body["version"])
	require.Equal(t, "ok", body["checks"].(map[string]any)["database"].(map[string]any)["status"])

	circuits = []health.Circuit{{Provider: "openai", Model: "gpt-4o", State: "half_open"}}
	_, body = get("secret-admin-token")
	require.Equal(t, "degraded", body["status"])
	require.Equal(t, "half_open", body["providers"].(map[string]any)["openai"].(map[string]any)["circuit"])

	failing = true
	_, body = get("secret-admin-token")
	require.Equal(t, "down", body["status"])
}
