package events

import (
	"encoding/json"
	"testing"
)

func TestAppendJSONStringRoundTrips(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "tsk_01jd8q3w7y5x0m2k4n6p8r9s1t", `a"b\c`, "line\nbreak\r\ttab", "\x00\x01\x1f", "<html>&", "héllo ✓"} {
		var got string
		b := appendJSONString(nil, s)
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q encoded as invalid JSON %s: %v", s, b, err)
		}
		if got != s {
			t.Fatalf("%q round-tripped as %q", s, got)
		}
	}
}
