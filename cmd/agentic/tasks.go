package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agentic-run/agentic/client"
)

var submitSpec = spec{
	name:     "submit",
	synopsis: "submit --agent AGENT --input JSON [flags]",
	about: `Submit a task to an agent. It prints the queued task, or with --wait the finished one;
with --wait the exit status is 1 unless the task succeeds. --input takes JSON, or @FILE.`,
	examples: []string{
		`agentic submit --agent echo --input '{"text": "hi"}' --wait`,
		`agentic submit --agent summarizer --input @article.json --metadata order=42 --idempotency-key order-42`,
		`agentic submit --agent sentiment --input '{"text": "great"}' --webhook https://example.com/hook --json`,
	},
}

func (a *app) submit(ctx context.Context, argv []string) error {
	s := submitSpec
	fs := a.flags(s)
	agent := fs.String("agent", "", "`agent` id to run (required; see 'agentic agents')")
	input := fs.String("input", "", "the task's input as `JSON`, or @FILE to read it from a file (required)")
	webhook := fs.String("webhook", "", "`URL` to POST the result to when the task ends")
	metadata := kvFlag{}
	fs.Var(metadata, "metadata", "a `KEY=VALUE` pair to attach to the task (repeatable)")
	idem := fs.String("idempotency-key", "", "`key` that makes a retried submission return the first task")
	quality := fs.String("quality", "", "model `quality`: economy, standard or premium (the agent's default)")
	var maxCost *float64
	fs.Func("max-cost", "the most the task may cost, in `USD`", func(v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return errors.New("must be a number")
		}
		maxCost = &f
		return nil
	})
	wait := fs.Bool("wait", false, "wait for the task to finish and print the result")
	timeout := fs.Duration("timeout", 10*time.Minute, "how long --wait waits")
	pos, err := a.parse(fs, s, argv)
	if err != nil {
		return err
	}
	if err := args(s, pos, 0, ""); err != nil {
		return err
	}
	if *agent == "" {
		return usageErr(s.name, "--agent is required")
	}
	if *input == "" {
		return usageErr(s.name, "--input is required")
	}
	in, err := readInput(*input)
	if err != nil {
		return usageErr(s.name, "--input %v", err)
	}
	c, err := a.clientFor(s.name, apiKey)
	if err != nil {
		return err
	}
	req := client.SubmitRequest{Agent: *agent, Input: in, WebhookURL: *webhook, Quality: *quality, MaxCostUSD: maxCost}
	if len(metadata) > 0 {
		req.Metadata = metadata
	}
	task, created, err := c.Submit(ctx, req, &client.SubmitOpts{IdempotencyKey: *idem})
	if err != nil {
		return err
	}
	if !*wait {
		if a.g.json {
			return a.printJSON(task)
		}
		if !created {
			fmt.Fprintln(a.stdout, "(replayed: this Idempotency-Key was used before; no new task)")
		}
		return a.printTask(task)
	}
	task, err = c.WaitTask(ctx, task.ID, *timeout)
	if err != nil {
		return err
	}
	return a.finished(task, *timeout)
}

// finished prints a task that was waited for and turns anything but success into exit 1.
func (a *app) finished(task *client.Task, waited time.Duration) error {
	if a.g.json {
		if err := a.printJSON(task); err != nil {
			return err
		}
	} else if err := a.printTask(task); err != nil {
		return err
	}
	return outcome(task, waited)
}

// outcome is nil for a succeeded task and an exitError otherwise.
func outcome(task *client.Task, waited time.Duration) error {
	switch task.Status {
	case "succeeded":
		return nil
	case "failed", "canceled":
		msg := fmt.Sprintf("task %s %s", task.ID, task.Status)
		if task.Error != nil {
			msg += ": " + task.Error.Code
			if task.Error.Message != "" {
				msg += ": " + task.Error.Message
			}
		}
		return &exitError{code: 1, msg: msg}
	default:
		return &exitError{code: 1, msg: fmt.Sprintf("task %s is still %s after %s", task.ID, task.Status, waited)}
	}
}

