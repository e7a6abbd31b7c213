package client

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readAll(t *testing.T, r io.Reader) []Event {
	t.Helper()
	sr := newSSEReader(r)
	var out []Event
	for {
		ev, err := sr.next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		out = append(out, ev)
	}
}

func TestSSEParsing(t *testing.T) {
	t.Parallel()
	stream := ": comment first\n" +
		"event: status\ndata: {\"id\":\"a\"}\n\n" + // LF
		"event: status\r\ndata:{\"id\":\"b\"}\r\n\r\n" + // CRLF, no space after the colon
		"event: status\rdata: {\"id\":\"c\"}\r\r" + // CR
		": heartbeat\n\n" + // a comment alone dispatches nothing
		"id: 7\ndata: line one\ndata: line two\nretry: 100\nunknown: x\n\n" + // default type, joined data
		"event: ignored-without-data\n\n" +
		"data\n\n" + // a field without a colon: empty data
		"event: status\ndata: {\"id\":\"cut\"}" // not terminated: discarded
	for _, r := range map[string]io.Reader{
		"whole":      strings.NewReader(stream),
		"byte-wise":  iotest.OneByteReader(strings.NewReader(stream)),
		"half-reads": iotest.HalfReader(strings.NewReader(stream)),
	} {
		got := readAll(t, r)
		require.Len(t, got, 5)
		assert.Equal(t, Event{Type: "status", Data: []byte(`{"id":"a"}`)}, got[0])
		assert.Equal(t, `{"id":"b"}`, string(got[1].Data))
		assert.Equal(t, `{"id":"c"}`, string(got[2].Data))
		assert.Equal(t, Event{Type: "message", ID: "7", Data: []byte("line one\nline two")}, got[3])
		assert.Equal(t, "message", got[4].Type)
		assert.Equal(t, "7", got[4].ID, "the last id carries over")
		assert.Empty(t, got[4].Data)
	}
}

func TestSSELargeEvent(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 3<<20)
	got := readAll(t, strings.NewReader("data: "+big+"\n\n"))
	require.Len(t, got, 1)
	assert.Len(t, got[0].Data, len(big))
}

func TestRateLimitHeaders(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	assert.Nil(t, parseRateLimit(h))
	h.Set("RateLimit-Limit", "100")
	h.Set("RateLimit-Remaining", "0")
	h.Set("RateLimit-Reset", "12")
	assert.Equal(t, &RateLimit{Limit: 100, Remaining: 0, Reset: 12 * time.Second}, parseRateLimit(h))

	assert.Equal(t, 3*time.Second, retryAfter("3"))
	assert.Zero(t, retryAfter(""))
	assert.Zero(t, retryAfter("soon"))
	assert.Zero(t, retryAfter("-1"))
	d := retryAfter(time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
	assert.InDelta(t, time.Hour.Seconds(), d.Seconds(), 2)
}

func TestProblemFromAnyAnswer(t *testing.T) {
	t.Parallel()
	resp := &http.Response{
		StatusCode: http.StatusTooManyRequests,
		Header: http.Header{
			"Content-Type":        {"application/problem+json"},
			"Retry-After":         {"2"},
			"Ratelimit-Limit":     {"10"},
			"Ratelimit-Remaining": {"0"},
			"Ratelimit-Reset":     {"2"},
		},
		Body: io.NopCloser(strings.NewReader(`{"type":"https://agentic.dev/problems/rate_limited","title":"Too many requests","status":429,"detail":"slow down","code":"rate_limited"}`)),
	}
	p := readProblem(resp)
	assert.Equal(t, CodeRateLimited, p.Code)
	assert.Equal(t, 2*time.Second, p.RetryAfter)
	assert.Equal(t, &RateLimit{Limit: 10, Remaining: 0, Reset: 2 * time.Second}, p.RateLimit)
	assert.Equal(t, "agentic: 429 rate_limited: slow down", p.Error())

	resp = &http.Response{
		StatusCode: http.StatusBadGateway,
		Header:     http.Header{"Content-Type": {"text/html"}},
		Body:       io.NopCloser(strings.NewReader("<html>bad gateway</html>")),
	}
	p = readProblem(resp)
	assert.Equal(t, http.StatusBadGateway, p.Status)
	assert.Equal(t, "Bad Gateway", p.Title)
	assert.Equal(t, "<html>bad gateway</html>", p.Detail)
	assert.Equal(t, "agentic: 502 Bad Gateway: <html>bad gateway</html>", p.Error())
}
