package llm_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/llm"
)

// routeModels is a registry with round prices: at $1 per 1M tokens a token costs 1 µ$.
func routeModels() []llm.Model {
	return []llm.Model{
		{ID: "local", Provider: "ollama", Quality: 55, ContextWindow: 8_192, Capabilities: []string{"json"}},
		{ID: "small", Provider: "groq", Quality: 65, ContextWindow: 32_768, InputPerMillion: 1_000_000, OutputPerMillion: 1_000_000, Capabilities: []string{"json", "tools"}},
		{ID: "medium", Provider: "openai", Quality: 75, ContextWindow: 128_000, InputPerMillion: 2_000_000, OutputPerMillion: 2_000_000, Capabilities: []string{"json", "tools", "vision"}},
		{ID: "large", Provider: "anthropic", Quality: 85, ContextWindow: 200_000, InputPerMillion: 4_000_000, OutputPerMillion: 4_000_000, Capabilities: []string{"json", "tools"}},
		{ID: "xlarge", Provider: "openai", Quality: 95, ContextWindow: 1_000_000, InputPerMillion: 8_000_000, OutputPerMillion: 8_000_000, Capabilities: []string{"json", "tools", "vision"}},
	}
}

// routeShort is a prompt of 9 input tokens: 18 characters and one message. With
// MaxOutputTokens 1000 a call expects 64 output tokens: 73 µ$ on "small", 1009 µ$ at worst.
var routeShort = []llm.Message{{Role: "user", Content: "Name three colors."}}

func routeRouter(t *testing.T, models []llm.Model) *llm.Router {
	t.Helper()
	reg, err := llm.NewRegistry(models)
	require.NoError(t, err)
	return &llm.Router{Registry: reg}
}

func routeInt(v int64) *int64 { return &v }

// routeDropped maps each candidate to its Dropped reason.
func routeDropped(rt llm.Routing) map[string]string {
	out := make(map[string]string, len(rt.Candidates))
	for _, c := range rt.Candidates {
		out[c.Model] = c.Dropped
	}
	return out
}

