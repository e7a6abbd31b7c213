package ingest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
)

// FuzzDepthScan checks nestingDepth against encoding/json: for valid JSON it must equal the
// depth of the decoded value; for any input, stopping at a limit must agree with the full
// scan, and unmarshal must refuse exactly the documents deeper than maxDepth with
// json_too_deep and accept every other valid one. Seeds are in testdata/fuzz/FuzzDepthScan.
func FuzzDepthScan(f *testing.F) {
	f.Add(`{"a":[1,{"b":"[[\"]]"}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		b := []byte(doc)
		got := nestingDepth(b, len(b)+1) // no input is deeper than it is long
		for _, limit := range []int{0, 1, 2, maxDepth} {
			want := min(got, limit+1)
			if d := nestingDepth(b, limit); d != want {
				t.Fatalf("nestingDepth(%q, %d) = %d, want %d (full scan: %d)", doc, limit, d, want, got)
			}
		}

		valid := json.Valid(b)
		if valid {
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.UseNumber()
			var v any
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("json.Valid accepted %q, Decode says %v", doc, err)
			}
			if want := depthOf(v); got != want {
				t.Fatalf("nestingDepth(%q) = %d, encoding/json says %d", doc, got, want)
			}
		}

		var v any
		err := unmarshal(b, &v)
		switch {
		case got > maxDepth:
			if p := problemFor(err); p.Status != http.StatusBadRequest || p.Code != codeJSONTooDeep {
				t.Fatalf("%d levels: got %v, want json_too_deep", got, err)
			}
		case valid:
			if err != nil {
				t.Fatalf("valid JSON of %d levels refused: %v", got, err)
			}
		default:
			if p := problemFor(err); p.Status != http.StatusBadRequest || p.Code != codeInvalidJSON {
				t.Fatalf("invalid JSON %q: got %v, want invalid_json", doc, err)
			}
		}
	})
}

// depthOf is the nesting depth of a decoded JSON value: 0 for a scalar, 1 more than its
// deepest element for an object or array.
func depthOf(v any) int {
	deepest := 0
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			deepest = max(deepest, depthOf(e))
		}
	case []any:
		for _, e := range v {
			deepest = max(deepest, depthOf(e))
		}
	default:
		return 0
	}
	return deepest + 1
}
