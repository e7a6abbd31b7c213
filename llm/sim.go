package llm

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrSimFailure is the cause inside the *Error of a call the sim provider fails on purpose.
var ErrSimFailure = errors.New("simulated failure: 503 service unavailable")

// sim is the simulated provider: deterministic content, realistic token counts, a
// configurable latency and failure rate. It stands in for a vendor in development, tests
// and benchmarks of the pipeline.
type sim struct {
	latency  time.Duration
	failRate float64
}

func newSim(cfg SimConfig) *sim {
	s := &sim{latency: max(cfg.Latency, 0), failRate: cfg.FailRate}
	if math.IsNaN(s.failRate) || s.failRate < 0 {
		s.failRate = 0
	}
	s.failRate = min(s.failRate, 1)
	return s
}

// Name returns "sim".
func (s *sim) Name() string { return "sim" }

// Complete waits the configured latency, fails the configured fraction of calls with a
// retryable 503, and otherwise answers deterministically from the request.
func (s *sim) Complete(ctx context.Context, req Request) (*Response, error) {
	if len(req.Messages) == 0 {
		return nil, &Error{Kind: KindInvalid, Provider: "sim", Status: 400, Err: errors.New("request has no messages")}
	}
	if req.MaxTokens < 0 {
		return nil, &Error{Kind: KindInvalid, Provider: "sim", Status: 400, Err: fmt.Errorf("negative max tokens %d", req.MaxTokens)}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	if s.latency > 0 {
		t := time.NewTimer(s.latency)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("sim: %w", ctx.Err())
		case <-t.C:
		}
	}
	// The top-level math/rand/v2 functions are safe for concurrent use.
	if s.failRate > 0 && rand.Float64() < s.failRate {
		return nil, &Error{Kind: KindRetryable, Provider: "sim", Status: 503, Err: ErrSimFailure}
	}

	content := simContent(req)
	if req.MaxTokens > 0 {
		content = truncateRunes(content, req.MaxTokens*4)
	}
	return &Response{
		Content:      content,
		InputTokens:  InputTokens(req.Messages),
		OutputTokens: EstimateTokens(content),
		Model:        req.Model,
	}, nil
}

// EstimateTokens approximates a tokenizer: one token per four characters, rounded up.
func EstimateTokens(s string) int64 {
	return (int64(utf8.RuneCountInString(s)) + 3) / 4
}

// InputTokens approximates the prompt tokens of messages: a token per four characters of
// all contents plus four per message for the chat framing.
func InputTokens(msgs []Message) int64 {
	var runes int64
	for _, m := range msgs {
		runes += int64(utf8.RuneCountInString(m.Content))
	}
	return (runes+3)/4 + 4*int64(len(msgs))
}

// truncateRunes cuts s to at most n characters, at a word boundary when one is near.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)[:n]
	if i := lastSpace(r); i > n/2 {
		r = r[:i]
	}
	return strings.TrimRightFunc(string(r), unicode.IsSpace)
}

func lastSpace(r []rune) int {
	for i := len(r) - 1; i >= 0; i-- {
		if unicode.IsSpace(r[i]) {
			return i
		}
	}
	return -1
}

// simContent derives the answer from the request alone.
func simContent(req Request) string {
	var system, user strings.Builder
	for _, m := range req.Messages {
		switch m.Role {
		case "system":
			system.WriteString(m.Content)
			system.WriteByte('\n')
		case "user":
			// The last user turn is the question.
			user.Reset()
			user.WriteString(m.Content)
		}
	}
	if user.Len() == 0 {
		user.WriteString(req.Messages[len(req.Messages)-1].Content)
	}
	rng := seededRand(req)
	if out, ok := fillTemplate(system.String(), user.String(), rng); ok {
		return out
	}
	lowerSys := strings.ToLower(system.String())
	if strings.Contains(lowerSys, "summar") || (system.Len() == 0 && strings.Contains(strings.ToLower(user.String()), "summar")) {
		return summarize(user.String())
	}
	return prose(user.String(), rng)
}

// seededRand returns a generator seeded by a hash of the seed and every message.
func seededRand(req Request) *rand.Rand {
	h := sha256.New()
	h.Write([]byte(req.Seed))
	for _, m := range req.Messages {
		h.Write([]byte{0})
		h.Write([]byte(m.Role))
		h.Write([]byte{0})
		h.Write([]byte(m.Content))
	}
	sum := h.Sum(nil)
	return rand.New(rand.NewPCG(binary.LittleEndian.Uint64(sum[:8]), binary.LittleEndian.Uint64(sum[8:16])))
}

// summarize keeps the leading sentences of text within a word budget of about a third of
// the text (8 to 60 words).
func summarize(text string) string {
	words := strings.Fields(text)
	if len(words) == 0 {
		return "Nothing to summarize."
	}
	budget := min(max(len(words)/3, 8), 60)
	var out []string
	for _, sent := range sentences(words) {
		if len(out) > 0 && len(out)+len(sent) > budget {
			break
		}
		if len(sent) > budget-len(out) {
			sent = sent[:budget-len(out)]
		}
		out = append(out, sent...)
		if len(out) >= budget {
			break
		}
	}
	s := strings.Join(out, " ")
	if !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, "!") && !strings.HasSuffix(s, "?") {
		s = strings.TrimRight(s, ",;:-") + "."
	}
	return s
}

// sentences groups words into sentences ending with '.', '!' or '?'.
func sentences(words []string) [][]string {
	var out [][]string
	start := 0
	for i, w := range words {
		if strings.HasSuffix(w, ".") || strings.HasSuffix(w, "!") || strings.HasSuffix(w, "?") {
			out = append(out, words[start:i+1])
			start = i + 1
		}
	}
	if start < len(words) {
		out = append(out, words[start:])
	}
	return out
}

