package webhook_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/agentic-run/agentic/webhook"
)

// dns is a fake resolver: host → addresses; unknown hosts are NXDOMAIN.
func dns(t *testing.T, records map[string][]string) webhook.ResolverFunc {
	return func(ctx context.Context, network, host string) ([]netip.Addr, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		recs, ok := records[host]
		if !ok {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		var out []netip.Addr
		for _, r := range recs {
			out = append(out, netip.MustParseAddr(r))
		}
		return out, nil
	}
}

var records = map[string][]string{
	"hooks.example.com":        {"93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"},
	"example.com":              {"93.184.215.14"},
	"internal.corp":            {"10.1.2.3"},
	"metadata.google.internal": {"169.254.169.254"},
	"mixed.example":            {"93.184.215.14", "127.0.0.1"},
	"v6private.example":        {"fd12::1"},
	"xn--bcher-kva.example":    {"93.184.215.14"}, // bücher.example
	"xn--bcher-kva.corp":       {"10.0.0.5"},      // bücher.corp
}

const (
	ok        = "ok"
	forbidden = "forbidden"
	invalid   = "invalid"
)

func TestCheckURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url  string
		want string
	}{
		// Public targets.
		{"https://hooks.example.com/agentic", ok},
		{"http://example.com:8080/hook?x=1", ok},
		{"HTTPS://Example.COM/", ok},
		{"https://8.8.8.8/", ok},
		{"https://134744072/", ok}, // 8.8.8.8 in decimal
		{"http://[2606:4700:4700::1111]:443/", ok},
		{"https://does-not-resolve.example/", ok}, // checked again at dial
		{"https://[::ffff:8.8.8.8]/", ok},
		{"https://[64:ff9b::8.8.8.8]/", ok},
		{"https://[2002:808:808::1]/", ok},
		{"https://[2001:4860:4860::8888]/", ok},
		{"https://８.８.８.８/", ok},            // fullwidth digits: net/http dials 8.8.8.8
		{"https://bücher.example/hook", ok}, // IDN resolved as xn--bcher-kva.example
		{"https://example.com/" + strings.Repeat("x", webhook.MaxURLLength-len("https://example.com/")), ok},
		// Loopback in every spelling.
		{"http://127.0.0.1/", forbidden},
		{"http://127.0.0.1:8080/hook", forbidden},
		{"http://127.8.9.10/", forbidden},
		{"http://2130706433/", forbidden},
		{"http://0177.0.0.1/", forbidden},
		{"http://0x7f.0.0.1/", forbidden},
		{"http://0X7F.0.0.1/", forbidden},
		{"http://0x7f000001/", forbidden},
		{"http://017700000001/", forbidden},
		{"http://127.1/", forbidden},
		{"http://127.0.1/", forbidden},
		{"http://127.0.0.1./", forbidden},
		{"http://127.000.000.001/", forbidden},
		{"http://0x7f.1/", forbidden},
		{"http://0x7F.0x0.0x0.0x1/", forbidden},
		{"http://0177.1/", forbidden},
		{"HTTP://127.0.0.1/", forbidden},
		{"http://１２７.０.０.１/", forbidden},       // fullwidth digits
		{"http://127。0。0。1/", forbidden},       // ideographic full stops
		{"http://０ｘ７ｆ.１/", forbidden},          // fullwidth hex
		{"http://\u00ad127.0.0.1/", forbidden}, // soft hyphen, dropped by IDNA
		{"http://%31%32%37.0.0.1/", invalid},   // Go refuses escapes in hosts; never deliverable
		{"http://[::1]/", forbidden},
		{"http://[0:0:0:0:0:0:0:1]/", forbidden},
		{"http://[::ffff:127.0.0.1]/", forbidden},
		{"http://[::ffff:7f00:1]/", forbidden},
		{"http://[::FFFF:7F00:1]/", forbidden},
		{"http://[0000:0000:0000:0000:0000:0000:0000:0001]/", forbidden},
		{"http://[::1%25eth0]/", forbidden},
		{"http://[::ffff:0:7f00:1]/", forbidden}, // SIIT
		{"http://[::127.0.0.1]/", forbidden},
		{"http://[64:ff9b::127.0.0.1]/", forbidden},
		{"http://[2002:7f00:1::]/", forbidden},
		{"http://[64:ff9b::10.0.0.1]/", forbidden},
		{"http://[64:ff9b:1::a00:1]/", forbidden},                     // NAT64 local-use
		{"http://[2002:a00:1::]/", forbidden},                         // 6to4 of 10.0.0.1
		{"http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", forbidden}, // Teredo, client 127.0.0.1
		{"http://[2001::1]/", forbidden},
		{"http://localhost/", forbidden},
		{"http://LocalHost:3000/", forbidden},
		{"http://localhost./", forbidden},
		{"http://api.localhost/", forbidden},
		{"http://LOCALHOST./", forbidden},
		{"http://Api.LocalHost./", forbidden},
		{"http://ｌｏｃａｌｈｏｓｔ/", forbidden},
		// Private, link-local, metadata, CGNAT, unspecified, multicast, reserved.
		{"http://10.0.0.1/", forbidden},
		{"http://172.16.5.4/", forbidden},
		{"http://172.31.255.255/", forbidden},
		{"http://192.168.1.1/", forbidden},
		{"http://169.254.169.254/latest/meta-data/", forbidden},
		{"http://[::ffff:169.254.169.254]/", forbidden},
		{"http://[64:ff9b::a9fe:a9fe]/", forbidden},
		{"http://100.64.0.1/", forbidden},
		{"http://100.100.100.200/", forbidden},
		{"http://100.127.255.255/", forbidden},
		{"http://2852039166/", forbidden}, // 169.254.169.254
		{"http://0xa9fea9fe/", forbidden},
		{"http://[::ffff:a9fe:a9fe]/", forbidden},
		{"http://[fd00:ec2::254]/latest/meta-data/", forbidden},
		{"http://0.0.0.0/", forbidden},
		{"http://0/", forbidden},
		{"http://0.1.2.3/", forbidden},
		{"http://224.0.0.1/", forbidden},
		{"http://239.255.255.250:1900/", forbidden},
		{"http://255.255.255.255/", forbidden},
		{"http://198.18.0.1/", forbidden},
		{"http://198.19.255.255/", forbidden},
		{"http://[2001:2::1]/", forbidden},
		{"http://192.0.2.1/", forbidden},
		{"http://[3fff::1]/", forbidden},
		{"http://240.0.0.1/", forbidden},
		{"http://[1::1]/", forbidden}, // outside 2000::/3
		{"http://[fd00::1]/", forbidden},
		{"http://[fec0::1]/", forbidden},
		{"http://[::]/", forbidden},
		{"http://[fc00::1]/", forbidden},
		{"http://[fd00:ec2::254]/", forbidden},
		{"http://[fe80::1]/", forbidden},
		{"http://[fe80::1%25eth0]/", forbidden},
		{"http://[ff02::1]/", forbidden},
		// Names resolving to forbidden addresses: every address must be public.
		{"https://internal.corp/", forbidden},
		{"http://metadata.google.internal/computeMetadata/v1/", forbidden},
		{"https://mixed.example/", forbidden},
		{"https://v6private.example/", forbidden},
		{"https://bücher.corp/", forbidden}, // IDN resolved as xn--bcher-kva.corp
		// Malformed.
		{"ftp://example.com/", invalid},
		{"file:///etc/passwd", invalid},
		{"gopher://example.com/", invalid},
		{"mailto:ops@example.com", invalid},
		{"https://user:pass@example.com/", invalid},
		{"https://user@example.com/", invalid},
		{"https://:@example.com/", invalid},
		{"//example.com/hook", invalid},
		{"/relative/path", invalid},
		{"", invalid},
		{"https:///no-host", invalid},
		{"http://example.com:99999/", invalid},
		{"http://example.com:0/", invalid},
		{"http://example.com:/", invalid},
		{"http://256.1.1.1/", invalid},
		{"http://1.2.3.4.5/", invalid},
		{"http://08.0.0.1/", invalid},
		{"http://4294967296/", invalid},
		{"http://[::1/", invalid},
		{"http://exa mple.com/", invalid},
		{"http://127.0.0.1../", invalid},
		{"http://a..example/", invalid},
		{"http://.example.com/", invalid},
		{"http://ex!ample.com/", invalid},
		{"http://-ü.example/", invalid}, // not a valid IDN
		{"http://foo.127/", invalid},    // ends in a number, so an IPv4 address to browsers
		{"http://0x100.0.0.1/", invalid},
		{"http://[2606:4700:4700::1111%25eth0]/", invalid}, // zone on a global address
		{"https://example.com/" + strings.Repeat("x", webhook.MaxURLLength), invalid},
	}
	p := webhook.Policy{Resolver: dns(t, records)}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			err := p.CheckURL(context.Background(), tt.url)
			checkOutcome(t, tt.url, err, tt.want)
		})
	}
}

