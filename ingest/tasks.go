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
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.opentelemetry.io/otel/trace"

	"github.com/agentic-run/agentic/agents"
	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/store"
	"github.com/agentic-run/agentic/webhook"
)

// Limits of a task submission and of a task listing's query; lengths are in characters
// unless they say bytes.
const (
	maxIdempotencyKey = 255 // bytes of printable ASCII
	maxAgentName      = 64
	maxMetadataPairs  = 16
	maxMetadataKey    = 64
	maxMetadataValue  = 512
	maxWebhookURL     = 2048 // bytes
	// maxCostUSD bounds max_cost_usd so that micro-dollars fit comfortably in int64.
	maxCostUSD = 1e9
	maxLimit   = 100
	defLimit   = 20
	// maxCursor is far above any cursor the API issues (base64 of a time and an id).
	maxCursor          = 512 // bytes
	maxMetadataFilters = 16
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
	if utf8.RuneCountInString(req.Agent) > maxAgentName {
		msg := fmt.Sprintf("must be an agent id of at most %d characters; see GET /v1/agents", maxAgentName)
		return newProblem(http.StatusUnprocessableEntity, codeUnknownAgent, "agent "+msg).
			withFields(field("/agent", msg))
	}
	agent, err := s.cfg.Agents.Get(req.Agent)
	if err != nil {
		if errors.Is(err, agents.ErrUnknownAgent) {
			return newProblem(http.StatusUnprocessableEntity, codeUnknownAgent,
				fmt.Sprintf("no agent %q; see GET /v1/agents", clip(req.Agent, maxEcho))).
				withFields(field("/agent", "is not an agent id; see GET /v1/agents"))
		}
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
		TraceID:        taskTraceID(r),
		CreatedAt:      s.now(),
		Cache:          req.Cache == nil || *req.Cache,
	}
	if t.Metadata == nil {
		t.Metadata = map[string]string{}
	}
	if idemKey != "" {
		h, err := requestHash(&req, input, maxCost, !t.Cache)
		if err != nil {
			return err
		}
		t.RequestHash = h
	}

	if err := s.admitBudget(r.Context(), k.TenantID); err != nil {
		return err
	}
	if err := s.admitExecution(r.Context(), w, k.TenantID, agent); err != nil {
		return err
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
	s.enqueue(r.Context(), got)
	s.metrics.submit(r.Context(), got.Agent)
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

// checkMetadata bounds metadata: at most 16 pairs; keys 1–64 and values at most 512
// characters, both valid UTF-8 without control characters (NUL cannot be stored; the others
// would make filters and logs ambiguous). It answers 422 invalid_metadata naming each broken
// pair by its JSON pointer (with an over-long key clipped), in key order.
func checkMetadata(md map[string]string) error {
	var v validation
	if len(md) > maxMetadataPairs {
		v.add(codeInvalidMetadata, "/metadata", fmt.Sprintf("must have at most %d pairs, not %d", maxMetadataPairs, len(md)))
		return v.err()
	}
	for _, key := range slices.Sorted(maps.Keys(md)) {
		val := md[key]
		path := "/metadata/" + escapePointer(clip(key, maxMetadataKey))
		switch {
		case key == "" || utf8.RuneCountInString(key) > maxMetadataKey:
			v.add(codeInvalidMetadata, path, fmt.Sprintf("keys must be 1 to %d characters", maxMetadataKey))
		case !printable(key):
			v.add(codeInvalidMetadata, path, "keys must be UTF-8 without control characters")
		case utf8.RuneCountInString(val) > maxMetadataValue:
			v.add(codeInvalidMetadata, path, fmt.Sprintf("must be at most %d characters", maxMetadataValue))
		case !printable(val):
			v.add(codeInvalidMetadata, path, "must be UTF-8 without control characters")
		}
	}
	return v.err()
}

// printable reports whether s is valid UTF-8 without control characters (C0, DEL, C1).
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
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
		return bad(fmt.Sprintf("must be at most %d bytes", maxWebhookURL))
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

// webhookMessage is the policy's reason without the package's prefix, clipped: it may quote
// one part of the URL (a scheme, host or port).
func webhookMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), "webhook: ")
	if msg == "" {
		msg = "is not allowed"
	}
	return clip(msg, 2*maxEcho)
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
	// NoCache is the opt-out of the response cache ("cache": false). Left out when false, so
	// "cache": true, no "cache" at all, and every request hashed before the field existed
	// hash alike.
	NoCache bool `json:"no_cache,omitempty"`
}

// requestHash is the SHA-256 of the canonical request, compared when an Idempotency-Key is
// reused.
func requestHash(req *client.SubmitRequest, input json.RawMessage, maxCost *int64, noCache bool) ([]byte, error) {
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
		Quality: req.Quality, MaxCostMicros: maxCost, NoCache: noCache,
	})
	if err != nil {
		return nil, fmt.Errorf("canonical request: %w", err)
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}

// taskTraceID is the trace id of a new task: the request's span's (the server span, which
// continues an incoming traceparent), or without a span one from the traceparent header or
// a new random one.
func taskTraceID(r *http.Request) string {
	if sc := trace.SpanContextFromContext(r.Context()); sc.TraceID().IsValid() {
		return sc.TraceID().String()
	}
	return traceID(r.Header.Get("traceparent"))
}

