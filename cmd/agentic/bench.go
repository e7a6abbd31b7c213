package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/agentic-run/agentic/client"
)

// bench submits tasks from many clients across several tenants, with a webhook on each, and
// measures submit rate, completed tasks per second end to end (first submit to last
// webhook), and submit-to-webhook latency.
func bench(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("agentic bench", flag.ContinueOnError)
	fs.SetOutput(stdout)
	url := fs.String("url", envOr(getenv, "AGENTIC_URL", "http://127.0.0.1:8080"), "ingest base URL (AGENTIC_URL)")
	admin := fs.String("admin-token", getenv("AGENTIC_ADMIN_TOKEN"), "admin token, to create the bench tenants (AGENTIC_ADMIN_TOKEN)")
	tasks := fs.Int("tasks", 20000, "tasks to submit")
	clients := fs.Int("clients", 64, "concurrent HTTP clients")
	tenants := fs.Int("tenants", 8, "tenants to spread the tasks over")
	agent := fs.String("agent", "echo", "agent to run")
	hookAddr := fs.String("webhook-listen", "127.0.0.1:0", "address of the webhook receiver the tasks call back")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up waiting for webhooks after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *admin == "" {
		return errors.New("--admin-token (or AGENTIC_ADMIN_TOKEN) is required")
	}
	if *tasks < 1 || *clients < 1 || *tenants < 1 {
		return errors.New("--tasks, --clients and --tenants must be at least 1")
	}

	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: *clients * 2, MaxIdleConnsPerHost: *clients * 2, IdleConnTimeout: time.Minute}}
	keys := make([]string, *tenants)
	for i := range keys {
		var ten client.Tenant
		if err := call(ctx, hc, "POST", *url+"/v1/admin/tenants", *admin, map[string]any{"name": fmt.Sprintf("bench-%d", i), "tier": "enterprise"}, &ten); err != nil {
			return fmt.Errorf("create tenant: %w", err)
		}
		var key client.APIKey
		if err := call(ctx, hc, "POST", *url+"/v1/admin/tenants/"+ten.ID+"/api-keys", *admin, map[string]any{"name": "bench"}, &key); err != nil {
			return fmt.Errorf("create key: %w", err)
		}
		keys[i] = key.Key
	}

	// The webhook receiver: it records when each task's webhook arrives.
	rec := &receiver{submitted: make(map[string]time.Time, *tasks), done: make(chan struct{})}
	rec.want.Store(int64(*tasks))
	ln, err := net.Listen("tcp", *hookAddr)
	if err != nil {
		return fmt.Errorf("webhook receiver: %w", err)
	}
	hookSrv := &http.Server{Handler: rec}
	go func() { _ = hookSrv.Serve(ln) }()
	defer hookSrv.Close()
	hookURL := "http://" + ln.Addr().String() + "/hook"

	fmt.Fprintf(stdout, "submitting %d %s tasks from %d clients across %d tenants to %s\n", *tasks, *agent, *clients, *tenants, *url)
	var next atomic.Int64
	var failures atomic.Int64
	var firstErr error
	var errOnce sync.Once
	start := time.Now()
	var wg sync.WaitGroup
	for c := range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(*tasks) || ctx.Err() != nil {
					return
				}
				body := map[string]any{"agent": *agent, "input": map[string]any{"text": fmt.Sprintf("bench task %d from client %d", i, c)}, "webhook_url": hookURL}
				var task client.Task
				sent := time.Now()
				if err := call(ctx, hc, "POST", *url+"/v1/tasks", keys[int(i)%len(keys)], body, &task); err != nil {
					failures.Add(1)
					rec.want.Add(-1)
					errOnce.Do(func() { firstErr = err })
					continue
				}
				rec.submit(task.ID, sent)
			}
		}()
	}
	wg.Wait()
	submitDur := time.Since(start)
	if rec.want.Load() == 0 {
		return fmt.Errorf("every submit failed; first error: %v", firstErr)
	}

	select {
	case <-rec.done:
	case <-time.After(*timeout):
	case <-ctx.Done():
	}
	lat, lastAt := rec.latencies()
	total := lastAt.Sub(start)
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "tasks submitted\t%d\t\n", int64(*tasks)-failures.Load())
	fmt.Fprintf(w, "submit errors\t%d\t\n", failures.Load())
	fmt.Fprintf(w, "submit rate\t%.0f tasks/s\t\n", float64(int64(*tasks)-failures.Load())/submitDur.Seconds())
	fmt.Fprintf(w, "webhooks received\t%d\t\n", len(lat))
	if len(lat) > 0 {
		fmt.Fprintf(w, "end to end\t%.0f tasks/s\t\n", float64(len(lat))/total.Seconds())
		fmt.Fprintf(w, "submit→webhook p50\t%s\t\n", pct(lat, 0.50))
		fmt.Fprintf(w, "submit→webhook p99\t%s\t\n", pct(lat, 0.99))
		fmt.Fprintf(w, "submit→webhook max\t%s\t\n", lat[len(lat)-1].Round(time.Millisecond))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if firstErr != nil {
		fmt.Fprintf(stdout, "first submit error: %v\n", firstErr)
	}
	if missing := int64(len(lat)) - rec.want.Load(); missing < 0 {
		return fmt.Errorf("%d webhooks did not arrive within %s", -missing, *timeout)
	}
	return nil
}

// receiver records webhook arrival per task.
type receiver struct {
	mu        sync.Mutex
	submitted map[string]time.Time
	early     map[string]time.Time // webhooks that beat their submit's reply
	lat       []time.Duration
	last      time.Time
	want      atomic.Int64
	done      chan struct{}
	closed    bool
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	now := time.Now()
	var ev struct {
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	err := json.NewDecoder(req.Body).Decode(&ev)
	w.WriteHeader(http.StatusNoContent)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if sent, ok := r.submitted[ev.Data.ID]; ok {
		delete(r.submitted, ev.Data.ID)
		r.record(now.Sub(sent), now)
		return
	}
	if r.early == nil {
		r.early = map[string]time.Time{}
	}
	r.early[ev.Data.ID] = now
}

func (r *receiver) submit(id string, sent time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if at, ok := r.early[id]; ok {
		delete(r.early, id)
		r.record(at.Sub(sent), at)
		return
	}
	r.submitted[id] = sent
}

func (r *receiver) record(d time.Duration, at time.Time) {
	r.lat = append(r.lat, d)
	if at.After(r.last) {
		r.last = at
	}
	if int64(len(r.lat)) >= r.want.Load() && !r.closed {
		r.closed = true
		close(r.done)
	}
}

func (r *receiver) latencies() ([]time.Duration, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	lat := slices.Clone(r.lat)
	slices.Sort(lat)
	return lat, r.last
}

func pct(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted)-1) * p)
	return sorted[i].Round(time.Millisecond)
}

// call sends a JSON request and decodes a 2xx reply into out; anything else is an error
// carrying the problem's detail.
func call(ctx context.Context, hc *http.Client, method, url, token string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var p client.Problem
		if json.Unmarshal(data, &p) == nil && p.Detail != "" {
			return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, p.Detail)
		}
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	return json.Unmarshal(data, out)
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}