// routeCheck asserts what holds of every routing: each registry model is a candidate once,
// by estimated cost then id; the chosen model and its fallbacks are exactly the candidates
// not dropped, and meet the floor and the limits.
func routeCheck(t *testing.T, name string, reg *llm.Registry, req llm.RouteRequest, chosen llm.Model, fallbacks []llm.Model, rt llm.Routing) {
	t.Helper()
	ids := make([]string, 0, len(rt.Candidates))
	for _, c := range rt.Candidates {
		ids = append(ids, c.Model)
	}
	want := make([]string, 0, len(ids))
	for _, m := range reg.Models() {
		want = append(want, m.ID)
	}
	require.ElementsMatch(t, want, ids, name)
	require.True(t, slices.IsSortedFunc(rt.Candidates, func(a, b llm.Candidate) int {
		if a.EstimatedCostUSD != b.EstimatedCostUSD {
			if a.EstimatedCostUSD < b.EstimatedCostUSD {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Model, b.Model)
	}), "%s: candidates not by cost then id: %v", name, ids)

	require.Equal(t, chosen.ID, rt.Chosen, name)
	require.LessOrEqual(t, len(fallbacks), 3, name)
	var used []string
	if rt.Chosen != "" {
		used = append(used, rt.Chosen)
	}
	for i, f := range fallbacks {
		require.Equal(t, f.ID, rt.Fallbacks[i], name)
		used = append(used, f.ID)
	}
	require.Len(t, rt.Fallbacks, len(fallbacks), name)
	for _, c := range rt.Candidates {
		if !slices.Contains(used, c.Model) {
			require.NotEmpty(t, c.Dropped, "%s: %s is neither used nor dropped", name, c.Model)
			continue
		}
		require.Empty(t, c.Dropped, "%s: %s is used but dropped", name, c.Model)
		require.GreaterOrEqual(t, c.Quality, rt.QualityFloor, "%s: %s", name, c.Model)
		if req.MaxCostMicros != nil {
			require.LessOrEqual(t, c.WorstCostUSD, float64(*req.MaxCostMicros)/1e6, "%s: %s", name, c.Model)
		}
		if req.BudgetLeftMicros != nil {
			require.LessOrEqual(t, c.WorstCostUSD, float64(*req.BudgetLeftMicros)/1e6, "%s: %s", name, c.Model)
		}
	}
}

func TestQualityFloor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		quality, agent string
		msgs           []llm.Message
		floor          int
		complexity     string
	}{
		{"economy", "economy", "economy", routeShort, 50, "low"},
		{"standard", "standard", "economy", routeShort, 65, "low"},
		{"default is standard", "", "economy", routeShort, 65, "low"},
		{"premium", "premium", "economy", routeShort, 85, "low"},
		{"standard agent", "", "standard", routeShort, 70, "low"},
		{"premium agent", "", "premium", routeShort, 75, "low"},
		{"premium agent, premium request", "premium", "premium", routeShort, 95, "low"},
		{"economy request, premium agent", "economy", "premium", routeShort, 60, "low"},
		{"unknown names count as standard and nothing", "gold", "expert", routeShort, 65, "low"},
		{"short prose", "", "economy", []llm.Message{{Role: "user", Content: "Please improve the wording of this approved email."}}, 65, "low"},
		{"prove", "", "economy", []llm.Message{{Role: "user", Content: "Prove that the square root of 2 is irrational."}}, 70, "medium"},
		{"step by step", "", "economy", []llm.Message{{Role: "user", Content: "Explain, step by step, how TLS works."}}, 70, "medium"},
		{"analyse", "", "economy", []llm.Message{{Role: "user", Content: "Analyse these figures."}}, 70, "medium"},
		{"code fence", "", "economy", []llm.Message{{Role: "user", Content: "```go\nfunc f() {}\n```"}}, 70, "medium"},
		{"sql in capitals", "", "economy", []llm.Message{{Role: "user", Content: "SELECT id FROM users"}}, 70, "medium"},
		{"select from in prose", "", "economy", []llm.Message{{Role: "user", Content: "Please select a color from the list."}}, 65, "low"},
		{"one kind twice", "", "economy", []llm.Message{{Role: "user", Content: "A proof, please: prove it."}}, 70, "medium"},
		{"two kinds", "", "economy", []llm.Message{{Role: "user", Content: "Refactor this for security."}}, 75, "high"},
		{"not in the system prompt: the agent's constant", "", "economy", []llm.Message{
			{Role: "system", Content: "You review contracts and analyze their security, step by step."},
			{Role: "user", Content: "Is this legal?"},
		}, 70, "medium"},
		{"long input", "", "economy", []llm.Message{{Role: "user", Content: strings.Repeat("word ", 4_000)}}, 70, "medium"},
		{"very long input", "", "economy", []llm.Message{{Role: "user", Content: strings.Repeat("word ", 16_000)}}, 75, "high"},
		{"long input and a keyword", "", "economy", []llm.Message{{Role: "user", Content: "Optimize: " + strings.Repeat("word ", 4_000)}}, 75, "high"},
		{"capped at 95", "premium", "premium", []llm.Message{{Role: "user", Content: "Analyze the architecture."}}, 95, "high"},
		{"economy at most 70", "economy", "premium", []llm.Message{{Role: "user", Content: "Analyze the architecture."}}, 70, "high"},
		{"standard agent, high", "standard", "standard", []llm.Message{{Role: "user", Content: "Find the vulnerability in this contract."}}, 80, "high"},
	}
	for _, tt := range tests {
		floor, complexity := llm.QualityFloor(llm.RouteRequest{Messages: tt.msgs, Quality: tt.quality, AgentQuality: tt.agent})
		require.Equal(t, tt.floor, floor, tt.name)
		require.Equal(t, tt.complexity, complexity, tt.name)
	}
}

func TestRouteQualityFloor(t *testing.T) {
	t.Parallel()
	r := routeRouter(t, routeModels())
	tests := []struct {
		name           string
		quality, agent string
		msgs           []llm.Message
		chosen         string
		fallbacks      []string
	}{
		{"economy takes the free model", "economy", "economy", routeShort, "local", []string{"small", "medium", "large"}},
		{"standard", "", "economy", routeShort, "small", []string{"medium", "large", "xlarge"}},
		{"standard agent", "standard", "standard", routeShort, "medium", []string{"large", "xlarge"}},
		{"premium", "premium", "economy", routeShort, "large", []string{"xlarge"}},
		{"premium agent, premium request", "premium", "premium", routeShort, "xlarge", nil},
		{"keywords", "", "economy", []llm.Message{{Role: "user", Content: "Prove it, step by step."}}, "medium", []string{"large", "xlarge"}},
	}
	for _, tt := range tests {
		req := llm.RouteRequest{Messages: tt.msgs, MaxOutputTokens: 1000, Quality: tt.quality, AgentQuality: tt.agent}
		chosen, fallbacks, rt, err := r.Route(req)
		require.NoError(t, err, tt.name)
		routeCheck(t, tt.name, r.Registry, req, chosen, fallbacks, rt)
		require.Equal(t, tt.chosen, chosen.ID, tt.name)
		require.Equal(t, tt.fallbacks, rt.Fallbacks, tt.name)
		for _, c := range rt.Candidates {
			if c.Quality < rt.QualityFloor {
				require.Equal(t, llm.DroppedBelowQualityFloor, c.Dropped, "%s: %s", tt.name, c.Model)
			}
		}
	}
}