// printTask prints a task's key fields, one per line.
func (a *app) printTask(t *client.Task) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("id", t.ID)
	row("agent", t.Agent)
	row("status", t.Status)
	row("quality", t.Quality)
	row("attempts", strconv.Itoa(t.Attempts))
	if t.Model != nil {
		m := *t.Model
		if t.Provider != nil {
			m += " (" + *t.Provider + ")"
		}
		row("model", m)
	}
	if t.Usage.InputTokens > 0 || t.Usage.OutputTokens > 0 || t.Usage.CostUSD > 0 {
		row("usage", fmt.Sprintf("%d in, %d out tokens, $%.6f", t.Usage.InputTokens, t.Usage.OutputTokens, t.Usage.CostUSD))
	}
	row("created", timeText(t.CreatedAt))
	if t.StartedAt != nil {
		row("started", timeText(*t.StartedAt))
	}
	if t.FinishedAt != nil {
		row("finished", timeText(*t.FinishedAt))
	}
	if len(t.Metadata) > 0 {
		row("metadata", kvFlag(t.Metadata).sorted())
	}
	if t.WebhookURL != nil {
		row("webhook", *t.WebhookURL)
	}
	if len(t.Output) > 0 && string(t.Output) != "null" {
		row("output", compactJSON(t.Output))
	}
	if t.Error != nil {
		row("error", t.Error.Code+": "+t.Error.Message)
	}
	return tw.Flush()
}

// sorted shows the pairs sorted by key.
func (m kvFlag) sorted() string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + m[k]
	}
	return strings.Join(keys, " ")
}

var getSpec = spec{
	name:     "get",
	synopsis: "get TASK_ID [--wait DURATION]",
	about:    "Show a task. With --wait, wait up to that long for it to finish first.",
	examples: []string{"agentic get tsk_01JD7X4Y2Z", "agentic get tsk_01JD7X4Y2Z --wait 30s --json"},
}

func (a *app) get(ctx context.Context, argv []string) error {
	s := getSpec
	fs := a.flags(s)
	wait := fs.Duration("wait", 0, "wait up to this `duration` for the task to finish")
	c, id, err := a.target(s, fs, argv, "TASK_ID", apiKey)
	if err != nil {
		return err
	}
	task, err := c.WaitTask(ctx, id, *wait)
	if err != nil {
		return err
	}
	if a.g.json {
		return a.printJSON(task)
	}
	return a.printTask(task)
}

var watchSpec = spec{
	name:     "watch",
	synopsis: "watch TASK_ID",
	about: `Follow a task's status events until it finishes, printing each status as it changes
(with --json, each event's task as one line of JSON). The exit status is 0 when the task
succeeds and 1 when it fails or is canceled.`,
	examples: []string{"agentic watch tsk_01JD7X4Y2Z", "agentic watch tsk_01JD7X4Y2Z --json | jq .status"},
}

