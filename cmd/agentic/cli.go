package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agentic-run/agentic/client"
)

const defaultURL = "http://127.0.0.1:8080"

// globals are the flags every command accepts, with their environment variables.
type globals struct {
	url, apiKey, adminToken string
	json                    bool
	set                     map[string]bool // flags given on the command line
}

var globalEnv = map[string]string{"url": "AGENTIC_URL", "api-key": "AGENTIC_API_KEY", "admin-token": "AGENTIC_ADMIN_TOKEN"}

func (g *globals) defaults(getenv func(string) string) {
	g.url = getenv("AGENTIC_URL")
	if g.url == "" {
		g.url = defaultURL
	}
	g.apiKey = getenv("AGENTIC_API_KEY")
	g.adminToken = getenv("AGENTIC_ADMIN_TOKEN")
	g.set = map[string]bool{}
}

// register adds the global flags to fs, bound to g (so a command's flag set sees the values
// given before the command, and may override them).
func (g *globals) register(fs *flag.FlagSet) {
	fs.Func("url", "API base `URL` (AGENTIC_URL, default "+defaultURL+")", g.setter("url", &g.url))
	fs.Func("api-key", "tenant API `key` (AGENTIC_API_KEY)", g.setter("api-key", &g.apiKey))
	fs.Func("admin-token", "admin `token` (AGENTIC_ADMIN_TOKEN)", g.setter("admin-token", &g.adminToken))
	fs.BoolFunc("json", "print the API's JSON instead of tables", func(v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("must be true or false")
		}
		g.json = b
		return nil
	})
}

func (g *globals) setter(name string, dst *string) func(string) error {
	return func(v string) error {
		*dst = v
		g.set[name] = true
		return nil
	}
}

func isGlobal(name string) bool { _, ok := globalEnv[name]; return ok || name == "json" }

// app is one invocation of the tool.
type app struct {
	stdout io.Writer
	getenv func(string) string
	g      globals
}

// env is getenv with the global flags given on the command line in place of their
// variables: commands that read the environment themselves (bench, dev) see them.
func (a *app) env(name string) string {
	for flagName, envName := range globalEnv {
		if name == envName && a.g.set[flagName] {
			switch flagName {
			case "url":
				return a.g.url
			case "api-key":
				return a.g.apiKey
			case "admin-token":
				return a.g.adminToken
			}
		}
	}
	return a.getenv(name)
}

// client returns an API client from the global flags.
func (a *app) client() (*client.Client, error) {
	c, err := client.New(a.g.url, client.WithAPIKey(a.g.apiKey), client.WithAdminToken(a.g.adminToken),
		client.WithUserAgent("agentic-cli/1"))
	if err != nil {
		return nil, usageErr("", "--url: %v", err)
	}
	return c, nil
}

// credential is what a command authenticates with.
type credential int

const (
	apiKey     credential = iota + 1 // a tenant's API key
	adminToken                       // the admin token
)

// clientFor returns a client for command cmd, failing early, with a hint, when the
// credential it needs is missing.
func (a *app) clientFor(cmd string, cred credential) (*client.Client, error) {
	switch {
	case cred == apiKey && a.g.apiKey == "":
		return nil, usageErr(cmd, "an API key is required: set AGENTIC_API_KEY or pass --api-key")
	case cred == adminToken && a.g.adminToken == "":
		return nil, usageErr(cmd, "the admin token is required: set AGENTIC_ADMIN_TOKEN or pass --admin-token")
	}
	return a.client()
}

// target parses a command that takes one positional argument (named what, such as TASK_ID)
// and returns it with a client holding the credential the command needs; fs may carry the
// command's own flags.
func (a *app) target(s spec, fs *flag.FlagSet, argv []string, what string, cred credential) (*client.Client, string, error) {
	pos, err := a.parse(fs, s, argv)
	if err != nil {
		return nil, "", err
	}
	if err := args(s, pos, 1, what); err != nil {
		return nil, "", err
	}
	c, err := a.clientFor(s.name, cred)
	if err != nil {
		return nil, "", err
	}
	return c, pos[0], nil
}

// spec documents a command for its -h.
type spec struct {
	name     string // "tenants create"
	synopsis string // after "agentic "
	about    string
	examples []string
}