func TestRouteContext(t *testing.T) {
	t.Parallel()
	r := routeRouter(t, routeModels())
	tests := []struct {
		name    string
		content string
		maxOut  int
		chosen  string
		dropped map[string]string
	}{
		// 40,000 characters: 10,004 input tokens, over local's 8,192.
		{"long prompt", strings.Repeat("word ", 8_000), 1000, "small", map[string]string{"local": llm.DroppedContextTooSmall}},
		// 9 + 8,184 = 8,193 tokens: one over local's window.
		{"the answer counts", "Name three colors.", 8_184, "small", map[string]string{"local": llm.DroppedContextTooSmall}},
		{"exactly the window", "Name three colors.", 8_183, "local", map[string]string{"local": ""}},
		// 800,000 characters: 200,004 tokens, long enough (floor 60) to drop local on quality.
		{"huge prompt", strings.Repeat("word ", 160_000), 1000, "xlarge", map[string]string{
			"local": llm.DroppedBelowQualityFloor, "small": llm.DroppedContextTooSmall,
			"medium": llm.DroppedContextTooSmall, "large": llm.DroppedContextTooSmall, "xlarge": "",
		}},
	}
	for _, tt := range tests {
		req := llm.RouteRequest{Messages: []llm.Message{{Role: "user", Content: tt.content}}, MaxOutputTokens: tt.maxOut, Quality: "economy", AgentQuality: "economy"}
		chosen, fallbacks, rt, err := r.Route(req)
		require.NoError(t, err, tt.name)
		routeCheck(t, tt.name, r.Registry, req, chosen, fallbacks, rt)
		require.Equal(t, tt.chosen, chosen.ID, tt.name)
		dropped := routeDropped(rt)
		for id, want := range tt.dropped {
			require.Equal(t, want, dropped[id], "%s: %s", tt.name, id)
		}
	}
}

func TestRouteCapabilities(t *testing.T) {
	t.Parallel()
	r := routeRouter(t, routeModels())
	tests := []struct {
		name      string
		require   []string
		chosen    string
		fallbacks []string
		missing   []string
	}{
		{"none", nil, "local", []string{"small", "medium", "large"}, nil},
		{"json", []string{"json"}, "local", []string{"small", "medium", "large"}, nil},
		{"tools", []string{"json", "tools"}, "small", []string{"medium", "large", "xlarge"}, []string{"local"}},
		{"vision", []string{"vision"}, "medium", []string{"xlarge"}, []string{"local", "small", "large"}},
	}
	for _, tt := range tests {
		req := llm.RouteRequest{Messages: routeShort, MaxOutputTokens: 1000, Quality: "economy", AgentQuality: "economy", Require: tt.require}
		chosen, fallbacks, rt, err := r.Route(req)
		require.NoError(t, err, tt.name)
		routeCheck(t, tt.name, r.Registry, req, chosen, fallbacks, rt)
		require.Equal(t, tt.chosen, chosen.ID, tt.name)
		require.Equal(t, tt.fallbacks, rt.Fallbacks, tt.name)
		for id, reason := range routeDropped(rt) {
			if slices.Contains(tt.missing, id) {
				require.Equal(t, llm.DroppedMissingCapability, reason, "%s: %s", tt.name, id)
			} else {
				require.NotEqual(t, llm.DroppedMissingCapability, reason, "%s: %s", tt.name, id)
			}
		}
	}
}