func checkOutcome(t *testing.T, url string, err error, want string) {
	t.Helper()
	switch want {
	case ok:
		if err != nil {
			t.Errorf("CheckURL(%q) = %v, want nil", url, err)
		}
	case forbidden:
		if !errors.Is(err, webhook.ErrForbiddenTarget) {
			t.Errorf("CheckURL(%q) = %v, want ErrForbiddenTarget", url, err)
		}
	case invalid:
		if !errors.Is(err, webhook.ErrInvalidURL) || errors.Is(err, webhook.ErrForbiddenTarget) {
			t.Errorf("CheckURL(%q) = %v, want ErrInvalidURL", url, err)
		}
	}
}

func TestCheckURLMessages(t *testing.T) {
	t.Parallel()
	p := webhook.Policy{Resolver: dns(t, records)}
	for url, want := range map[string]string{
		"http://0x7f.1/":                        "127.0.0.1 is loopback",
		"http://[::ffff:10.0.0.1]/":             "private (10.0.0.1 inside an IPv6 address)",
		"https://internal.corp/":                "10.1.2.3 is private (internal.corp resolves to it)",
		"http://169.254.169.254/":               "169.254.169.254 is link-local",
		"http://100.64.1.1/":                    "CGNAT",
		"https://u:p@example.com/":              "credentials",
		"ftp://example.com/":                    `scheme "ftp" is not http or https`,
		"http://１２７.０.０.１/":                     "127.0.0.1 is loopback",
		"http://0x7f.0.0.1/":                    "127.0.0.1 is loopback",
		"http://256.1.1.1/":                     `"256.1.1.1" is not a valid IPv4 address`,
		"http://[2001::1]/":                     "Teredo",
		"http://[1::1]/":                        "outside the global unicast range",
		"http://[64:ff9b::a00:1]/":              "private (10.0.0.1 inside an IPv6 address)",
		"http://a..example/":                    "not a valid host name",
		"http://[2606::1%25eth0]/":              "not link-local",
		"http://x/" + strings.Repeat("a", 3000): "longer than 2048 bytes",
	} {
		err := p.CheckURL(context.Background(), url)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckURL(%q) = %v, want it to say %q", url, err, want)
		}
	}
}

