package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/agentic-run/agentic/client"
)

const benchAbout = `Usage:
  agentic bench [flags]

Create --tenants tenants (enterprise tier) with the admin token, submit --tasks tasks of
--agent from --clients concurrent clients, each with a webhook to a receiver this command
runs, and report the submit rate, tasks per second end to end (first submit to last
webhook) and submit-to-webhook latency. On a terminal a progress line shows the counts as
they go. The receiver must be reachable from the workers: run it against 'agentic dev' or
allow its address with AGENTIC_WEBHOOK_ALLOW.

With --mix it instead prints the cost report of the router: a committed mix of realistic
tasks across the built-in agents runs in process, through the router and the resilient
caller, with the sim provider standing in for each model (the answer is simulated, the
price is the chosen model's). It shows the models chosen and the cost per task for each
agent and quality against always using gpt-4o, the tasks routed below their quality floor,
the tasks no model could serve, and whether the goal, at least 60% cheaper with no task
below its floor, is met (exit status 1 when not). --mix-file runs another mix in the same
format: one JSON object a line, {"agent": "...", "quality": "economy|standard|premium"
(optional), "input": {...}}. The report needs no server and no admin token.
`

var benchExamples = []string{
	"agentic bench --tasks 2000 --clients 32",
	"AGENTIC_URL=http://ingest:8080 agentic bench --webhook-listen 0.0.0.0:9000 --tenants 16",
	"agentic bench --mix",
	"agentic bench --mix-file my-tasks.jsonl",
}

// bench submits tasks from many clients across several tenants, with a webhook on each, and
// measures submit rate, completed tasks per second end to end (first submit to last
// webhook), and submit-to-webhook latency.
func bench(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("agentic bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	url := fs.String("url", envOr(getenv, "AGENTIC_URL", defaultURL), "API base `URL` (AGENTIC_URL)")
	adminToken := fs.String("admin-token", "", "admin `token`, to create the bench tenants (AGENTIC_ADMIN_TOKEN)")
	tasks := fs.Int("tasks", 20000, "tasks to submit")
	clients := fs.Int("clients", 64, "concurrent HTTP clients")
	tenants := fs.Int("tenants", 8, "tenants to spread the tasks over")
	agent := fs.String("agent", "echo", "agent to run")
	hookAddr := fs.String("webhook-listen", "127.0.0.1:0", "address of the webhook receiver the tasks call back")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up waiting for webhooks after this long")
	mix := fs.Bool("mix", false, "print the router's cost report on the committed task mix instead of the load test")
	mixFile := fs.String("mix-file", "", "run the cost report on the mix in `FILE` (JSON lines) instead of the committed one; implies --mix")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, "%s\nFlags:\n%s\nExamples:\n  %s\n", benchAbout,
				flagTable(fs, func(string) bool { return true }), strings.Join(benchExamples, "\n  "))
			return err
		}
		return usageErr("bench", "%v", err)
	}
	if *adminToken == "" {
		*adminToken = getenv("AGENTIC_ADMIN_TOKEN") // not the flag's default: -h would show it
	}
	if fs.NArg() > 0 {
		return usageErr("bench", "unexpected argument %q", fs.Arg(0))
	}
	if *mixFile != "" {
		data, err := os.ReadFile(*mixFile)
		if err != nil {
			return err
		}
		return benchMix(ctx, *mixFile, data, stdout)
	}
	if *mix {
		return benchMix(ctx, mixDefaultName, defaultMix, stdout)
	}
	if *adminToken == "" {
		return usageErr("bench", "--admin-token (or AGENTIC_ADMIN_TOKEN) is required")
	}
	if *tasks < 1 || *clients < 1 || *tenants < 1 {
		return usageErr("bench", "--tasks, --clients and --tenants must be at least 1")
	}

	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: *clients * 2, MaxIdleConnsPerHost: *clients * 2, IdleConnTimeout: time.Minute}}
	admin, err := client.New(*url, client.WithAdminToken(*adminToken), client.WithHTTPClient(hc))
	if err != nil {
		return err
	}
	tenantClients := make([]*client.Client, *tenants)
	for i := range tenantClients {
		ten, err := admin.CreateTenant(ctx, client.CreateTenantRequest{Name: fmt.Sprintf("bench-%d", i), Tier: "enterprise"})
		if err != nil {
			return fmt.Errorf("create tenant: %w", err)
		}
		key, err := admin.CreateAPIKey(ctx, ten.ID, &client.APIKeyOpts{Name: "bench"})
		if err != nil {
			return fmt.Errorf("create key: %w", err)
		}
		if tenantClients[i], err = client.New(*url, client.WithAPIKey(key.Key), client.WithHTTPClient(hc)); err != nil {
			return err
		}
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
	var submitted atomic.Int64
	var failures atomic.Int64
	var firstErr error
	var errOnce sync.Once
	stopProgress := progress(stdout, func() string {
		return fmt.Sprintf("submitted %d/%d, errors %d, webhooks %d", submitted.Load(), *tasks, failures.Load(), rec.received())
	})
	defer stopProgress()
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
				input, _ := json.Marshal(map[string]any{"text": fmt.Sprintf("bench task %d from client %d", i, c)})
				req := client.SubmitRequest{Agent: *agent, Input: input, WebhookURL: hookURL}
				sent := time.Now()
				task, _, err := tenantClients[int(i)%len(tenantClients)].Submit(ctx, req, nil)
				if err != nil {
					failures.Add(1)
					rec.want.Add(-1)
					errOnce.Do(func() { firstErr = err })
					continue
				}
				submitted.Add(1)
				rec.submit(task.ID, sent)
			}
		}()
	}
	wg.Wait()
	submitDur := time.Since(start)
	if rec.want.Load() == 0 {
		stopProgress()
		return fmt.Errorf("every submit failed; first error: %w", firstErr)
	}

	select {
	case <-rec.done:
	case <-time.After(*timeout):
	case <-ctx.Done():
	}
	stopProgress()
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
	// The platform's webhook-id is "evt_" + the task id: no need to parse the body, which
	// keeps the load generator's own CPU off the measurement.
	id, ok := strings.CutPrefix(req.Header.Get("webhook-id"), "evt_")
	_, _ = io.Copy(io.Discard, req.Body)
	w.WriteHeader(http.StatusNoContent)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if sent, ok := r.submitted[id]; ok {
		delete(r.submitted, id)
		r.record(now.Sub(sent), now)
		return
	}
	if r.early == nil {
		r.early = map[string]time.Time{}
	}
	r.early[id] = now
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

// received counts the webhooks received so far.
func (r *receiver) received() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.lat)
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

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

// progress redraws one status line every 200ms while stdout is a terminal; the returned stop
// (safe to call more than once) erases it. On anything else it does nothing, so logs and
// pipes get only the final table.
func progress(stdout io.Writer, line func() string) (stop func()) {
	f, ok := stdout.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				fmt.Fprintf(f, "\r\033[K%s", line())
			case <-done:
				fmt.Fprint(f, "\r\033[K")
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-finished
		})
	}
}
