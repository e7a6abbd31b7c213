package ingest_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/client"
)

// nested returns n levels of objects: nested(1) is {}, nested(2) is {"a":{}}.
func nested(n int) string {
	return strings.Repeat(`{"a":`, n-1) + "{}" + strings.Repeat("}", n-1)
}

// echoWith is a submission of the echo agent with more fields, given as JSON text.
func echoWith(fields string) string {
	return `{"agent":"echo","input":{}` + fields + `}`
}

// metadataPairs returns {"k0":"v",...} with n pairs.
func metadataPairs(n int) string {
	var p []string
	for i := range n {
		p = append(p, fmt.Sprintf(`"k%d":"v"`, i))
	}
	return "{" + strings.Join(p, ",") + "}"
}

// maxProblemBody bounds a problem's size: nothing in these requests may be echoed in full.
const maxProblemBody = 2048

// TestSubmitLimits posts a submission at and just past each input limit and checks the exact
// status, code and field, and that a refusal never reflects the long value.
func TestSubmitLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.tenant(t)
	long := func(c string, n int) string { return strings.Repeat(c, n) }
	const hook = "https://93.184.216.34/"

	cases := []struct {
		name   string
		body   string
		hdr    map[string]string
		status int
		code   string
		path   string
	}{
		// The body is level 1, input level 2: the input may nest 31 levels.
		{"body 32 levels deep", `{"agent":"echo","input":` + nested(31) + `}`, nil, 202, "", ""},
		{"body 33 levels deep", `{"agent":"echo","input":` + nested(32) + `}`, nil, 400, "json_too_deep", ""},
		{"33 levels of arrays anywhere", echoWith(`,"metadata":` + long("[", 32) + long("]", 32)), nil, 400, "json_too_deep", ""},
		{"10,000 levels", `{"agent":"echo","input":` + long("[", 10_000) + long("]", 10_000) + `}`, nil, 400, "json_too_deep", ""},
		{"brackets in strings do not count", `{"agent":"echo","input":{"s":"` + long("[", 1000) + `\"` + long("{", 1000) + `"}}`, nil, 202, "", ""},

		{"16 metadata pairs", echoWith(`,"metadata":` + metadataPairs(16)), nil, 202, "", ""},
		{"17 metadata pairs", echoWith(`,"metadata":` + metadataPairs(17)), nil, 422, "invalid_metadata", "/metadata"},
		{"64-character metadata key", echoWith(`,"metadata":{"` + long("é", 64) + `":"v"}`), nil, 202, "", ""},
		{"65-character metadata key", echoWith(`,"metadata":{"` + long("k", 65) + `":"v"}`), nil, 422, "invalid_metadata", "/metadata/" + long("k", 64) + "…"},
		{"empty metadata key", echoWith(`,"metadata":{"":"v"}`), nil, 422, "invalid_metadata", "/metadata/"},
		{"512-character metadata value", echoWith(`,"metadata":{"k":"` + long("ü", 512) + `"}`), nil, 202, "", ""},
		{"513-character metadata value", echoWith(`,"metadata":{"k":"` + long("v", 513) + `"}`), nil, 422, "invalid_metadata", "/metadata/k"},
		{"NUL in a metadata value", echoWith(`,"metadata":{"k":"a\u0000"}`), nil, 422, "invalid_metadata", "/metadata/k"},
		{"newline in a metadata key", echoWith(`,"metadata":{"a\nb":"v"}`), nil, 422, "invalid_metadata", "/metadata/a\nb"},
		{"C1 control in a metadata value", echoWith(`,"metadata":{"a/b":"\u009b"}`), nil, 422, "invalid_metadata", "/metadata/a~1b"},

		{"64-character agent", `{"agent":"` + long("a", 64) + `","input":{}}`, nil, 422, "unknown_agent", "/agent"},
		{"65-character agent", `{"agent":"` + long("a", 65) + `","input":{}}`, nil, 422, "unknown_agent", "/agent"},
		{"1 MB agent", `{"agent":"` + long("a", 1<<20-100) + `","input":{}}`, nil, 422, "unknown_agent", "/agent"},
		{"1 MB number as agent", `{"agent":` + long("9", 1<<20-100) + `,"input":{}}`, nil, 400, "invalid_json", "/agent"},

		{"2048-byte webhook_url", echoWith(`,"webhook_url":"` + hook + long("p", 2048-len(hook)) + `"`), nil, 202, "", ""},
		{"2049-byte webhook_url", echoWith(`,"webhook_url":"` + hook + long("p", 2049-len(hook)) + `"`), nil, 422, "invalid_webhook_url", "/webhook_url"},
		{"webhook_url with a 2000-byte scheme", echoWith(`,"webhook_url":"` + long("s", 2000) + `://x/"`), nil, 422, "invalid_webhook_url", "/webhook_url"},
		{"1 MB quality", echoWith(`,"quality":"` + long("q", 1<<20-100) + `"`), nil, 422, "invalid_quality", "/quality"},

		{"255-byte Idempotency-Key", echoWith(""), map[string]string{"Idempotency-Key": long("~", 255)}, 202, "", ""},
		{"256-byte Idempotency-Key", echoWith(""), map[string]string{"Idempotency-Key": long("k", 256)}, 400, "invalid_idempotency_key", ""},
		{"8 KB Idempotency-Key", echoWith(""), map[string]string{"Idempotency-Key": long("k", 8<<10)}, 400, "invalid_idempotency_key", ""},
		{"Idempotency-Key with a tab", echoWith(""), map[string]string{"Idempotency-Key": "a\tb"}, 400, "invalid_idempotency_key", ""},
		{"body over 1 MiB", echoWith(`,"quality":"` + long("q", 1<<20) + `"`), nil, 413, "body_too_large", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := e.do(t, req{method: "POST", path: "/v1/tasks", token: key, body: c.body, header: c.hdr})
			if c.code == "" {
				require.Equal(t, c.status, r.status, "body: %.500s", r.body)
				return
			}
			p := r.problem(t, c.status, c.code)
			require.Less(t, len(r.body), maxProblemBody, "body: %.3000s", r.body)
			if c.path != "" {
				require.NotEmpty(t, p.Errors, "body: %s", r.body)
				require.Equal(t, c.path, p.Errors[0].Path, "body: %s", r.body)
			}
		})
	}
}

