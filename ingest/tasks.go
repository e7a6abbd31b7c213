package ingest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/webhook"
)

// Limits of a task submission.
const (
	maxIdempotencyKey = 255
	maxMetadataPairs  = 50
	maxMetadataKey    = 64
	maxMetadataValue  = 512
	maxWebhookURL     = 2048
	// maxCostUSD bounds max_cost_usd so that micro-dollars fit comfortably in int64.
	maxCostUSD = 1e9
	maxLimit   = 100
	defLimit   = 20
)

var qualities = map[string]bool{"economy": true, "standard": true, "premium": true}

// POST /v1/tasks
func (s *Server) submitTask(w http.ResponseWriter, r *http.Request, k *store.APIKey) error {
	idemKey, err := idempotencyKey(r.Header)
	if err != nil {
		return err
	}
	var req client.SubmitRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}

	// The rules, cheapest first; the webhook check may resolve a name, so it goes last.
	if req.Agent == "" {
		return newProblem(http.StatusUnprocessableEntity, codeInvalidRequest, "agent is required").
			withFields(field("/agent", "is required"))
	}
	agent, err := s.cfg.Agents.Get(req.Agent)
	if err != nil {
		return err
	}
	input, err := compactInput(req.Input)
	if err != nil {
		return err
	}
	if err := s.cfg.Agents.Validate(agent.ID, input); err != nil {
		return err
	}
	quality := agent.Quality
	if req.Quality != "" {
		if !qualities[req.Quality] {
			return newProblem(http.StatusUnprocessableEntity, codeInvalidQuality,
				"quality must be economy, standard or premium").withFields(field("/quality", "must be economy, standard or premium"))
		}
		quality = req.Quality
	}
	var maxCost *int64
	if req.MaxCostUSD != nil {
		if v := *req.MaxCostUSD; v < 0 || v > maxCostUSD {
			return newProblem(http.StatusUnprocessableEntity, codeInvalidRequest,
				"max_cost_usd must be a number from 0 to 1e9").withFields(field("/max_cost_usd", "must be a number from 0 to 1e9"))
		}
		m := store.USDToMicros(*req.MaxCostUSD)
		maxCost = &m
	}
	if err := checkMetadata(req.Metadata); err != nil {
		return err
	}
	if req.WebhookURL != "" {
		if err := s.checkWebhookURL(r.Context(), req.WebhookURL); err != nil {
			return err
		}
	}

	t := &store.Task{
		ID:             store.NewID("tsk"),
		TenantID:       k.TenantID,
		Agent:          agent.ID,
		Status:         store.StatusQueued,
		Input:          input,
		MaxAttempts:    s.cfg.MaxAttempts,
		Metadata:       req.Metadata,
		WebhookURL:     req.WebhookURL,
		Quality:        quality,
		MaxCostMicros:  maxCost,
		IdempotencyKey: idemKey,
		TraceID:        traceID(r.Header.Get("traceparent")),
		CreatedAt:      s.now(),
	}
	if t.Metadata == nil {
		t.Metadata = map[string]string{}
	}
	if idemKey != "" {
		h, err := requestHash(&req, input, maxCost)
		if err != nil {
			return err
		}
		t.RequestHash = h
	}

	got, existed, err := s.cfg.Store.CreateTask(r.Context(), t)
	if err != nil {
		return fmt.Errorf("create task: %w", err)
	}
	w.Header().Set("Location", "/v1/tasks/"+got.ID)
	if existed {
		if !bytes.Equal(got.RequestHash, t.RequestHash) {
			return newProblem(http.StatusConflict, codeIdempotencyConflict,
				"this Idempotency-Key was used with a different request in the last 24 hours")
		}
		s.writeJSON(w, r, http.StatusOK, got.API())
		return nil
	}
	s.cfg.Enqueue(got)
	s.writeJSON(w, r, http.StatusAccepted, got.API())
	return nil
}

