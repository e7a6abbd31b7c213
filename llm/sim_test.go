package llm_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/agentic-run/agentic/llm"
)

func req(seed string, msgs ...llm.Message) llm.Request {
	return llm.Request{Model: "sim", Messages: msgs, Seed: seed}
}

func TestSimName(t *testing.T) {
	t.Parallel()
	if got := llm.NewSim(llm.SimConfig{}).Name(); got != "sim" {
		t.Fatalf("Name() = %q, want sim", got)
	}
}

func TestSimDeterministic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := llm.NewSim(llm.SimConfig{})
	r := req("tsk_1",
		llm.Message{Role: "system", Content: "You are a helpful assistant."},
		llm.Message{Role: "user", Content: "Explain how database indexes speed up queries on large tables."})
	first, err := p.Complete(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		again, err := llm.NewSim(llm.SimConfig{}).Complete(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if *again != *first {
			t.Fatalf("not deterministic:\n%+v\n%+v", again, first)
		}
	}
	other, err := p.Complete(ctx, req("tsk_2", r.Messages...))
	if err != nil {
		t.Fatal(err)
	}
	if other.Content == first.Content {
		t.Errorf("a different seed gave the same content %q", first.Content)
	}
	// It reads like text: words and sentences, the input's words reused.
	if !strings.HasSuffix(first.Content, ".") || len(strings.Fields(first.Content)) < 10 {
		t.Errorf("content does not read like text: %q", first.Content)
	}
	for _, r := range first.Content {
		if r != ' ' && r != '.' && r != ',' && r != '-' && !(r >= 'a' && r <= 'z') && !(r >= 'A' && r <= 'Z') {
			t.Fatalf("content has unexpected character %q: %q", r, first.Content)
		}
	}
	if first.Model != "sim" {
		t.Errorf("Model = %q, want the request's model", first.Model)
	}
}

func TestSimSummary(t *testing.T) {
	t.Parallel()
	text := "The quarterly report shows revenue grew twelve percent. Costs stayed flat across all regions. " +
		"Hiring slowed in the second half of the year. The board approved a new product line. " +
		"Analysts expect growth to continue into next year. Risks include supply chain delays and currency swings."
	resp, err := llm.NewSim(llm.SimConfig{}).Complete(context.Background(), req("s",
		llm.Message{Role: "system", Content: "Summarize the following text in at most three sentences."},
		llm.Message{Role: "user", Content: text}))
	if err != nil {
		t.Fatal(err)
	}
	want := "The quarterly report shows revenue grew twelve percent. Costs stayed flat across all regions."
	if resp.Content != want {
		t.Errorf("summary = %q, want %q", resp.Content, want)
	}
}

func TestSimTemplate(t *testing.T) {
	t.Parallel()
	sys := `Answer with only a JSON object of the form {"label": "positive|negative|neutral", "score": 0.0}.`
	for text, label := range map[string]string{
		"I love this product, it is excellent!":     "positive",
		"Terrible support, the app is broken again": "negative",
		"The parcel arrived on Tuesday.":            "neutral",
	} {
		resp, err := llm.NewSim(llm.SimConfig{}).Complete(context.Background(), req("x",
			llm.Message{Role: "system", Content: sys}, llm.Message{Role: "user", Content: text}))
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Label string  `json:"label"`
			Score float64 `json:"score"`
		}
		if err := json.Unmarshal([]byte(resp.Content), &out); err != nil {
			t.Fatalf("%q: content %q is not the JSON template: %v", text, resp.Content, err)
		}
		if out.Label != label || out.Score < 0.5 || out.Score >= 1 {
			t.Errorf("%q: got %+v, want label %s and a score in [0.5,1)", text, out, label)
		}
	}
}

func TestSimTokenCounts(t *testing.T) {
	t.Parallel()
	msgs := []llm.Message{
		{Role: "system", Content: strings.Repeat("a", 10)}, // 10 chars
		{Role: "user", Content: strings.Repeat("é", 7)},    // 7 characters, 14 bytes
	}
	resp, err := llm.NewSim(llm.SimConfig{}).Complete(context.Background(), req("t", msgs...))
	if err != nil {
		t.Fatal(err)
	}
	// ceil(17/4) = 5, plus 4 per message.
	if resp.InputTokens != 5+8 {
		t.Errorf("InputTokens = %d, want 13", resp.InputTokens)
	}
	if want := int64((utf8.RuneCountInString(resp.Content) + 3) / 4); resp.OutputTokens != want {
		t.Errorf("OutputTokens = %d, want ceil(%d/4) = %d", resp.OutputTokens, utf8.RuneCountInString(resp.Content), want)
	}
}

