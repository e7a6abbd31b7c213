package ingest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/store"
)

// nest returns n levels of objects: nest(1) is {}, nest(2) is {"a":{}}.
func nest(n int) string {
	if n == 0 {
		return "0"
	}
	return strings.Repeat(`{"a":`, n-1) + "{}" + strings.Repeat("}", n-1)
}

func TestNestingDepth(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want int
	}{
		{``, 0},
		{`1`, 0},
		{`"x"`, 0},
		{`{}`, 1},
		{`[]`, 1},
		{`[[]]`, 2},
		{`[{},[{}]]`, 3},
		{`{"a":[1,{"b":[]}],"c":{}}`, 4},
		{nest(32), 32},
		{`{"[[[[":"]]]{{{"}`, 1}, // brackets in strings do not count
		{`{"a\"[[":"x"}`, 1},     // an escaped quote does not end the string
		{`{"a\\":[[1]]}`, 3},     // an escaped backslash does not escape the quote
		{`{"a\\\"[":"\\\\"}`, 1}, // three backslashes: one escaped quote
		{`["\u005b", "\\u005b", "\/"]`, 1},
		{`["é[", "\\", ["x"]]`, 2},
		{`"unterminated [[[`, 0}, // malformed: the decoder rejects it later
		{`[[1]]]]]][[`, 2},       // surplus closers only lower the depth
		{"[\"\\", 1},             // a backslash at the very end
		{`{"a":"\\"}`, 1},
		{strings.Repeat(`"\\",`, 100) + `[[]]`, 2},
	}
	for _, c := range cases {
		require.Equal(t, c.want, nestingDepth([]byte(c.in), 1000), c.in)
	}
}

func TestNestingDepthStopsPastTheLimit(t *testing.T) {
	t.Parallel()
	// 1,000,000 opening brackets: the scan returns limit+1 after limit+1 bytes.
	deep := []byte(strings.Repeat("[", 1_000_000))
	require.Equal(t, maxDepth+1, nestingDepth(deep, maxDepth))
	require.Equal(t, 5, nestingDepth([]byte(nest(5)), 5))
	require.Equal(t, 5, nestingDepth([]byte(nest(7)), 4))
}

func TestUnmarshalDepthLimit(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"32 levels", nest(32), 0, ""},
		{"33 levels", nest(33), http.StatusBadRequest, codeJSONTooDeep},
		{"33 arrays", strings.Repeat("[", 33) + strings.Repeat("]", 33), http.StatusBadRequest, codeJSONTooDeep},
		{"32 mixed", strings.Repeat(`[{"a":`, 16) + "1" + strings.Repeat("}]", 16), 0, ""},
		{"33 mixed", strings.Repeat(`[{"a":`, 16) + "[]" + strings.Repeat("}]", 16), http.StatusBadRequest, codeJSONTooDeep},
		{"deep brackets in a string", `{"s":"` + strings.Repeat("[", 10_000) + `"}`, 0, ""},
		// The depth is checked before the syntax: a deep malformed body is too deep.
		{"deep and malformed", strings.Repeat("[", 40) + "x", http.StatusBadRequest, codeJSONTooDeep},
		{"shallow and malformed", `[[x`, http.StatusBadRequest, codeInvalidJSON},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var v any
			err := unmarshal([]byte(c.body), &v)
			if c.code == "" {
				require.NoError(t, err)
				return
			}
			p := problemFor(err)
			require.Equal(t, c.status, p.Status)
			require.Equal(t, c.code, p.Code)
			require.Nil(t, v, "a refused body is not decoded")
		})
	}
}

