package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultUserAgent is the User-Agent of requests unless WithUserAgent sets another.
const DefaultUserAgent = "agentic-go-client/1"

// maxProblemBody bounds how much of an error answer is read.
const maxProblemBody = 1 << 20

// Client calls the Agentic HTTP API. It holds no per-call state and is safe for concurrent
// use by many goroutines.
type Client struct {
	base       string // scheme://host[/prefix], without a trailing slash
	apiKey     string
	adminToken string
	hc         *http.Client
	userAgent  string
}

// Option configures a Client in New.
type Option func(*Client)

// WithAPIKey sets the tenant API key ("ak_…") sent with tenant calls (agents and tasks).
func WithAPIKey(key string) Option { return func(c *Client) { c.apiKey = key } }

// WithAdminToken sets the admin token sent with admin calls (tenants and API keys).
func WithAdminToken(token string) Option { return func(c *Client) { c.adminToken = token } }

// WithHTTPClient sets the http.Client that sends every request; nil keeps the default (one
// with no overall timeout: contexts bound each call).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// WithUserAgent sets the User-Agent header of every request; "" keeps DefaultUserAgent.
func WithUserAgent(ua string) Option {
	return func(c *Client) {
		if ua != "" {
			c.userAgent = ua
		}
	}
}

// New returns a Client for the API at baseURL, an http or https URL such as
// "http://127.0.0.1:8080" (a path prefix, for a server behind a proxy, is kept).
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil {
		return nil, fmt.Errorf("agentic: base url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("agentic: base url %q must be an http(s) URL with a host", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("agentic: base url %q must not carry a query, fragment or credentials", baseURL)
	}
	c := &Client{
		base:      strings.TrimRight(u.String(), "/"),
		hc:        &http.Client{},
		userAgent: DefaultUserAgent,
	}
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
	return c, nil
}

// BaseURL returns the API's base URL, without a trailing slash.
func (c *Client) BaseURL() string { return c.base }

// auth says which credential a call sends.
type auth int

const (
	noAuth auth = iota
	tenantAuth
	adminAuth
)

// call describes one request.
type call struct {
	method string
	path   string // escaped, starting with "/"
	query  url.Values
	auth   auth
	body   any // JSON-encoded when not nil
	header http.Header
	accept string
}

func (r *call) String() string { return r.method + " " + r.path }

// send performs the call. A 2xx answer is returned with its body open; anything else is
// read and returned as a *Problem.
func (c *Client) send(ctx context.Context, r *call) (*http.Response, error) {
	target := c.base + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return nil, fmt.Errorf("agentic: %s: encode body: %w", r, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, target, body)
	if err != nil {
		return nil, fmt.Errorf("agentic: %s: %w", r, err)
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	accept := r.accept
	if accept == "" {
		accept = "application/json, application/problem+json"
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", c.userAgent)
	var token string
	switch r.auth {
	case tenantAuth:
		token = c.apiKey
	case adminAuth:
		token = c.adminToken
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("agentic: %s: %w", r, err)
	}
	if resp.StatusCode/100 != 2 {
		defer drain(resp.Body)
		return nil, readProblem(resp)
	}
	return resp, nil
}

// do performs the call and decodes a 2xx JSON answer into out (unless out is nil). It
// returns the status code.
func (c *Client) do(ctx context.Context, r *call, out any) (int, error) {
	resp, err := c.send(ctx, r)
	if err != nil {
		return 0, err
	}
	defer drain(resp.Body)
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return resp.StatusCode, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return resp.StatusCode, fmt.Errorf("agentic: %s: decode answer: %w", r, err)
	}
	return resp.StatusCode, nil
}

// drain reads what is left of a body (so the connection is reused) and closes it.
func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	_ = body.Close()
}

// readProblem turns an answer outside 2xx into a *Problem, whatever its body.
func readProblem(resp *http.Response) *Problem {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxProblemBody))
	p := &Problem{}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	decoded := (mt == "application/problem+json" || mt == "application/json") && json.Unmarshal(b, p) == nil &&
		(p.Code != "" || p.Title != "" || p.Detail != "")
	if !decoded {
		// Not a problem document (a proxy's page, say): keep the gist of the body.
		detail := strings.TrimSpace(string(b))
		if len(detail) > 200 {
			detail = detail[:200] + "…"
		}
		p = &Problem{Type: "about:blank", Title: http.StatusText(resp.StatusCode), Detail: detail}
	}
	p.Status = resp.StatusCode
	p.RetryAfter = retryAfter(resp.Header.Get("Retry-After"))
	p.RateLimit = parseRateLimit(resp.Header)
	return p
}

// retryAfter reads a Retry-After header: seconds or an HTTP date; 0 when absent or invalid.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		if d := time.Until(at); d > 0 {
			return d
		}
	}
	return 0
}

// parseRateLimit reads the RateLimit-* headers; nil when the answer has none.
func parseRateLimit(h http.Header) *RateLimit {
	limit, okL := headerInt(h, "RateLimit-Limit")
	remaining, okR := headerInt(h, "RateLimit-Remaining")
	reset, okS := headerInt(h, "RateLimit-Reset")
	if !okL && !okR && !okS {
		return nil
	}
	return &RateLimit{Limit: limit, Remaining: remaining, Reset: time.Duration(reset) * time.Second}
}

func headerInt(h http.Header, name string) (int, bool) {
	v := h.Get(name)
	if v == "" {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, false
	}
	return n, true
}

// pathID escapes an id for use as one path segment, refusing empty ids (which would name a
// different route).
func pathID(what, id string) (string, error) {
	if id == "" {
		return "", fmt.Errorf("agentic: %s id is empty", what)
	}
	return url.PathEscape(id), nil
}

// Health calls GET /health and returns nil when the server answers that it is serving.
func (c *Client) Health(ctx context.Context) error {
	var out struct {
		Status string `json:"status"`
	}
	if _, err := c.do(ctx, &call{method: http.MethodGet, path: "/health"}, &out); err != nil {
		return err
	}
	if out.Status != "ok" {
		return fmt.Errorf("agentic: GET /health: status %q", out.Status)
	}
	return nil
}

// Ready calls GET /health/ready. When a dependency is down the server answers 503, returned
// as a *Problem whose Checks say which.
func (c *Client) Ready(ctx context.Context) (*Readiness, error) {
	var out Readiness
	if _, err := c.do(ctx, &call{method: http.MethodGet, path: "/health/ready"}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
