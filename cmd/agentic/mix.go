package main

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/agentic-run/agentic/agents"
	"github.com/agentic-run/agentic/llm"
)

// defaultMix is the committed mix of `agentic bench --mix`: realistic work across the
// built-in agents, in the proportions a support and analytics product sees.
//
//go:embed mix.jsonl
var defaultMix []byte

// The cost report's goal: at least this much cheaper than always using the baseline model,
// with no task routed below its quality floor.
const (
	mixBaseline    = "gpt-4o"
	mixGoalSaving  = 60 // percent
	mixDefaultName = "mix.jsonl"
)

// mixTask is one line of a mix file.
type mixTask struct {
	line    int
	agent   *agents.Agent
	quality string // as requested; "" leaves it to the agent
	input   json.RawMessage
}

// mixLine is the JSON of one line: {"agent": "...", "quality": "...", "input": {...}}.
type mixLine struct {
	Agent   string          `json:"agent"`
	Quality string          `json:"quality"`
	Input   json.RawMessage `json:"input"`
}

// parseMix reads a mix file: one task per line, blank lines ignored. The first bad line
// ends it with an error naming the file, the line and the problem.
func parseMix(name string, data []byte, cat *agents.Catalog) ([]mixTask, error) {
	var out []mixTask
	for i, raw := range bytes.Split(data, []byte("\n")) {
		line := i + 1
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		t, err := parseMixLine(raw, cat)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", name, line, err)
		}
		t.line = line
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no tasks", name)
	}
	return out, nil
}

func parseMixLine(raw []byte, cat *agents.Catalog) (mixTask, error) {
	var l mixLine
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return mixTask{}, fmt.Errorf("not a task object: %v", err)
	}
	if dec.More() {
		return mixTask{}, errors.New("more than one JSON value")
	}
	if l.Agent == "" {
		return mixTask{}, errors.New(`"agent" is required`)
	}
	a, err := cat.Get(l.Agent)
	if err != nil {
		return mixTask{}, fmt.Errorf("unknown agent %q", l.Agent)
	}
	if a.NoModel {
		return mixTask{}, fmt.Errorf("agent %q calls no model", l.Agent)
	}
	switch l.Quality {
	case "", "economy", "standard", "premium":
	default:
		return mixTask{}, fmt.Errorf("quality %q is not economy, standard or premium", l.Quality)
	}
	if err := cat.Validate(l.Agent, l.Input); err != nil {
		var inv *agents.InvalidInputError
		if !errors.As(err, &inv) {
			return mixTask{}, err
		}
		probs := make([]string, len(inv.Fields))
		for i, f := range inv.Fields {
			probs[i] = f.Path + ": " + f.Message
		}
		return mixTask{}, fmt.Errorf("input does not match %s's schema: %s", l.Agent, strings.Join(probs, "; "))
	}
	return mixTask{agent: a, quality: l.Quality, input: l.Input}, nil
}

// mixGroup is the report's row for one agent and requested quality.
type mixGroup struct {
	agent, quality   string
	tasks            int
	models           map[string]int // model used → tasks
	routed, baseline int64          // micro-dollars
}

// mixIssue is a task that failed or was routed below its quality floor.
type mixIssue struct {
	line  int
	agent string
	what  string
}