func TestCheckMetadata(t *testing.T) {
	t.Parallel()
	pairs := func(n int) map[string]string {
		md := map[string]string{}
		for i := range n {
			md[fmt.Sprint("k", i)] = "v"
		}
		return md
	}
	k64, k65 := strings.Repeat("k", 64), strings.Repeat("k", 65)
	cases := []struct {
		name  string
		md    map[string]string
		paths []string // the pointers named, in order; none when valid
	}{
		{"none", nil, nil},
		{"16 pairs", pairs(16), nil},
		{"17 pairs", pairs(17), []string{"/metadata"}},
		{"1000 pairs", pairs(1000), []string{"/metadata"}},
		{"64-character key", map[string]string{k64: "v"}, nil},
		{"64 multi-byte characters", map[string]string{strings.Repeat("é", 64): strings.Repeat("ü", 512)}, nil},
		{"empty key", map[string]string{"": "v"}, []string{"/metadata/"}},
		{"65-character key, clipped in the pointer", map[string]string{k65: "v"}, []string{"/metadata/" + k64 + "…"}},
		{"1 MB key, clipped", map[string]string{strings.Repeat("k", 1<<20): "v"}, []string{"/metadata/" + k64 + "…"}},
		{"512-character value", map[string]string{"k": strings.Repeat("v", 512)}, nil},
		{"513-character value", map[string]string{"k": strings.Repeat("v", 513)}, []string{"/metadata/k"}},
		{"NUL in key", map[string]string{"a\x00": "v"}, []string{"/metadata/a\x00"}},
		{"NUL in value", map[string]string{"k": "a\x00b"}, []string{"/metadata/k"}},
		{"newline in value", map[string]string{"k": "a\nb"}, []string{"/metadata/k"}},
		{"tab in key", map[string]string{"a\tb": "v"}, []string{"/metadata/a\tb"}},
		{"DEL in value", map[string]string{"k": "\x7f"}, []string{"/metadata/k"}},
		{"C1 control in value", map[string]string{"k": "\u0085"}, []string{"/metadata/k"}},
		{"invalid UTF-8 value", map[string]string{"k": "\xff"}, []string{"/metadata/k"}},
		{"invalid UTF-8 key", map[string]string{"\xc3(": "v"}, []string{"/metadata/\xc3("}},
		{"replacement character is text", map[string]string{"k": "\uFFFD"}, nil},
		{"pointer escapes", map[string]string{"a/b~c": strings.Repeat("v", 513)}, []string{"/metadata/a~1b~0c"}},
		{"every broken pair, in key order", map[string]string{"z": "\x00", "ok": "v", "a": "\x01", "": "v"},
			[]string{"/metadata/", "/metadata/a", "/metadata/z"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := checkMetadata(c.md)
			if c.paths == nil {
				require.NoError(t, err)
				return
			}
			p := problemFor(err)
			require.Equal(t, http.StatusUnprocessableEntity, p.Status)
			require.Equal(t, codeInvalidMetadata, p.Code)
			var got []string
			for _, f := range p.Errors {
				got = append(got, f.Path)
				require.NotEmpty(t, f.Message)
			}
			require.Equal(t, c.paths, got)
			require.Less(t, len(p.Detail), 200, "the detail quotes no long key")
		})
	}
}

func TestParseListQuery(t *testing.T) {
	t.Parallel()
	cursor := func(raw string) string { return base64.RawURLEncoding.EncodeToString([]byte(raw)) }
	filters := func(n int) string {
		var q []string
		for i := range n {
			q = append(q, fmt.Sprintf("metadata.k%d=v", i))
		}
		return strings.Join(q, "&")
	}
	good := store.EncodeCursor(mustTime(t, "2026-11-25T10:00:00Z"), "tsk_abc")

	ok := []struct {
		query string
		want  store.TaskFilter
		empty bool
	}{
		{"", store.TaskFilter{Limit: defLimit}, false},
		{"status=queued&agent=echo&limit=100&cursor=" + good,
			store.TaskFilter{Status: store.StatusQueued, Agent: "echo", Limit: 100, Cursor: good}, false},
		{"agent=" + strings.Repeat("a", 64), store.TaskFilter{Agent: strings.Repeat("a", 64), Limit: defLimit}, false},
		{"metadata.a=1&metadata.b=2", store.TaskFilter{Limit: defLimit, Metadata: map[string]string{"a": "1", "b": "2"}}, false},
		{"metadata.a=1&metadata.a=2", store.TaskFilter{Limit: defLimit, Metadata: map[string]string{"a": "2"}}, true},
		{"metadata." + strings.Repeat("k", 64) + "=" + strings.Repeat("v", 512),
			store.TaskFilter{Limit: defLimit, Metadata: map[string]string{strings.Repeat("k", 64): strings.Repeat("v", 512)}}, false},
		{"metadata.k=a%0Ab", store.TaskFilter{Limit: defLimit, Metadata: map[string]string{"k": "a\nb"}}, false},
	}
	for _, c := range ok {
		q, err := url.ParseQuery(c.query)
		require.NoError(t, err)
		f, empty, err := parseListQuery(q)
		require.NoError(t, err, c.query)
		require.Equal(t, c.empty, empty, c.query)
		if c.want.Metadata == nil {
			require.Empty(t, f.Metadata, c.query)
			f.Metadata = nil
		}
		require.Equal(t, c.want, f, c.query)
	}
	sixteen := filters(16)
	q, err := url.ParseQuery(sixteen)
	require.NoError(t, err)
	f, _, err := parseListQuery(q)
	require.NoError(t, err)
	require.Len(t, f.Metadata, 16)

	bad := []struct {
		name, query, param string
	}{
		{"status", "status=done", "status"},
		{"limit 0", "limit=0", "limit"},
		{"limit 101", "limit=101", "limit"},
		{"agent 65 characters", "agent=" + strings.Repeat("a", 65), "agent"},
		{"agent NUL", "agent=ec%00ho", "agent"},
		{"agent not UTF-8", "agent=%ff", "agent"},
		{"cursor 513 bytes", "cursor=" + strings.Repeat("A", 513), "cursor"},
		{"cursor not base64", "cursor=***", "cursor"},
		{"cursor 512 bytes, not issued", "cursor=" + strings.Repeat("A", 512), "cursor"},
		{"cursor id with NUL", "cursor=" + cursor("1700000000000000,tsk_\x00"), "cursor"},
		{"cursor id not UTF-8", "cursor=" + cursor("1700000000000000,\xff"), "cursor"},
		{"cursor time out of range", "cursor=" + cursor("9223372036854775807,tsk_a"), "cursor"},
		{"cursor time before year 1", "cursor=" + cursor("-9223372036854775808,tsk_a"), "cursor"},
		{"17 filters", filters(17), "metadata"},
		{"17 values of one key", strings.Repeat("metadata.k=v&", 17), "metadata"},
		{"empty key", "metadata.=x", "metadata."},
		{"65-character key", "metadata." + strings.Repeat("k", 65) + "=v", "metadata." + strings.Repeat("k", 64) + "…"},
		{"1 MB key", "metadata." + strings.Repeat("k", 1<<20) + "=v", "metadata." + strings.Repeat("k", 64) + "…"},
		{"513-character value", "metadata.k=" + strings.Repeat("v", 513), "metadata.k"},
		{"NUL in key", "metadata.a%00=v", "metadata.a\x00"},
		{"NUL in value", "metadata.k=a%00", "metadata.k"},
		{"key not UTF-8", "metadata.%ff=v", "metadata.\xff"},
		{"value not UTF-8", "metadata.k=%c3%28", "metadata.k"},
		{"first broken filter by name", "metadata.b=%00&metadata.a=%00", "metadata.a"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			q, err := url.ParseQuery(c.query)
			require.NoError(t, err)
			_, _, err = parseListQuery(q)
			p := problemFor(err)
			require.Equal(t, http.StatusBadRequest, p.Status)
			require.Equal(t, codeInvalidParameter, p.Code)
			require.Len(t, p.Errors, 1)
			require.Equal(t, c.param, p.Errors[0].Path)
			require.Less(t, len(p.Detail), 300, "the detail quotes nothing long")
		})
	}
}