func TestRouteBudgets(t *testing.T) {
	t.Parallel()
	r := routeRouter(t, routeModels())
	// Worst costs of routeShort at 1,000 output tokens: small 1,009 µ$, medium 2,018, large
	// 4,036, xlarge 8,072; local is free and below the standard floor of 65.
	tests := []struct {
		name          string
		maxCost, left *int64
		chosen        string
		fallbacks     []string
		dropped       map[string]string
	}{
		{"no limits", nil, nil, "small", []string{"medium", "large", "xlarge"}, map[string]string{"small": "", "medium": "", "large": "", "xlarge": ""}},
		{"max cost", routeInt(2_018), nil, "small", []string{"medium"}, map[string]string{
			"medium": "", "large": llm.DroppedOverMaxCost, "xlarge": llm.DroppedOverMaxCost,
		}},
		{"budget left", nil, routeInt(4_035), "small", []string{"medium"}, map[string]string{
			"large": llm.DroppedOverBudget, "xlarge": llm.DroppedOverBudget,
		}},
		{"max cost is checked first", routeInt(1_009), routeInt(2_018), "small", nil, map[string]string{
			"small": "", "medium": llm.DroppedOverMaxCost, "large": llm.DroppedOverMaxCost,
		}},
		{"budget tighter than max cost", routeInt(8_072), routeInt(2_017), "small", nil, map[string]string{
			"medium": llm.DroppedOverBudget, "xlarge": llm.DroppedOverBudget,
		}},
	}
	for _, tt := range tests {
		req := llm.RouteRequest{Messages: routeShort, MaxOutputTokens: 1000, AgentQuality: "economy", MaxCostMicros: tt.maxCost, BudgetLeftMicros: tt.left}
		chosen, fallbacks, rt, err := r.Route(req)
		require.NoError(t, err, tt.name)
		routeCheck(t, tt.name, r.Registry, req, chosen, fallbacks, rt)
		require.Equal(t, tt.chosen, chosen.ID, tt.name)
		require.Equal(t, tt.fallbacks, rt.Fallbacks, tt.name)
		dropped := routeDropped(rt)
		for id, want := range tt.dropped {
			require.Equal(t, want, dropped[id], "%s: %s", tt.name, id)
		}
	}

	// A spent budget leaves only what is free.
	req := llm.RouteRequest{Messages: routeShort, MaxOutputTokens: 1000, Quality: "economy", AgentQuality: "economy", BudgetLeftMicros: routeInt(0)}
	chosen, fallbacks, rt, err := r.Route(req)
	require.NoError(t, err)
	require.Equal(t, "local", chosen.ID)
	require.Empty(t, fallbacks)
	require.Equal(t, map[string]string{
		"local": "", "small": llm.DroppedOverBudget, "medium": llm.DroppedOverBudget,
		"large": llm.DroppedOverBudget, "xlarge": llm.DroppedOverBudget,
	}, routeDropped(rt))
}

func TestRouteUnavailable(t *testing.T) {
	t.Parallel()
	reg, err := llm.NewRegistry(routeModels())
	require.NoError(t, err)
	tests := []struct {
		name      string
		available func(llm.Model) bool
		chosen    string
		fallbacks []string
		dropped   map[string]string
	}{
		{"all", nil, "local", []string{"small", "medium", "large"}, map[string]string{"local": "", "xlarge": llm.DroppedNotCheapest}},
		{"ollama not configured", func(m llm.Model) bool { return m.Provider != "ollama" }, "small", []string{"medium", "large", "xlarge"},
			map[string]string{"local": llm.DroppedUnavailable}},
		{"openai circuit open", func(m llm.Model) bool { return m.Provider != "openai" }, "local", []string{"small", "large"},
			map[string]string{"medium": llm.DroppedUnavailable, "xlarge": llm.DroppedUnavailable}},
	}
	for _, tt := range tests {
		r := &llm.Router{Registry: reg, Available: tt.available}
		req := llm.RouteRequest{Messages: routeShort, MaxOutputTokens: 1000, Quality: "economy", AgentQuality: "economy"}
		chosen, fallbacks, rt, err := r.Route(req)
		require.NoError(t, err, tt.name)
		routeCheck(t, tt.name, reg, req, chosen, fallbacks, rt)
		require.Equal(t, tt.chosen, chosen.ID, tt.name)
		require.Equal(t, tt.fallbacks, rt.Fallbacks, tt.name)
		dropped := routeDropped(rt)
		for id, want := range tt.dropped {
			require.Equal(t, want, dropped[id], "%s: %s", tt.name, id)
		}
	}
}

