package webhook_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentic-run/agentic/webhook"
)

func newSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

type received struct {
	header http.Header
	body   []byte
	path   string
}

// receiver is an httptest server on 127.0.0.1 that records requests and answers with
// handle (204 if nil).
func receiver(t *testing.T, handle http.HandlerFunc) (*httptest.Server, *[]received, *sync.Mutex) {
	t.Helper()
	var mu sync.Mutex
	var got []received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, received{header: r.Header.Clone(), body: body, path: r.URL.Path})
		mu.Unlock()
		if handle != nil {
			handle(w, r)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv, &got, &mu
}

var loopback = webhook.Policy{Allow: []string{"127.0.0.1/32"}}

func TestSendSignedDelivery(t *testing.T) {
	t.Parallel()
	srv, got, mu := receiver(t, nil)
	secret := newSecret(t)
	ts := time.Now().Truncate(time.Second)
	body := []byte(`{"type":"task.succeeded","timestamp":"2026-11-25T10:00:00Z","data":{"id":"tsk_1"}}`)

	res := webhook.NewSender(loopback).Send(context.Background(), srv.URL+"/hooks/agentic", []string{secret}, "msg_tsk_1_succeeded", ts, body)
	if res.Err != nil || res.StatusCode != http.StatusNoContent || res.Duration <= 0 {
		t.Fatalf("Send = %+v, want a 204 delivery", res)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(*got) != 1 {
		t.Fatalf("receiver saw %d requests, want 1", len(*got))
	}
	r := (*got)[0]
	if string(r.body) != string(body) || r.path != "/hooks/agentic" {
		t.Errorf("receiver got %s at %s", r.body, r.path)
	}
	for k, want := range map[string]string{
		"Content-Type":      "application/json",
		"User-Agent":        "Agentic-Webhooks/1.0",
		"Webhook-Id":        "msg_tsk_1_succeeded",
		"Webhook-Timestamp": strconv.FormatInt(ts.Unix(), 10),
	} {
		if v := r.header.Get(k); v != want {
			t.Errorf("header %s = %q, want %q", k, v, want)
		}
	}
	if !strings.HasPrefix(r.header.Get("Webhook-Signature"), "v1,") {
		t.Errorf("webhook-signature = %q", r.header.Get("Webhook-Signature"))
	}
	if err := webhook.Verify(secret, r.header, r.body); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if err := webhook.Verify(newSecret(t), r.header, r.body); err == nil {
		t.Error("Verify accepted another tenant's secret")
	}
}

func TestSendRefusedWithoutAllowList(t *testing.T) {
	t.Parallel()
	srv, got, mu := receiver(t, nil)
	port := strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
	var urls []string
	for _, host := range []string{"127.0.0.1", "[::ffff:127.0.0.1]", "2130706433", "0x7f.1", "127.1", "127.000.000.001",
		"１２７.０.０.１", "127。0。0。1", "localhost", "LOCALHOST.", "ｌｏｃａｌｈｏｓｔ", "a.localhost"} {
		urls = append(urls, "http://"+host+":"+port+"/hook")
	}
	for _, u := range urls {
		res := webhook.NewSender(webhook.Policy{}).Send(context.Background(), u, []string{newSecret(t)}, "msg_1", time.Now(), []byte(`{}`))
		if !errors.Is(res.Err, webhook.ErrForbiddenTarget) || res.StatusCode != 0 {
			t.Errorf("Send(%s) = %+v, want ErrForbiddenTarget", u, res)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(*got) != 0 {
		t.Errorf("receiver saw %d requests, want none", len(*got))
	}
}

// rebinding answers with a public address once, then with loopback: the classic DNS
// rebinding attack on a submit-time check.
func rebinding() webhook.ResolverFunc {
	var calls atomic.Int32
	return func(_ context.Context, _, host string) ([]netip.Addr, error) {
		if host != "rebind.example" {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		if calls.Add(1) == 1 {
			return []netip.Addr{netip.MustParseAddr("93.184.215.14")}, nil
		}
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
}

func TestSendRefusesRebindingAtDial(t *testing.T) {
	t.Parallel()
	srv, got, mu := receiver(t, nil)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	u := "http://rebind.example:" + strconv.Itoa(port) + "/hook"

	p := webhook.Policy{Resolver: rebinding()}
	if err := p.CheckURL(context.Background(), u); err != nil {
		t.Fatalf("precondition: CheckURL = %v, want the public answer accepted", err)
	}
	res := webhook.NewSender(p).Send(context.Background(), u, []string{newSecret(t)}, "msg_1", time.Now(), []byte(`{}`))
	if !errors.Is(res.Err, webhook.ErrForbiddenTarget) {
		t.Fatalf("Send = %+v, want ErrForbiddenTarget at dial", res)
	}
	mu.Lock()
	n := len(*got)
	mu.Unlock()
	if n != 0 {
		t.Fatalf("receiver saw %d requests, want none", n)
	}

	// The same name is delivered when the allow-list holds its address, which shows the
	// dialer connects to what the resolver said.
	p = webhook.Policy{Allow: []string{"127.0.0.1/32"}, Resolver: webhook.ResolverFunc(
		func(context.Context, string, string) ([]netip.Addr, error) {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		})}
	res = webhook.NewSender(p).Send(context.Background(), u, []string{newSecret(t)}, "msg_2", time.Now(), []byte(`{}`))
	if res.Err != nil || res.StatusCode != http.StatusNoContent {
		t.Fatalf("Send with allow-list = %+v", res)
	}
}

// TestSendChecksEveryDialedAddress: whatever the resolver answers at delivery, one forbidden
// address among the answers refuses the delivery, in any IPv6 spelling of it.
func TestSendChecksEveryDialedAddress(t *testing.T) {
	t.Parallel()
	srv, got, mu := receiver(t, nil)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	u := "http://hook.example:" + strconv.Itoa(port) + "/"
	for _, answer := range [][]string{
		{"127.0.0.1"},
		{"93.184.215.14", "127.0.0.1"},
		{"127.0.0.1", "93.184.215.14"},
		{"::ffff:127.0.0.1"},
		{"::127.0.0.1"},
		{"169.254.169.254"},
		{"fd00:ec2::254"},
		{"10.0.0.1"},
		{"64:ff9b::a00:1"},
		{"fe80::1%lo"},
	} {
		p := webhook.Policy{Resolver: webhook.ResolverFunc(func(context.Context, string, string) ([]netip.Addr, error) {
			var out []netip.Addr
			for _, a := range answer {
				out = append(out, netip.MustParseAddr(a))
			}
			return out, nil
		})}
		res := webhook.NewSender(p).Send(context.Background(), u, []string{newSecret(t)}, "m", time.Now(), []byte(`{}`))
		if !errors.Is(res.Err, webhook.ErrForbiddenTarget) || res.StatusCode != 0 {
			t.Errorf("resolver answering %v: Send = %+v, want ErrForbiddenTarget", answer, res)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(*got) != 0 {
		t.Errorf("receiver saw %d requests, want none", len(*got))
	}
}

// TestSendDialsNumericSpellings: at delivery too, a numeric host is the address it spells
// (allowed here), dialed without asking the resolver.
func TestSendDialsNumericSpellings(t *testing.T) {
	t.Parallel()
	srv, got, mu := receiver(t, nil)
	port := strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
	p := webhook.Policy{Allow: []string{"127.0.0.1/32"}, Resolver: webhook.ResolverFunc(
		func(_ context.Context, _, host string) ([]netip.Addr, error) {
			t.Errorf("numeric host %q was resolved", host)
			return nil, errors.New("unexpected lookup")
		})}
	s := webhook.NewSender(p)
	t.Cleanup(s.CloseIdleConnections)
	hosts := []string{"2130706433", "0x7f.1", "0177.0.0.1", "127.1", "127.000.000.001", "[::ffff:127.0.0.1]", "１２７.０.０.１"}
	for _, host := range hosts {
		res := s.Send(context.Background(), "http://"+host+":"+port+"/hook", []string{newSecret(t)}, "m", time.Now(), []byte(`{}`))
		if res.Err != nil || res.StatusCode != http.StatusNoContent {
			t.Errorf("Send to %s = %+v, want a 204 delivery", host, res)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(*got) != len(hosts) {
		t.Errorf("receiver saw %d requests, want %d", len(*got), len(hosts))
	}
}

func TestSendAllowedHostName(t *testing.T) {
	t.Parallel()
	srv, _, _ := receiver(t, nil)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	u := "http://LOCALHOST:" + strconv.Itoa(port) + "/"
	if res := webhook.NewSender(webhook.Policy{}).Send(context.Background(), u, []string{newSecret(t)}, "m", time.Now(), []byte(`{}`)); !errors.Is(res.Err, webhook.ErrForbiddenTarget) {
		t.Fatalf("Send to localhost without allow-list = %+v, want ErrForbiddenTarget", res)
	}
	p, err := webhook.ParsePolicy("localhost")
	if err != nil {
		t.Fatal(err)
	}
	if res := webhook.NewSender(p).Send(context.Background(), u, []string{newSecret(t)}, "m", time.Now(), []byte(`{}`)); res.Err != nil {
		t.Fatalf("Send to allow-listed localhost = %+v", res)
	}
}

func TestSendDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	var followed atomic.Int32
	srv, _, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			followed.Add(1)
			w.WriteHeader(http.StatusOK)
			return
		}
		http.Redirect(w, r, "/moved", http.StatusFound)
	})
	res := webhook.NewSender(loopback).Send(context.Background(), srv.URL+"/hook", []string{newSecret(t)}, "m", time.Now(), []byte(`{}`))
	if res.Err == nil || res.StatusCode != http.StatusFound || !strings.Contains(res.Err.Error(), "302") {
		t.Errorf("Send = %+v, want a failed 302", res)
	}
	if n := followed.Load(); n != 0 {
		t.Errorf("redirect followed %d times", n)
	}
}

// TestSendNeverFollowsRedirectToPrivate: the first hop is allowed (its name, first.test, is
// on the allow-list); its 3xx to a private target, in any spelling and even to an allowed
// name, is a failed attempt and the target is never requested.
func TestSendNeverFollowsRedirectToPrivate(t *testing.T) {
	t.Parallel()
	var private atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		private.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(target.Close)
	tport := strconv.Itoa(target.Listener.Addr().(*net.TCPAddr).Port)

	p, err := webhook.ParsePolicy("first.test")
	if err != nil {
		t.Fatal(err)
	}
	p.Resolver = webhook.ResolverFunc(func(_ context.Context, _, host string) ([]netip.Addr, error) {
		if host == "first.test" {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	})
	s := webhook.NewSender(p)
	t.Cleanup(s.CloseIdleConnections)

	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		for _, host := range []string{"127.0.0.1", "localhost", "2130706433", "[::ffff:127.0.0.1]", "first.test"} {
			location := "http://" + host + ":" + tport + "/internal"
			first, _, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, location, code)
			})
			fport := strconv.Itoa(first.Listener.Addr().(*net.TCPAddr).Port)
			res := s.Send(context.Background(), "http://first.test:"+fport+"/hook", []string{newSecret(t)}, "m", time.Now(), []byte(`{}`))
			if res.StatusCode != code || res.Err == nil || !strings.Contains(res.Err.Error(), "redirects are not followed") {
				t.Errorf("%d to %s: Send = %+v, want a failed %d", code, location, res, code)
			}
		}
	}
	if n := private.Load(); n != 0 {
		t.Errorf("redirect target saw %d requests, want none", n)
	}
}

func TestSendStatusAndBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		body   int // bytes the receiver writes
		ok     bool
	}{
		{http.StatusOK, 0, true},
		{http.StatusAccepted, 1 << 20, true}, // a big answer is cut at 64 KiB, still a success
		{http.StatusBadRequest, 10, false},
		{http.StatusGone, 0, false},
		{http.StatusInternalServerError, 100, false},
		{http.StatusServiceUnavailable, 0, false},
	}
	for _, tt := range tests {
		srv, _, _ := receiver(t, func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(tt.status)
			_, _ = w.Write([]byte(strings.Repeat("x", tt.body)))
		})
		res := webhook.NewSender(loopback).Send(context.Background(), srv.URL, []string{newSecret(t)}, "m", time.Now(), []byte(`{}`))
		if res.StatusCode != tt.status || (res.Err == nil) != tt.ok {
			t.Errorf("status %d: Send = %+v", tt.status, res)
		}
		if !tt.ok && !strings.Contains(res.Err.Error(), strconv.Itoa(tt.status)) {
			t.Errorf("status %d: error %q does not name it", tt.status, res.Err)
		}
	}
}

func TestSendTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	srv, _, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	s := webhook.NewSenderOpts(loopback, &webhook.SenderOpts{Timeout: 100 * time.Millisecond})
	res := s.Send(context.Background(), srv.URL, []string{newSecret(t)}, "m", time.Now(), []byte(`{}`))
	var ne net.Error
	if !errors.As(res.Err, &ne) || !ne.Timeout() {
		t.Fatalf("Send = %+v, want a timeout", res)
	}
	if res.Duration < 100*time.Millisecond || res.Duration > 5*time.Second {
		t.Errorf("Duration = %v, want about the 100ms timeout", res.Duration)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res = webhook.NewSender(loopback).Send(ctx, srv.URL, []string{newSecret(t)}, "m", time.Now(), []byte(`{}`))
	if !errors.Is(res.Err, context.Canceled) {
		t.Errorf("Send with a cancelled context = %+v, want context.Canceled", res)
	}
}

func TestSendReusesConnections(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	var conns atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	s := webhook.NewSender(loopback)
	t.Cleanup(s.CloseIdleConnections)
	secret := newSecret(t)
	for i := range 20 {
		if res := s.Send(context.Background(), srv.URL, []string{secret}, "m"+strconv.Itoa(i), time.Now(), []byte(`{}`)); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 20 sequential deliveries, want 1", n)
	}
}

