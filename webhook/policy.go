package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// MaxURLLength is the longest webhook URL, in bytes, that CheckURL and Send accept.
const MaxURLLength = 2048

// ParsePolicy parses AGENTIC_WEBHOOK_ALLOW ("localhost,10.0.0.0/8,hooks.internal"): entries
// are CIDRs, IP addresses or host names, separated by commas; blanks are ignored. Host
// names are matched case-insensitively and without a trailing dot; an entry spelled as a
// number (127.1, 2130706433) is the address it spells, not a name.
func ParsePolicy(allow string) (Policy, error) {
	var p Policy
	for _, e := range strings.Split(allow, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		p.Allow = append(p.Allow, e)
	}
	list, err := p.compile()
	if err != nil {
		return Policy{}, err
	}
	p.compiled = &list
	return p, nil
}

// allowList is a parsed Policy.Allow.
type allowList struct {
	prefixes []netip.Prefix
	hosts    map[string]bool
}

func (p Policy) compile() (allowList, error) {
	if p.compiled != nil {
		return *p.compiled, nil
	}
	var a allowList
	for _, raw := range p.Allow {
		e := strings.TrimSpace(raw)
		if strings.Contains(e, "/") {
			pfx, err := netip.ParsePrefix(e)
			if err != nil {
				return allowList{}, fmt.Errorf("webhook: allow-list entry %q is not a valid CIDR", raw)
			}
			a.prefixes = append(a.prefixes, pfx.Masked())
			continue
		}
		bad := fmt.Errorf("webhook: allow-list entry %q is neither a CIDR, an IP nor a host name", raw)
		h, err := asciiHost(e)
		if err != nil {
			return allowList{}, bad
		}
		addr, isIP, err := parseIPHost(h)
		switch {
		case err != nil:
			return allowList{}, bad
		case isIP:
			a.prefixes = append(a.prefixes, netip.PrefixFrom(addr.WithZone(""), addr.BitLen()))
			continue
		}
		h = normalizeHost(h)
		if !validHostName(h) {
			return allowList{}, bad
		}
		if a.hosts == nil {
			a.hosts = map[string]bool{}
		}
		a.hosts[h] = true
	}
	return a, nil
}

func normalizeHost(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }

// validHostName accepts DNS names: dot-separated labels of letters, digits, '-' and '_'.
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

func (a allowList) hostAllowed(host string) bool { return a.hosts[normalizeHost(host)] }

// check returns nil if addr may be dialed: it is public, or an allow-list CIDR holds it (or
// the IPv4 address it embeds).
func (a allowList) check(addr netip.Addr) error {
	addr = addr.WithZone("")
	for _, cand := range []netip.Addr{addr, addr.Unmap()} {
		for _, p := range a.prefixes {
			if p.Contains(cand) {
				return nil
			}
		}
	}
	if reason := forbiddenReason(addr); reason != "" {
		return fmt.Errorf("%w: %s is %s", ErrForbiddenTarget, addr, reason)
	}
	return nil
}

// checkHost judges host (as targetHost returns it) without DNS. It returns name true for a
// DNS name that is neither allow-listed nor refused by its spelling: only its addresses can
// tell. For anything else err is the verdict: IP literals in any spelling are checked as
// the address they spell, never passed on as a name.
func (a allowList) checkHost(host string) (name bool, err error) {
	if a.hostAllowed(host) {
		return false, nil
	}
	addr, isIP, err := parseIPHost(host)
	if err != nil {
		return false, err
	}
	if isIP {
		if err := a.check(addr); err != nil {
			return false, err
		}
		if addr.Zone() != "" && !addr.IsLinkLocalUnicast() && !addr.IsLinkLocalMulticast() {
			return false, fmt.Errorf("%w: zone %q on %s, which is not link-local", ErrInvalidURL, addr.Zone(), addr.WithZone(""))
		}
		return false, nil
	}
	n := normalizeHost(host)
	if !validHostName(n) {
		return false, fmt.Errorf("%w: host %q is not a valid host name", ErrInvalidURL, host)
	}
	if n == "localhost" || strings.HasSuffix(n, ".localhost") {
		return false, fmt.Errorf("%w: %s is loopback", ErrForbiddenTarget, host)
	}
	return true, nil
}

func (p Policy) resolver() Resolver {
	if p.Resolver != nil {
		return p.Resolver
	}
	return net.DefaultResolver
}

// CheckURL validates a webhook URL at submit time: at most MaxURLLength bytes, http or
// https, no credentials, a host, and (for literal IPs in any spelling and names that
// resolve) only allowed addresses. Errors wrap ErrForbiddenTarget or say what is malformed
// (wrapping ErrInvalidURL). A name that does not resolve is accepted: the Sender checks
// again when it dials.
func (p Policy) CheckURL(ctx context.Context, raw string) error {
	allow, err := p.compile()
	if err != nil {
		return err
	}
	_, host, err := parseTarget(raw)
	if err != nil {
		return err
	}
	if name, err := allow.checkHost(host); err != nil || !name {
		return err
	}
	addrs, err := p.resolver().LookupNetIP(ctx, "ip", normalizeHost(host))
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("webhook: resolve %s: %w", host, ctxErr)
		}
		return nil // unresolvable now: the dialer decides at delivery
	}
	for _, a := range addrs {
		if err := allow.check(a); err != nil {
			return fmt.Errorf("%w (%s resolves to it)", err, host)
		}
	}
	return nil
}

