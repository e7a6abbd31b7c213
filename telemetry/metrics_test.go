package telemetry_test

import (
	"context"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/agentic-run/agentic/telemetry"
)

// What a meter records is served on /metrics in the Prometheus text format, with the Go
// runtime's metrics beside it.
func TestMetricsServesPrometheusText(t *testing.T) {
	t.Parallel()
	m, err := telemetry.NewMetrics()
	require.NoError(t, err)
	c, err := m.Meter("test").Int64Counter("agentic.test.things", metric.WithDescription("Things."))
	require.NoError(t, err)
	c.Add(context.Background(), 3, metric.WithAttributes(attribute.String("kind", "a")))

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, 200, rec.Code)
	body, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	require.Contains(t, string(body), "# HELP agentic_test_things_total Things.")
	require.Contains(t, string(body), `agentic_test_things_total{kind="a"} 3`)
	require.Contains(t, string(body), "go_goroutines ")
}
