// Command agentic is the platform's command-line tool. This version has one command, bench:
// the load generator that measures the pipeline end to end over HTTP.
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
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "agentic:", err)
		}
		os.Exit(1)
	}
}

const usage = `Usage: agentic <command> [flags]

Commands:
  bench   submit tasks over HTTP from many clients and tenants and measure the pipeline

Run 'agentic <command> -h' for a command's flags.
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) < 2 || args[1] == "-h" || args[1] == "--help" || args[1] == "help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	switch args[1] {
	case "bench":
		return bench(ctx, args[2:], getenv, stdout)
	default:
		return fmt.Errorf("unknown command %q (see 'agentic help')", args[1])
	}
}