func TestSimMaxTokens(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("Every sentence here is long enough to need many tokens. ", 40)
	full, err := llm.NewSim(llm.SimConfig{}).Complete(context.Background(), req("m",
		llm.Message{Role: "system", Content: "Summarize this."}, llm.Message{Role: "user", Content: long}))
	if err != nil {
		t.Fatal(err)
	}
	if full.OutputTokens <= 5 {
		t.Fatalf("precondition: want a long answer, got %d tokens", full.OutputTokens)
	}
	for _, max := range []int{1, 3, 5} {
		r := req("m", llm.Message{Role: "system", Content: "Summarize this."}, llm.Message{Role: "user", Content: long})
		r.MaxTokens = max
		resp, err := llm.NewSim(llm.SimConfig{}).Complete(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		if resp.OutputTokens > int64(max) || resp.OutputTokens == 0 {
			t.Errorf("MaxTokens %d: OutputTokens = %d", max, resp.OutputTokens)
		}
		if n := utf8.RuneCountInString(resp.Content); n > 4*max {
			t.Errorf("MaxTokens %d: content has %d characters", max, n)
		}
		if !strings.HasPrefix(full.Content, resp.Content) {
			t.Errorf("MaxTokens %d: %q is not a prefix of the full answer", max, resp.Content)
		}
	}
}

func TestSimLatency(t *testing.T) {
	t.Parallel()
	p := llm.NewSim(llm.SimConfig{Latency: 50 * time.Millisecond})
	start := time.Now()
	if _, err := p.Complete(context.Background(), req("l", llm.Message{Role: "user", Content: "hi"})); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("returned after %v, want at least the 50ms latency", d)
	}
}

func TestSimLatencyCancelled(t *testing.T) {
	t.Parallel()
	p := llm.NewSim(llm.SimConfig{Latency: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Complete(ctx, req("c", llm.Message{Role: "user", Content: "hi"}))
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if llm.Retryable(err) {
			t.Error("a cancelled call must not be retryable")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Complete ignored cancellation")
	}

	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err := p.Complete(ctx, req("c", llm.Message{Role: "user", Content: "hi"}))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
}

func TestSimFailRate(t *testing.T) {
	t.Parallel()
	p := llm.NewSim(llm.SimConfig{FailRate: 0.3})
	const calls, workers = 10_000, 8
	var mu sync.Mutex
	failed := 0
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			n := 0
			for range calls / workers {
				_, err := p.Complete(context.Background(), req("f", llm.Message{Role: "user", Content: "ping"}))
				if err == nil {
					continue
				}
				var e *llm.Error
				if !errors.As(err, &e) || e.Kind != llm.KindRetryable || e.Provider != "sim" || e.Status != 503 {
					t.Errorf("worker %d: err = %#v, want a retryable sim 503", w, err)
					return
				}
				if !llm.Retryable(err) || !errors.Is(err, llm.ErrSimFailure) {
					t.Errorf("worker %d: %v not classified retryable", w, err)
					return
				}
				n++
			}
			mu.Lock()
			failed += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if rate := float64(failed) / calls; math.Abs(rate-0.3) > 0.03 {
		t.Errorf("fail rate %.3f, want 0.30 ± 0.03", rate)
	}
}

func TestSimFailRateBounds(t *testing.T) {
	t.Parallel()
	for _, rate := range []float64{0, -1, math.NaN()} {
		p := llm.NewSim(llm.SimConfig{FailRate: rate})
		for range 200 {
			if _, err := p.Complete(context.Background(), req("b", llm.Message{Role: "user", Content: "x"})); err != nil {
				t.Fatalf("FailRate %v: %v", rate, err)
			}
		}
	}
	p := llm.NewSim(llm.SimConfig{FailRate: 2})
	for range 200 {
		if _, err := p.Complete(context.Background(), req("b", llm.Message{Role: "user", Content: "x"})); err == nil {
			t.Fatal("FailRate above 1 must fail every call")
		}
	}
}

func TestSimInvalidRequest(t *testing.T) {
	t.Parallel()
	_, err := llm.NewSim(llm.SimConfig{}).Complete(context.Background(), llm.Request{Model: "sim"})
	var e *llm.Error
	if !errors.As(err, &e) || e.Kind != llm.KindInvalid || llm.Retryable(err) {
		t.Fatalf("err = %v, want a non-retryable KindInvalid", err)
	}
}

func TestRetryable(t *testing.T) {
	t.Parallel()
	base := errors.New("boom")
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"retryable", &llm.Error{Kind: llm.KindRetryable, Provider: "p", Err: base}, true},
		{"rate limited", &llm.Error{Kind: llm.KindRateLimited, Provider: "p", Err: base}, true},
		{"invalid", &llm.Error{Kind: llm.KindInvalid, Provider: "p", Err: base}, false},
		{"auth", &llm.Error{Kind: llm.KindAuth, Provider: "p", Err: base}, false},
		{"wrapped invalid", errors.Join(errors.New("ctx"), &llm.Error{Kind: llm.KindInvalid, Provider: "p", Err: base}), false},
		{"canceled", context.Canceled, false},
		{"deadline", context.DeadlineExceeded, true},
		{"plain", base, true},
	}
	for _, tt := range tests {
		if got := llm.Retryable(tt.err); got != tt.want {
			t.Errorf("%s: Retryable = %v, want %v", tt.name, got, tt.want)
		}
	}
	e := &llm.Error{Kind: llm.KindRetryable, Provider: "openai", Err: base}
	if e.Error() != "openai: boom" || !errors.Is(e, base) {
		t.Errorf("Error() = %q, Unwrap broken", e.Error())
	}
}
