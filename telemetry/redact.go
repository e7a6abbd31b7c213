package telemetry

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
)

// Redacted is what a masked secret is replaced with.
const Redacted = "[REDACTED]"

// Redact returns a handler that masks secrets in every record before passing it to h.
//
// # By key
//
// The value of an attribute whose key names a secret is replaced by [Redacted], whatever its
// kind; the attribute itself stays, so the reader sees that the value was there. An empty
// string stays empty, because "not set" is worth seeing and reveals nothing. A key is split
// into words on anything that is not a letter or digit ("_", "-", ".", " ") and on camelCase
// ("apiKey", "APIKey" are "api"+"key"), and compared without regard to case. It names a secret
// when
//
//   - one of its words is password, passwd, pwd, pass, passphrase, token, secret, secrets,
//     auth, authorization, bearer, jwt, cookie, cookies, session, signature, credential,
//     credentials or creds; or
//   - its letters and digits, lower-cased and run together, contain password, passwd,
//     credential, authorization, apikey, accesskey, secretkey, privatekey, signingkey,
//     encryptionkey, clientsecret, webhooksecret, accesstoken, refreshtoken, authtoken,
//     apitoken, sessiontoken or bearertoken (so "x-api-key", "OPENAI_API_KEY", "apikey" and
//     "dbpassword" match);
//
// unless one of its words says it measures or classifies the secret rather than holding
// it: count, counts, num, number, total, max, min, limit, limits, budget, usage, used, len,
// length, size, ttl, expiry, expires, type, kind, method or scheme.
//
// Whole words are what count, so "tokens", "input_tokens", "max_tokens" (LLM token counts),
// "author", "authority", "passed" and "bypass" are left alone, and "token_count" and
// "auth_method" are exempt as measures. A bare "key" ("cache_key", "key_prefix") and "dsn"
// are not secrets by name: a DSN's password is masked by the value patterns below, which
// keeps its host and database readable.
//
// Groups inherit: inside a group (slog.Group or Logger.WithGroup) whose name names a secret,
// every attribute is masked unless its own key is exempt as a measure, so
// WithGroup("credentials") masks "user" but WithGroup("token") keeps "count". In maps with
// string keys (map[string]string, map[string][]string, http.Header, map[string]any as decoded
// from JSON) the value under a key that names a secret is masked whole.
//
// # By value
//
// Every string that reaches the handler is scanned: the record's message, attribute keys and
// string values, the text of errors, the elements of []string and []any, the values of the
// maps above, []byte and json.RawMessage, the result of a slog.LogValuer (resolved here, so
// h sees the value that was scanned), and for any other type its fmt "%+v" form (which uses
// the String method when there is one); when that form has a secret the attribute's value
// becomes the masked text. Only the secret part of a match is replaced:
//
//   - API keys "ak_" + at least 20 base64url characters, kept as "ak_[REDACTED]";
//   - provider keys "sk-" + at least 20 of [A-Za-z0-9_-] (sk-proj-…, sk-ant-api03-…);
//   - webhook secrets "whsec_" + base64 (standard or URL alphabet);
//   - Vault tokens "hvs.", "hvb.", "hvr." or the legacy "s." + at least 20 of [A-Za-z0-9_-];
//   - "Bearer <token>" in any case: the token, up to whitespace, a quote, a backslash, ","
//     or ";", is masked and "Bearer " kept;
//   - credentials in a URL, scheme://user:password@host: the password is masked, scheme, user
//     and host stay ("postgres://app:[REDACTED]@db:5432/x"); the authority ends at
//     whitespace, "/", "?", "#", a double quote, "<" or ">", and its last "@" ends the user
//     information;
//   - key=value where the key names a secret by the rules above ("password=…" in a
//     libpq DSN, "token=…" in a query string): the value up to whitespace, "&", ";", a quote
//     or a backslash, or the whole of a quoted value ('…', "…"); when the value is an
//     authorization scheme (Bearer, Basic, Token, Digest) the credential after it goes too;
//   - JSON members "key": "value" where the key names a secret, also in JSON that was
//     escaped into a string: the string value is masked;
//   - in the fmt form of a struct or map only, Key:value as "%+v" prints it, for example
//     {Password:…} or map[token:…].
//
// A prefix must start a word (the byte before it is not a letter, digit or "_"), so
// "peak_memory_usage_bytes_total" is not an API key. The patterns trade a little
// over-masking for safety: "missing Bearer token" logs as "missing Bearer [REDACTED]".
//
// # Cost
//
// The handler scans strings in place and, when nothing matches, passes the original record
// to h without allocating. A record is copied only when something in it is masked or it
// holds a slog.LogValuer; a value of a type inspected through fmt costs that formatting.
// Attributes added with WithAttrs are redacted once, when the derived handler is made.
// Redact of a handler Redact returned is that handler.
func Redact(h slog.Handler) slog.Handler {
	if r, ok := h.(*redactor); ok {
		return r
	}
	return &redactor{next: h}
}

