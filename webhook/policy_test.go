package webhook_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
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
		{"http://%31%32%37.0.0.1/", invalid}, // Go refuses escapes in hosts; never deliverable
		{"http://[::1]/", forbidden},
		{"http://[0:0:0:0:0:0:0:1]/", forbidden},
		{"http://[::ffff:127.0.0.1]/", forbidden},
		{"http://[::ffff:7f00:1]/", forbidden},
		{"http://[::127.0.0.1]/", forbidden},
		{"http://[64:ff9b::127.0.0.1]/", forbidden},
		{"http://[2002:7f00:1::]/", forbidden},
		{"http://localhost/", forbidden},
		{"http://LocalHost:3000/", forbidden},
		{"http://localhost./", forbidden},
		{"http://api.localhost/", forbidden},
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
		{"http://0.0.0.0/", forbidden},
		{"http://0/", forbidden},
		{"http://0.1.2.3/", forbidden},
		{"http://224.0.0.1/", forbidden},
		{"http://239.255.255.250:1900/", forbidden},
		{"http://255.255.255.255/", forbidden},
		{"http://198.18.0.1/", forbidden},
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
		"http://0x7f.1/":            "127.0.0.1 is loopback",
		"http://[::ffff:10.0.0.1]/": "private (10.0.0.1 inside an IPv6 address)",
		"https://internal.corp/":    "10.1.2.3 is private (internal.corp resolves to it)",
		"http://169.254.169.254/":   "169.254.169.254 is link-local",
		"http://100.64.1.1/":        "CGNAT",
		"https://u:p@example.com/":  "credentials",
		"ftp://example.com/":        `scheme "ftp" is not http or https`,
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
	for _, bad := range []string{"10.0.0.0/33", "10.0.0/8", "exa mple.com", "http://hooks.example", "hooks..internal", "*.internal", "a,b,300.1.1.1/8"} {
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
	// A bad entry in a hand-built Policy is reported, not ignored.
	if err := (webhook.Policy{Allow: []string{"10.0.0.0/99"}}).CheckURL(context.Background(), "https://8.8.8.8/"); err == nil {
		t.Error("CheckURL ignored a bad allow-list entry")
	}
}
