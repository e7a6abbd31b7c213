package platform

import (
	"context"
	"io"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/agentic-run/agentic/telemetry"
)

// Role is one process's job, run until ctx ends.
type Role func(ctx context.Context, c Config, e *Engines, log *slog.Logger, listening func(addr string)) error

// Run reads the configuration, connects the engines and runs role: the body of each
// process's run function. listening may be nil.
func Run(ctx context.Context, name string, role Role, getenv func(string) string, stdout io.Writer, listening func(addr string)) error {
	c, getenv, closeSecrets, err := load(ctx, getenv)
	if err != nil {
		return err
	}
	defer closeSecrets()
	tuneGC(getenv)
	log := telemetry.NewLogger(stdout, c.LogLevel).With("process", name)
	tp, shutdown, err := telemetry.NewTracingEnv(ctx, "agentic-"+name, getenv)
	if err != nil {
		return err
	}
	defer flushTraces(ctx, shutdown, log)
	c.Tracer = tp
	e, err := Connect(ctx, c, log, name)
	if err != nil {
		return err
	}
	defer e.Close()
	return role(ctx, c, e, log, listening)
}

// flushTraces shuts the tracer provider down, exporting what is left, within 5 seconds.
func flushTraces(ctx context.Context, shutdown func(context.Context) error, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := shutdown(ctx); err != nil {
		log.Warn("tracing: flush on exit", "error", err)
	}
}

// tuneGC trades memory the processes have to spare for less garbage-collection CPU: unless
// GOGC or GOMEMLIMIT is set, collect at 4x the live heap but never let the heap pass 192 MiB,
// so a process stays under the 256 MiB its deployment allows.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" && getenv("GOMEMLIMIT") == "" {
		debug.SetGCPercent(400)
		debug.SetMemoryLimit(192 << 20)
	}
}
