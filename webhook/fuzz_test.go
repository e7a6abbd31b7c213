package webhook_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/idna"

	"github.com/agentic-run/agentic/webhook"
)

// FuzzCheckURL feeds CheckURL arbitrary strings (seeds in testdata/fuzz/FuzzCheckURL). It
// must not panic; it may fail only with ErrInvalidURL or ErrForbiddenTarget; no host any
// resolver would read as an IP may reach the resolver; and it must never accept a URL whose
// host spells a forbidden address, in any numeric form inet_aton or a browser reads (also
// after the IDNA mapping net/http applies), nor localhost by name.
func FuzzCheckURL(f *testing.F) {
	f.Add("https://hooks.example.com/agentic")
	f.Add("http://0x7f.1/")
	f.Fuzz(func(t *testing.T, raw string) {
		p := webhook.Policy{Resolver: webhook.ResolverFunc(func(_ context.Context, _, host string) ([]netip.Addr, error) {
			if addr, ok := spelledAddr(host); ok {
				t.Errorf("CheckURL(%q) passed %q, which spells %s, to the resolver", raw, host, addr)
			}
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		})}
		err := p.CheckURL(context.Background(), raw)
		if err != nil {
			if !errors.Is(err, webhook.ErrInvalidURL) && !errors.Is(err, webhook.ErrForbiddenTarget) {
				t.Fatalf("CheckURL(%q) = %v, want ErrInvalidURL or ErrForbiddenTarget", raw, err)
			}
			return
		}
		if len(raw) > webhook.MaxURLLength {
			t.Fatalf("CheckURL accepted a URL of %d bytes", len(raw))
		}
		u, perr := url.Parse(strings.TrimSpace(raw))
		if perr != nil {
			t.Fatalf("CheckURL accepted %q, which url.Parse rejects: %v", raw, perr)
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.User != nil || u.Hostname() == "" {
			t.Fatalf("CheckURL accepted %q: scheme %q, userinfo %v, host %q", raw, u.Scheme, u.User, u.Hostname())
		}
		hosts := []string{u.Hostname()}
		if mapped, err := idna.Lookup.ToASCII(u.Hostname()); err == nil {
			hosts = append(hosts, mapped)
		}
		for _, host := range hosts {
			if addr, ok := spelledAddr(host); ok && refused(addr) {
				t.Fatalf("CheckURL accepted %q: host %q spells %s", raw, host, addr)
			}
			name := strings.TrimRight(strings.ToLower(host), ".")
			if name == "localhost" || strings.HasSuffix(name, ".localhost") {
				t.Fatalf("CheckURL accepted %q: host %q is localhost", raw, host)
			}
		}
	})
}

// spelledAddr reads host as an IP the way any resolver might: an IPv6 literal (zone
// allowed), or IPv4 in inet_aton's forms (one to four parts, each decimal, 0-prefixed
// octal or 0x-prefixed hex) with a trailing dot as browsers allow. It is written apart from
// the package's parser so that the fuzz target tests one against the other.
func spelledAddr(host string) (netip.Addr, bool) {
	if strings.Contains(host, ":") {
		a, err := netip.ParseAddr(host)
		return a, err == nil
	}
	parts := strings.Split(strings.TrimSuffix(host, "."), ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	nums := make([]uint64, len(parts))
	for i, p := range parts {
		n, ok := atonPart(p)
		if !ok {
			return netip.Addr{}, false
		}
		nums[i] = n
	}
	// The last part fills the bits the others leave: a (32), a.b (24), a.b.c (16), a.b.c.d (8).
	var v uint64
	for i, n := range nums[:len(nums)-1] {
		if n > 0xff {
			return netip.Addr{}, false
		}
		v |= n << (24 - 8*i)
	}
	last := nums[len(nums)-1]
	if last>>(32-8*(len(nums)-1)) != 0 {
		return netip.Addr{}, false
	}
	v |= last
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// atonPart parses one part of an inet_aton address, at most 32 bits.
func atonPart(s string) (uint64, bool) {
	base, digits := uint64(10), s
	switch {
	case strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X"):
		base, digits = 16, s[2:]
	case len(s) > 1 && s[0] == '0':
		base, digits = 8, s[1:]
	case s == "":
		return 0, false
	}
	var n uint64
	for _, c := range digits {
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		case c >= 'A' && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			return 0, false
		}
		if d >= base {
			return 0, false
		}
		if n = n*base + d; n > 0xffffffff {
			return 0, false
		}
	}
	return n, true
}

// refusedRanges are the ranges the brief names, written out independently of the package:
// private, loopback, link-local (with the metadata endpoints), unspecified, multicast,
// CGNAT, benchmarking, documentation, reserved, unique- and site-local, Teredo.
var refusedRanges = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("2001::/32"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("fec0::/10"),
	netip.MustParsePrefix("ff00::/8"),
}

// refused reports whether addr, or an IPv4 address it carries (mapped, compatible, NAT64,
// 6to4), lies in refusedRanges.
func refused(addr netip.Addr) bool {
	addr = addr.WithZone("").Unmap()
	for _, p := range refusedRanges {
		if p.Contains(addr) {
			return true
		}
	}
	if !addr.Is6() {
		return false
	}
	b := addr.As16()
	for _, e := range []struct {
		prefix string
		at     int
	}{{"::/96", 12}, {"64:ff9b::/96", 12}, {"2002::/16", 2}} {
		if netip.MustParsePrefix(e.prefix).Contains(addr) && refused(netip.AddrFrom4([4]byte(b[e.at:e.at+4]))) {
			return true
		}
	}
	return false
}