// parseTarget checks the URL's form and returns it, trimmed of surrounding space, with the
// host net/http will dial (see targetHost).
func parseTarget(raw string) (string, string, error) {
	if len(raw) > MaxURLLength {
		return "", "", fmt.Errorf("%w: longer than %d bytes", ErrInvalidURL, MaxURLLength)
	}
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", "", fmt.Errorf("%w: %v", ErrInvalidURL, err)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	case "":
		return "", "", fmt.Errorf("%w: not an absolute http or https url", ErrInvalidURL)
	default:
		return "", "", fmt.Errorf("%w: scheme %q is not http or https", ErrInvalidURL, u.Scheme)
	}
	if u.Opaque != "" {
		return "", "", fmt.Errorf("%w: not an absolute http or https url", ErrInvalidURL)
	}
	if u.User != nil {
		return "", "", fmt.Errorf("%w: credentials in the url are not allowed", ErrInvalidURL)
	}
	if u.Hostname() == "" {
		return "", "", fmt.Errorf("%w: no host", ErrInvalidURL)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", "", fmt.Errorf("%w: port %q out of range", ErrInvalidURL, port)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return "", "", fmt.Errorf("%w: empty port", ErrInvalidURL)
	}
	host, err := targetHost(u)
	if err != nil {
		return "", "", err
	}
	return raw, host, nil
}

// targetHost returns the host net/http dials for u: without brackets, an IPv6 zone
// unescaped, and a non-ASCII name mapped per IDNA (UTS #46) as net/http maps it, so that
// fullwidth digits or ideographic full stops ("１２７。０。０。１") are judged as the ASCII
// host they become.
func targetHost(u *url.URL) (string, error) {
	host := u.Hostname()
	if strings.Contains(host, ":") {
		return host, nil // an IPv6 literal; parseIPHost judges it
	}
	return asciiHost(host)
}

// asciiHost maps a non-ASCII host name to ASCII the way net/http does before dialing.
func asciiHost(host string) (string, error) {
	for i := 0; i < len(host); i++ {
		if host[i] >= utf8.RuneSelf {
			a, err := idna.Lookup.ToASCII(host)
			if err != nil {
				return "", fmt.Errorf("%w: host %q is not a valid internationalized domain name", ErrInvalidURL, host)
			}
			return a, nil
		}
	}
	return host, nil
}

// parseIPHost reads host as an IP literal in any spelling browsers (WHATWG URL) or inet_aton
// accept: IPv6, dotted quads, and IPv4 with one to four parts in decimal, octal (leading 0)
// or hex (0x), such as 2130706433, 0177.0.0.1, 0x7f.1 or 127.1. ok is false for a name;
// err is set for a host that ends in a number yet is no valid address (browsers reject it).
func parseIPHost(host string) (addr netip.Addr, ok bool, err error) {
	if strings.Contains(host, ":") {
		a, err := netip.ParseAddr(host)
		if err != nil {
			return netip.Addr{}, false, fmt.Errorf("%w: bad IPv6 address %q", ErrInvalidURL, host)
		}
		return a, true, nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a, true, nil
	}
	parts := strings.Split(host, ".")
	if len(parts) > 1 && parts[len(parts)-1] == "" { // one trailing dot is allowed
		parts = parts[:len(parts)-1]
	}
	if !endsInNumber(parts[len(parts)-1]) {
		return netip.Addr{}, false, nil // a domain name
	}
	bad := fmt.Errorf("%w: %q is not a valid IPv4 address", ErrInvalidURL, host)
	if len(parts) > 4 {
		return netip.Addr{}, false, bad
	}
	nums := make([]uint64, len(parts))
	for i, p := range parts {
		n, ok := ipv4Number(p)
		if !ok {
			return netip.Addr{}, false, bad
		}
		nums[i] = n
	}
	var v uint64
	for i, n := range nums[:len(nums)-1] {
		if n > 255 {
			return netip.Addr{}, false, bad
		}
		v |= n << (8 * (3 - i))
	}
	last := nums[len(nums)-1]
	if last >= 1<<(8*(5-len(nums))) {
		return netip.Addr{}, false, bad
	}
	v |= last
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true, nil
}

// endsInNumber reports whether the last label makes the host an IPv4 address to browsers.
func endsInNumber(last string) bool {
	if last != "" && strings.Trim(last, "0123456789") == "" {
		return true
	}
	_, ok := ipv4Number(last)
	return ok
}

// ipv4Number parses one part of an IPv4 host per the WHATWG URL standard.
func ipv4Number(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	base := 10
	switch {
	case len(s) >= 2 && (s[:2] == "0x" || s[:2] == "0X"):
		s, base = s[2:], 16
		if s == "" {
			return 0, true
		}
	case len(s) >= 2 && s[0] == '0':
		s, base = s[1:], 8
	}
	n, err := strconv.ParseUint(s, base, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return 1 << 40, true // numeric, but too big for any part
		}
		return 0, false
	}
	return n, true
}