func TestRouteTies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		models     []llm.Model
		chosen     string
		fallbacks  []string
		candidates []string // by estimated cost, then id
	}{
		{"higher quality wins", []llm.Model{
			{ID: "a", Provider: "sim", Quality: 70, ContextWindow: 8_000, InputPerMillion: 1_000_000, OutputPerMillion: 1_000_000},
			{ID: "b", Provider: "sim", Quality: 80, ContextWindow: 8_000, InputPerMillion: 1_000_000, OutputPerMillion: 1_000_000},
		}, "b", []string{"a"}, []string{"a", "b"}},
		{"then the lower id", []llm.Model{
			{ID: "b", Provider: "sim", Quality: 70, ContextWindow: 8_000, InputPerMillion: 1_000_000, OutputPerMillion: 1_000_000},
			{ID: "c", Provider: "sim", Quality: 70, ContextWindow: 8_000, InputPerMillion: 1_000_000, OutputPerMillion: 1_000_000},
			{ID: "a", Provider: "sim", Quality: 70, ContextWindow: 8_000, InputPerMillion: 1_000_000, OutputPerMillion: 1_000_000},
		}, "a", []string{"b", "c"}, []string{"a", "b", "c"}},
		{"cheaper beats better", []llm.Model{
			{ID: "a", Provider: "sim", Quality: 90, ContextWindow: 8_000, InputPerMillion: 2_000_000, OutputPerMillion: 1_000_000},
			{ID: "b", Provider: "sim", Quality: 70, ContextWindow: 8_000, InputPerMillion: 1_000_000, OutputPerMillion: 1_000_000},
		}, "b", []string{"a"}, []string{"b", "a"}},
		// Costs are whole micro-dollars, rounded up: 9 × $0.10/M and 9 × $0.01/M are both 1 µ$.
		{"costs round to the micro-dollar", []llm.Model{
			{ID: "a", Provider: "sim", Quality: 60, ContextWindow: 8_000, InputPerMillion: 100_000},
			{ID: "b", Provider: "sim", Quality: 65, ContextWindow: 8_000, InputPerMillion: 10_000},
		}, "b", []string{"a"}, []string{"a", "b"}},
	}
	for _, tt := range tests {
		r := routeRouter(t, tt.models)
		req := llm.RouteRequest{Messages: routeShort, MaxOutputTokens: 1000, Quality: "economy", AgentQuality: "economy"}
		chosen, fallbacks, rt, err := r.Route(req)
		require.NoError(t, err, tt.name)
		routeCheck(t, tt.name, r.Registry, req, chosen, fallbacks, rt)
		require.Equal(t, tt.chosen, chosen.ID, tt.name)
		require.Equal(t, tt.fallbacks, rt.Fallbacks, tt.name)
		var ids []string
		for _, c := range rt.Candidates {
			ids = append(ids, c.Model)
		}
		require.Equal(t, tt.candidates, ids, tt.name)
	}
}

func TestRouteFallbacks(t *testing.T) {
	t.Parallel()
	models := routeModels()
	models[1].Fallbacks = []string{"xlarge", "local", "medium"} // small's own
	reg, err := llm.NewRegistry(models)
	require.NoError(t, err)
	tests := []struct {
		name      string
		maxCost   *int64
		available func(llm.Model) bool
		fallbacks []string
	}{
		// local is below the floor: small's own kept fallbacks come first, then the cheapest.
		{"own first", nil, nil, []string{"xlarge", "medium", "large"}},
		{"own over the max cost are skipped", routeInt(4_036), nil, []string{"medium", "large"}},
		{"own unavailable are skipped", nil, func(m llm.Model) bool { return m.ID != "medium" }, []string{"xlarge", "large"}},
		{"none left", routeInt(1_009), nil, nil},
	}
	for _, tt := range tests {
		r := &llm.Router{Registry: reg, Available: tt.available}
		req := llm.RouteRequest{Messages: routeShort, MaxOutputTokens: 1000, AgentQuality: "economy", MaxCostMicros: tt.maxCost}
		chosen, fallbacks, rt, err := r.Route(req)
		require.NoError(t, err, tt.name)
		routeCheck(t, tt.name, reg, req, chosen, fallbacks, rt)
		require.Equal(t, "small", chosen.ID, tt.name)
		require.Equal(t, tt.fallbacks, rt.Fallbacks, tt.name)
	}

	// The models returned are the caller's: changing them leaves the registry as it was.
	r := &llm.Router{Registry: reg}
	chosen, _, _, err := r.Route(llm.RouteRequest{Messages: routeShort, AgentQuality: "economy"})
	require.NoError(t, err)
	chosen.Fallbacks[0] = "mutated"
	again, _ := reg.Get("small")
	require.Equal(t, []string{"xlarge", "local", "medium"}, again.Fallbacks)
}