// enqueue hands a committed task to EnqueueContext, or Enqueue.
func (s *Server) enqueue(ctx context.Context, t *store.Task) {
	if s.cfg.EnqueueContext != nil {
		s.cfg.EnqueueContext(ctx, t)
		return
	}
	s.cfg.Enqueue(t)
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
	// A terminal task never changes: one in the cache is the answer, wait or not.
	if t, ok := s.cachedTask(ctx, k.TenantID, id); ok {
		s.writeJSON(w, r, http.StatusOK, t)
		return nil
	}
	if wait <= 0 {
		t, err := s.storeTask(ctx, k.TenantID, id)
		if err != nil {
			return taskErr(err)
		}
		s.writeJSON(w, r, http.StatusOK, t.API())
		return nil
	}

	// Watch before reading, so a change between the read and the wait is not lost.
	ch, stop := s.cfg.Notifier.Watch(id)
	defer stop()
	t, err := s.storeTask(ctx, k.TenantID, id)
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
				if t, err = s.storeTask(ctx, k.TenantID, id); err != nil {
					return taskErr(err)
				}
				if t.Status.Terminal() {
					break wait
				}
			case <-timer.C:
				if t, err = s.storeTask(ctx, k.TenantID, id); err != nil {
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
	f, empty, err := parseListQuery(r.URL.Query())
	if err != nil {
		return err
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

// parseListQuery reads the filters of GET /v1/tasks. Every string it passes on is valid
// UTF-8 without NUL, which the store could not compare; none is echoed back unclipped. empty
// is true when the filters contradict each other (two values for one metadata key), so no
// task can match.
func parseListQuery(q url.Values) (f store.TaskFilter, empty bool, err error) {
	f.Limit = defLimit
	if v := q.Get("status"); v != "" {
		if !store.Status(v).Valid() {
			return f, false, invalidParameter("status", "must be queued, running, succeeded, failed or canceled")
		}
		f.Status = store.Status(v)
	}
	if v := q.Get("agent"); v != "" {
		if utf8.RuneCountInString(v) > maxAgentName || !queryable(v) {
			return f, false, invalidParameter("agent", fmt.Sprintf("must be an agent id of at most %d characters", maxAgentName))
		}
		f.Agent = v
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return f, false, invalidParameter("limit", "must be an integer from 1 to 100")
		}
		f.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		if len(v) > maxCursor {
			return f, false, invalidParameter("cursor", fmt.Sprintf("must be at most %d bytes", maxCursor))
		}
		if !issuedCursor(v) {
			return f, false, invalidParameter("cursor", "is not a cursor this API issued")
		}
		f.Cursor = v
	}

	var names []string
	filters := 0
	for name, vals := range q {
		if strings.HasPrefix(name, "metadata.") {
			names = append(names, name)
			filters += len(vals)
		}
	}
	if filters > maxMetadataFilters {
		return f, false, invalidParameter("metadata",
			fmt.Sprintf("must be at most %d metadata.KEY=VALUE filters, not %d", maxMetadataFilters, filters))
	}
	slices.Sort(names) // the first broken filter in a stable order
	for _, name := range names {
		key := strings.TrimPrefix(name, "metadata.")
		param := "metadata." + clip(key, maxMetadataKey)
		switch {
		case key == "":
			return f, false, invalidParameter(name, "must name a metadata key: metadata.KEY=VALUE")
		case utf8.RuneCountInString(key) > maxMetadataKey:
			return f, false, invalidParameter(param, fmt.Sprintf("keys must be 1 to %d characters", maxMetadataKey))
		case !queryable(key):
			return f, false, invalidParameter(param, "keys must be UTF-8 without NUL characters")
		}
		if f.Metadata == nil {
			f.Metadata = make(map[string]string)
		}
		for _, v := range q[name] {
			switch {
			case utf8.RuneCountInString(v) > maxMetadataValue:
				return f, false, invalidParameter(param, fmt.Sprintf("values must be at most %d characters", maxMetadataValue))
			case !queryable(v):
				return f, false, invalidParameter(param, "values must be UTF-8 without NUL characters")
			}
			if prev, dup := f.Metadata[key]; dup && prev != v {
				empty = true // two values for one key: no task has both
			}
			f.Metadata[key] = v
		}
	}
	return f, empty, nil
}

// queryable reports whether s is valid UTF-8 without NUL: a string the store can compare.
// Other control characters pass, so that tasks stored before metadata refused them can
// still be found.
func queryable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// issuedCursor reports whether c decodes as a cursor of the API: a time within years 1 to
// 9999 (every created_at is) and an id the store can compare. store.DecodeCursor checks the
// shape but not these; an id with NUL or invalid UTF-8 made Postgres fail the query (500).
func issuedCursor(c string) bool {
	at, id, err := store.DecodeCursor(c)
	if err != nil {
		return false
	}
	return at.Year() >= 1 && at.Year() <= 9999 && queryable(id)
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
