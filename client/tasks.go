package client

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// MaxWait is the longest hold of one long-poll request (GET /v1/tasks/{id}?wait=); WaitTask
// repeats requests to wait longer.
const MaxWait = 60 * time.Second

// SubmitOpts are the optional parts of a submission; nil means none.
type SubmitOpts struct {
	// IdempotencyKey (1–255 printable ASCII characters) makes a retried submission with the
	// same body return the task of the first one, for 24 hours.
	IdempotencyKey string
}

// Submit calls POST /v1/tasks. created is true when the task is new (202) and false when
// the server replayed the task of an earlier submission with the same Idempotency-Key (200).
func (c *Client) Submit(ctx context.Context, req SubmitRequest, opts *SubmitOpts) (task *Task, created bool, err error) {
	r := &call{method: http.MethodPost, path: "/v1/tasks", auth: tenantAuth, body: req}
	if opts != nil && opts.IdempotencyKey != "" {
		r.header = http.Header{"Idempotency-Key": {opts.IdempotencyKey}}
	}
	var out Task
	status, err := c.do(ctx, r, &out)
	if err != nil {
		return nil, false, err
	}
	return &out, status == http.StatusAccepted, nil
}

// GetTask calls GET /v1/tasks/{id}.
func (c *Client) GetTask(ctx context.Context, id string) (*Task, error) {
	return c.getTask(ctx, id, 0)
}

func (c *Client) getTask(ctx context.Context, id string, wait time.Duration) (*Task, error) {
	p, err := pathID("task", id)
	if err != nil {
		return nil, err
	}
	r := &call{method: http.MethodGet, path: "/v1/tasks/" + p, auth: tenantAuth}
	if wait > 0 {
		r.query = url.Values{"wait": {wait.String()}}
	}
	var out Task
	if _, err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// WaitTask waits up to wait for the task to become terminal and returns it as it then
// stands, terminal or not (check Task.Terminal). The server holds each request for at most
// MaxWait, so longer waits are a series of long-polls; ctx ending stops the wait with its
// error. A wait of zero or less is GetTask.
func (c *Client) WaitTask(ctx context.Context, id string, wait time.Duration) (*Task, error) {
	if wait <= 0 {
		return c.GetTask(ctx, id)
	}
	deadline := time.Now().Add(wait)
	for {
		hold := min(time.Until(deadline), MaxWait)
		if hold <= 0 {
			hold = time.Millisecond // one last look, without a hold
		}
		t, err := c.getTask(ctx, id, hold)
		if err != nil {
			return nil, err
		}
		if t.Terminal() || !time.Now().Before(deadline) {
			return t, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("agentic: wait for task %s: %w", id, err)
		}
	}
}

// ListOpts filters and pages GET /v1/tasks; nil means the first page of every task.
type ListOpts struct {
	// Status keeps tasks in that status (queued, running, succeeded, failed, canceled).
	Status string
	// Agent keeps tasks of that agent.
	Agent string
	// Metadata keeps tasks whose metadata has all of these pairs.
	Metadata map[string]string
	// Limit is the page size, 1–100 (the server's default, 20, when zero).
	Limit int
	// Cursor is a previous page's NextCursor, to read the page after it.
	Cursor string
}

func (o *ListOpts) query() url.Values {
	q := url.Values{}
	if o == nil {
		return q
	}
	if o.Status != "" {
		q.Set("status", o.Status)
	}
	if o.Agent != "" {
		q.Set("agent", o.Agent)
	}
	for k, v := range o.Metadata {
		q.Set("metadata."+k, v)
	}
	if o.Limit != 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	return q
}

// ListTasks calls GET /v1/tasks and returns one page, newest first. A non-nil
// TaskList.NextCursor means more tasks follow; pass it as ListOpts.Cursor, or use AllTasks.
func (c *Client) ListTasks(ctx context.Context, opts *ListOpts) (*TaskList, error) {
	var out TaskList
	if _, err := c.do(ctx, &call{method: http.MethodGet, path: "/v1/tasks", query: opts.query(), auth: tenantAuth}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AllTasks returns an iterator over every task ListTasks would return, page after page
// (opts.Limit is the page size; opts.Cursor, if set, is where it starts). An error is
// yielded once, with a zero Task, and ends the iteration.
func (c *Client) AllTasks(ctx context.Context, opts *ListOpts) iter.Seq2[Task, error] {
	return func(yield func(Task, error) bool) {
		var o ListOpts
		if opts != nil {
			o = *opts
		}
		for {
			page, err := c.ListTasks(ctx, &o)
			if err != nil {
				yield(Task{}, err)
				return
			}
			for _, t := range page.Data {
				if !yield(t, nil) {
					return
				}
			}
			if page.NextCursor == nil || *page.NextCursor == "" {
				return
			}
			if *page.NextCursor == o.Cursor {
				yield(Task{}, errors.New("agentic: list tasks: the server returned the same cursor twice"))
				return
			}
			o.Cursor = *page.NextCursor
		}
	}
}

// CancelTask calls POST /v1/tasks/{id}/cancel: a queued task is canceled at once, a running
// one is interrupted. A task already terminal gives a *Problem with Code CodeTaskFinished.
func (c *Client) CancelTask(ctx context.Context, id string) (*Task, error) {
	p, err := pathID("task", id)
	if err != nil {
		return nil, err
	}
	var out Task
	if _, err := c.do(ctx, &call{method: http.MethodPost, path: "/v1/tasks/" + p + "/cancel", auth: tenantAuth}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Deliveries calls GET /v1/tasks/{id}/deliveries: the attempts to deliver the task's
// webhook, oldest first.
func (c *Client) Deliveries(ctx context.Context, id string) ([]Delivery, error) {
	p, err := pathID("task", id)
	if err != nil {
		return nil, err
	}
	var out DeliveryList
	if _, err := c.do(ctx, &call{method: http.MethodGet, path: "/v1/tasks/" + p + "/deliveries", auth: tenantAuth}, &out); err != nil {
		return nil, err
	}
	return out.Data, nil
}
