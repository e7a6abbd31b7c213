package webhook

import "net/netip"

// forbidden lists the address ranges no webhook may reach unless allow-listed: everything
// IANA marks as not globally reachable, plus multicast and the cloud metadata endpoints that
// live in them (169.254.169.254, fd00:ec2::254, 100.100.100.200). Narrower entries come first
// so their reason is the one reported.
var forbidden = []struct {
	prefix netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), `in "this network" (0.0.0.0/8)`},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (CGNAT)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved for protocol assignments"},
	{netip.MustParsePrefix("192.0.2.0/24"), "reserved for documentation"},
	{netip.MustParsePrefix("192.88.99.0/24"), "reserved (6to4 relay)"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "reserved for benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "reserved for documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "reserved for documentation"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "reserved for local-use IPv4/IPv6 translation"},
	{netip.MustParsePrefix("100::/64"), "reserved (discard)"},
	// Teredo tunnels to an IPv4 server and an (obfuscated) IPv4 client; no receiver needs one.
	{netip.MustParsePrefix("2001::/32"), "a Teredo tunnel address"},
	{netip.MustParsePrefix("2001:2::/48"), "reserved for benchmarking"},
	{netip.MustParsePrefix("2001::/23"), "reserved for IETF protocol assignments"},
	{netip.MustParsePrefix("2001:db8::/32"), "reserved for documentation"},
	{netip.MustParsePrefix("3fff::/20"), "reserved for documentation"},
	{netip.MustParsePrefix("5f00::/16"), "reserved (segment routing)"},
	{netip.MustParsePrefix("fc00::/7"), "private (unique local)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// embeddingV4 lists IPv6 ranges that carry an IPv4 address a packet may end up at: the
// address is judged by the IPv4 address inside (its offset in bytes).
var embeddingV4 = []struct {
	prefix netip.Prefix
	offset int
}{
	{netip.MustParsePrefix("::ffff:0:0/96"), 12},   // IPv4-mapped
	{netip.MustParsePrefix("::/96"), 12},           // IPv4-compatible (deprecated)
	{netip.MustParsePrefix("::ffff:0:0:0/96"), 12}, // SIIT IPv4-translated
	{netip.MustParsePrefix("64:ff9b::/96"), 12},    // NAT64 well-known prefix
	{netip.MustParsePrefix("2002::/16"), 2},        // 6to4
}

// globalUnicast is the only IPv6 range IANA allocates for public unicast; outside it only
// the IPv4-carrying forms above can reach anything.
var globalUnicast = netip.MustParsePrefix("2000::/3")

// forbiddenReason says why addr may not be reached, or "" if it is public.
func forbiddenReason(addr netip.Addr) string {
	addr = addr.WithZone("")
	if !addr.IsValid() {
		return "not a valid address"
	}
	for _, f := range forbidden {
		if f.prefix.Contains(addr) {
			return f.reason
		}
	}
	if !addr.Is6() {
		return ""
	}
	embeds := false
	for _, e := range embeddingV4 {
		if !e.prefix.Contains(addr) {
			continue
		}
		embeds = true
		b := addr.As16()
		v4 := netip.AddrFrom4([4]byte(b[e.offset : e.offset+4]))
		if r := forbiddenReason(v4); r != "" {
			return r + " (" + v4.String() + " inside an IPv6 address)"
		}
	}
	if !embeds && !globalUnicast.Contains(addr) {
		return "reserved (outside the global unicast range 2000::/3)"
	}
	return ""
}