func TestSendRejectsBadInput(t *testing.T) {
	t.Parallel()
	srv, got, mu := receiver(t, nil)
	s := webhook.NewSender(loopback)
	for name, tc := range map[string]struct{ url, secret, id string }{
		"ftp":          {"ftp://127.0.0.1/", newSecret(t), "m"},
		"credentials":  {strings.Replace(srv.URL, "http://", "http://u:p@", 1), newSecret(t), "m"},
		"no prefix":    {srv.URL, base64.StdEncoding.EncodeToString([]byte("k")), "m"},
		"not base64":   {srv.URL, "whsec_!!!", "m"},
		"empty secret": {srv.URL, "whsec_", "m"},
		"empty id":     {srv.URL, newSecret(t), ""},
		"too long":     {srv.URL + "/" + strings.Repeat("x", webhook.MaxURLLength), newSecret(t), "m"},
		"bad host":     {"http://127.0.0.1../", newSecret(t), "m"},
	} {
		if res := s.Send(context.Background(), tc.url, []string{tc.secret}, tc.id, time.Now(), []byte(`{}`)); res.Err == nil {
			t.Errorf("%s: Send succeeded", name)
		}
	}
	bad := webhook.NewSender(webhook.Policy{Allow: []string{"nonsense/99"}})
	if res := bad.Send(context.Background(), srv.URL, []string{newSecret(t)}, "m", time.Now(), []byte(`{}`)); res.Err == nil {
		t.Error("a Sender with a bad policy delivered")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(*got) != 0 {
		t.Errorf("receiver saw %d requests, want none", len(*got))
	}
}

func TestSenderIgnoresProxyEnvironment(t *testing.T) {
	// Not parallel: it sets process environment. The target is a name, since Go never
	// proxies loopback addresses anyway.
	proxy, proxied, mu := receiver(t, nil)
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("http_proxy", proxy.URL)
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	srv, got, mu2 := receiver(t, nil)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	p := webhook.Policy{Allow: []string{"127.0.0.1/32"}, Resolver: webhook.ResolverFunc(
		func(context.Context, string, string) ([]netip.Addr, error) {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		})}
	u := "http://target.example:" + strconv.Itoa(port) + "/"
	if res := webhook.NewSender(p).Send(context.Background(), u, []string{newSecret(t)}, "m", time.Now(), []byte(`{}`)); res.Err != nil {
		t.Fatal(res.Err)
	}
	mu.Lock()
	defer mu.Unlock()
	mu2.Lock()
	defer mu2.Unlock()
	if len(*proxied) != 0 || len(*got) != 1 {
		t.Errorf("proxy saw %d, target %d requests; want 0 and 1", len(*proxied), len(*got))
	}
}
