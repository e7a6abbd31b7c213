package agents_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/agentic-run/agentic/agents"
)

// FuzzValidate feeds arbitrary bytes to every agent: Validate never panics and answers nil
// or field errors under /input; whatever it accepts renders a prompt and an object output.
// The seed corpus is in testdata/fuzz/FuzzValidate.
func FuzzValidate(f *testing.F) {
	c, err := agents.Builtin()
	if err != nil {
		f.Fatal(err)
	}
	list := c.List()
	f.Fuzz(func(t *testing.T, idx uint8, input []byte) {
		id := "no-such-agent"
		if i := int(idx) % (len(list) + 1); i < len(list) {
			id = list[i].ID
		}
		err := c.Validate(id, json.RawMessage(input))
		if id == "no-such-agent" {
			if !errors.Is(err, agents.ErrUnknownAgent) {
				t.Fatalf("unknown agent: %v", err)
			}
			return
		}
		a, _ := c.Get(id)
		// Model answers are arbitrary text too.
		if out, oerr := a.Output(json.RawMessage(input), string(input)); oerr == nil && !isObject(out) {
			t.Fatalf("%s: Output %q is not a JSON object", id, out)
		}
		if err != nil {
			var inv *agents.InvalidInputError
			if !errors.As(err, &inv) || len(inv.Fields) == 0 {
				t.Fatalf("%s: Validate = %v, want *InvalidInputError with fields", id, err)
			}
			for _, fe := range inv.Fields {
				if !strings.HasPrefix(fe.Path, "/input") || fe.Message == "" {
					t.Fatalf("%s: bad field error %+v", id, fe)
				}
			}
			return
		}
		msgs, err := a.Prompt(json.RawMessage(input))
		if err != nil || len(msgs) == 0 {
			t.Fatalf("%s: valid input %q: Prompt = %v, %v", id, input, msgs, err)
		}
		out, err := a.Output(json.RawMessage(input), "model answer")
		if err != nil || !isObject(out) {
			t.Fatalf("%s: valid input %q: Output = %s, %v", id, input, out, err)
		}
	})
}

// isObject reports whether b is one JSON object; numbers stay exact (1e400 is valid JSON).
func isObject(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if dec.Decode(&m) != nil || m == nil {
		return false
	}
	_, err := dec.Token()
	return errors.Is(err, io.EOF)
}