// benchMix runs the cost report: every task of the mix goes through the router and the
// caller in process, with the sim provider standing in for every model (the answer is
// simulated, the price is the model's), and its cost is compared with what the same tokens
// cost on the baseline model. Tasks the router cannot place, or whose call fails, are
// reported as failures and left out of both costs. It fails when the goal is not met or
// the mix is bad.
func benchMix(ctx context.Context, name string, data []byte, stdout io.Writer) error {
	cat, err := agents.Builtin()
	if err != nil {
		return err
	}
	tasks, err := parseMix(name, data, cat)
	if err != nil {
		return err
	}
	reg := llm.DefaultRegistry()
	base, ok := reg.Get(mixBaseline)
	if !ok {
		return fmt.Errorf("the registry has no %s to compare with", mixBaseline)
	}
	sim := llm.NewSim(llm.SimConfig{})
	providers := make(map[string]llm.Provider, len(llm.KnownProviders))
	for _, p := range llm.KnownProviders {
		providers[p] = sim
	}
	caller, err := llm.NewCaller(llm.CallerConfig{Providers: providers})
	if err != nil {
		return err
	}
	router := &llm.Router{Registry: reg, Available: caller.Available}

	groups := map[[2]string]*mixGroup{}
	var (
		routed, baseline int64 // micro-dollars, over the tasks that ran
		ran              int
		failed, violated []mixIssue
	)
	for _, t := range tasks {
		if err := ctx.Err(); err != nil {
			return err
		}
		msgs, err := t.agent.Prompt(t.input)
		if err != nil {
			failed = append(failed, mixIssue{t.line, t.agent.ID, err.Error()})
			continue
		}
		chosen, fallbacks, routing, err := router.Route(llm.RouteRequest{
			Messages: msgs, MaxOutputTokens: t.agent.MaxOutputTokens,
			AgentQuality: t.agent.Quality, Quality: t.quality,
		})
		if err != nil {
			what := "not routed: " + err.Error()
			if errors.Is(err, llm.ErrNoModel) {
				dropped := map[string]int{}
				for _, c := range routing.Candidates {
					dropped[c.Dropped]++
				}
				what = fmt.Sprintf("no model for quality floor %d (complexity %s); dropped: %s",
					routing.QualityFloor, routing.Complexity, modelCounts(dropped))
			}
			failed = append(failed, mixIssue{t.line, t.agent.ID, what})
			continue
		}
		plan := append([]llm.Model{chosen}, fallbacks...)
		resp, used, _, err := caller.Call(ctx, plan, llm.Request{
			Messages: msgs, MaxTokens: t.agent.MaxOutputTokens, Seed: fmt.Sprint(t.line),
		})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failed = append(failed, mixIssue{t.line, t.agent.ID, "call failed: " + err.Error()})
			continue
		}
		cost := used.Cost(resp.InputTokens, resp.OutputTokens)
		ref := base.Cost(resp.InputTokens, resp.OutputTokens)
		if used.Quality < routing.QualityFloor {
			violated = append(violated, mixIssue{t.line, t.agent.ID, fmt.Sprintf(
				"%s (quality %d) is below the floor %d (complexity %s)", used.ID, used.Quality, routing.QualityFloor, routing.Complexity)})
		}
		quality := t.quality
		if quality == "" {
			quality = "(" + t.agent.Quality + ")"
		}
		key := [2]string{t.agent.ID, quality}
		g := groups[key]
		if g == nil {
			g = &mixGroup{agent: t.agent.ID, quality: quality, models: map[string]int{}}
			groups[key] = g
		}
		g.tasks++
		g.models[used.ID]++
		g.routed += cost
		g.baseline += ref
		routed += cost
		baseline += ref
		ran++
	}

	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "AGENT\tQUALITY\tTASKS\tMODELS\tROUTED/TASK\t%s/TASK\tSAVING\n", strings.ToUpper(mixBaseline))
	for _, key := range slices.SortedFunc(maps.Keys(groups), func(a, b [2]string) int {
		return cmp.Or(strings.Compare(a[0], b[0]), cmp.Compare(qualityRank(a[1]), qualityRank(b[1])))
	}) {
		g := groups[key]
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t$%.6f\t$%.6f\t%s\n", g.agent, g.quality, g.tasks, modelCounts(g.models),
			perTask(g.routed, g.tasks), perTask(g.baseline, g.tasks), savingText(g.routed, g.baseline))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "(quality) is the agent's own, for tasks that request none.")
	fmt.Fprintln(stdout)

	tw = tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "tasks\t%d\n", len(tasks))
	fmt.Fprintf(tw, "tasks run\t%d\n", ran)
	fmt.Fprintf(tw, "cost per task, routed\t$%.6f\n", perTask(routed, ran))
	fmt.Fprintf(tw, "cost per task, %s\t$%.6f\n", mixBaseline, perTask(baseline, ran))
	fmt.Fprintf(tw, "saving\t%s\n", savingText(routed, baseline))
	fmt.Fprintf(tw, "violations\t%d\n", len(violated))
	fmt.Fprintf(tw, "failures\t%d\n", len(failed))
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, v := range violated {
		fmt.Fprintf(stdout, "violation: line %d (%s): %s\n", v.line, v.agent, v.what)
	}
	for _, f := range failed {
		fmt.Fprintf(stdout, "failure: line %d (%s): %s\n", f.line, f.agent, f.what)
	}

	// The goal is the saving and the floors; failed tasks are reported above and left out of
	// both costs. Integer comparison: routed ≤ (100-goal)% of the baseline.
	cheap := ran > 0 && routed*100 <= baseline*(100-mixGoalSaving)
	met := cheap && len(violated) == 0 && len(failed) == 0
	verdict := "met"
	if !met {
		verdict = "NOT met"
	}
	fmt.Fprintf(stdout, "goal: ≥%d%% cheaper, 0 violations: %s\n", mixGoalSaving, verdict)
	if met {
		return nil
	}
	var why []string
	if !cheap {
		why = append(why, fmt.Sprintf("saving %s, below %d%%", savingText(routed, baseline), mixGoalSaving))
	}
	if len(violated) > 0 {
		why = append(why, fmt.Sprintf("%d tasks routed below their quality floor", len(violated)))
	}
	return fmt.Errorf("cost goal not met: %s", strings.Join(why, "; "))
}

// qualityRank orders the report's rows: the agent's own quality first, then economy,
// standard, premium.
func qualityRank(q string) int {
	switch q {
	case "economy":
		return 1
	case "standard":
		return 2
	case "premium":
		return 3
	}
	return 0
}

// modelCounts lists counted names, most counted first: "gpt-4o-mini ×9, claude-haiku-4-5 ×2".
func modelCounts(m map[string]int) string {
	ids := slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		return cmp.Or(cmp.Compare(m[b], m[a]), strings.Compare(a, b))
	})
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("%s ×%d", id, m[id])
	}
	return strings.Join(parts, ", ")
}

// perTask is the mean cost in dollars of n tasks costing micros in all.
func perTask(micros int64, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(micros) / float64(n) / 1e6
}

// savingText is how much cheaper routed is than baseline, in percent.
func savingText(routed, baseline int64) string {
	if baseline == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", 100*(1-float64(routed)/float64(baseline)))
}
