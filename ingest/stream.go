package ingest

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/agentic-run/agentic/store"
)

// GET /v1/tasks/{id}/events: a text/event-stream of "status" events, one now and one at each
// change, until the task is terminal or the client leaves. Comments keep idle connections
// alive; each heartbeat also re-reads the task, in case a notification was lost.
func (s *Server) taskEvents(w http.ResponseWriter, r *http.Request, k *store.APIKey) error {
	id := r.PathValue("id")
	ctx := r.Context()
	ch, stop := s.cfg.Notifier.Watch(id) // before the read: no change slips between them
	defer stop()
	t, err := s.cfg.Store.GetTask(ctx, k.TenantID, id)
	if err != nil {
		return taskErr(err)
	}

	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	// From here on the answer has started: errors end the stream, they are not problems.
	send := func(t *store.Task) bool {
		b, err := json.Marshal(t.API())
		if err != nil {
			s.log.LogAttrs(ctx, slog.LevelError, "encode task event", slog.String("task_id", id), slog.String("error", err.Error()))
			return false
		}
		buf := make([]byte, 0, len(b)+32)
		buf = append(buf, "event: status\ndata: "...)
		buf = append(buf, b...)
		buf = append(buf, "\n\n"...)
		if _, err := w.Write(buf); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send(t) || t.Status.Terminal() {
		return nil
	}
	last := t.Status
	refresh := func() bool {
		t, err := s.cfg.Store.GetTask(ctx, k.TenantID, id)
		if err != nil {
			if ctx.Err() == nil {
				s.log.LogAttrs(ctx, slog.LevelWarn, "event stream read", slog.String("task_id", id), slog.String("error", err.Error()))
			}
			return false
		}
		if t.Status != last {
			if !send(t) {
				return false
			}
			last = t.Status
		}
		return !t.Status.Terminal()
	}

	heartbeat := time.NewTicker(s.cfg.SSEHeartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				ch = nil
				continue
			}
			if !refresh() {
				return nil
			}
		case <-heartbeat.C:
			if _, err := w.Write([]byte(": heartbeat\n\n")); err != nil || rc.Flush() != nil {
				return nil
			}
			if !refresh() {
				return nil
			}
		case <-ctx.Done():
			return nil
		}
	}
}
