// Package client is the Go client of the Agentic HTTP API (the contract in API.md): submit
// tasks to the marketplace's agents, read, wait for, list, cancel and follow them, and, with
// the admin token, manage tenants and their API keys.
//
// A Client is made once with New and is safe for concurrent use:
//
//	c, err := client.New("http://127.0.0.1:8080", client.WithAPIKey(os.Getenv("AGENTIC_API_KEY")))
//	task, created, err := c.Submit(ctx, client.SubmitRequest{
//		Agent: "summarizer",
//		Input: json.RawMessage(`{"text": "..."}`),
//	}, &client.SubmitOpts{IdempotencyKey: "order-42"})
//	task, err = c.WaitTask(ctx, task.ID, 2*time.Minute)
//
// Every answer outside 2xx becomes a *Problem, the RFC 9457 body the server sent, with its
// HTTP status, its stable Code (the Code… constants) and, on 429 and 503, how long to wait
// (Problem.RetryAfter); match it with errors.As. Transport failures are returned wrapped with
// the method and path of the call, so errors.Is finds context.Canceled and friends.
//
// Long calls are bounded by their context, not by a client-wide timeout: WaitTask long-polls
// (GET /v1/tasks/{id}?wait=, at most 60s per request, repeated until the wait is over) and
// Events follows the task's text/event-stream until it is terminal. If you pass your own
// http.Client with WithHTTPClient, leave its Timeout at zero or above the longest wait.
//
// The CLI in cmd/agentic is built on this package.
package client