func (a *app) watch(ctx context.Context, argv []string) error {
	s := watchSpec
	fs := a.flags(s)
	c, id, err := a.target(s, fs, argv, "TASK_ID", apiKey)
	if err != nil {
		return err
	}
	var last *client.Task
	for ev, err := range c.Events(ctx, id) {
		if err != nil {
			return err
		}
		if ev.Type != "status" {
			continue
		}
		task := ev.Task
		last = &task
		if a.g.json {
			if _, err := fmt.Fprintf(a.stdout, "%s\n", compactJSON(ev.Data)); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(a.stdout, "%s  %s\n", time.Now().UTC().Format("15:04:05"), task.Status)
	}
	if last == nil {
		return errors.New("the event stream ended without an event")
	}
	if !a.g.json {
		a.printResult(last)
	}
	return outcome(last, 0)
}

// printResult prints a finished task's output or error.
func (a *app) printResult(t *client.Task) {
	if len(t.Output) > 0 && string(t.Output) != "null" {
		fmt.Fprintf(a.stdout, "output  %s\n", compactJSON(t.Output))
	}
	if t.Error != nil {
		fmt.Fprintf(a.stdout, "error   %s: %s\n", t.Error.Code, t.Error.Message)
	}
}

var cancelSpec = spec{
	name:     "cancel",
	synopsis: "cancel TASK_ID",
	about: `Cancel a task: a queued task is canceled at once, a running one is interrupted. Canceling
a task that has already finished fails (task_finished, exit status 1).`,
	examples: []string{"agentic cancel tsk_01JD7X4Y2Z"},
}

func (a *app) cancel(ctx context.Context, argv []string) error {
	s := cancelSpec
	fs := a.flags(s)
	c, id, err := a.target(s, fs, argv, "TASK_ID", apiKey)
	if err != nil {
		return err
	}
	task, err := c.CancelTask(ctx, id)
	if err != nil {
		return err
	}
	if a.g.json {
		return a.printJSON(task)
	}
	return a.printTask(task)
}

var tasksSpec = spec{
	name:     "tasks",
	synopsis: "tasks [--status S] [--agent A] [--metadata KEY=VALUE ...] [--limit N] [--cursor C | --all]",
	about: `List tasks, newest first: one page of --limit tasks, or with --all every task that
matches (--limit is then the page size).`,
	examples: []string{
		"agentic tasks",
		"agentic tasks --status failed --agent summarizer --limit 100",
		"agentic tasks --metadata order=42 --all --json",
	},
}

func (a *app) tasks(ctx context.Context, argv []string) error {
	s := tasksSpec
	fs := a.flags(s)
	status := fs.String("status", "", "keep tasks in this `status`: queued, running, succeeded, failed or canceled")
	agent := fs.String("agent", "", "keep tasks of this `agent`")
	metadata := kvFlag{}
	fs.Var(metadata, "metadata", "keep tasks with this `KEY=VALUE` metadata pair (repeatable)")
	limit := fs.Int("limit", 20, "tasks per page, 1 to 100")
	cursor := fs.String("cursor", "", "start after this `cursor` (printed below a page that has more)")
	all := fs.Bool("all", false, "list every matching task, page after page")
	pos, err := a.parse(fs, s, argv)
	if err != nil {
		return err
	}
	if err := args(s, pos, 0, ""); err != nil {
		return err
	}
	if *limit < 1 || *limit > 100 {
		return usageErr(s.name, "--limit must be from 1 to 100")
	}
	c, err := a.clientFor(s.name, apiKey)
	if err != nil {
		return err
	}
	opts := &client.ListOpts{Status: *status, Agent: *agent, Limit: *limit, Cursor: *cursor}
	if len(metadata) > 0 {
		opts.Metadata = metadata
	}
	page := &client.TaskList{Data: []client.Task{}}
	if *all {
		for t, err := range c.AllTasks(ctx, opts) {
			if err != nil {
				return err
			}
			page.Data = append(page.Data, t)
		}
	} else if page, err = c.ListTasks(ctx, opts); err != nil {
		return err
	}
	if a.g.json {
		return a.printJSON(page)
	}
	if err := taskTable(a.stdout, page.Data); err != nil {
		return err
	}
	if page.NextCursor != nil {
		fmt.Fprintf(a.stdout, "more: agentic tasks --cursor %s (or --all)\n", *page.NextCursor)
	}
	return nil
}

func taskTable(w io.Writer, tasks []client.Task) error {
	if len(tasks) == 0 {
		_, err := fmt.Fprintln(w, "no tasks")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAGENT\tSTATUS\tCREATED\tCOST")
	for _, t := range tasks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t$%.6f\n", t.ID, t.Agent, t.Status, timeText(t.CreatedAt), t.Usage.CostUSD)
	}
	return tw.Flush()
}

var agentsSpec = spec{
	name:     "agents",
	synopsis: "agents [AGENT_ID]",
	about:    "List the marketplace's agents, or show one agent with its input schema.",
	examples: []string{"agentic agents", "agentic agents summarizer", "agentic agents --json"},
}

func (a *app) agents(ctx context.Context, argv []string) error {
	s := agentsSpec
	fs := a.flags(s)
	pos, err := a.parse(fs, s, argv)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageErr(s.name, "unexpected argument %q", pos[1])
	}
	c, err := a.clientFor(s.name, apiKey)
	if err != nil {
		return err
	}
	if len(pos) == 1 {
		ag, err := c.GetAgent(ctx, pos[0])
		if err != nil {
			return err
		}
		if a.g.json {
			return a.printJSON(ag)
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "id\t%s\nname\t%s\ncategory\t%s\nquality\t%s\n", ag.ID, ag.Name, ag.Category, ag.Quality)
		if ag.MaxExecutionsPerHour != nil {
			fmt.Fprintf(tw, "max per hour\t%d\n", *ag.MaxExecutionsPerHour)
		}
		fmt.Fprintf(tw, "description\t%s\ninput schema\t%s\n", ag.Description, compactJSON(ag.InputSchema))
		return tw.Flush()
	}
	list, err := c.ListAgents(ctx)
	if err != nil {
		return err
	}
	if a.g.json {
		return a.printJSON(client.AgentList{Data: list})
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tQUALITY\tCATEGORY\tNAME")
	for _, ag := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", ag.ID, ag.Quality, ag.Category, ag.Name)
	}
	return tw.Flush()
}