// redactor is the handler Redact returns.
type redactor struct {
	next slog.Handler
	// secret is set when a group opened with WithGroup names a secret: every attribute
	// below it is masked unless its key is exempt.
	secret bool
}

var _ slog.Handler = (*redactor)(nil)

// Enabled reports whether the wrapped handler handles records at level l.
func (h *redactor) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

// Handle masks secrets in r and passes it on; r goes through unchanged, without a copy,
// when it holds none.
func (h *redactor) Handle(ctx context.Context, r slog.Record) error {
	if msg, ok := redactString(r.Message, false); ok {
		r.Message = msg
	}
	changed := false
	r.Attrs(func(a slog.Attr) bool {
		_, changed = redactAttr(a, h.secret)
		return !changed
	})
	if !changed {
		return h.next.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		a, _ = redactAttr(a, h.secret)
		out.AddAttrs(a)
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs redacts as once and returns a handler that adds them to every record.
func (h *redactor) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	as, _ = redactAttrs(as, h.secret)
	return &redactor{next: h.next.WithAttrs(as), secret: h.secret}
}

// WithGroup returns a handler that opens group name; when the name names a secret every
// attribute inside is masked.
func (h *redactor) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	masked, _ := redactString(name, false)
	return &redactor{next: h.next.WithGroup(masked), secret: h.secret || secretGroup(name)}
}

// redactAttrs redacts each of as, copying the slice only when one of them changes.
func redactAttrs(as []slog.Attr, inSecret bool) ([]slog.Attr, bool) {
	var out []slog.Attr
	for i, a := range as {
		b, ok := redactAttr(a, inSecret)
		if !ok {
			continue
		}
		if out == nil {
			out = make([]slog.Attr, len(as))
			copy(out, as)
		}
		out[i] = b
	}
	if out == nil {
		return as, false
	}
	return out, true
}

// redactAttr masks a by its key and its value; inSecret says an enclosing group names a
// secret. It reports whether the returned attribute differs from a; a resolved
// slog.LogValuer always counts as a change, so the next handler logs the value that was
// scanned instead of calling LogValue a second time.
func redactAttr(a slog.Attr, inSecret bool) (slog.Attr, bool) {
	key := a.Key
	changed := false
	if k, ok := redactString(key, false); ok {
		a.Key, changed = k, true
	}
	v := a.Value
	if v.Kind() == slog.KindLogValuer {
		v, changed = v.Resolve(), true
	}
	switch {
	case v.Kind() == slog.KindGroup:
		if g, ok := redactAttrs(v.Group(), inSecret || secretGroup(key)); ok {
			v, changed = slog.GroupValue(g...), true
		}
	case secretKey(key, inSecret):
		if v.Kind() != slog.KindString || v.String() != "" {
			v, changed = slog.StringValue(Redacted), true
		}
	default:
		if w, ok := redactValue(v); ok {
			v, changed = w, true
		}
	}
	a.Value = v
	return a, changed
}

// redactValue masks the secrets in a value whose key names none.
func redactValue(v slog.Value) (slog.Value, bool) {
	switch v.Kind() {
	case slog.KindString:
		if s, ok := redactString(v.String(), false); ok {
			return slog.StringValue(s), true
		}
	case slog.KindAny:
		if x, ok := redactAny(v.Any()); ok {
			return slog.AnyValue(x), true
		}
	}
	return v, false
}

