// Command ingest serves the HTTP API: it authenticates, validates, persists each task and publishes it to JetStream.
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
		fmt.Fprintln(os.Stderr, "ingest:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, _ []string, getenv func(string) string, stdout io.Writer) error {
	return platform.Run(ctx, "ingest", platform.RunIngest, getenv, stdout, nil)
}
