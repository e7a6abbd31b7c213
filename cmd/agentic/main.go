// Command agentic is the platform's command-line tool: it submits, lists, follows and
// cancels tasks, manages tenants and API keys with the admin token, migrates, backs up and
// restores the database, runs the whole platform in one process (dev) and load-tests it
// (bench). Every API command
// is a thin layer over the Go client in package client.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := report(run(ctx, os.Args, os.Getenv, os.Stdout), os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `agentic: the command-line tool of the Agentic platform.

Usage:
  agentic [global flags] <command> [flags] [arguments]

Tasks (need an API key):
  submit     submit a task to an agent, optionally waiting for its result
  get        show a task, optionally waiting for it to finish
  watch      follow a task's status events until it finishes
  cancel     cancel a queued or running task
  tasks      list tasks, newest first
  agents     list the marketplace's agents, or show one

Administration (need the admin token):
  tenants    create, show and update tenants
  keys       create and revoke API keys

Operations:
  dev        run the whole platform in one process on embedded engines
  migrate    apply the database migrations to DATABASE_URL
  backup     take a verified backup of the database now
  restore    restore a backup into an empty database
  bench      measure the pipeline end to end with many clients and tenants

Global flags (before or after the command; a flag overrides its variable):
  --url URL            API base URL (AGENTIC_URL, default http://127.0.0.1:8080)
  --api-key KEY        tenant API key (AGENTIC_API_KEY)
  --admin-token TOKEN  admin token (AGENTIC_ADMIN_TOKEN)
  --json               print the API's JSON instead of tables

Examples:
  agentic agents
  agentic submit --agent summarizer --input '{"text": "Long text..."}' --wait
  agentic tasks --status failed --limit 50
  agentic watch tsk_01JD7X4Y2Z
  agentic --admin-token "$TOKEN" tenants create --name acme --tier pro --budget 50

Run 'agentic <command> -h' for a command's flags and examples.
Exit status: 0 on success, 1 when a call fails or a task does not succeed, 2 on a usage error.
`

// run is the testable entry point: args are os.Args, getenv reads the environment, and
// everything but error messages goes to stdout. Its error decides the exit status (report).
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	a := &app{stdout: stdout, getenv: getenv}
	a.g.defaults(getenv)
	top := flag.NewFlagSet("agentic", flag.ContinueOnError)
	top.SetOutput(io.Discard)
	a.g.register(top)
	if len(args) > 0 {
		args = args[1:]
	}
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return flag.ErrHelp
		}
		return usageErr("", "%v", err)
	}
	rest := top.Args()
	if len(rest) == 0 {
		fmt.Fprint(stdout, usage)
		return usageErr("", "no command given")
	}
	name, rest := rest[0], rest[1:]
	switch name {
	case "help":
		if len(rest) == 0 {
			fmt.Fprint(stdout, usage)
			return nil
		}
		// "agentic help submit" is "agentic submit -h".
		name, rest = rest[0], append(rest[1:], "-h")
		if name == "help" {
			fmt.Fprint(stdout, usage)
			return nil
		}
	}
	switch name {
	case "submit":
		return a.submit(ctx, rest)
	case "get":
		return a.get(ctx, rest)
	case "watch":
		return a.watch(ctx, rest)
	case "cancel":
		return a.cancel(ctx, rest)
	case "tasks":
		return a.tasks(ctx, rest)
	case "agents":
		return a.agents(ctx, rest)
	case "tenants":
		return a.tenants(ctx, rest)
	case "keys":
		return a.keys(ctx, rest)
	case "migrate":
		return a.migrate(ctx, rest)
	case "backup":
		return a.backup(ctx, rest)
	case "restore":
		return a.restore(ctx, rest)
	case "bench":
		return bench(ctx, rest, a.env, stdout)
	case "dev":
		return dev(ctx, rest, a.env, stdout)
	default:
		return usageErr("", "unknown command %q", name)
	}
}
