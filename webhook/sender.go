package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/propagation"
)

// DefaultTimeout bounds one delivery attempt, as API.md promises receivers.
const DefaultTimeout = 10 * time.Second

// maxResponseBody is how much of a receiver's answer is read (and discarded) so the
// connection can be reused.
const maxResponseBody = 64 << 10

// UserAgent is sent with every delivery.
const UserAgent = "Agentic-Webhooks/1.0"

// Result is the outcome of one POST.
type Result struct {
	StatusCode int // 0 if no response
	Duration   time.Duration
	Err        error // nil on 2xx
}

// SenderOpts tunes a Sender; the zero value gives the defaults.
type SenderOpts struct {
	// Timeout bounds one attempt, connect to last response byte; DefaultTimeout if zero.
	Timeout time.Duration
	// MaxIdleConnsPerHost is how many keep-alive connections to one receiver are kept;
	// 64 if zero.
	MaxIdleConnsPerHost int
}

// Sender POSTs signed webhooks through a client whose dialer refuses forbidden addresses at
// connect time (DNS rebinding) and that never follows redirects. It is safe for concurrent
// use and reuses connections, so share one.
type Sender struct {
	client    *http.Client
	allow     allowList
	policyErr error
	resolver  Resolver
	dialer    *net.Dialer // dials only allowed addresses: Control re-checks each connect
	plain     *net.Dialer // dials hosts the allow-list names, wherever they resolve
}

// NewSender returns a Sender with a 10 s timeout per attempt.
func NewSender(p Policy) *Sender { return NewSenderOpts(p, nil) }

// NewSenderOpts returns a Sender tuned by opts (nil for the defaults). A policy with a bad
// allow-list entry makes every Send fail with that error; ParsePolicy catches it earlier.
func NewSenderOpts(p Policy, opts *SenderOpts) *Sender {
	var o SenderOpts
	if opts != nil {
		o = *opts
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxIdleConnsPerHost <= 0 {
		o.MaxIdleConnsPerHost = 64
	}
	allow, err := p.compile()
	s := &Sender{allow: allow, policyErr: err, resolver: p.resolver()}
	s.plain = &net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}
	s.dialer = &net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second, Control: s.control}
	transport := &http.Transport{
		Proxy:                 nil, // never from the environment: a proxy would dial for us, unchecked
		DialContext:           s.dial,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   o.MaxIdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   o.Timeout,
		ExpectContinueTimeout: time.Second,
	}
	s.client = &http.Client{
		Transport: transport,
		Timeout:   o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a 3xx is a failed delivery, never a new target
		},
	}
	return s
}

// dial resolves the host itself, refuses if any address is forbidden, and connects to the
// checked addresses only, so a name cannot resolve to one address at check time and another
// at connect time. A host spelled as a number (2130706433) is the address it spells, as at
// submit, never a name for the resolver.
func (s *Sender) dial(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("webhook: dial %s: %w", address, err)
	}
	if s.allow.hostAllowed(host) {
		addrs, err := s.lookup(ctx, network, host)
		if err != nil {
			return nil, err
		}
		return dialFirst(ctx, s.plain, network, addrs, port)
	}
	addr, isIP, err := parseIPHost(host)
	if err != nil {
		return nil, fmt.Errorf("webhook: dial %s: %w", host, err)
	}
	addrs := []netip.Addr{addr}
	if !isIP {
		if addrs, err = s.lookup(ctx, network, host); err != nil {
			return nil, err
		}
	}
	for _, a := range addrs {
		if err := s.allow.check(a); err != nil {
			return nil, fmt.Errorf("webhook: dial %s: %w", host, err)
		}
	}
	return dialFirst(ctx, s.dialer, network, addrs, port)
}

// lookup resolves host for a dial on network ("tcp", "tcp4" or "tcp6").
func (s *Sender) lookup(ctx context.Context, network, host string) ([]netip.Addr, error) {
	ipNet := "ip"
	switch network {
	case "tcp4":
		ipNet = "ip4"
	case "tcp6":
		ipNet = "ip6"
	}
	addrs, err := s.resolver.LookupNetIP(ctx, ipNet, host)
	if err != nil {
		return nil, fmt.Errorf("webhook: resolve %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("webhook: resolve %s: no addresses", host)
	}
	return addrs, nil
}

// dialFirst connects to the first of addrs that answers.
func dialFirst(ctx context.Context, d *net.Dialer, network string, addrs []netip.Addr, port string) (net.Conn, error) {
	var firstErr error
	for _, a := range addrs {
		conn, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

// control re-checks the address the socket is about to connect to.
func (s *Sender) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse dialed address %q", ErrForbiddenTarget, address)
	}
	return s.allow.check(ap.Addr())
}

// Send POSTs body to url with the webhook-id, webhook-timestamp and webhook-signature headers,
// the signature made with each of secrets (two during a rotation, see SignAll), and the W3C
// traceparent of ctx's span when it has one.
// Err is nil only for a 2xx answer; otherwise it names the status or the transport failure
// (wrapping ErrForbiddenTarget when the target is not allowed).
func (s *Sender) Send(ctx context.Context, url string, secrets []string, id string, ts time.Time, body []byte) Result {
	start := time.Now()
	res := s.send(ctx, url, secrets, id, ts, body)
	res.Duration = time.Since(start)
	return res
}

func (s *Sender) send(ctx context.Context, url string, secrets []string, id string, ts time.Time, body []byte) Result {
	if s.policyErr != nil {
		return Result{Err: s.policyErr}
	}
	target, host, err := parseTarget(url)
	if err != nil {
		return Result{Err: err}
	}
	// Refuse literal addresses and loopback names before any connection; other names are
	// checked at dial.
	if _, err := s.allow.checkHost(host); err != nil {
		return Result{Err: err}
	}
	if id == "" {
		return Result{Err: errors.New("webhook: empty message id")}
	}
	sig, err := SignAll(secrets, id, ts, body)
	if err != nil {
		return Result{Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return Result{Err: fmt.Errorf("%w: %v", ErrInvalidURL, err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	// The trace context of ctx's span (the delivery's), so a receiver that traces joins the
	// task's trace.
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(req.Header))

	resp, err := s.client.Do(req)
	if err != nil {
		return Result{Err: fmt.Errorf("webhook: post: %w", err)}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBody))
	_ = resp.Body.Close()
	res := Result{StatusCode: resp.StatusCode}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		res.Err = fmt.Errorf("webhook: receiver answered %s (redirects are not followed)", resp.Status)
	default:
		res.Err = fmt.Errorf("webhook: receiver answered %s", resp.Status)
	}
	return res
}

// CloseIdleConnections closes kept-alive connections; call it when the Sender is retired.
func (s *Sender) CloseIdleConnections() { s.client.CloseIdleConnections() }