// redactAny masks the secrets in x, an attribute's value or part of one, whose key names
// none. Errors, byte slices and types known only through fmt become strings when they
// change; slices and maps are copied.
func redactAny(x any) (any, bool) {
	switch t := x.(type) {
	case nil, bool, float64, int, int64, uint64:
		return x, false
	case string:
		return redactString(t, false)
	case error:
		if s, ok := redactString(errorText(t), false); ok {
			return s, true
		}
	case []string:
		return redactStrings(t)
	case json.RawMessage:
		if s, ok := redactString(string(t), false); ok {
			return json.RawMessage(s), true
		}
	case []byte:
		if s, ok := redactString(string(t), false); ok {
			return s, true
		}
	case []any:
		var out []any
		for i, e := range t {
			f, ok := redactAny(e)
			if !ok {
				continue
			}
			if out == nil {
				out = append([]any(nil), t...)
			}
			out[i] = f
		}
		if out != nil {
			return out, true
		}
	case map[string]any:
		return redactMap(t, Redacted, redactAny)
	case map[string]string:
		return redactMap(t, Redacted, redactPlain)
	case map[string][]string:
		return redactMap(t, []string{Redacted}, redactStrings)
	case http.Header:
		m, ok := redactMap(t, []string{Redacted}, redactStrings)
		return http.Header(m), ok
	default:
		if s, ok := redactString(fmt.Sprintf("%+v", x), true); ok {
			return s, true
		}
	}
	return x, false
}

// errorText returns err.Error(), or "" when that panics (a nil pointer that does not guard
// against it); the next handler then logs the error as it would without Redact.
func errorText(err error) (s string) {
	defer func() {
		if recover() != nil {
			s = ""
		}
	}()
	return err.Error()
}

// redactMap replaces the values of m whose keys name a secret with mask, and masks the
// secrets in the others with f; it copies m only when something changes.
func redactMap[V any](m map[string]V, mask V, f func(V) (V, bool)) (map[string]V, bool) {
	var out map[string]V
	for k, v := range m {
		var w V
		ok := false
		if secretKey(k, false) && !isEmptyString(v) {
			w, ok = mask, true
		} else {
			w, ok = f(v)
		}
		if !ok {
			continue
		}
		if out == nil {
			out = make(map[string]V, len(m))
			for k2, v2 := range m {
				out[k2] = v2
			}
		}
		out[k] = w
	}
	if out == nil {
		return m, false
	}
	return out, true
}

// redactPlain masks the secrets in s, a string outside fmt's "%+v" form.
func redactPlain(s string) (string, bool) { return redactString(s, false) }

// isEmptyString reports whether v is the empty string, which stays as it is.
func isEmptyString(v any) bool {
	s, ok := v.(string)
	return ok && s == ""
}

// redactStrings masks the secrets in each of ss, copying the slice only when one changes.
func redactStrings(ss []string) ([]string, bool) {
	var out []string
	for i, s := range ss {
		r, ok := redactString(s, false)
		if !ok {
			continue
		}
		if out == nil {
			out = append([]string(nil), ss...)
		}
		out[i] = r
	}
	if out == nil {
		return ss, false
	}
	return out, true
}

// Key rules.

// keyRule is a word or run of the key rules with the set of letters it contains, so that
// a key lacking one of them is passed over without a search.
type keyRule struct {
	text    string
	letters uint32
}

// rules returns the keyRules for list.
func rules(list ...string) []keyRule {
	rs := make([]keyRule, len(list))
	for i, t := range list {
		rs[i] = keyRule{text: t, letters: letters(t)}
	}
	return rs
}

// secretWords are the words that make a key name a secret.
var secretWords = rules(
	"password", "passwd", "pwd", "pass", "passphrase",
	"token", "secret", "secrets",
	"auth", "authorization", "bearer", "jwt",
	"cookie", "cookies", "session", "signature",
	"credential", "credentials", "creds",
)

// secretRuns are the runs of lower-case letters and digits that make a key name a secret
// wherever they appear in it once its separators are dropped.
var secretRuns = rules(
	"password", "passwd", "credential", "authorization",
	"apikey", "accesskey", "secretkey", "privatekey", "signingkey", "encryptionkey",
	"clientsecret", "webhooksecret",
	"accesstoken", "refreshtoken", "authtoken", "apitoken", "sessiontoken", "bearertoken",
)

// measureWords are the words that make a key describe a secret (how many, how long, which
// kind) rather than hold one.
var measureWords = rules(
	"count", "counts", "num", "number", "total", "max", "min", "limit", "limits",
	"budget", "usage", "used", "len", "length", "size", "ttl", "expiry", "expires",
	"type", "kind", "method", "scheme",
)