func TestClip(t *testing.T) {
	t.Parallel()
	require.Equal(t, "", clip("", 3))
	require.Equal(t, "abc", clip("abc", 3))
	require.Equal(t, "abc…", clip("abcd", 3))
	require.Equal(t, "ééé", clip("ééé", 3)) // 6 bytes, 3 characters
	require.Equal(t, "éé…", clip("ééé", 2))
	got := clip(strings.Repeat("界", 1<<18), maxEcho)
	require.Equal(t, maxEcho+1, utf8.RuneCountInString(got))
	require.True(t, utf8.ValidString(got))
}

func TestProblemsClipWhatTheyEcho(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("x", 1<<20)

	p := newProblem(http.StatusBadRequest, codeInvalidJSON, huge).withFields(field(huge, huge))
	require.Equal(t, maxEchoDetail+1, utf8.RuneCountInString(p.Detail))
	require.Equal(t, maxEchoPath+1, utf8.RuneCountInString(p.Errors[0].Path))
	require.Equal(t, maxEchoMessage+1, utf8.RuneCountInString(p.Errors[0].Message))

	// A wrong-typed number is quoted by the decoder: the problem clips it.
	var body struct {
		Agent string `json:"agent"`
	}
	err := unmarshal([]byte(`{"agent":`+strings.Repeat("9", 100_000)+`}`), &body)
	p = problemFor(err)
	require.Equal(t, codeInvalidJSON, p.Code)
	require.Equal(t, "/agent", p.Errors[0].Path)
	require.Less(t, len(p.Detail), 200, p.Detail)
	b, err := json.Marshal(p)
	require.NoError(t, err)
	require.Less(t, len(b), 600)
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339, s)
	require.NoError(t, err)
	return at
}

// BenchmarkNestingDepth scans a 1 MiB body of short strings in shallow objects, the shape of
// a large task input.
func BenchmarkNestingDepth(b *testing.B) {
	var doc strings.Builder
	doc.WriteString(`{"items":[`)
	for doc.Len() < 1<<20 {
		doc.WriteString(`{"id":"a \"quoted\" \\ value","tags":["x","y"],"n":12345},`)
	}
	doc.WriteString(`{}]}`)
	body := []byte(doc.String())
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if d := nestingDepth(body, maxDepth); d != 4 {
			b.Fatalf("depth %d", d)
		}
	}
}
