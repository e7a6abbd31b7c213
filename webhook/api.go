package webhook

// This file fixes the package's API; bodies marked "not implemented" are being written.

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// ErrForbiddenTarget is returned when a URL or the address it resolves to is private,
// loopback, link-local or otherwise not public, and no allow-list entry names it.
var ErrForbiddenTarget = errors.New("webhook: target address not allowed")

// Policy decides which targets may receive webhooks.
type Policy struct {
	// Allow lists host names and CIDRs (AGENTIC_WEBHOOK_ALLOW, comma-separated) that are
	// allowed even though they are private or loopback.
	Allow []string
}

// ParsePolicy parses AGENTIC_WEBHOOK_ALLOW ("localhost,10.0.0.0/8,hooks.internal").
func ParsePolicy(allow string) (Policy, error) { return Policy{}, errors.New("not implemented") }

// CheckURL validates a webhook URL at submit time: http or https, a host, and (for literal
// IPs and names that resolve) only allowed addresses. Errors wrap ErrForbiddenTarget or say
// what is malformed.
func (p Policy) CheckURL(ctx context.Context, raw string) error { return errors.New("not implemented") }

// Signer signs payloads per the Standard Webhooks specification.
type Signer struct{}

// NewSigner takes a "whsec_…" secret.
func NewSigner(secret string) (*Signer, error) { return nil, errors.New("not implemented") }

// Sign returns the webhook-signature header value ("v1,<base64>") for id, timestamp, body.
func (s *Signer) Sign(id string, ts time.Time, body []byte) (string, error) {
	return "", errors.New("not implemented")
}

// Verify checks the headers of a received webhook; for receivers and tests.
func Verify(secret string, header http.Header, body []byte) error {
	return errors.New("not implemented")
}

// Result is the outcome of one POST.
type Result struct {
	StatusCode int // 0 if no response
	Duration   time.Duration
	Err        error // nil on 2xx
}

// Sender POSTs signed webhooks through a client whose dialer refuses forbidden addresses at
// connect time (DNS rebinding) and that never follows redirects.
type Sender struct{}

// NewSender returns a Sender with a 10 s timeout per attempt.
func NewSender(p Policy) *Sender { return &Sender{} }

// Send POSTs body to url with the webhook-id, webhook-timestamp and webhook-signature headers.
func (s *Sender) Send(ctx context.Context, url, secret, id string, ts time.Time, body []byte) Result {
	return Result{Err: errors.New("not implemented")}
}
