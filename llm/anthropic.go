package llm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// anthropicDefaultMaxTokens is the token limit of a request that sets none: Anthropic's
// Messages API requires one.
const anthropicDefaultMaxTokens = 1024

// anthropicAttemptTimeout is the SDK's per-attempt timeout. Setting it explicitly also
// turns off the SDK's client-side guard that refuses, before sending anything, a
// non-streaming request whose max_tokens it deems too slow to answer: that refusal would
// look like a network failure and be retried in vain. Our HTTP client's timeout (two
// minutes by default) is usually the tighter bound.
const anthropicAttemptTimeout = 10 * time.Minute

// AnthropicConfig configures the Anthropic provider.
type AnthropicConfig struct {
	APIKey     string
	BaseURL    string       // "" = the SDK default
	HTTPClient *http.Client // nil = a client with a 2-minute overall timeout
}

// anthropicProvider speaks Anthropic's Messages API.
type anthropicProvider struct {
	apiKey   string // kept only to redact it from error messages
	messages anthropic.MessageService
}

// NewAnthropic returns the provider for Anthropic's Messages API, registered as
// "anthropic". The SDK makes a single attempt per call: retries and failover are the
// caller's. Nothing is read from the environment or from profiles on disk.
func NewAnthropic(cfg AnthropicConfig) (Provider, error) {
	if cfg.APIKey == "" {
		return nil, errors.New("anthropic: an API key is required")
	}
	if cfg.BaseURL != "" {
		if _, err := parseBaseURL(cfg.BaseURL); err != nil {
			return nil, fmt.Errorf("anthropic: %w", err)
		}
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: defaultHTTPTimeout}
	}
	opts := []option.RequestOption{
		// No ANTHROPIC_* variables, profiles or federation: the configuration is explicit.
		option.WithoutEnvironmentDefaults(),
		option.WithHTTPClient(hc),
		option.WithMaxRetries(0),
		option.WithRequestTimeout(anthropicAttemptTimeout),
		// The key goes in x-api-key, the API's documented header, which proxies and
		// Anthropic-compatible gateways accept. option.WithAPIKey would send it as
		// "Authorization: Bearer" instead, and the SDK warns against sending both.
		option.WithHeader("x-api-key", cfg.APIKey),
	}
	if cfg.BaseURL != "" {
		opts = append(opts, option.WithBaseURL(cfg.BaseURL))
	}
	client := anthropic.NewClient(opts...)
	return &anthropicProvider{apiKey: cfg.APIKey, messages: client.Messages}, nil
}

// Name returns "anthropic".
func (p *anthropicProvider) Name() string { return "anthropic" }

// Complete sends the conversation to POST {base}/v1/messages, the system messages in the
// system field and the turns as messages, and returns the text of the answer with the
// provider's token counts.
func (p *anthropicProvider) Complete(ctx context.Context, req Request) (*Response, error) {
	if err := checkRequest(p.Name(), req); err != nil {
		return nil, err
	}
	params := anthropic.MessageNewParams{
		Model:     req.Model,
		MaxTokens: anthropicDefaultMaxTokens,
	}
	if req.MaxTokens > 0 {
		params.MaxTokens = int64(req.MaxTokens)
	}
	for _, m := range req.Messages {
		switch m.Role {
		case "system":
			// The API rejects empty text blocks; an empty system prompt says nothing.
			if m.Content != "" {
				params.System = append(params.System, anthropic.TextBlockParam{Text: m.Content})
			}
		case "user":
			params.Messages = append(params.Messages, anthropic.NewUserMessage(anthropic.NewTextBlock(m.Content)))
		case "assistant":
			params.Messages = append(params.Messages, anthropic.NewAssistantMessage(anthropic.NewTextBlock(m.Content)))
		}
	}
	if len(params.Messages) == 0 {
		return nil, &Error{Kind: KindInvalid, Provider: p.Name(), Err: errors.New("request has only system messages")}
	}

	var raw *http.Response
	msg, err := p.messages.New(ctx, params, option.WithResponseInto(&raw))
	if err != nil {
		return nil, p.failure(ctx, raw, err)
	}
	var text strings.Builder
	for _, block := range msg.Content {
		if block.Type == "text" {
			text.WriteString(block.Text)
		}
	}
	if text.Len() == 0 {
		err := fmt.Errorf("messages: %w (stop_reason %q)", ErrEmptyResponse, msg.StopReason)
		status, header := responseMeta(raw)
		return nil, Classify(p.Name(), status, header, err)
	}
	model := msg.Model
	if model == "" {
		model = req.Model
	}
	return &Response{
		Content:      text.String(),
		InputTokens:  msg.Usage.InputTokens,
		OutputTokens: msg.Usage.OutputTokens,
		Model:        model,
	}, nil
}

// failure classifies a failed call by the status and headers of the SDK's error. The
// SDK's own message quotes the whole error body; ours keeps the error type, message and
// request id, which is what support asks for.
func (p *anthropicProvider) failure(ctx context.Context, raw *http.Response, err error) error {
	status, header := responseMeta(raw)
	msg := "messages: " + err.Error()
	if apiErr, ok := errors.AsType[*anthropic.Error](err); ok {
		status = apiErr.StatusCode
		if apiErr.Response != nil {
			header = apiErr.Response.Header
		}
		detail := joinDetails(statusLine(status), string(apiErr.Type()), apiErr.Message)
		if apiErr.Type() == "" && apiErr.Message == "" {
			// Not Anthropic's error shape (a proxy's page, say): show what came back.
			detail = joinDetails(detail, truncate(apiErr.RawJSON(), 200))
		}
		if apiErr.RequestID != "" {
			detail += " (request-id " + apiErr.RequestID + ")"
		}
		msg = "messages: " + detail
	}
	return classifyCall(ctx, p.Name(), status, header, newCallFailure(msg, p.apiKey, err))
}

// truncate cuts s to at most n bytes, on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
