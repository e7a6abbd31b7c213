package promtest_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/internal/promtest"
)

func TestSum(t *testing.T) {
	t.Parallel()
	text := `# HELP x Things.
x_total{kind="a",route="GET /v1/tasks/{id}"} 2
x_total{kind="b"} 3
y 7
`
	sum, ok := promtest.Sum(text, "x_total")
	require.True(t, ok)
	require.Equal(t, 5.0, sum)
	require.Equal(t, 2.0, promtest.Sample(text, "x_total", `route="GET /v1/tasks/{id}"`))
	require.Equal(t, 3.0, promtest.Sample(text, "x_total", `!route=`))
	require.Equal(t, 7.0, promtest.Sample(text, "y"))
	require.Equal(t, -1.0, promtest.Sample(text, "x_total", `kind="c"`))
}