func TestRouteNoModel(t *testing.T) {
	t.Parallel()
	reg, err := llm.NewRegistry(append(routeModels(),
		llm.Model{ID: "tiny", Provider: "sim", Quality: 40, ContextWindow: 100_000},
		llm.Model{ID: "plain", Provider: "sim", Quality: 60, ContextWindow: 100_000}))
	require.NoError(t, err)
	tests := []struct {
		name    string
		router  *llm.Router
		req     llm.RouteRequest
		dropped map[string]string
	}{
		{"xlarge's circuit is open", &llm.Router{Registry: reg, Available: func(m llm.Model) bool { return m.ID != "xlarge" }},
			llm.RouteRequest{Messages: routeShort, Quality: "premium", AgentQuality: "premium"},
			map[string]string{
				"tiny": llm.DroppedBelowQualityFloor, "plain": llm.DroppedBelowQualityFloor,
				"local": llm.DroppedBelowQualityFloor, "small": llm.DroppedBelowQualityFloor, "medium": llm.DroppedBelowQualityFloor,
				"large": llm.DroppedBelowQualityFloor, "xlarge": llm.DroppedUnavailable,
			}},
		// Worst costs at 10,009 tokens: small 10,009 µ$, medium 20,018, xlarge 80,072.
		{"every reason", &llm.Router{Registry: reg, Available: func(m llm.Model) bool { return m.ID != "large" }},
			llm.RouteRequest{Messages: routeShort, MaxOutputTokens: 10_000, Quality: "economy", AgentQuality: "economy", Require: []string{"tools"},
				MaxCostMicros: routeInt(40_000), BudgetLeftMicros: routeInt(10_000)},
			map[string]string{
				"tiny": llm.DroppedBelowQualityFloor, "local": llm.DroppedContextTooSmall, "plain": llm.DroppedMissingCapability, "small": llm.DroppedOverBudget, "medium": llm.DroppedOverBudget,
				"large": llm.DroppedUnavailable, "xlarge": llm.DroppedOverMaxCost,
			}},
		{"nothing in the registry", &llm.Router{}, llm.RouteRequest{Messages: routeShort}, map[string]string{}},
	}
	for _, tt := range tests {
		chosen, fallbacks, rt, err := tt.router.Route(tt.req)
		require.ErrorIs(t, err, llm.ErrNoModel, tt.name)
		require.Equal(t, llm.Model{}, chosen, tt.name)
		require.Nil(t, fallbacks, tt.name)
		require.Empty(t, rt.Chosen, tt.name)
		require.Empty(t, rt.Fallbacks, tt.name)
		require.NotNil(t, rt.Candidates, tt.name)
		require.Equal(t, tt.dropped, routeDropped(rt), tt.name)
	}
}

func TestRouteRefusesBadRequests(t *testing.T) {
	t.Parallel()
	r := routeRouter(t, routeModels())
	tests := []struct {
		name string
		req  llm.RouteRequest
		err  string
	}{
		{"quality", llm.RouteRequest{Messages: routeShort, Quality: "gold"}, `llm: route: quality "gold" is not economy, standard or premium`},
		{"agent quality", llm.RouteRequest{Messages: routeShort, AgentQuality: "hard"}, `llm: route: agent quality "hard" is not economy, standard or premium`},
		{"max output", llm.RouteRequest{Messages: routeShort, MaxOutputTokens: -1}, "llm: route: negative MaxOutputTokens -1"},
	}
	for _, tt := range tests {
		_, _, _, err := r.Route(tt.req)
		require.EqualError(t, err, tt.err, tt.name)
		require.False(t, errors.Is(err, llm.ErrNoModel), tt.name)
	}
}