// TestUnknownAgentEchoIsClipped checks that the agent a problem names is cut to 64
// characters and an ellipsis.
func TestUnknownAgentEchoIsClipped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.tenant(t)
	name := strings.Repeat("x", 64)
	p := e.do(t, req{method: "POST", path: "/v1/tasks", token: key, body: `{"agent":"` + name + `","input":{}}`}).
		problem(t, http.StatusUnprocessableEntity, "unknown_agent")
	require.Contains(t, p.Detail, `"`+name+`"`)

	p = e.do(t, req{method: "POST", path: "/v1/tasks", token: key, body: `{"agent":"` + name + `yz","input":{}}`}).
		problem(t, http.StatusUnprocessableEntity, "unknown_agent")
	require.NotContains(t, p.Detail, "yz")
	require.NotContains(t, p.Detail, name+"y")
}

// TestListQueryLimits sends list queries at and just past each limit of GET /v1/tasks.
func TestListQueryLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.tenant(t)
	md := map[string]string{}
	for i := range 16 {
		md[fmt.Sprint("k", i)] = "v"
	}
	task := e.submit(t, key, map[string]any{"agent": "echo", "input": map[string]any{}, "metadata": md})
	filters := func(n int) string {
		q := url.Values{}
		for i := range n {
			q.Set(fmt.Sprint("metadata.k", i), "v")
		}
		return q.Encode()
	}
	cursor := func(raw string) string { return base64.RawURLEncoding.EncodeToString([]byte(raw)) }
	long := strings.Repeat

	cases := []struct {
		name, query string
		status      int
		param       string
	}{
		{"16 metadata filters", filters(16), 200, ""},
		{"17 metadata filters", filters(17), 400, "metadata"},
		{"one key 17 times", long("metadata.k0=v&", 17), 400, "metadata"},
		{"64-character filter key", "metadata." + long("k", 64) + "=v", 200, ""},
		{"65-character filter key", "metadata." + long("k", 65) + "=v", 400, "metadata." + long("k", 64) + "…"},
		{"512-character filter value", "metadata.k0=" + long("v", 512), 200, ""},
		{"513-character filter value", "metadata.k0=" + long("v", 513), 400, "metadata.k0"},
		{"NUL in a filter", "metadata.k0=%00", 400, "metadata.k0"},
		{"filter not UTF-8", "metadata.%ff=v", 400, "metadata.\uFFFD"}, // JSON carries no invalid UTF-8
		{"512-byte cursor, not issued", "cursor=" + long("A", 512), 400, "cursor"},
		{"513-byte cursor", "cursor=" + long("A", 513), 400, "cursor"},
		{"100 KB cursor", "cursor=" + long("A", 100<<10), 400, "cursor"},
		{"cursor with a NUL id", "cursor=" + cursor("1700000000000000,tsk_\x00"), 400, "cursor"},
		{"cursor with an id not UTF-8", "cursor=" + cursor("1700000000000000,\xff"), 400, "cursor"},
		{"cursor past year 9999", "cursor=" + cursor("9223372036854775807,tsk_a"), 400, "cursor"},
		{"cursor before year 1", "cursor=" + cursor("-9223372036854775808,tsk_a"), 400, "cursor"},
		{"64-character agent", "agent=" + long("a", 64), 200, ""},
		{"65-character agent", "agent=" + long("a", 65), 400, "agent"},
		{"agent with NUL", "agent=echo%00", 400, "agent"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := e.do(t, req{method: "GET", path: "/v1/tasks?" + c.query, token: key})
			if c.status == http.StatusOK {
				require.Equal(t, http.StatusOK, r.status, "body: %.500s", r.body)
				return
			}
			p := r.problem(t, c.status, "invalid_parameter")
			require.Less(t, len(r.body), maxProblemBody, "body: %.3000s", r.body)
			require.Len(t, p.Errors, 1)
			require.Equal(t, c.param, p.Errors[0].Path)
		})
	}

	// The 16 filters at the limit find the task.
	r := e.do(t, req{method: "GET", path: "/v1/tasks?" + filters(16), token: key})
	var list client.TaskList
	r.decode(t, &list)
	require.Len(t, list.Data, 1)
	require.Equal(t, task.ID, list.Data[0].ID)
}