// flags returns a flag set for the command with the global flags registered.
func (a *app) flags(s spec) *flag.FlagSet {
	fs := flag.NewFlagSet("agentic "+s.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	a.g.register(fs)
	return fs
}

// parse parses args, allowing flags after positional arguments ("get ID --json"), and
// returns the positional arguments. -h prints the command's help and returns flag.ErrHelp.
func (a *app) parse(fs *flag.FlagSet, s spec, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				a.help(fs, s)
				return nil, flag.ErrHelp
			}
			return nil, usageErr(s.name, "%v", err)
		}
		consumed := len(args) - fs.NArg()
		rest := fs.Args()
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// help prints a command's usage, flags and examples.
func (a *app) help(fs *flag.FlagSet, s spec) {
	w := a.stdout
	fmt.Fprintf(w, "Usage:\n  agentic %s\n\n%s\n", s.synopsis, strings.TrimSpace(s.about))
	own := flagTable(fs, func(name string) bool { return !isGlobal(name) })
	global := flagTable(fs, isGlobal)
	if own != "" {
		fmt.Fprintf(w, "\nFlags:\n%s", own)
	}
	fmt.Fprintf(w, "\nGlobal flags:\n%s", global)
	if len(s.examples) > 0 {
		fmt.Fprintf(w, "\nExamples:\n")
		for _, e := range s.examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
}

// flagTable lists the flags keep selects as "--name TYPE  usage (default …)".
func flagTable(fs *flag.FlagSet, keep func(name string) bool) string {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fs.VisitAll(func(f *flag.Flag) {
		if !keep(f.Name) {
			return
		}
		typ, use := flag.UnquoteUsage(f)
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
			typ = ""
		}
		name := "--" + f.Name
		if typ != "" {
			name += " " + typ
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			use += " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", name, use)
	})
	_ = tw.Flush()
	return b.String()
}

// args checks the number of positional arguments.
func args(s spec, pos []string, want int, names string) error {
	if len(pos) < want {
		return usageErr(s.name, "missing %s", names)
	}
	if len(pos) > want {
		return usageErr(s.name, "unexpected argument %q", pos[want])
	}
	return nil
}

// usageError is a mistake on the command line: exit status 2.
type usageError struct {
	cmd string
	msg string
}

func (e *usageError) Error() string { return e.msg }

func usageErr(cmd, format string, a ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, a...)}
}

// exitError ends the tool with a status and a message (a task that did not succeed).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// report prints err for a person on stderr and returns the exit status.
func report(err error, stderr io.Writer) int {
	var (
		usage *usageError
		exit  *exitError
		prob  *client.Problem
	)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &usage):
		cmd := "agentic"
		if usage.cmd != "" {
			cmd += " " + usage.cmd
		}
		fmt.Fprintf(stderr, "%s: %s\nRun '%s -h' for usage.\n", cmd, usage.msg, cmd)
		return 2
	case errors.As(err, &exit):
		if exit.msg != "" {
			fmt.Fprintf(stderr, "agentic: %s\n", exit.msg)
		}
		return exit.code
	case errors.As(err, &prob):
		msg := prob.Detail
		if msg == "" {
			msg = prob.Title
		}
		code := prob.Code
		if code == "" {
			code = "HTTP " + strconv.Itoa(prob.Status)
		}
		fmt.Fprintf(stderr, "agentic: %s (%s)\n", msg, code)
		for _, f := range prob.Errors {
			fmt.Fprintf(stderr, "  %s: %s\n", f.Path, f.Message)
		}
		if prob.RetryAfter > 0 {
			fmt.Fprintf(stderr, "  retry after %s\n", prob.RetryAfter)
		}
		return 1
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "agentic: interrupted")
		return 130
	default:
		fmt.Fprintf(stderr, "agentic: %v\n", err)
		return 1
	}
}

// printJSON prints v as indented JSON.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// kvFlag collects repeated KEY=VALUE flags.
type kvFlag map[string]string

func (m kvFlag) String() string {
	parts := make([]string, 0, len(m))
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}

func (m kvFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return errors.New("want KEY=VALUE")
	}
	m[k] = val
	return nil
}

// timeText shows a time in UTC, to the second.
func timeText(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

// compactJSON shows JSON on one line.
func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// readInput reads --input: JSON text, or @PATH for a file's content.
func readInput(v string) (json.RawMessage, error) {
	if path, ok := strings.CutPrefix(v, "@"); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		v = string(b)
	}
	if !json.Valid([]byte(v)) {
		return nil, errors.New("is not valid JSON")
	}
	return json.RawMessage(v), nil
}
