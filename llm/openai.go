package llm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// defaultHTTPTimeout bounds a whole call (connect, request, answer) when the
// configuration brings no HTTP client of its own.
const defaultHTTPTimeout = 2 * time.Minute

// openAIHost is the host of OpenAI's own API, the default base URL.
const openAIHost = "api.openai.com"

// OpenAIConfig configures an OpenAI-compatible provider.
type OpenAIConfig struct {
	Name       string       // the registry's provider name: "openai", "groq", "ollama" (default "openai")
	APIKey     string       // may be empty for Ollama
	BaseURL    string       // "" = the SDK's default (https://api.openai.com/v1)
	HTTPClient *http.Client // nil = a client with a 2-minute overall timeout
}

// openAIProvider speaks the chat completions API of OpenAI and of the servers that copy
// it (Groq, Ollama's /v1, vLLM).
type openAIProvider struct {
	name   string
	apiKey string // kept only to redact it from error messages
	chat   openai.ChatCompletionService
	// maxCompletionTokens says the endpoint is OpenAI's own, which wants
	// max_completion_tokens (its reasoning models reject max_tokens); compatible servers
	// know max_tokens, and some (Ollama) silently ignore max_completion_tokens.
	maxCompletionTokens bool
}

// NewOpenAI returns a provider for OpenAI's chat completions API, or for any compatible
// endpoint at cfg.BaseURL. The SDK makes a single attempt per call: retries and failover
// are the caller's. Nothing is read from the environment.
func NewOpenAI(cfg OpenAIConfig) (Provider, error) {
	name := cfg.Name
	if name == "" {
		name = "openai"
	}
	official := cfg.BaseURL == ""
	if !official {
		u, err := parseBaseURL(cfg.BaseURL)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		official = strings.EqualFold(u.Hostname(), openAIHost)
	}
	if official && cfg.APIKey == "" {
		return nil, fmt.Errorf("%s: an API key is required for %s", name, openAIHost)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: defaultHTTPTimeout}
	}
	opts := []option.RequestOption{
		option.WithEnvironmentProduction(), // the default base URL
		option.WithHTTPClient(hc),
		option.WithMaxRetries(0),
		// Set even when empty: no key means no Authorization header, as Ollama expects.
		option.WithAPIKey(cfg.APIKey),
	}
	if cfg.BaseURL != "" {
		opts = append(opts, option.WithBaseURL(cfg.BaseURL))
	}
	// The chat service is built directly rather than through openai.NewClient, which folds
	// in OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_ORG_ID, OPENAI_CUSTOM_HEADERS and more: a
	// provider's configuration is explicit, and OpenAI credentials must never ride along
	// to Groq or Ollama.
	return &openAIProvider{
		name:                name,
		apiKey:              cfg.APIKey,
		chat:                openai.NewChatCompletionService(opts...),
		maxCompletionTokens: official,
	}, nil
}

// Name returns the registry's name for this endpoint: "openai", "groq", "ollama", ….
func (p *openAIProvider) Name() string { return p.name }

// Complete sends the conversation to POST {base}/chat/completions and returns the first
// choice with the provider's token counts.
func (p *openAIProvider) Complete(ctx context.Context, req Request) (*Response, error) {
	if err := checkRequest(p.name, req); err != nil {
		return nil, err
	}
	params := openai.ChatCompletionNewParams{
		Model:    req.Model,
		Messages: make([]openai.ChatCompletionMessageParamUnion, 0, len(req.Messages)),
	}
	for _, m := range req.Messages {
		switch m.Role {
		case "system":
			params.Messages = append(params.Messages, openai.SystemMessage(m.Content))
		case "user":
			params.Messages = append(params.Messages, openai.UserMessage(m.Content))
		case "assistant":
			params.Messages = append(params.Messages, openai.AssistantMessage(m.Content))
		}
	}
	if req.MaxTokens > 0 {
		if p.maxCompletionTokens {
			params.MaxCompletionTokens = openai.Int(int64(req.MaxTokens))
		} else {
			params.MaxTokens = openai.Int(int64(req.MaxTokens))
		}
	}

	// The raw response keeps the status and headers of an error body the SDK cannot
	// decode, such as a compatible server's {"error": "model not found"}.
	var raw *http.Response
	completion, err := p.chat.New(ctx, params, option.WithResponseInto(&raw))
	if err != nil {
		return nil, p.failure(ctx, raw, err)
	}
	if len(completion.Choices) == 0 || completion.Choices[0].Message.Content == "" {
		return nil, p.empty(raw, completion)
	}
	model := completion.Model
	if model == "" {
		model = req.Model
	}
	return &Response{
		Content:      completion.Choices[0].Message.Content,
		InputTokens:  completion.Usage.PromptTokens,
		OutputTokens: completion.Usage.CompletionTokens,
		Model:        model,
	}, nil
}