// secretKey reports whether the value under key is masked; inSecret says an enclosing
// group names a secret.
func secretKey(key string, inSecret bool) bool {
	return (inSecret || namesSecret(key)) && !hasWord(key, letters(key), measureWords)
}

// secretGroup reports whether the attributes inside a group called name are all masked.
func secretGroup(name string) bool {
	return namesSecret(name) && !hasWord(name, letters(name), measureWords)
}

// namesSecret reports whether key has a secret word or run, ignoring measure words.
func namesSecret(key string) bool {
	m := letters(key)
	for _, r := range secretRuns {
		if r.letters&m == r.letters && containsRun(key, r.text) {
			return true
		}
	}
	return hasWord(key, m, secretWords)
}

// hasWord reports whether one of key's words is in list, ignoring case; m is letters(key).
func hasWord(key string, m uint32, list []keyRule) bool {
	for _, l := range list {
		if l.letters&m != l.letters {
			continue
		}
		for w, i := nextWord(key, 0); w != ""; w, i = nextWord(key, i) {
			if strings.EqualFold(w, l.text) {
				return true
			}
		}
	}
	return false
}

// letters returns the set of ASCII letters in s, ignoring case, one bit per letter.
func letters(s string) uint32 {
	var m uint32
	for i := 0; i < len(s); i++ {
		if c := lower(s[i]); isLower(c) {
			m |= 1 << (c - 'a')
		}
	}
	return m
}

// nextWord returns the word of s that starts at or after i and the index after it. Words
// are runs of letters and digits, split further at camelCase boundaries: "apiKey" and
// "APIKey" are "api"/"API" then "Key".
func nextWord(s string, i int) (string, int) {
	for i < len(s) && !isAlnum(s[i]) {
		i++
	}
	start := i
	for ; i < len(s) && isAlnum(s[i]); i++ {
		if i == start || !isUpper(s[i]) {
			continue
		}
		prev := s[i-1]
		if !isUpper(prev) || i+1 < len(s) && isLower(s[i+1]) {
			break
		}
	}
	return s[start:i], i
}

// containsRun reports whether run (lower-case letters and digits) appears in the letters
// and digits of s, lower-cased, with everything else dropped.
func containsRun(s, run string) bool {
	for p := 0; p < len(s); p++ {
		if lower(s[p]) != run[0] {
			continue
		}
		k := 1
		for q := p + 1; q < len(s) && k < len(run); q++ {
			c := s[q]
			if !isAlnum(c) {
				continue
			}
			if lower(c) != run[k] {
				break
			}
			k++
		}
		if k == len(run) {
			return true
		}
	}
	return false
}

// Value patterns.

// redactString returns s with every secret the value patterns find replaced, and whether
// there was one; fields also enables the Key:value form of fmt's "%+v". It does not
// allocate when there is none.
func redactString(s string, fields bool) (string, bool) {
	at, start, end, ok := findSecret(s, 0, fields)
	if !ok {
		return s, false
	}
	var b strings.Builder
	b.Grow(len(s) + len(Redacted))
	writeRedacted(&b, s, at, start, end, fields)
	return b.String(), true
}

// writeRedacted writes s to b with its secrets masked, given the first one found: trigger
// at, span [start, end).
func writeRedacted(b *strings.Builder, s string, at, start, end int, fields bool) {
	last := 0
	for {
		// Bytes between the trigger and the span (the user of a URL) were skipped by the
		// search and may hold a secret of their own.
		b.WriteString(s[last : at+1])
		if gap := s[at+1 : start]; gap != "" {
			if gat, gs, ge, ok := findSecret(gap, 0, fields); ok {
				writeRedacted(b, gap, gat, gs, ge, fields)
			} else {
				b.WriteString(gap)
			}
		}
		b.WriteString(Redacted)
		last = end
		var ok bool
		if at, start, end, ok = findSecret(s, last, fields); !ok {
			break
		}
	}
	b.WriteString(s[last:])
}

