package telemetry

import (
	"io"
	"log/slog"
)

// NewLogger returns the logger the processes use: one JSON object per line on w, records
// below level dropped (a nil level means slog.LevelInfo), and every record passed through
// [Redact] before it is encoded.
func NewLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(Redact(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})))
}
