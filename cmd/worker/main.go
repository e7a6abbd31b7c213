// Command worker consumes tasks, runs them and delivers their webhooks.
// Configuration comes from the environment (DESIGN.md, "Configuration"); SIGTERM drains it.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/agentic-run/agentic/cmd/internal/platform"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, _ []string, getenv func(string) string, stdout io.Writer) error {
	return platform.Run(ctx, "worker", platform.RunWorker, getenv, stdout, nil)
}
