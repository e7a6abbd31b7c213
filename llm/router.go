package llm

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// RouteRequest is what the router knows of a call: its prompt, its agent and its task.
type RouteRequest struct {
	Messages         []Message
	MaxOutputTokens  int      // the agent's bound on the answer (0: 1024)
	AgentQuality     string   // the agent's declared difficulty: economy | standard | premium
	Quality          string   // the task's requested quality: economy | standard | premium ("" = standard)
	Require          []string // capabilities the call needs ("json")
	MaxCostMicros    *int64   // the task's max_cost_usd; nil = none
	BudgetLeftMicros *int64   // the tenant's budget left this month; nil = no budget
}

// Candidate is one model the router considered; Dropped says why it was not chosen ("" for
// the chosen one and its fallbacks).
type Candidate struct {
	Model            string  `json:"model"`
	Provider         string  `json:"provider"`
	Quality          int     `json:"quality"`
	EstimatedCostUSD float64 `json:"estimated_cost_usd"` // expected input + output tokens at its price
	WorstCostUSD     float64 `json:"worst_cost_usd"`     // input + MaxOutputTokens at its price
	// Dropped is below_quality_floor | context_too_small | missing_capability | unavailable |
	// over_max_cost | over_budget | not_cheapest: the first check, in that order, it failed.
	Dropped string `json:"dropped,omitempty"`
}

// The reasons a Candidate was dropped.
const (
	DroppedBelowQualityFloor = "below_quality_floor"
	DroppedContextTooSmall   = "context_too_small"
	DroppedMissingCapability = "missing_capability"
	DroppedUnavailable       = "unavailable"
	DroppedOverMaxCost       = "over_max_cost"
	DroppedOverBudget        = "over_budget"
	DroppedNotCheapest       = "not_cheapest"
)

// Routing is the decision recorded on the task (API: the task's "routing" object).
type Routing struct {
	Complexity   string      `json:"complexity"` // low | medium | high
	QualityFloor int         `json:"quality_floor"`
	InputTokens  int64       `json:"estimated_input_tokens"`
	OutputTokens int64       `json:"estimated_output_tokens"`
	Chosen       string      `json:"chosen,omitempty"`
	Fallbacks    []string    `json:"fallbacks,omitempty"`
	Candidates   []Candidate `json:"candidates"` // every registry model, by estimated cost then id
}

// Router is the cost optimizer: it picks the cheapest model good enough for a call. It only
// reads its fields, so one Router serves concurrent calls if Available may be called so.
type Router struct {
	Registry  *Registry
	Available func(Model) bool // provider configured and circuit not open; nil = all
}

// ErrNoModel: no model meets the request; the Routing says why each was dropped.
var ErrNoModel = errors.New("llm: no model meets the task's quality, context, cost and budget")

const (
	routeDefaultMaxOutput = 1024 // output tokens when the request gives no bound
	routeMinOutput        = 64   // the least answer the cost estimate expects
	routeMaxFallbacks     = 3
	routeFloorCap         = 95 // no floor above it, so that some model can still qualify
	routeEconomyCap       = 70 // an economy request never needs more
	routeLongInput        = 4_000
	routeVeryLongInput    = 16_000
)

// routeSignals are the words of a prompt that suggest a hard task. Each group counts once,
// however many of its words a prompt has; matching is on whole lower-case words, so
// "improve" is not "prove".
var routeSignals = [][]string{
	{"prove", "proof"},
	{"step by step"},
	{"analyze", "analyse", "analysis"},
	{"architecture"},
	{"security"},
	{"vulnerability", "vulnerabilities"},
	{"legal"},
	{"contract", "contracts"},
	{"optimize", "optimise", "optimization", "optimisation"},
	{"refactor", "refactoring"},
}

// routeSQL are the words that show SQL, one more signal; SELECT … FROM counts only in
// capitals, as "select … from" is also English.
var routeSQL = []string{"sql", "create table", "insert into", "alter table"}

