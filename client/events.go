package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime"
	"net/http"
)

// ErrStreamEnded is yielded by Events when the server closes a task's event stream before
// the task is terminal (a restart of the server, say); follow it again to resume.
var ErrStreamEnded = errors.New("agentic: event stream ended before the task finished")

// maxEventSize bounds one event's data: a task carries up to 1 MiB of input and its output.
const maxEventSize = 16 << 20

// Event is one server-sent event of a task's stream.
type Event struct {
	// Type is the event's name; the server sends "status" events.
	Type string
	// ID is the event's id field, if the server sent one.
	ID string
	// Data is the event's data, the lines joined by "\n".
	Data []byte
	// Task is the task as it stood at the event, decoded from Data for "status" events.
	Task Task
}

// Events calls GET /v1/tasks/{id}/events and returns an iterator over its events: the task's
// status now, then one event at each change, ending after the event of a terminal status.
// Errors, including a *Problem for an unknown task, are yielded once, with a zero Event, and
// end the iteration; a stream that closes early yields ErrStreamEnded. Breaking out of the
// loop, or ctx ending, closes the stream.
func (c *Client) Events(ctx context.Context, id string) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		p, err := pathID("task", id)
		if err != nil {
			yield(Event{}, err)
			return
		}
		r := &call{method: http.MethodGet, path: "/v1/tasks/" + p + "/events", auth: tenantAuth, accept: "text/event-stream"}
		resp, err := c.send(ctx, r)
		if err != nil {
			yield(Event{}, err)
			return
		}
		defer resp.Body.Close()
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
			yield(Event{}, fmt.Errorf("agentic: %s: answer is %q, not text/event-stream", r, mt))
			return
		}
		sr := newSSEReader(resp.Body)
		for {
			ev, err := sr.next()
			if err != nil {
				switch {
				case errors.Is(err, io.EOF):
					err = ErrStreamEnded
				case ctx.Err() != nil:
					err = fmt.Errorf("agentic: %s: %w", r, ctx.Err())
				default:
					err = fmt.Errorf("agentic: %s: %w", r, err)
				}
				yield(Event{}, err)
				return
			}
			if ev.Type == "status" {
				if err := json.Unmarshal(ev.Data, &ev.Task); err != nil {
					yield(Event{}, fmt.Errorf("agentic: %s: decode status event: %w", r, err))
					return
				}
			}
			if !yield(ev, nil) {
				return
			}
			if ev.Type == "status" && ev.Task.Terminal() {
				return
			}
		}
	}
}

// sseReader parses a text/event-stream (the WHATWG HTML "server-sent events" format): lines
// end in CRLF, LF or CR; "field: value" lines build an event; a blank line dispatches it;
// lines starting with ":" are comments.
type sseReader struct {
	sc     *bufio.Scanner
	lastID string
}

func newSSEReader(r io.Reader) *sseReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventSize)
	sc.Split(scanLines)
	return &sseReader{sc: sc}
}

// next returns the next event with data; io.EOF at the end of the stream (an event not
// terminated by a blank line is discarded, as the format says).
func (s *sseReader) next() (Event, error) {
	var (
		typ     string
		data    bytes.Buffer
		hasData bool
	)
	for s.sc.Scan() {
		line := s.sc.Bytes()
		if len(line) == 0 {
			if !hasData {
				typ = "" // an event without data is not dispatched
				continue
			}
			if typ == "" {
				typ = "message"
			}
			return Event{Type: typ, ID: s.lastID, Data: bytes.Clone(data.Bytes())}, nil
		}
		if line[0] == ':' {
			continue
		}
		name, value, found := bytes.Cut(line, []byte{':'})
		if found {
			value = bytes.TrimPrefix(value, []byte{' '})
		}
		switch string(name) {
		case "event":
			typ = string(value)
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			hasData = true
		case "id":
			if !bytes.ContainsRune(value, 0) {
				s.lastID = string(value)
			}
		default: // "retry" and unknown fields: reconnection is the caller's choice
		}
	}
	if err := s.sc.Err(); err != nil {
		return Event{}, err
	}
	return Event{}, io.EOF
}

// scanLines splits at CRLF, LF or CR.
func scanLines(data []byte, atEOF bool) (advance int, token []byte, err error) {
	if atEOF && len(data) == 0 {
		return 0, nil, nil
	}
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		if data[i] == '\n' {
			return i + 1, data[:i], nil
		}
		// A CR: part of a CRLF if a LF follows; at the end of the buffer, wait for more.
		if i+1 < len(data) {
			if data[i+1] == '\n' {
				return i + 2, data[:i], nil
			}
			return i + 1, data[:i], nil
		}
		if atEOF {
			return i + 1, data[:i], nil
		}
		return 0, nil, nil
	}
	if atEOF {
		return len(data), data, nil
	}
	return 0, nil, nil
}