// idempotencyKey returns the Idempotency-Key header ("" when absent): 1–255 printable ASCII
// characters, sent once.
func idempotencyKey(h http.Header) (string, error) {
	vals, ok := h["Idempotency-Key"]
	if !ok {
		return "", nil
	}
	bad := newProblem(http.StatusBadRequest, codeInvalidIdempotencyKey,
		"Idempotency-Key must be one header of 1 to 255 printable ASCII characters")
	if len(vals) != 1 || len(vals[0]) == 0 || len(vals[0]) > maxIdempotencyKey {
		return "", bad
	}
	for i := 0; i < len(vals[0]); i++ {
		if c := vals[0][i]; c < 0x20 || c > 0x7e {
			return "", bad
		}
	}
	return vals[0], nil
}

// compactInput requires an input value and returns it without insignificant whitespace.
func compactInput(in json.RawMessage) (json.RawMessage, error) {
	if len(in) == 0 || string(in) == "null" {
		return nil, newProblem(http.StatusUnprocessableEntity, codeInvalidInput, "input is required").
			withFields(field("/input", "is required and must be a JSON object"))
	}
	var buf bytes.Buffer
	buf.Grow(len(in))
	if err := json.Compact(&buf, in); err != nil {
		return nil, newProblem(http.StatusBadRequest, codeInvalidJSON, "input is not valid JSON")
	}
	return buf.Bytes(), nil
}

// checkMetadata bounds metadata: at most 50 pairs, keys 1–64 and values ≤ 512 characters,
// no NUL characters (they cannot be stored).
func checkMetadata(md map[string]string) error {
	var v validation
	if len(md) > maxMetadataPairs {
		v.add(codeInvalidRequest, "/metadata", fmt.Sprintf("must have at most %d pairs", maxMetadataPairs))
		return v.err()
	}
	for key, val := range md {
		path := "/metadata/" + escapePointer(key)
		switch {
		case key == "" || utf8.RuneCountInString(key) > maxMetadataKey:
			v.add(codeInvalidRequest, path, fmt.Sprintf("keys must be 1 to %d characters", maxMetadataKey))
		case utf8.RuneCountInString(val) > maxMetadataValue:
			v.add(codeInvalidRequest, path, fmt.Sprintf("must be at most %d characters", maxMetadataValue))
		case strings.ContainsRune(key, 0) || strings.ContainsRune(val, 0):
			v.add(codeInvalidRequest, path, "must not contain NUL characters")
		}
	}
	return v.err()
}

// escapePointer escapes a JSON Pointer token (RFC 6901).
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func (s *Server) checkWebhookURL(ctx context.Context, u string) error {
	bad := func(msg string) error {
		return newProblem(http.StatusUnprocessableEntity, codeInvalidWebhookURL, "webhook_url "+msg).
			withFields(field("/webhook_url", msg))
	}
	if len(u) > maxWebhookURL {
		return bad(fmt.Sprintf("must be at most %d characters", maxWebhookURL))
	}
	for _, c := range u {
		if c < 0x20 || c == 0x7f {
			return bad("must not contain control characters")
		}
	}
	if err := s.cfg.Webhooks.CheckURL(ctx, u); err != nil {
		if errors.Is(err, webhook.ErrForbiddenTarget) || errors.Is(err, webhook.ErrInvalidURL) {
			return bad(webhookMessage(err))
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("check webhook url: %w", err) // a bad allow-list: the operator's problem
	}
	return nil
}

// webhookMessage is the policy's reason without the package's prefix.
func webhookMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), "webhook: ")
	if msg == "" {
		msg = "is not allowed"
	}
	return msg
}

// canonicalRequest is what the request hash covers: the parsed request, with input and
// metadata in a canonical encoding (sorted keys, no whitespace).
type canonicalRequest struct {
	Agent         string            `json:"agent"`
	Input         json.RawMessage   `json:"input"`
	WebhookURL    string            `json:"webhook_url"`
	Metadata      map[string]string `json:"metadata"`
	Quality       string            `json:"quality"`
	MaxCostMicros *int64            `json:"max_cost_micros"`
}