// TestAdminNameLimits checks the tenant and key name limits: tenant names 1–200 characters,
// key names at most 200, 422 invalid_request past them without echoing the name.
func TestAdminNameLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenantID, _ := e.tenant(t)
	long := strings.Repeat
	cases := []struct {
		name, path, body string
		status           int
	}{
		{"tenant name of 1 character", "/v1/admin/tenants", `{"name":"a"}`, 201},
		{"tenant name of 200 characters", "/v1/admin/tenants", `{"name":"` + long("ß", 200) + `"}`, 201},
		{"tenant name of 201 characters", "/v1/admin/tenants", `{"name":"` + long("n", 201) + `"}`, 422},
		{"empty tenant name", "/v1/admin/tenants", `{"name":""}`, 422},
		{"1 MB tenant name", "/v1/admin/tenants", `{"name":"` + long("n", 1<<20-100) + `"}`, 422},
		{"key name of 200 characters", "/v1/admin/tenants/" + tenantID + "/api-keys", `{"name":"` + long("ß", 200) + `"}`, 201},
		{"key name of 201 characters", "/v1/admin/tenants/" + tenantID + "/api-keys", `{"name":"` + long("k", 201) + `"}`, 422},
		{"1 MB key name", "/v1/admin/tenants/" + tenantID + "/api-keys", `{"name":"` + long("k", 1<<20-100) + `"}`, 422},
		{"tenant body 33 levels deep", "/v1/admin/tenants", `{"name":"a","x":` + nested(32) + `}`, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := e.do(t, req{method: "POST", path: c.path, token: adminToken, body: c.body})
			switch c.status {
			case http.StatusCreated:
				require.Equal(t, c.status, r.status, "body: %.500s", r.body)
			case http.StatusBadRequest:
				r.problem(t, c.status, "json_too_deep")
			default:
				p := r.problem(t, c.status, "invalid_request")
				require.Equal(t, "/name", p.Errors[0].Path)
				require.Less(t, len(r.body), maxProblemBody)
			}
		})
	}
}
