package ingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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
// nothing may panic or answer 500, and every success must be a task.
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
		default:
			var p client.Problem
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Code == "" || p.Status != res.StatusCode {
				t.Fatalf("status %d with a body that is no problem: %s", res.StatusCode, w.Body.String())
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("problem with Content-Type %q", ct)
			}
		}
		if n := enqueueErrs.Load(); n > 0 {
			t.Fatalf("%d enqueues failed", n)
		}
	})
}
