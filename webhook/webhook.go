package webhook

import (
	"context"
	"errors"
	"net/netip"
)

// ErrForbiddenTarget is returned when a URL or the address it resolves to is private,
// loopback, link-local or otherwise not public, and no allow-list entry names it.
var ErrForbiddenTarget = errors.New("webhook: target address not allowed")

// ErrInvalidURL is returned for a webhook URL that is malformed, not http(s), or carries
// credentials.
var ErrInvalidURL = errors.New("webhook: invalid url")

// Resolver looks up a host's addresses; *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Policy decides which targets may receive webhooks.
type Policy struct {
	// Allow lists host names and CIDRs (AGENTIC_WEBHOOK_ALLOW, comma-separated) that are
	// allowed even though they are private or loopback. A bare IP counts as its /32 or /128.
	Allow []string
	// Resolver resolves host names, at submit (CheckURL) and at dial (Sender); nil means
	// net.DefaultResolver. Tests inject one.
	Resolver Resolver

	// compiled is Allow parsed once, by ParsePolicy: CheckURL runs on every submit.
	compiled *allowList
}

// ResolverFunc adapts a function to Resolver; handy for tests.
type ResolverFunc func(ctx context.Context, network, host string) ([]netip.Addr, error)

// LookupNetIP calls f.
func (f ResolverFunc) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	return f(ctx, network, host)
}