// QualityFloor is the least model quality a request needs, from its estimated complexity.
//
// Complexity scores the task's own messages — not the system prompt, the agent's constant,
// whose difficulty the agent declares — by their InputTokens:
// 4,000 input tokens or more score 1, 16,000 or more 2; each kind of hard-task signal scores
// 1, at most 2 in all. The signals are a code fence (```), SQL ("sql", "create table",
// "insert into", "alter table", or SELECT … FROM in capitals) and the whole words prove/proof,
// "step by step", analyze/analyse/analysis, architecture, security, vulnerability, legal,
// contract, optimize, refactor (with their plurals and British spellings). A score of 0 is
// low, 1 medium, 2 or more high.
//
// The floor is the requested quality's base plus what the agent's declared difficulty and
// the complexity add, at most 95; an economy request needs at most 70 whatever the rest:
//
//	requested quality ("" = standard)   economy 50   standard 65   premium 85
//	agent's difficulty                  economy +0   standard +5   premium +10
//	complexity                          low +0       medium +5     high +10
//
// Unknown quality names count as "" (Route refuses them before asking).
func QualityFloor(req RouteRequest) (floor int, complexity string) {
	switch req.Quality {
	case "economy":
		floor = 50
	case "premium":
		floor = 85
	default:
		floor = 65
	}
	switch req.AgentQuality {
	case "standard":
		floor += 5
	case "premium":
		floor += 10
	}
	var task []Message
	for _, m := range req.Messages {
		if m.Role != "system" {
			task = append(task, m)
		}
	}
	score := min(routeSignalCount(task), 2)
	switch tokens := InputTokens(task); {
	case tokens >= routeVeryLongInput:
		score += 2
	case tokens >= routeLongInput:
		score++
	}
	switch {
	case score >= 2:
		complexity = "high"
		floor += 10
	case score == 1:
		complexity = "medium"
		floor += 5
	default:
		complexity = "low"
	}
	floor = min(floor, routeFloorCap)
	if req.Quality == "economy" {
		floor = min(floor, routeEconomyCap)
	}
	return floor, complexity
}

// routeSignalCount counts the kinds of hard-task signal in the messages.
func routeSignalCount(msgs []Message) int {
	var raw strings.Builder
	for _, m := range msgs {
		raw.WriteString(m.Content)
		raw.WriteByte('\n')
	}
	text := raw.String()
	// " word word … ": lower-case words between single spaces, so " kw " finds whole words.
	words := " " + strings.Join(strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}), " ") + " "
	has := func(group []string) bool {
		return slices.ContainsFunc(group, func(kw string) bool { return strings.Contains(words, " "+kw+" ") })
	}
	n := 0
	if strings.Contains(text, "```") {
		n++
	}
	if has(routeSQL) || (strings.Contains(text, "SELECT ") && strings.Contains(text, " FROM ")) {
		n++
	}
	for _, group := range routeSignals {
		if has(group) {
			n++
		}
	}
	return n
}

// routeOption is a registry model with its costs in micro-dollars and why it was dropped.
type routeOption struct {
	model            Model
	estimated, worst int64
	dropped          string
}