// findSecret returns the first secret in s at or after from: the index of the byte that
// triggered the pattern and the span to mask, which starts after it.
func findSecret(s string, from int, fields bool) (at, start, end int, ok bool) {
	for i := from; i < len(s); i++ {
		switch c := s[i]; c {
		case ':':
			start, end, ok = urlPassword(s, i)
			if !ok {
				start, end, ok = jsonMember(s, i, from)
			}
			if !ok && fields {
				start, end, ok = assignment(s, i, from, true)
			}
		case '=':
			start, end, ok = assignment(s, i, from, fields)
		case 'a', 's', 'w', 'h', 'b', 'B':
			// Prefixes start words; most letters are inside one.
			if !wordStart(s, i) || i+1 == len(s) {
				continue
			}
			switch next := s[i+1]; {
			case c == 'a' && next == 'k':
				start, end, ok = prefixed(s, i, "ak_", isBase64URL, 20)
			case c == 's' && next == 'k':
				start, end, ok = prefixed(s, i, "sk-", isBase64URL, 20)
			case c == 's' && next == '.':
				start, end, ok = prefixed(s, i, "s.", isBase64URL, 20)
			case c == 'w' && next == 'h':
				start, end, ok = prefixed(s, i, "whsec_", isBase64, 1)
			case c == 'h' && next == 'v':
				start, end, ok = prefixed(s, i, "hvs.", isBase64URL, 20)
				if !ok {
					start, end, ok = prefixed(s, i, "hvb.", isBase64URL, 20)
				}
				if !ok {
					start, end, ok = prefixed(s, i, "hvr.", isBase64URL, 20)
				}
			case c == 'b' || c == 'B':
				start, end, ok = bearer(s, i)
			}
		}
		if ok {
			return i, start, end, true
		}
	}
	return 0, 0, 0, false
}

// prefixed matches prefix at i, which starts a word, followed by at least minLen bytes of
// class; the span is those bytes.
func prefixed(s string, i int, prefix string, class func(byte) bool, minLen int) (int, int, bool) {
	if !strings.HasPrefix(s[i:], prefix) {
		return 0, 0, false
	}
	start := i + len(prefix)
	end := start
	for end < len(s) && class(s[end]) {
		end++
	}
	return start, end, end-start >= minLen
}

// bearer matches "Bearer <token>" at i in any case; the span is the token.
func bearer(s string, i int) (int, int, bool) {
	const scheme = "bearer"
	j := i + len(scheme)
	if j >= len(s) || !strings.EqualFold(s[i:j], scheme) || !isBlank(s[j]) || !wordStart(s, i) {
		return 0, 0, false
	}
	for j < len(s) && isBlank(s[j]) {
		j++
	}
	end := j
	for end < len(s) && !endsToken(s[end]) {
		end++
	}
	return j, end, end > j
}

// urlPassword matches "://user:password@" at i, the colon of the scheme; the span is the
// password.
func urlPassword(s string, i int) (int, int, bool) {
	if !strings.HasPrefix(s[i:], "://") {
		return 0, 0, false
	}
	a := i + len("://")
	e := a
	for e < len(s) && !endsAuthority(s[e]) {
		e++
	}
	at := strings.LastIndexByte(s[a:e], '@')
	if at < 0 {
		return 0, 0, false
	}
	colon := strings.IndexByte(s[a:a+at], ':')
	if colon < 0 || colon+1 == at {
		return 0, 0, false
	}
	return a + colon + 1, a + at, true
}

// jsonMember matches `"key": "value"` at i, the colon, when key names a secret; the span
// is the value's contents. Members escaped into a JSON string (\"key\":\"value\") match
// too. A value without its closing quote runs to the end of s.
func jsonMember(s string, i, from int) (int, int, bool) {
	j := i - 1
	for j >= from && isBlank(s[j]) {
		j--
	}
	if j < from || s[j] != '"' {
		return 0, 0, false
	}
	escaped := j-1 >= from && s[j-1] == '\\'
	keyEnd := j
	if escaped {
		keyEnd--
	}
	k := keyEnd
	for k-1 >= from && isKeyByte(s[k-1]) {
		k--
	}
	if k == keyEnd || k-1 < from || s[k-1] != '"' || !secretKey(s[k:keyEnd], false) {
		return 0, 0, false
	}
	v := i + 1
	for v < len(s) && isBlank(s[v]) {
		v++
	}
	if escaped {
		if !strings.HasPrefix(s[v:], `\"`) {
			return 0, 0, false
		}
		v += 2
		end := strings.Index(s[v:], `\"`)
		if end < 0 {
			return v, len(s), v < len(s)
		}
		return v, v + end, end > 0
	}
	if v >= len(s) || s[v] != '"' {
		return 0, 0, false
	}
	v++
	end := v
	for end < len(s) && s[end] != '"' {
		if s[end] == '\\' {
			end++
		}
		end++
	}
	end = min(end, len(s))
	return v, end, end > v
}

