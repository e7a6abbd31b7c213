package ingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/ingest"
	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/webhook"
)

// offline is a resolver that answers at once that it knows no names, so fuzzed webhook URLs
// never wait on DNS (CheckURL accepts an unresolvable name; the sender checks at dial time).
type offline struct{}

func (offline) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return nil, errors.New("offline: no such host")
}

// FuzzSubmit posts arbitrary bodies and Idempotency-Keys to POST /v1/tasks on a real store:
// nothing may panic or answer 5xx, every success must be a task and every refusal a problem
// that echoes nothing long. The seeds in testdata/fuzz/FuzzSubmit cover the input limits:
// nesting depth, metadata pairs and characters, long strings, control characters.
func FuzzSubmit(f *testing.F) {
	var enqueueErrs atomic.Int64
	var e *env
	e = newEnv(f, func(c *ingest.Config) {
		c.Webhooks = webhook.Policy{Resolver: offline{}}
		c.Enqueue = func(t *store.Task) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := e.pub.PublishTask(ctx, t); err != nil {
				enqueueErrs.Add(1)
			}
		}
	})
	_, key := e.tenant(f)
	h := e.srv.Handler()

	f.Add(`{"agent":"echo","input":{"text":"hi"}}`, "")
	f.Add(`{"agent":"summarizer","input":{"text":"hi"},"metadata":{"a":"b"},"quality":"premium","max_cost_usd":0.5}`, "k1")
	f.Add(`{"agent":"summarizer","input":{"text":5}}`, "k1")
	f.Add(`{"agent":"echo","input":{"k":"\u0000\ud800"},"metadata":{"\u0000":"x"}}`, "")
	f.Add(`{"agent":"echo","input":{},"webhook_url":"http://[::1]:80/x"}`, "same")
	f.Add(`{"agent":"echo","input":{},"webhook_url":"https://hooks.example.com/x"}`, "same")
	f.Add(`{"agent":"echo","input":{"n":1e400,"m":-0.0}}`, "")
	f.Add(`[1,2,3]`, "")
	f.Add(`{"agent":"echo","input":{}} trailing`, "")
	f.Add(`{"agent":null,"input":null,"metadata":null,"max_cost_usd":null}`, "\x7f")

	f.Fuzz(func(t *testing.T, body, idem string) {
		r := httptest.NewRequest("POST", "/v1/tasks", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+key)
		if idem != "" {
			r.Header["Idempotency-Key"] = []string{idem}
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)

		res := w.Result()
		if res.StatusCode >= 500 {
			t.Fatalf("status %d for body %q, key %q: %s", res.StatusCode, body, idem, w.Body.String())
		}
		switch res.StatusCode {
		case http.StatusAccepted, http.StatusOK:
			var task client.Task
			if err := json.Unmarshal(w.Body.Bytes(), &task); err != nil || !strings.HasPrefix(task.ID, "tsk_") || task.Status == "" {
				t.Fatalf("status %d with a body that is no task: %s", res.StatusCode, w.Body.String())
			}
			if len(task.Metadata) > 16 {
				t.Fatalf("accepted %d metadata pairs", len(task.Metadata))
			}
		default:
			checkProblem(t, res, w.Body.Bytes())
		}
		if n := enqueueErrs.Load(); n > 0 {
			t.Fatalf("%d enqueues failed", n)
		}
	})
}

// FuzzListQuery sends arbitrary raw query strings to GET /v1/tasks of a tenant with tasks on
// a real store: nothing may panic or answer 5xx, every success must be a page of at most 100
// of the tenant's tasks, every refusal a problem that echoes nothing long. Seeds are in
// testdata/fuzz/FuzzListQuery.
func FuzzListQuery(f *testing.F) {
	e := newEnv(f)
	_, key := e.tenant(f)
	mine := map[string]bool{}
	for i := range 3 {
		task := e.submit(f, key, map[string]any{"agent": "echo", "input": map[string]any{"i": i},
			"metadata": map[string]string{"batch": "b1", "n": fmt.Sprint(i), "accent": "\u00e9"}})
		mine[task.ID] = true
	}
	h := e.srv.Handler()

	f.Add("status=queued&agent=echo&limit=2")
	f.Add("metadata.batch=b1&metadata.n=1")
	f.Add("limit=1&cursor=MTcwMDAwMDAwMDAwMDAwMCx0c2tfeA")
	f.Add("metadata.k=%00&agent=%ff")

	f.Fuzz(func(t *testing.T, query string) {
		r := httptest.NewRequest("GET", "/v1/tasks", nil)
		r.URL.RawQuery = query // as sent, even when it does not parse
		r.Header.Set("Authorization", "Bearer "+key)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)

		res := w.Result()
		if res.StatusCode >= 500 {
			t.Fatalf("status %d for query %q: %s", res.StatusCode, query, w.Body.String())
		}
		if res.StatusCode != http.StatusOK {
			checkProblem(t, res, w.Body.Bytes())
			return
		}
		var list client.TaskList
		if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil || list.Data == nil || len(list.Data) > 100 {
			t.Fatalf("status 200 with a body that is no page: %s", w.Body.String())
		}
		for _, task := range list.Data {
			if !mine[task.ID] {
				t.Fatalf("query %q listed %s, which is not the tenant's", query, task.ID)
			}
		}
	})
}

// checkProblem fails unless a refusal is a 4xx application/problem+json with a code and the
// same status, clipping whatever it echoes of the request (ingest's maxEcho* caps plus "…").
func checkProblem(t *testing.T, res *http.Response, body []byte) {
	t.Helper()
	if res.StatusCode < 400 || res.StatusCode >= 500 {
		t.Fatalf("status %d is neither a success nor a refusal: %s", res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("status %d with Content-Type %q", res.StatusCode, ct)
	}
	var p client.Problem
	if err := json.Unmarshal(body, &p); err != nil || p.Code == "" || p.Status != res.StatusCode {
		t.Fatalf("status %d with a body that is no problem: %s", res.StatusCode, body)
	}
	if n := utf8.RuneCountInString(p.Detail); n > 1024+1 {
		t.Fatalf("a detail of %d characters", n)
	}
	for _, fe := range p.Errors {
		if n := utf8.RuneCountInString(fe.Path); n > 256+1 {
			t.Fatalf("a field path of %d characters", n)
		}
		if n := utf8.RuneCountInString(fe.Message); n > 512+1 {
			t.Fatalf("a field message of %d characters", n)
		}
	}
}
