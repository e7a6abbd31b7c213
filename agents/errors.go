package agents

import (
	"fmt"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// fieldErrors flattens a validation error tree into its leaves, one FieldError per
// problem, sorted by path then message.
func fieldErrors(ve *jsonschema.ValidationError) []FieldError {
	p := message.NewPrinter(language.English)
	var out []FieldError
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		out = append(out, leafErrors(e, p)...)
	}
	walk(ve)
	if len(out) == 0 { // a tree without leaves would be a library bug; still say something
		out = append(out, FieldError{Path: "/input", Message: "does not match the schema"})
	}
	slices.SortFunc(out, func(a, b FieldError) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
	return slices.Compact(out)
}

func leafErrors(e *jsonschema.ValidationError, p *message.Printer) []FieldError {
	path := "/input" + jsonPointer(e.InstanceLocation)
	var out []FieldError
	add := func(msg string) { out = append(out, FieldError{Path: path, Message: msg}) }
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		for _, m := range k.Missing {
			add(fmt.Sprintf("missing property '%s'", m))
		}
	case *kind.AdditionalProperties:
		for _, prop := range k.Properties {
			add(fmt.Sprintf("property '%s' is not allowed", prop))
		}
	case *kind.Type:
		add(fmt.Sprintf("must be %s, got %s", article(strings.Join(k.Want, " or ")), k.Got))
	case *kind.MinLength:
		if k.Want == 1 {
			add("must not be empty")
		} else {
			add(fmt.Sprintf("must be at least %d characters long, got %d", k.Want, k.Got))
		}
	case *kind.MaxLength:
		add(fmt.Sprintf("must be at most %d characters long, got %d", k.Want, k.Got))
	default:
		add(e.ErrorKind.LocalizedString(p))
	}
	return out
}

// article prefixes a JSON type name with "a" or "an".
func article(s string) string {
	if s != "" && strings.ContainsRune("aeiou", rune(s[0])) {
		return "an " + s
	}
	return "a " + s
}

// jsonPointer renders tokens as an RFC 6901 JSON pointer.
func jsonPointer(tokens []string) string {
	var b strings.Builder
	r := strings.NewReplacer("~", "~0", "/", "~1")
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(r.Replace(t))
	}
	return b.String()
}