// requestHash is the SHA-256 of the canonical request, compared when an Idempotency-Key is
// reused.
func requestHash(req *client.SubmitRequest, input json.RawMessage, maxCost *int64) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(input))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("canonical input: %w", err)
	}
	canon, err := json.Marshal(v) // maps marshal with sorted keys
	if err != nil {
		return nil, fmt.Errorf("canonical input: %w", err)
	}
	md := req.Metadata
	if len(md) == 0 {
		md = nil
	}
	b, err := json.Marshal(canonicalRequest{
		Agent: req.Agent, Input: canon, WebhookURL: req.WebhookURL, Metadata: md,
		Quality: req.Quality, MaxCostMicros: maxCost,
	})
	if err != nil {
		return nil, fmt.Errorf("canonical request: %w", err)
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}

// traceID returns the trace id of a valid W3C traceparent header, or a new random one.
func traceID(tp string) string {
	if id, ok := parseTraceParent(tp); ok {
		return id
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// parseTraceParent extracts the trace id of "version-traceid-parentid-flags".
func parseTraceParent(tp string) (string, bool) {
	if len(tp) < 55 || (len(tp) > 55 && tp[55] != '-') {
		return "", false
	}
	version, tid, pid, flags := tp[0:2], tp[3:35], tp[36:52], tp[53:55]
	if tp[2] != '-' || tp[35] != '-' || tp[52] != '-' {
		return "", false
	}
	if !lowerHex(version) || version == "ff" || (version == "00" && len(tp) != 55) {
		return "", false
	}
	if !lowerHex(tid) || !lowerHex(pid) || !lowerHex(flags) {
		return "", false
	}
	if tid == "00000000000000000000000000000000" || pid == "0000000000000000" {
		return "", false
	}
	return tid, true
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// GET /v1/tasks/{id}[?wait=30s]
func (s *Server) getTask(w http.ResponseWriter, r *http.Request, k *store.APIKey) error {
	id := r.PathValue("id")
	wait, err := parseWait(r.URL.Query().Get("wait"))
	if err != nil {
		return err
	}
	ctx := r.Context()
	if wait <= 0 {
		t, err := s.cfg.Store.GetTask(ctx, k.TenantID, id)
		if err != nil {
			return taskErr(err)
		}
		s.writeJSON(w, r, http.StatusOK, t.API())
		return nil
	}

	// Watch before reading, so a change between the read and the wait is not lost.
	ch, stop := s.cfg.Notifier.Watch(id)
	defer stop()
	t, err := s.cfg.Store.GetTask(ctx, k.TenantID, id)
	if err != nil {
		return taskErr(err)
	}
	if !t.Status.Terminal() {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + 30*time.Second))
		timer := time.NewTimer(wait)
		defer timer.Stop()
	wait:
		for {
			select {
			case st, ok := <-ch:
				if !ok {
					ch = nil // the notifier closed: wait out the timer
					continue
				}
				if !store.Status(st).Terminal() {
					continue
				}
				if t, err = s.cfg.Store.GetTask(ctx, k.TenantID, id); err != nil {
					return taskErr(err)
				}
				if t.Status.Terminal() {
					break wait
				}
			case <-timer.C:
				if t, err = s.cfg.Store.GetTask(ctx, k.TenantID, id); err != nil {
					return taskErr(err)
				}
				break wait
			case <-ctx.Done():
				return nil // the client left; nobody to answer
			}
		}
	}
	s.writeJSON(w, r, http.StatusOK, t.API())
	return nil
}

func taskErr(err error) error {
	if problemFor(err).Code == codeNotFound {
		return notFound("task")
	}
	return fmt.Errorf("task: %w", err)
}

// parseWait reads ?wait=: a Go duration ("30s") or plain seconds ("30", "1.5"); over 60s
// is 60s.
func parseWait(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	bad := invalidParameter("wait", `must be a duration such as "30s" or a number of seconds, at most 60s`)
	d, err := time.ParseDuration(v)
	if err != nil {
		if !plainSeconds(v) {
			return 0, bad
		}
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, bad
		}
		if secs > maxWait.Seconds() {
			return maxWait, nil
		}
		d = time.Duration(secs * float64(time.Second))
	}
	if d < 0 {
		return 0, bad
	}
	return min(d, maxWait), nil
}

