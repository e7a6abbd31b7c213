package platform

import (
	"context"
	"io"
	"log/slog"
)

// Role is one process's job, run until ctx ends.
type Role func(ctx context.Context, c Config, e *Engines, log *slog.Logger, listening func(addr string)) error

// Run reads the configuration, connects the engines and runs role: the body of each
// process's run function. listening may be nil.
func Run(ctx context.Context, name string, role Role, getenv func(string) string, stdout io.Writer, listening func(addr string)) error {
	c, err := FromEnv(getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: c.LogLevel})).With("process", name)
	e, err := Connect(ctx, c, log, name)
	if err != nil {
		return err
	}
	defer e.Close()
	return role(ctx, c, e, log, listening)
}