// Route picks the model for a call, its fallbacks, and the Routing that explains both.
//
// A model is kept when its quality reaches QualityFloor, the input (InputTokens) plus
// MaxOutputTokens fit its context window, it has every required capability, Available
// allows it, and its worst cost (the input plus MaxOutputTokens) is within MaxCostMicros and
// BudgetLeftMicros when they are set. The worst cost, not the expected one, is held to the
// limits, so that no answer the agent allows can overrun them. Of the kept models the
// cheapest by estimated cost is chosen, which expects min(MaxOutputTokens, max(64,
// input/2)) output tokens: an answer is rarely longer than half its prompt, nor shorter than
// a short paragraph. Ties go to the higher quality, then the lower id.
//
// The fallbacks are the chosen model's own Fallbacks that were kept, in order, then the
// other kept models in the order of choice, at most 3: a fallback never breaks the floor,
// the context, the capabilities or the limits the chosen model met.
//
// When no model is kept, Route returns ErrNoModel with a Routing that says why each was
// dropped. An unknown quality name or a negative MaxOutputTokens is another error, with a
// Routing of no candidates.
func (r *Router) Route(req RouteRequest) (Model, []Model, Routing, error) {
	for _, q := range []struct{ field, value string }{{"quality", req.Quality}, {"agent quality", req.AgentQuality}} {
		switch q.value {
		case "", "economy", "standard", "premium":
		default:
			return Model{}, nil, Routing{Candidates: []Candidate{}}, fmt.Errorf("llm: route: %s %q is not economy, standard or premium", q.field, q.value)
		}
	}
	if req.MaxOutputTokens < 0 {
		return Model{}, nil, Routing{Candidates: []Candidate{}}, fmt.Errorf("llm: route: negative MaxOutputTokens %d", req.MaxOutputTokens)
	}
	maxOut := int64(req.MaxOutputTokens)
	if maxOut == 0 {
		maxOut = routeDefaultMaxOutput
	}
	floor, complexity := QualityFloor(req)
	var models []Model
	if r != nil && r.Registry != nil {
		models = r.Registry.Models()
	}
	// The floor asks at most what the registry's best model offers: the hardest request gets
	// the best there is, whether or not it is up now (an outage never lowers the floor).
	if len(models) > 0 {
		best := slices.MaxFunc(models, func(a, b Model) int { return cmp.Compare(a.Quality, b.Quality) })
		floor = min(floor, best.Quality)
	}
	in := InputTokens(req.Messages)
	rt := Routing{
		Complexity:   complexity,
		QualityFloor: floor,
		InputTokens:  in,
		OutputTokens: min(maxOut, max(routeMinOutput, in/2)),
		Candidates:   []Candidate{},
	}

	opts := make([]routeOption, 0, len(models))
	for _, m := range models {
		o := routeOption{model: m, estimated: m.Cost(in, rt.OutputTokens), worst: m.Cost(in, maxOut)}
		switch {
		case m.Quality < floor:
			o.dropped = DroppedBelowQualityFloor
		case in+maxOut > int64(m.ContextWindow):
			o.dropped = DroppedContextTooSmall
		case slices.ContainsFunc(req.Require, func(c string) bool { return !m.Has(c) }):
			o.dropped = DroppedMissingCapability
		case r.Available != nil && !r.Available(m):
			o.dropped = DroppedUnavailable
		case req.MaxCostMicros != nil && o.worst > *req.MaxCostMicros:
			o.dropped = DroppedOverMaxCost
		case req.BudgetLeftMicros != nil && o.worst > *req.BudgetLeftMicros:
			o.dropped = DroppedOverBudget
		}
		opts = append(opts, o)
	}
	// The order of choice: estimated cost, then higher quality, then id.
	slices.SortFunc(opts, func(a, b routeOption) int {
		return cmp.Or(cmp.Compare(a.estimated, b.estimated), cmp.Compare(b.model.Quality, a.model.Quality),
			strings.Compare(a.model.ID, b.model.ID))
	})

	chosen, fallbacks := routePick(opts)
	if chosen >= 0 {
		rt.Chosen = opts[chosen].model.ID
		for i := range opts {
			if opts[i].dropped == "" && i != chosen && !slices.Contains(fallbacks, i) {
				opts[i].dropped = DroppedNotCheapest
			}
		}
	}
	byCost := slices.Clone(opts)
	slices.SortFunc(byCost, func(a, b routeOption) int {
		return cmp.Or(cmp.Compare(a.estimated, b.estimated), strings.Compare(a.model.ID, b.model.ID))
	})
	for _, o := range byCost {
		rt.Candidates = append(rt.Candidates, Candidate{
			Model:            o.model.ID,
			Provider:         o.model.Provider,
			Quality:          o.model.Quality,
			EstimatedCostUSD: float64(o.estimated) / 1e6,
			WorstCostUSD:     float64(o.worst) / 1e6,
			Dropped:          o.dropped,
		})
	}
	if chosen < 0 {
		return Model{}, nil, rt, ErrNoModel
	}
	fb := make([]Model, 0, len(fallbacks))
	for _, i := range fallbacks {
		rt.Fallbacks = append(rt.Fallbacks, opts[i].model.ID)
		fb = append(fb, routeOwn(opts[i].model))
	}
	return routeOwn(opts[chosen].model), fb, rt, nil
}

// routePick returns the index of the chosen option, the first kept one of opts (sorted in
// the order of choice), and those of its fallbacks; -1 when none was kept.
func routePick(opts []routeOption) (chosen int, fallbacks []int) {
	kept := make(map[string]int, len(opts))
	chosen = -1
	for i, o := range opts {
		if o.dropped != "" {
			continue
		}
		kept[o.model.ID] = i
		if chosen < 0 {
			chosen = i
		}
	}
	if chosen < 0 {
		return -1, nil
	}
	add := func(i int) {
		if i != chosen && len(fallbacks) < routeMaxFallbacks && !slices.Contains(fallbacks, i) {
			fallbacks = append(fallbacks, i)
		}
	}
	for _, id := range opts[chosen].model.Fallbacks {
		if i, ok := kept[id]; ok {
			add(i)
		}
	}
	for i, o := range opts {
		if o.dropped == "" {
			add(i)
		}
	}
	return chosen, fallbacks
}

// routeOwn gives the caller a model whose slices the registry does not share.
func routeOwn(m Model) Model {
	m.Capabilities = slices.Clone(m.Capabilities)
	m.Fallbacks = slices.Clone(m.Fallbacks)
	return m
}
