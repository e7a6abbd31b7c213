package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/agentic-run/agentic/cmd/internal/platform"
)

const devAbout = `Usage:
  agentic dev [flags]

Runs the whole platform in one process — the HTTP API, a worker and the scheduler — on
embedded engines kept in the data directory: an in-process NATS server with JetStream and a
SQLite database. Set DATABASE_URL, NATS_URL or REDIS_URL to use a real engine instead. Model
calls go to the built-in simulated provider.

The first start creates an admin token (unless AGENTIC_ADMIN_TOKEN is set) and a demo tenant
with an API key; every start prints them with a curl line. A restart keeps every tenant, task
and result. Logs go to agentic.log in the data directory. Ctrl-C stops it.

Flags:
%s
Examples:
  agentic dev
  agentic dev --addr 127.0.0.1:9090 --data-dir /tmp/agentic
`

// dev runs `agentic dev`: flags become the variables platform.RunDev reads.
func dev(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("agentic dev", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("addr", "", "HTTP listen `address` (AGENTIC_HTTP_ADDR, default :8080)")
	dataDir := fs.String("data-dir", "", "where the embedded engines keep their state (AGENTIC_DATA_DIR, default ./.agentic)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, devAbout, flagTable(fs, func(string) bool { return true }))
			return flag.ErrHelp
		}
		return usageErr("dev", "%v", err)
	}
	if fs.NArg() > 0 {
		return usageErr("dev", "unexpected argument %q", fs.Arg(0))
	}
	env := func(name string) string {
		switch {
		case name == "AGENTIC_HTTP_ADDR" && *addr != "":
			return *addr
		case name == "AGENTIC_DATA_DIR" && *dataDir != "":
			return *dataDir
		}
		return getenv(name)
	}
	dir := env("AGENTIC_DATA_DIR")
	if dir == "" {
		dir = "./.agentic"
	}
	logs, err := openLog(dir)
	if err != nil {
		return err
	}
	defer logs.Close()
	return platform.RunDev(ctx, env, platform.DevOpts{Out: stdout, Logs: logs})
}

// openLog opens the data directory's log file for appending, creating the directory.
func openLog(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("AGENTIC_DATA_DIR: cannot create %s: %s", dir, reason(err))
	}
	f, err := os.OpenFile(filepath.Join(dir, "agentic.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("AGENTIC_DATA_DIR: %s is not writable: %s", dir, reason(err))
	}
	return f, nil
}

// reason is an error's last part ("permission denied", "not a directory").
func reason(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}