// plainSeconds accepts digits with an optional fraction: "30", "0.5".
func plainSeconds(v string) bool {
	digits, dot := 0, false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot && digits > 0 && i < len(v)-1:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}

// GET /v1/tasks?status=&agent=&limit=&cursor=&metadata.KEY=VALUE
func (s *Server) listTasks(w http.ResponseWriter, r *http.Request, k *store.APIKey) error {
	q := r.URL.Query()
	f := store.TaskFilter{Limit: defLimit, Agent: q.Get("agent"), Cursor: q.Get("cursor")}
	if v := q.Get("status"); v != "" {
		if !store.Status(v).Valid() {
			return invalidParameter("status", "must be queued, running, succeeded, failed or canceled")
		}
		f.Status = store.Status(v)
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return invalidParameter("limit", "must be an integer from 1 to 100")
		}
		f.Limit = n
	}
	empty := false
	for name, vals := range q {
		key, ok := strings.CutPrefix(name, "metadata.")
		if !ok {
			continue
		}
		if key == "" {
			return invalidParameter(name, "must name a metadata key: metadata.KEY=VALUE")
		}
		if f.Metadata == nil {
			f.Metadata = make(map[string]string)
		}
		for _, v := range vals {
			if prev, dup := f.Metadata[key]; dup && prev != v {
				empty = true // two values for one key: no task has both
			}
			f.Metadata[key] = v
		}
	}
	list := client.TaskList{Data: []client.Task{}}
	if !empty {
		tasks, next, err := s.cfg.Store.ListTasks(r.Context(), k.TenantID, f)
		if err != nil {
			return fmt.Errorf("list tasks: %w", err)
		}
		list.Data = make([]client.Task, len(tasks))
		for i, t := range tasks {
			list.Data[i] = t.API()
		}
		if next != "" {
			list.NextCursor = &next
		}
	}
	s.writeJSON(w, r, http.StatusOK, list)
	return nil
}

// POST /v1/tasks/{id}/cancel
func (s *Server) cancelTask(w http.ResponseWriter, r *http.Request, k *store.APIKey) error {
	id := r.PathValue("id")
	t, err := s.cfg.Store.CancelTask(r.Context(), k.TenantID, id, s.now())
	if err != nil {
		return taskErr(err)
	}
	switch {
	case t.Status == store.StatusCanceled:
		// The row is canceled; its terminal event (and so its webhook) must go out even if
		// the client hangs up now.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
		defer cancel()
		if err := s.cfg.Events.PublishEvent(ctx, events.TerminalEvent(t)); err != nil {
			s.log.LogAttrs(r.Context(), slog.LevelError, "publish terminal event of canceled task",
				slog.String("task_id", t.ID), slog.String("error", err.Error()))
		}
	case t.Status == store.StatusRunning:
		// The worker also learns of it at its next heartbeat; the signal only makes it prompt.
		if err := s.cfg.Events.SignalCancel(t.ID); err != nil {
			s.log.LogAttrs(r.Context(), slog.LevelWarn, "signal cancel",
				slog.String("task_id", t.ID), slog.String("error", err.Error()))
		}
	}
	s.writeJSON(w, r, http.StatusOK, t.API())
	return nil
}

// GET /v1/tasks/{id}/deliveries
func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request, k *store.APIKey) error {
	ds, err := s.cfg.Store.ListDeliveries(r.Context(), k.TenantID, r.PathValue("id"))
	if err != nil {
		return taskErr(err)
	}
	out := client.DeliveryList{Data: make([]client.Delivery, len(ds))}
	for i, d := range ds {
		out.Data[i] = client.Delivery{
			ID: d.ID, WebhookID: d.WebhookID, Type: d.EventType, URL: d.URL, Attempt: d.Attempt,
			StatusCode: d.StatusCode, Succeeded: d.Succeeded, Final: d.Final, Error: d.Error,
			DurationMS: d.DurationMS, CreatedAt: d.CreatedAt.UTC(),
		}
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}