var proseTemplates = []string{
	"The main point concerns %s and its relation to %s.",
	"In short, %s matters more than %s here.",
	"A careful look at %s suggests a simple answer about %s.",
	"Most of the details about %s follow from %s.",
	"It is worth checking %s first, then %s.",
	"The part about %s is clear, while %s needs more context.",
	"Overall, %s looks consistent with %s.",
	"One risk is that %s hides a problem with %s.",
	"This answer assumes %s stays as described, and so does %s.",
	"The evidence around %s is limited, but it agrees with %s.",
}

var proseFallback = []string{
	"the request", "the input", "the context", "the data", "the result",
	"the question", "the approach", "the details", "the constraints", "the outcome",
}

// prose builds two to four sentences from templates, filled with words of the input.
func prose(text string, rng *rand.Rand) string {
	keys := keywords(text, 12)
	pick := func() string {
		if len(keys) > 0 && rng.IntN(4) != 0 {
			return keys[rng.IntN(len(keys))]
		}
		return proseFallback[rng.IntN(len(proseFallback))]
	}
	n := 2 + rng.IntN(3)
	parts := make([]string, 0, n)
	for range n {
		t := proseTemplates[rng.IntN(len(proseTemplates))]
		parts = append(parts, fmt.Sprintf(t, pick(), pick()))
	}
	return strings.Join(parts, " ")
}

// keywords returns up to n distinct lower-case words of at least four letters, in order of
// first appearance.
func keywords(text string, n int) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range strings.FieldsFunc(text, func(r rune) bool { return !unicode.IsLetter(r) && r != '-' }) {
		w := strings.ToLower(strings.Trim(f, "-"))
		if utf8.RuneCountInString(w) < 4 || seen[w] {
			continue
		}
		seen[w] = true
		out = append(out, w)
		if len(out) == n {
			break
		}
	}
	return out
}

var (
	positiveWords = []string{"good", "great", "love", "excellent", "happy", "thank", "awesome", "nice", "fantastic", "perfect", "best", "wonderful", "pleased", "amazing", "enjoy"}
	negativeWords = []string{"bad", "terrible", "hate", "awful", "angry", "broken", "worst", "poor", "slow", "disappoint", "refund", "crash", "fail", "problem", "annoy", "useless"}
)

// fillTemplate answers a system prompt that shows a flat JSON object template such as
// {"label": "positive|negative|neutral", "score": 0.0}: options are picked (sentiment
// options from a small lexicon, others by the seeded generator), numbers drawn.
func fillTemplate(system, user string, rng *rand.Rand) (string, bool) {
	for i := strings.IndexByte(system, '{'); i >= 0; {
		if out, ok := fillObject(system[i:], user, rng); ok {
			return out, true
		}
		j := strings.IndexByte(system[i+1:], '{')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return "", false
}

func fillObject(s, user string, rng *rand.Rand) (string, bool) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", false
	}
	var b strings.Builder
	b.WriteByte('{')
	n := 0
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return "", false
		}
		key, _ := kt.(string)
		vt, err := dec.Token()
		if err != nil {
			return "", false
		}
		var val []byte
		switch v := vt.(type) {
		case string:
			val, _ = json.Marshal(pickOption(v, user, rng))
		case json.Number:
			val = []byte(drawNumber(v, rng))
		case bool:
			val = []byte(strconv.FormatBool(rng.IntN(2) == 0))
		default: // nested values or null: not a template this sim fills
			return "", false
		}
		if n > 0 {
			b.WriteString(", ")
		}
		k, _ := json.Marshal(key)
		b.Write(k)
		b.WriteString(": ")
		b.Write(val)
		n++
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') || n == 0 {
		return "", false
	}
	b.WriteByte('}')
	return b.String(), true
}

func pickOption(v, user string, rng *rand.Rand) string {
	opts := strings.Split(v, "|")
	for i := range opts {
		opts[i] = strings.TrimSpace(opts[i])
	}
	if len(opts) == 1 {
		if opts[0] == "" || opts[0] == "..." || opts[0] == "…" {
			return prose(user, rng)
		}
		return opts[0]
	}
	if label, ok := sentimentOption(opts, user); ok {
		return label
	}
	return opts[rng.IntN(len(opts))]
}

// sentimentOption picks positive, negative or neutral by counting lexicon words, when
// those are the options.
func sentimentOption(opts []string, user string) (string, bool) {
	has := map[string]bool{}
	for _, o := range opts {
		has[o] = true
	}
	if !has["positive"] || !has["negative"] {
		return "", false
	}
	text := strings.ToLower(user)
	score := 0
	for _, w := range positiveWords {
		score += strings.Count(text, w)
	}
	for _, w := range negativeWords {
		score -= strings.Count(text, w)
	}
	switch {
	case score > 0:
		return "positive", true
	case score < 0:
		return "negative", true
	case has["neutral"]:
		return "neutral", true
	}
	return "", false
}

// drawNumber draws a number shaped like the template's: an integer in [0, n] for an
// integer n > 1, else a confidence in [0.5, 1) with two decimals.
func drawNumber(v json.Number, rng *rand.Rand) string {
	if n, err := v.Int64(); err == nil && n > 1 {
		return strconv.FormatInt(rng.Int64N(n+1), 10)
	}
	return strconv.FormatFloat(0.5+float64(rng.IntN(50))/100, 'f', 2, 64)
}