// assignment matches key=value at i, the "=" (or with fields, key:value at the ":"), when
// key names a secret; the span is the value.
func assignment(s string, i, from int, fields bool) (int, int, bool) {
	k := i
	for k-1 >= from && isKeyByte(s[k-1]) {
		k--
	}
	if k == i || !secretKey(s[k:i], false) {
		return 0, 0, false
	}
	v := i + 1
	if v >= len(s) {
		return 0, 0, false
	}
	if q := s[v]; q == '"' || q == '\'' {
		end := strings.IndexByte(s[v+1:], q)
		if end < 0 {
			return v + 1, len(s), v+1 < len(s)
		}
		return v + 1, v + 1 + end, end > 0
	}
	if strings.HasPrefix(s[v:], `\"`) {
		end := strings.Index(s[v+2:], `\"`)
		if end < 0 {
			return v + 2, len(s), v+2 < len(s)
		}
		return v + 2, v + 2 + end, end > 0
	}
	end := valueEnd(s, v, fields)
	// "Authorization=Bearer abc": the credential follows the scheme.
	if end < len(s) && isBlank(s[end]) && isAuthScheme(strings.TrimLeft(s[v:end], `["'`)) {
		w := end
		for w < len(s) && isBlank(s[w]) {
			w++
		}
		if e := valueEnd(s, w, fields); e > w {
			end = e
		}
	}
	return v, end, end > v
}

// valueEnd returns the index where the unquoted value starting at v ends.
func valueEnd(s string, v int, fields bool) int {
	for v < len(s) && !endsValue(s[v], fields) {
		v++
	}
	return v
}

// isAuthScheme reports whether w is an HTTP authorization scheme that precedes a credential.
func isAuthScheme(w string) bool {
	for _, s := range []string{"bearer", "basic", "token", "digest"} {
		if strings.EqualFold(w, s) {
			return true
		}
	}
	return false
}

// Byte classes.

// wordStart reports whether a pattern at i starts a word: it is first or follows a byte that
// is not a letter, digit or "_".
func wordStart(s string, i int) bool {
	return i == 0 || !isAlnum(s[i-1]) && s[i-1] != '_'
}

func isLower(c byte) bool { return 'a' <= c && c <= 'z' }
func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlnum(c byte) bool { return isLower(c) || isUpper(c) || isDigit(c) }

// isKeyByte reports whether c can be part of a key in key=value or "key": text.
func isKeyByte(c byte) bool { return isAlnum(c) || c == '_' || c == '-' || c == '.' }

// isBase64URL reports whether c is in the URL-safe base64 alphabet.
func isBase64URL(c byte) bool { return isAlnum(c) || c == '-' || c == '_' }

// isBase64 reports whether c is in either base64 alphabet or is padding.
func isBase64(c byte) bool { return isBase64URL(c) || c == '+' || c == '/' || c == '=' }

func isBlank(c byte) bool { return c == ' ' || c == '\t' }
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// endsToken reports whether c ends the token after "Bearer ".
func endsToken(c byte) bool {
	switch c {
	case '"', '\'', '\\', ',', ';':
		return true
	}
	return isSpace(c)
}

// endsAuthority reports whether c ends the authority of a URL.
func endsAuthority(c byte) bool {
	switch c {
	case '/', '?', '#', '"', '<', '>':
		return true
	}
	return isSpace(c)
}

// endsValue reports whether c ends an unquoted value in key=value text or, with fields, in
// fmt's Key:value.
func endsValue(c byte, fields bool) bool {
	if fields {
		return c == '}' || c == ']' || isSpace(c)
	}
	switch c {
	case '&', ';', '"', '\'', '\\':
		return true
	}
	return isSpace(c)
}

// lower returns the lower-case form of an ASCII letter and c otherwise.
func lower(c byte) byte {
	if isUpper(c) {
		return c + 'a' - 'A'
	}
	return c
}