func TestRouteRecord(t *testing.T) {
	t.Parallel()
	r := routeRouter(t, routeModels()[:3])
	// No MaxOutputTokens: 1,024, so small's worst is (9 + 1,024) µ$.
	_, _, rt, err := r.Route(llm.RouteRequest{Messages: routeShort, AgentQuality: "economy", MaxCostMicros: routeInt(2_000)})
	require.NoError(t, err)
	require.Equal(t, llm.Routing{
		Complexity: "low", QualityFloor: 65, InputTokens: 9, OutputTokens: 64,
		Chosen: "small",
		Candidates: []llm.Candidate{
			{Model: "local", Provider: "ollama", Quality: 55, Dropped: llm.DroppedBelowQualityFloor},
			{Model: "small", Provider: "groq", Quality: 65, EstimatedCostUSD: 0.000073, WorstCostUSD: 0.001033},
			{Model: "medium", Provider: "openai", Quality: 75, EstimatedCostUSD: 0.000146, WorstCostUSD: 0.002066, Dropped: llm.DroppedOverMaxCost},
		},
	}, rt)

	b, err := json.Marshal(rt)
	require.NoError(t, err)
	require.JSONEq(t, `{
		"complexity": "low", "quality_floor": 65, "estimated_input_tokens": 9, "estimated_output_tokens": 64, "chosen": "small",
		"candidates": [
			{"model": "local", "provider": "ollama", "quality": 55, "estimated_cost_usd": 0, "worst_cost_usd": 0, "dropped": "below_quality_floor"},
			{"model": "small", "provider": "groq", "quality": 65, "estimated_cost_usd": 0.000073, "worst_cost_usd": 0.001033},
			{"model": "medium", "provider": "openai", "quality": 75, "estimated_cost_usd": 0.000146, "worst_cost_usd": 0.002066, "dropped": "over_max_cost"}
		]
	}`, string(b))

	// Expected output is half the input, at least 64 tokens and at most MaxOutputTokens.
	for _, tt := range []struct {
		content string
		maxOut  int
		want    int64
	}{
		{"Name three colors.", 1000, 64},
		{"Name three colors.", 20, 20},
		{strings.Repeat("word ", 800), 1000, 502}, // 1,004 input tokens
		{strings.Repeat("word ", 8_000), 1000, 1000},
	} {
		_, _, rt, err := r.Route(llm.RouteRequest{Messages: []llm.Message{{Role: "user", Content: tt.content}}, MaxOutputTokens: tt.maxOut})
		require.NoError(t, err)
		require.Equal(t, tt.want, rt.OutputTokens, "%d characters", len(tt.content))
	}
}

