package ingest

import (
	"crypto/sha256"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/client"
)

func TestParseWait(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"": 0, "0": 0, "0s": 0, "30s": 30 * time.Second, "30": 30 * time.Second, "1.5": 1500 * time.Millisecond,
		"250ms": 250 * time.Millisecond, "60s": time.Minute, "61s": time.Minute, "2m": time.Minute,
		"120": time.Minute, "99999999999999999999999": time.Minute, "1h": time.Minute,
	} {
		got, err := parseWait(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"x", "-1s", "-1", "1e3", "NaN", "+Inf", "0x10", "1.", ".5", " 1", "1 ", "1..2", "--1"} {
		_, err := parseWait(in)
		require.Error(t, err, in)
		require.Equal(t, codeInvalidParameter, problemFor(err).Code, in)
	}
}

func TestParseTraceParent(t *testing.T) {
	t.Parallel()
	const tid = "4bf92f3577b34da6a3ce929d0e0e4736"
	for _, ok := range []string{
		"00-" + tid + "-00f067aa0ba902b7-01",
		"00-" + tid + "-00f067aa0ba902b7-00",
		"01-" + tid + "-00f067aa0ba902b7-01-future", // a later version may append fields
	} {
		got, valid := parseTraceParent(ok)
		require.True(t, valid, ok)
		require.Equal(t, tid, got)
	}
	for _, bad := range []string{
		"", "00", "00-" + tid + "-00f067aa0ba902b7-01-extra", // version 00 is exactly 55 characters
		"ff-" + tid + "-00f067aa0ba902b7-01",
		"00-" + "4BF92F3577B34DA6A3CE929D0E0E4736" + "-00f067aa0ba902b7-01",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-" + tid + "-0000000000000000-01",
		"00_" + tid + "-00f067aa0ba902b7-01",
		"0g-" + tid + "-00f067aa0ba902b7-01",
		"01-" + tid + "-00f067aa0ba902b7-01x",
	} {
		_, valid := parseTraceParent(bad)
		require.False(t, valid, bad)
	}
	require.Len(t, traceID("junk"), 32)
	require.NotEqual(t, traceID(""), traceID(""))
}

func TestIdempotencyKeyHeader(t *testing.T) {
	t.Parallel()
	got, err := idempotencyKey(http.Header{})
	require.NoError(t, err)
	require.Empty(t, got)
	got, err = idempotencyKey(http.Header{"Idempotency-Key": {"a b~!"}})
	require.NoError(t, err)
	require.Equal(t, "a b~!", got)
	for _, bad := range []http.Header{
		{"Idempotency-Key": {""}},
		{"Idempotency-Key": {"a", "b"}},
		{"Idempotency-Key": {"tab\there"}},
		{"Idempotency-Key": {"del\x7f"}},
		{"Idempotency-Key": {"é"}},
	} {
		_, err := idempotencyKey(bad)
		require.Equal(t, codeInvalidIdempotencyKey, problemFor(err).Code, bad)
	}
}

func TestIsJSON(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json", "application/problem+json"} {
		require.True(t, isJSON(ok), ok)
	}
	for _, bad := range []string{"", "text/plain", "application/xml", "text/json+", "application/jsonx", "multipart/form-data; boundary=x", "text/x+json"} {
		require.False(t, isJSON(bad), bad)
	}
}

func TestRequestHashIsCanonical(t *testing.T) {
	t.Parallel()
	h := func(body string) []byte {
		t.Helper()
		var r submitRequestForTest
		require.NoError(t, unmarshal([]byte(body), &r.SubmitRequest))
		in, err := compactInput(r.Input)
		require.NoError(t, err)
		sum, err := requestHash(&r.SubmitRequest, in, nil, r.Cache != nil && !*r.Cache)
		require.NoError(t, err)
		return sum
	}
	a := h(`{"agent":"echo","input":{"a":1,"b":[true,{"d":null,"c":"x"}]},"metadata":{"x":"1","y":"2"}}`)
	require.Equal(t, a, h(`{ "metadata": {"y":"2","x":"1"}, "input": {"b":[true,{"c":"x","d":null}], "a":1}, "agent":"echo" }`))
	require.Equal(t, a, h(`{"agent":"echo","input":{"a":1,"b":[true,{"d":null,"c":"x"}]},"metadata":{"x":"1","y":"2"},"webhook_url":null}`))
	require.NotEqual(t, a, h(`{"agent":"echo","input":{"a":2,"b":[true,{"d":null,"c":"x"}]},"metadata":{"x":"1","y":"2"}}`))
	require.NotEqual(t, a, h(`{"agent":"echo","input":{"a":1,"b":[{"d":null,"c":"x"},true]},"metadata":{"x":"1","y":"2"}}`))
	require.NotEqual(t, a, h(`{"agent":"echo","input":{"a":1,"b":[true,{"d":null,"c":"x"}]},"metadata":{"x":"1"}}`))
	require.NotEqual(t, a, h(`{"agent":"echo","input":{"a":1,"b":[true,{"d":null,"c":"x"}]},"metadata":{"x":"1","y":"2"},"quality":"premium"}`))
	// No metadata and empty metadata are the same request.
	require.Equal(t, h(`{"agent":"echo","input":{}}`), h(`{"agent":"echo","input":{},"metadata":{}}`))
	// "cache": true is the default; "cache": false is another request.
	require.Equal(t, a, h(`{"agent":"echo","input":{"a":1,"b":[true,{"d":null,"c":"x"}]},"metadata":{"x":"1","y":"2"},"cache":true}`))
	require.NotEqual(t, a, h(`{"agent":"echo","input":{"a":1,"b":[true,{"d":null,"c":"x"}]},"metadata":{"x":"1","y":"2"},"cache":false}`))
	// A request that does not opt out hashes as it did before "cache" existed, so a retry
	// across an upgrade is not taken for a different request.
	before := sha256.Sum256([]byte(`{"agent":"echo","input":{},"webhook_url":"","metadata":null,"quality":"","max_cost_micros":null}`))
	require.Equal(t, before[:], h(`{"agent":"echo","input":{}}`))
}

type submitRequestForTest struct{ client.SubmitRequest }