func TestCheckURLAllowList(t *testing.T) {
	t.Parallel()
	noDNS := webhook.ResolverFunc(func(_ context.Context, _, host string) ([]netip.Addr, error) {
		t.Errorf("allow-listed host %q was resolved", host)
		return nil, errors.New("unexpected lookup")
	})
	cidr, err := webhook.ParsePolicy("10.0.0.0/8, 127.0.0.1/32 ,fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	cidr.Resolver = dns(t, records)
	names, err := webhook.ParsePolicy("hooks.internal,LOCALHOST,metadata.google.internal.")
	if err != nil {
		t.Fatal(err)
	}
	names.Resolver = noDNS
	namesDNS := names
	namesDNS.Resolver = dns(t, records)
	numeric, err := webhook.ParsePolicy("2130706433, fe80::/10, bücher.corp")
	if err != nil {
		t.Fatal(err)
	}
	numeric.Resolver = noDNS

	tests := []struct {
		name string
		p    webhook.Policy
		url  string
		want string
	}{
		{"cidr holds literal", cidr, "http://10.1.2.3:9000/", ok},
		{"cidr holds resolved", cidr, "https://internal.corp/", ok},
		{"cidr holds loopback", cidr, "http://127.0.0.1:8080/", ok},
		{"cidr holds decimal spelling", cidr, "http://2130706433/", ok},
		{"cidr holds mapped form", cidr, "http://[::ffff:127.0.0.1]/", ok},
		{"cidr holds v6", cidr, "http://[fd00:ec2::254]/", ok},
		{"cidr is exact", cidr, "http://127.0.0.2/", forbidden},
		{"cidr leaves the rest", cidr, "http://192.168.0.1/", forbidden},
		{"cidr leaves link-local", cidr, "http://169.254.169.254/", forbidden},
		{"cidr does not name localhost", cidr, "http://localhost/", forbidden},
		{"name", names, "http://hooks.internal/x", ok},
		{"name any case and trailing dot", names, "http://HOOKS.Internal.:8443/x", ok},
		{"localhost named", names, "http://localhost:3000/", ok},
		{"named metadata host", names, "http://metadata.google.internal/", ok},
		{"other names still checked", namesDNS, "https://internal.corp/", forbidden},
		{"subdomain not named", namesDNS, "http://a.hooks.internal/", ok}, // does not resolve
		{"names do not lift literals", names, "http://127.0.0.1/", forbidden},
		{"malformed stays malformed", names, "ftp://hooks.internal/", invalid},
		{"credentials stay refused", names, "http://u:p@hooks.internal/", invalid},
		{"numeric entry is an address", numeric, "http://127.0.0.1:8080/", ok},
		{"numeric entry is not a name", numeric, "http://2130706434/", forbidden},
		{"zone on allowed link-local", numeric, "http://[fe80::1%25eth0]/", ok},
		{"IDN entry matches its mapped form", numeric, "https://BÜCHER.corp/", ok},
		{"IDN entry matches punycode", numeric, "https://xn--bcher-kva.corp/", ok},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkOutcome(t, tt.url, tt.p.CheckURL(context.Background(), tt.url), tt.want)
		})
	}
}

func TestCheckURLCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := webhook.Policy{Resolver: dns(t, records)}
	if err := p.CheckURL(ctx, "https://example.com/"); !errors.Is(err, context.Canceled) {
		t.Errorf("CheckURL with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestParsePolicy(t *testing.T) {
	t.Parallel()
	p, err := webhook.ParsePolicy(" localhost, 10.0.0.0/8 ,,hooks.internal, 192.168.1.10 ,fe80::/10")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"localhost", "10.0.0.0/8", "hooks.internal", "192.168.1.10", "fe80::/10"}
	if strings.Join(p.Allow, ",") != strings.Join(want, ",") {
		t.Errorf("Allow = %q, want %q", p.Allow, want)
	}
	if err := p.CheckURL(context.Background(), "http://192.168.1.10/"); err != nil {
		t.Errorf("bare IP entry not honoured: %v", err)
	}
	if err := p.CheckURL(context.Background(), "http://192.168.1.11/"); !errors.Is(err, webhook.ErrForbiddenTarget) {
		t.Errorf("bare IP entry allows its neighbour: %v", err)
	}
	if p, err := webhook.ParsePolicy(""); err != nil || len(p.Allow) != 0 {
		t.Errorf("empty policy = %+v, %v", p, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "10.0.0/8", "exa mple.com", "http://hooks.example", "hooks..internal", "*.internal", "a,b,300.1.1.1/8", "256.1.1.1", "1.2.3.4.5", "08.1", "-ü.example"} {
		_, err := webhook.ParsePolicy(bad)
		if err == nil {
			t.Errorf("ParsePolicy(%q) accepted it", bad)
			continue
		}
		entry := bad[strings.LastIndex(bad, ",")+1:]
		if !strings.Contains(err.Error(), `"`+entry+`"`) {
			t.Errorf("ParsePolicy(%q) = %v, want it to name %q", bad, err, entry)
		}
	}
	// A numeric spelling of an address is that address, however the URL spells it.
	p, err = webhook.ParsePolicy("127.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"http://127.0.0.1/", "http://0x7f000001/", "http://[::ffff:127.0.0.1]/"} {
		if err := p.CheckURL(context.Background(), u); err != nil {
			t.Errorf("entry 127.1 does not allow %s: %v", u, err)
		}
	}
	// A bad entry in a hand-built Policy is reported, not ignored.
	if err := (webhook.Policy{Allow: []string{"10.0.0.0/99"}}).CheckURL(context.Background(), "https://8.8.8.8/"); err == nil {
		t.Error("CheckURL ignored a bad allow-list entry")
	}
}

// TestCheckURLNeverResolvesNumericHosts shows numeric spellings are judged as addresses,
// never handed to DNS as names (where glibc's inet_aton could read them differently).
func TestCheckURLNeverResolvesNumericHosts(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"https://134744072/", "https://0x8.0x8.0x8.0x8/", "https://010.010.010.010/", "https://8.8.2056/",
		"https://8.526344/", "https://８.８.８.８/", "https://8.8.8.8./", "https://[2606:4700:4700::1111]/",
		"http://2130706433/", "http://0x7f.1/", "http://127.000.000.001/", "http://１２７。０。０。１/",
		"http://0/", "http://0x/", "http://1.2.3.4.5/", "http://08.1/", "http://1.0x/", "http://foo.0x10/",
	} {
		var lookups atomic.Int32
		p := webhook.Policy{Resolver: webhook.ResolverFunc(func(_ context.Context, _, host string) ([]netip.Addr, error) {
			lookups.Add(1)
			return []netip.Addr{netip.MustParseAddr("93.184.215.14")}, nil
		})}
		_ = p.CheckURL(context.Background(), u)
		if n := lookups.Load(); n != 0 {
			t.Errorf("CheckURL(%q) resolved the host %d times, want it read as an address", u, n)
		}
	}
}
