package cache_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/cache"
)

func TestTTLTiers(t *testing.T) {
	t.Parallel()
	require.Equal(t, []time.Duration{60 * time.Second, 5 * time.Minute, 10 * time.Minute, time.Hour, 24 * time.Hour},
		[]time.Duration{cache.TTLShort, cache.TTLMedium, cache.TTLLong, cache.TTLHour, cache.TTLDay})
}

func TestKeyString(t *testing.T) {
	t.Parallel()
	require.Equal(t, "ten_1:agent:x", cache.TenantKey("ten_1", "agent:x").String())
	require.Equal(t, "global:apikey:ab", cache.GlobalKey("apikey:ab").String())
	require.NotEqual(t, cache.TenantKey("ten_1", "x"), cache.GlobalKey("x"))
}
