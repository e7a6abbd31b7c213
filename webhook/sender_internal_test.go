package webhook

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// TestSenderClientSettings pins the two client settings the dial check relies on: no proxy
// (from the environment or elsewhere), so the checked address is the target's, and no
// redirects followed.
func TestSenderClientSettings(t *testing.T) {
	t.Parallel()
	s := NewSender(Policy{})
	tr, ok := s.client.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport is %T, want *http.Transport", s.client.Transport)
	}
	if tr.Proxy != nil {
		t.Error("Transport.Proxy is set: a proxy would dial the target unchecked")
	}
	//lint:ignore SA1019 the deprecated hooks would bypass the checked dial too
	if tr.DialContext == nil || tr.DialTLSContext != nil || tr.Dial != nil || tr.DialTLS != nil {
		t.Error("a dial hook other than the checked DialContext is set: it would bypass the address check")
	}
	if s.client.CheckRedirect == nil {
		t.Fatal("CheckRedirect is nil: redirects would be followed")
	}
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/", nil)
	if err := s.client.CheckRedirect(req, []*http.Request{req}); !errors.Is(err, http.ErrUseLastResponse) {
		t.Errorf("CheckRedirect = %v, want http.ErrUseLastResponse", err)
	}
}

// TestSenderDialChecksEveryHop shows the second line of defence: were redirects followed,
// the dialer would still refuse a hop to a private address, since it checks every
// connection, not only the submitted URL.
func TestSenderDialChecksEveryHop(t *testing.T) {
	t.Parallel()
	var private atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		private.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(target.Close)
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/internal", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(first.Close)

	// Only the name first.test is allowed; it leads to the first server.
	p, err := ParsePolicy("first.test")
	if err != nil {
		t.Fatal(err)
	}
	p.Resolver = ResolverFunc(func(_ context.Context, _, host string) ([]netip.Addr, error) {
		if host == "first.test" {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	})
	s := NewSender(p)
	s.client.CheckRedirect = nil // follow, as a careless change would
	port := first.Listener.Addr().(*net.TCPAddr).Port
	res := s.Send(context.Background(), "http://first.test:"+strconv.Itoa(port)+"/hook",
		[]string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "msg_1", time.Now(), []byte(`{}`))
	if !errors.Is(res.Err, ErrForbiddenTarget) {
		t.Errorf("Send following a redirect to %s = %+v, want ErrForbiddenTarget", target.URL, res)
	}
	if n := private.Load(); n != 0 {
		t.Errorf("private target saw %d requests, want none", n)
	}
}
