package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentic-run/agentic/llm"
)

// groqBaseURL is Groq's OpenAI-compatible API.
const groqBaseURL = "https://api.groq.com/openai/v1"

// providers returns the LLM providers the configuration gives credentials for, by registry
// name. With AGENTIC_SIM on, the simulated provider answers for "sim" and for every other
// provider of the registry that has none, so that each model is routed to at its own price.
func providers(c Config) (map[string]llm.Provider, error) {
	ps := make(map[string]llm.Provider)
	add := func(name string, p llm.Provider, err error) error {
		if err != nil {
			return fmt.Errorf("%s provider: %w", name, err)
		}
		ps[name] = p
		return nil
	}
	var errs []error
	if c.OpenAIKey != "" {
		p, err := llm.NewOpenAI(llm.OpenAIConfig{Name: "openai", APIKey: c.OpenAIKey, BaseURL: c.OpenAIBaseURL})
		errs = append(errs, add("openai", p, err))
	}
	if c.AnthropicKey != "" {
		p, err := llm.NewAnthropic(llm.AnthropicConfig{APIKey: c.AnthropicKey, BaseURL: c.AnthropicBaseURL})
		errs = append(errs, add("anthropic", p, err))
	}
	if c.GroqKey != "" {
		p, err := llm.NewOpenAI(llm.OpenAIConfig{Name: "groq", APIKey: c.GroqKey, BaseURL: groqBaseURL})
		errs = append(errs, add("groq", p, err))
	}
	if c.OllamaHost != "" {
		p, err := llm.NewOpenAI(llm.OpenAIConfig{Name: "ollama", BaseURL: llm.OllamaBaseURL(c.OllamaHost)})
		errs = append(errs, add("ollama", p, err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if c.Sim {
		sim := llm.NewSim(llm.SimConfig{Latency: c.SimLatency, FailRate: c.SimFailRate})
		for _, name := range llm.KnownProviders {
			if _, ok := ps[name]; !ok {
				ps[name] = sim
			}
		}
	}
	if len(ps) == 0 {
		return nil, errors.New("AGENTIC_SIM: no LLM provider has credentials (OPENAI_API_KEY, ANTHROPIC_API_KEY, GROQ_API_KEY, OLLAMA_HOST); set one, or AGENTIC_SIM=true")
	}
	return ps, nil
}

// modelCalls builds a worker's router, which chooses each call's model among those whose
// provider answers and whose circuit is not open, and the caller, which calls it with
// retries, breakers and fallbacks, and the names of the providers it may call. Breaker
// changes are logged and their states exported as agentic.llm.breaker.state (0 closed, 1
// half open, 2 open).
func modelCalls(c Config, log *slog.Logger, meter metric.Meter) (*llm.Router, *llm.Caller, []string, error) {
	reg, err := llm.NewRegistry(c.Models)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("AGENTIC_MODELS_FILE: %w", err)
	}
	ps, err := providers(c)
	if err != nil {
		return nil, nil, nil, err
	}
	var tracer trace.Tracer
	if c.Tracer != nil {
		tracer = c.Tracer.Tracer("github.com/agentic-run/agentic/llm")
	}
	caller, err := llm.NewCaller(llm.CallerConfig{
		Providers: ps,
		Tracer:    tracer,
		OnStateChange: func(provider, model, from, to string) {
			log.Warn("circuit breaker", "provider", provider, "model", model, "from", from, "to", to)
		},
	})
	if err != nil {
		return nil, nil, nil, err
	}
	_, err = meter.Int64ObservableGauge("agentic.llm.breaker.state",
		metric.WithDescription("Each model's circuit breaker: 0 closed, 1 half open, 2 open."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			for _, b := range caller.States() {
				o.Observe(breakerValue[b.State], metric.WithAttributes(
					attribute.String("provider", b.Provider), attribute.String("model", b.Model)))
			}
			return nil
		}))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("telemetry: %w", err)
	}
	return &llm.Router{Registry: reg, Available: caller.Available}, caller, slices.Sorted(maps.Keys(ps)), nil
}

var breakerValue = map[string]int64{"closed": 0, "half_open": 1, "open": 2}