// failure classifies a failed call by the status and headers of the SDK's error, or of
// the raw response when the SDK could not decode the error body.
func (p *openAIProvider) failure(ctx context.Context, raw *http.Response, err error) error {
	status, header := responseMeta(raw)
	msg := "chat completion: " + err.Error()
	if apiErr, ok := errors.AsType[*openai.Error](err); ok {
		status = apiErr.StatusCode
		if apiErr.Response != nil {
			header = apiErr.Response.Header
		}
		// The SDK's own message is the status alone; the provider's explanation is what
		// tells a missing model from a bad parameter.
		msg = "chat completion: " + joinDetails(statusLine(status), apiErr.Type, apiErr.Code, apiErr.Message)
		if apiErr.Code == "insufficient_quota" {
			// A 429 no wait will mend: the account is out of credit. Like a 401, it takes
			// the provider out of routing rather than being retried.
			return &Error{Kind: KindAuth, Provider: p.name, Status: status, Err: newCallFailure(msg, p.apiKey, err)}
		}
	} else if status >= http.StatusBadRequest {
		// An error body the SDK could not decode: show what came back instead.
		msg = "chat completion: " + joinDetails(statusLine(status), bodyExcerpt(raw))
	}
	return classifyCall(ctx, p.name, status, header, newCallFailure(msg, p.apiKey, err))
}

// empty is the retryable failure of an answer without text.
func (p *openAIProvider) empty(raw *http.Response, c *openai.ChatCompletion) error {
	status, header := responseMeta(raw)
	detail := "no choices"
	if len(c.Choices) > 0 {
		ch := c.Choices[0]
		detail = fmt.Sprintf("finish_reason %q", ch.FinishReason)
		if ch.Message.Refusal != "" {
			detail += ", refusal: " + ch.Message.Refusal
		}
	}
	return Classify(p.name, status, header, fmt.Errorf("chat completion: %w (%s)", ErrEmptyResponse, detail))
}

// bodyExcerpt returns the start of a response body the SDK has already buffered.
func bodyExcerpt(resp *http.Response) string {
	if resp == nil || resp.Body == nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return truncate(strings.TrimSpace(string(b)), 200)
}

// responseMeta returns the status and headers of resp, or zero values without one.
func responseMeta(resp *http.Response) (int, http.Header) {
	if resp == nil {
		return 0, nil
	}
	return resp.StatusCode, resp.Header
}

// parseBaseURL checks that a configured base URL is an absolute http(s) URL.
func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("base URL %q: want an absolute http or https URL", u.Redacted())
	}
	return u, nil
}

// OllamaBaseURL turns OLLAMA_HOST ("127.0.0.1:11434", "http://host:11434", "host") into
// the base URL of its OpenAI-compatible API ("http://127.0.0.1:11434/v1"); empty stays
// empty. It reads OLLAMA_HOST as Ollama does: without a scheme it is http on port 11434;
// with one, the scheme's own port (80, 443) unless a port is given. A path (Ollama behind a
// reverse proxy) is kept. The listen-everywhere addresses (0.0.0.0, ::) that servers are
// often started with become loopback, which is where a client on the same host finds them.
func OllamaBaseURL(host string) string {
	host = strings.TrimSpace(host)
	if host == "" {
		return ""
	}
	scheme, rest, ok := strings.Cut(host, "://")
	defaultPort := "11434"
	switch {
	case !ok:
		scheme, rest = "http", host
	case strings.EqualFold(scheme, "https"):
		scheme, defaultPort = "https", "443"
	default:
		scheme, defaultPort = "http", "80"
	}
	hostport, path, _ := strings.Cut(rest, "/")
	h, port, err := net.SplitHostPort(hostport)
	if err != nil { // no port
		h, port = strings.Trim(hostport, "[]"), defaultPort
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		port = defaultPort
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
		h = "127.0.0.1"
		if ip.To4() == nil {
			h = "::1"
		}
	}
	if h == "" {
		h = "127.0.0.1"
	}
	path = strings.TrimSuffix("/"+strings.Trim(path, "/"), "/")
	if !strings.HasSuffix(path, "/v1") {
		path += "/v1"
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(h, port), Path: path}
	return u.String()
}