func TestRouteDefaultRegistry(t *testing.T) {
	t.Parallel()
	reg := llm.DefaultRegistry()
	configured := func(m llm.Model) bool { return m.Provider != "ollama" && m.Provider != "sim" }
	summarize := []llm.Message{
		{Role: "system", Content: "You are a precise summarizer. Summarize the following text in at most three sentences. " +
			"Answer with the summary only, in the language of the text."},
		{Role: "user", Content: "The quarterly report shows revenue grew twelve percent. Costs stayed flat across all regions. " +
			"Hiring slowed in the second half of the year. The board approved a new product line. " +
			"Analysts expect growth to continue into next year. Risks include supply chain delays and currency swings."},
	}
	review := []llm.Message{
		{Role: "system", Content: "You are a senior software engineer doing a code review of go code. " +
			"List bugs, security problems and readability issues, most important first, each with a concrete fix. Be concise."},
		{Role: "user", Content: "```go\nfunc div(a, b int) int { return a / b }\n```\nMind its security."},
	}

	// An economy summary goes to the cheapest model that can summarize: the local one if
	// there is one, else mixtral at $0.24/M, below gpt-4o-mini's $0.15/$0.60.
	economy := llm.RouteRequest{Messages: summarize, MaxOutputTokens: 512, AgentQuality: "standard", Quality: "economy"}
	chosen, fallbacks, rt, err := (&llm.Router{Registry: reg}).Route(economy)
	require.NoError(t, err)
	routeCheck(t, "economy summary", reg, economy, chosen, fallbacks, rt)
	require.Equal(t, "llama3", chosen.ID)
	require.Equal(t, 55, rt.QualityFloor)

	chosen, fallbacks, rt, err = (&llm.Router{Registry: reg, Available: configured}).Route(economy)
	require.NoError(t, err)
	routeCheck(t, "economy summary in the cloud", reg, economy, chosen, fallbacks, rt)
	require.Equal(t, "mixtral-8x7b", chosen.ID)
	require.Equal(t, []string{"gpt-4o-mini", "llama-3.3-70b-versatile", "gpt-4.1-mini"}, rt.Fallbacks)
	require.Less(t, rt.Candidates[0].EstimatedCostUSD, 0.0001)

	// A code review by the premium agent needs quality 85 (65 + 10 for the agent + 10 for a
	// code fence and "security" in the task): gpt-4.1 is the cheapest of those.
	premium := llm.RouteRequest{Messages: review, MaxOutputTokens: 2048, AgentQuality: "premium"}
	chosen, fallbacks, rt, err = (&llm.Router{Registry: reg, Available: configured}).Route(premium)
	require.NoError(t, err)
	routeCheck(t, "premium review", reg, premium, chosen, fallbacks, rt)
	require.Equal(t, "high", rt.Complexity)
	require.Equal(t, 85, rt.QualityFloor)
	require.Equal(t, "gpt-4.1", chosen.ID)
	require.GreaterOrEqual(t, chosen.Quality, 85)
	// claude-sonnet-4-5 and claude-3-5-sonnet cost the same: the better one first.
	require.Equal(t, []string{"gpt-4o", "claude-sonnet-4-5", "claude-3-5-sonnet"}, rt.Fallbacks)
	for _, f := range fallbacks {
		require.GreaterOrEqual(t, f.Quality, 85, f.ID)
	}

	// A premium request to the premium agent asks 95, more than any model offers: the floor
	// is the registry's best (94), so the best model takes it rather than none.
	premium.Quality = "premium"
	chosen, _, rt, err = (&llm.Router{Registry: reg, Available: configured}).Route(premium)
	require.NoError(t, err)
	require.Equal(t, 94, rt.QualityFloor)
	require.Equal(t, "claude-sonnet-4-5", chosen.ID)
	// With the best model down, the floor stays: no model below it is chosen.
	down := func(m llm.Model) bool { return configured(m) && m.ID != "claude-sonnet-4-5" }
	_, _, rt, err = (&llm.Router{Registry: reg, Available: down}).Route(premium)
	require.ErrorIs(t, err, llm.ErrNoModel)
	require.Equal(t, 94, rt.QualityFloor)
}

func TestRouteFallbacksNeverDropped(t *testing.T) {
	t.Parallel()
	models := llm.DefaultModels()
	// Every model falls back to every other, the dropped ones included.
	for i := range models {
		for _, m := range models {
			if m.ID != models[i].ID {
				models[i].Fallbacks = append(models[i].Fallbacks, m.ID)
			}
		}
	}
	reg, err := llm.NewRegistry(models)
	require.NoError(t, err)
	prompt := []llm.Message{{Role: "user", Content: "Analyze this contract for legal risks."}}
	tests := []struct {
		name      string
		req       llm.RouteRequest
		available func(llm.Model) bool
	}{
		{"economy", llm.RouteRequest{Messages: routeShort, Quality: "economy", AgentQuality: "economy"}, nil},
		{"standard", llm.RouteRequest{Messages: prompt, AgentQuality: "standard"}, nil},
		{"premium", llm.RouteRequest{Messages: routeShort, Quality: "premium", AgentQuality: "economy"}, nil},
		{"max cost", llm.RouteRequest{Messages: prompt, AgentQuality: "standard", MaxCostMicros: routeInt(10_000)}, nil},
		{"budget", llm.RouteRequest{Messages: routeShort, Quality: "premium", BudgetLeftMicros: routeInt(20_000)}, nil},
		{"vision", llm.RouteRequest{Messages: routeShort, Require: []string{"vision"}}, nil},
		{"anthropic down", llm.RouteRequest{Messages: prompt, AgentQuality: "premium"}, func(m llm.Model) bool { return m.Provider != "anthropic" }},
		{"long", llm.RouteRequest{Messages: []llm.Message{{Role: "user", Content: strings.Repeat("word ", 160_000)}}, MaxOutputTokens: 4096}, nil},
	}
	for _, tt := range tests {
		r := &llm.Router{Registry: reg, Available: tt.available}
		chosen, fallbacks, rt, err := r.Route(tt.req)
		require.NoError(t, err, tt.name)
		routeCheck(t, tt.name, reg, tt.req, chosen, fallbacks, rt)
		for _, f := range fallbacks {
			require.Contains(t, chosen.Fallbacks, f.ID, "%s: a fallback the chosen model names", tt.name)
		}
	}
}
