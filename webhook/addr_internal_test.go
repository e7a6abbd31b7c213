package webhook

import (
	"errors"
	"net/netip"
	"net/url"
	"testing"
)

func TestParseIPHost(t *testing.T) {
	t.Parallel()
	tests := map[string]string{ // host → address; "" means a name
		"127.0.0.1":        "127.0.0.1",
		"2130706433":       "127.0.0.1",
		"0177.0.0.1":       "127.0.0.1",
		"0x7f.0.0.1":       "127.0.0.1",
		"0x7f000001":       "127.0.0.1",
		"017700000001":     "127.0.0.1",
		"127.1":            "127.0.0.1",
		"127.000.000.001":  "127.0.0.1",
		"0X7F.1":           "127.0.0.1",
		"0x7f.0x0.0x0.0x1": "127.0.0.1",
		"00000177.0.0.01":  "127.0.0.1",
		"0x00007f.1":       "127.0.0.1",
		"127.0.1":          "127.0.0.1",
		"10.1":             "10.0.0.1",
		"192.168.65535":    "192.168.255.255",
		"0x":               "0.0.0.0",
		"0":                "0.0.0.0",
		"1.2.3.4.":         "1.2.3.4",
		"::1":              "::1",
		"::ffff:127.0.0.1": "::ffff:127.0.0.1",
		"fe80::1%eth0":     "fe80::1%eth0",
		"example.com":      "",
		"0x7f.example":     "",
		"localhost":        "",
		"1.2.3.example":    "",
		"deadbeef":         "",
	}
	for host, want := range tests {
		addr, ok, err := parseIPHost(host)
		if err != nil {
			t.Errorf("parseIPHost(%q) error %v", host, err)
			continue
		}
		if want == "" {
			if ok {
				t.Errorf("parseIPHost(%q) = %v, want a name", host, addr)
			}
			continue
		}
		if !ok || addr != netip.MustParseAddr(want) {
			t.Errorf("parseIPHost(%q) = %v, %v; want %s", host, addr, ok, want)
		}
	}
	for _, bad := range []string{"256.0.0.1", "1.2.3.4.5", "1.2.3.256", "1.2.65536", "4294967296", "08.1.1.1", "1.2.3.09", "99999999999999999999999", ":::"} {
		if _, _, err := parseIPHost(bad); !errors.Is(err, ErrInvalidURL) {
			t.Errorf("parseIPHost(%q) err = %v, want ErrInvalidURL", bad, err)
		}
	}
}

func TestForbiddenReason(t *testing.T) {
	t.Parallel()
	for _, public := range []string{"8.8.8.8", "1.1.1.1", "93.184.215.14", "100.63.255.255", "100.128.0.0", "172.32.0.1", "2606:4700:4700::1111", "2002:808:808::", "64:ff9b::808:808", "2001:4860:4860::8888", "2a00:1450:4001::1", "::ffff:8.8.8.8", "198.20.0.1", "2001:200::1"} {
		if r := forbiddenReason(netip.MustParseAddr(public)); r != "" {
			t.Errorf("%s is %s, want public", public, r)
		}
	}
	for _, private := range []string{"127.0.0.1", "10.255.255.255", "::ffff:192.168.0.1", "::ffff:0:a00:1", "fe80::1%eth0", "2002:a9fe:a9fe::1", "64:ff9b::7f00:1", "2001:db8::1", "fec0::1",
		"2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:2::1", "2001:1ff::1", "3fff::1", "1::1", "64:ff9b:1::808:808", "5f00::1",
		"::ffff:0:a9fe:a9fe", "::a00:1", "198.19.0.1", "100.127.255.255", "0.0.0.0", "255.255.255.255", "fd00:ec2::254", "::"} {
		if r := forbiddenReason(netip.MustParseAddr(private)); r == "" {
			t.Errorf("%s passed as public", private)
		}
	}
}

func TestSenderControl(t *testing.T) {
	t.Parallel()
	s := NewSender(Policy{Allow: []string{"10.0.0.0/8"}})
	for addr, allowed := range map[string]bool{
		"8.8.8.8:443":          true,
		"10.2.3.4:80":          true,
		"127.0.0.1:80":         false,
		"[::1]:80":             false,
		"[::ffff:10.0.0.1]:80": true,
		"[fe80::1%eth0]:80":    false,
		"garbage":              false,
	} {
		err := s.control("tcp", addr, nil)
		if (err == nil) != allowed || (err != nil && !errors.Is(err, ErrForbiddenTarget)) {
			t.Errorf("control(%s) = %v, want allowed %v", addr, err, allowed)
		}
	}
}

func TestTargetHost(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{ // URL → host judged; "" means invalid
		"http://Example.COM:8080/":    "Example.COM",
		"http://１２７.０.０.１/":           "127.0.0.1",
		"http://127。0。0。1/":           "127.0.0.1",
		"http://ＬＯＣＡＬＨＯＳＴ/":           "localhost",
		"http://bücher.example/":      "xn--bcher-kva.example",
		"http://a\u00adb.example/":    "ab.example",
		"http://[fe80::1%25eth0]:80/": "fe80::1%eth0",
		"http://[::ffff:127.0.0.1]/":  "::ffff:127.0.0.1",
		"http://-ü.example/":          "",
		"http://a\u200db.example/":    "",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		got, err := targetHost(u)
		if want == "" {
			if !errors.Is(err, ErrInvalidURL) {
				t.Errorf("targetHost(%q) = %q, %v; want ErrInvalidURL", raw, got, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("targetHost(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
}
