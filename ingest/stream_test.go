package ingest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/ingest"
	"github.com/agentic-run/agentic/store"
)

// sse reads server-sent events from a response.
type sse struct {
	lines  chan string
	closed chan struct{}
}

func readSSE(t *testing.T, resp *http.Response) *sse {
	s := &sse{lines: make(chan string, 100), closed: make(chan struct{})}
	go func() {
		defer close(s.closed)
		defer close(s.lines)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	return s
}

// next returns the next event (its name and data), skipping comments.
func (s *sse) next(t *testing.T) (string, string) {
	t.Helper()
	var name, data string
	timeout := time.After(15 * time.Second)
	for {
		select {
		case line, ok := <-s.lines:
			if !ok {
				t.Fatal("stream closed before the next event")
			}
			switch {
			case line == "" && name != "":
				return name, data
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			}
		case <-timeout:
			t.Fatal("no event within 15s")
		}
	}
}

func (s *sse) nextTask(t *testing.T) client.Task {
	t.Helper()
	name, data := s.next(t)
	require.Equal(t, "status", name)
	var task client.Task
	require.NoError(t, json.Unmarshal([]byte(data), &task), data)
	return task
}

func openStream(t *testing.T, e *env, key, id string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	hr, err := http.NewRequestWithContext(ctx, "GET", e.http.URL+"/v1/tasks/"+id+"/events", nil)
	require.NoError(t, err)
	hr.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(hr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func TestEventStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *ingest.Config) { c.SSEHeartbeat = 50 * time.Millisecond })
	_, key := e.tenant(t)
	task := e.submit(t, key, echoTask)

	resp := openStream(t, e, key, task.ID)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
	s := readSSE(t, resp)

	require.Equal(t, "queued", s.nextTask(t).Status)

	// Heartbeat comments keep the stream alive.
	deadline := time.After(10 * time.Second)
	for heartbeat := false; !heartbeat; {
		select {
		case line, ok := <-s.lines:
			require.True(t, ok, "stream closed")
			heartbeat = strings.HasPrefix(line, ":")
		case <-deadline:
			t.Fatal("no heartbeat")
		}
	}

	// Running, via the live notification.
	now := time.Now()
	_, err := e.store.StartTask(context.Background(), task.ID, now, now.Add(time.Minute))
	require.NoError(t, err)
	require.NoError(t, e.pub.NotifyRunning(task.ID))
	require.Equal(t, "running", s.nextTask(t).Status)

	// Terminal, via the event; then the stream ends.
	e.finish2(t, task.ID, store.StatusSucceeded)
	final := s.nextTask(t)
	require.Equal(t, "succeeded", final.Status)
	require.JSONEq(t, `{"ok":true}`, string(final.Output))
	select {
	case <-s.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end after the terminal status")
	}
}

func TestEventStreamOfFinishedTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, key := e.tenant(t)
	task := e.submit(t, key, echoTask)
	e.finish(t, task.ID, store.StatusFailed)

	resp := openStream(t, e, key, task.ID)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	s := readSSE(t, resp)
	got := s.nextTask(t)
	require.Equal(t, "failed", got.Status)
	require.Equal(t, "boom", got.Error.Code)
	select {
	case <-s.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream of a finished task did not end")
	}
}
