// Package otlptest is an in-process OTLP/HTTP trace receiver for tests: a process under test
// exports its spans to it (OTEL_EXPORTER_OTLP_ENDPOINT=Receiver.Endpoint(), or
// otlptracehttp.WithEndpointURL(Endpoint()+"/v1/traces")) and the test reads them back as
// plain Span values, by trace id, waiting for the batches to arrive.
//
// The receiver speaks what otlptracehttp sends: POST /v1/traces with Content-Type
// application/x-protobuf, gzip-compressed or not (Content-Encoding: gzip), answered 200 with
// an empty ExportTraceServiceResponse. POST /v1/metrics and /v1/logs are answered 200 and
// discarded, so a process that exports every signal to the same endpoint gets no errors.
// Anything else (another path or method, JSON, a body that does not decode) is answered
// 4xx and recorded; Wait's failure message lists those rejections.
//
// Span flattens OTLP: lower-hex ids, the kind and status as short words, the resource's
// service.name, and attributes as Go values. Format prints a set of spans as a tree, for
// failure messages.
package otlptest

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// maxBody bounds one export request, decompressed.
const maxBody = 64 << 20

// Span is one received span.
type Span struct {
	TraceID      string // 32 lower-case hex digits
	SpanID       string // 16 lower-case hex digits
	ParentSpanID string // 16 lower-case hex digits, "" for a root span
	Name         string
	// Kind is "server", "client", "producer", "consumer", "internal" or "unspecified".
	Kind string
	// Service is the service.name attribute of the span's resource ("" when absent).
	Service string
	// Scope is the name of the instrumentation scope (the tracer's name).
	Scope string
	// Attributes hold string, int64, float64 and bool values; an array is a []any, a
	// key-value list a map[string]any and bytes a []byte.
	Attributes map[string]any
	// Status is "ok", "error" or "unset".
	Status     string
	Start, End time.Time
}

// Attr returns the attribute as a string ("" when absent), whatever its type: handy for
// comparisons that should not care whether a value was sent as 200 or "200".
func (s Span) Attr(key string) string {
	v, ok := s.Attributes[key]
	if !ok {
		return ""
	}
	return fmt.Sprint(v)
}

// String is one line: name, kind, service, status, duration and the attributes, sorted.
func (s Span) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q %s service=%q span=%s", s.Name, s.Kind, s.Service, s.SpanID)
	if s.ParentSpanID != "" {
		fmt.Fprintf(&b, " parent=%s", s.ParentSpanID)
	}
	if s.Status != "unset" {
		fmt.Fprintf(&b, " status=%s", s.Status)
	}
	fmt.Fprintf(&b, " %s", s.End.Sub(s.Start).Round(time.Microsecond))
	keys := make([]string, 0, len(s.Attributes))
	for k := range s.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%v", k, s.Attributes[k])
	}
	return b.String()
}

// Receiver is a running OTLP/HTTP receiver; it stops when the test ends.
type Receiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	spans    []Span
	rejected []string
	changed  chan struct{} // closed and replaced at every accepted export
}

// Start runs a receiver on a random loopback port until the test ends.
func Start(t testing.TB) *Receiver {
	t.Helper()
	r := &Receiver{changed: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// Endpoint is the receiver's base URL, "http://127.0.0.1:PORT": the value of
// OTEL_EXPORTER_OTLP_ENDPOINT (exporters append /v1/traces to it).
func (r *Receiver) Endpoint() string { return r.srv.URL }

// Spans returns every span received so far, ordered by start time.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return sorted(r.spans, func(Span) bool { return true })
}

// Trace returns the spans of one trace received so far, ordered by start time.
func (r *Receiver) Trace(traceID string) []Span {
	traceID = strings.ToLower(traceID)
	r.mu.Lock()
	defer r.mu.Unlock()
	return sorted(r.spans, func(s Span) bool { return s.TraceID == traceID })
}

// Wait returns the spans of the trace (of every trace when traceID is "") as soon as want
// accepts them, checking again at every export. If want still refuses them after within,
// the test fails with t.Fatalf, listing the spans of the trace as a tree, how many spans
// other traces hold and any rejected export requests.
func (r *Receiver) Wait(t testing.TB, traceID string, want func([]Span) bool, within time.Duration) []Span {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		changed := r.changed
		r.mu.Unlock()
		spans := r.get(traceID)
		if want(spans) {
			return spans
		}
		select {
		case <-changed:
		case <-deadline.C:
			spans = r.get(traceID)
			if want(spans) {
				return spans
			}
			t.Fatalf("otlptest: spans of %s not as wanted after %s\n%s", r.describe(traceID), within, r.report(traceID, spans))
			return nil
		}
	}
}

func (r *Receiver) get(traceID string) []Span {
	if traceID == "" {
		return r.Spans()
	}
	return r.Trace(traceID)
}

func (r *Receiver) describe(traceID string) string {
	if traceID == "" {
		return "all traces"
	}
	return "trace " + traceID
}

// report is Wait's failure message: the trace's spans, the other traces, the rejections.
func (r *Receiver) report(traceID string, spans []Span) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d span(s) received in %s:\n%s", len(spans), r.describe(traceID), Format(spans))
	all := r.Spans()
	if traceID != "" {
		others := map[string]int{}
		for _, s := range all {
			if s.TraceID != strings.ToLower(traceID) {
				others[s.TraceID]++
			}
		}
		n := len(all) - len(spans)
		fmt.Fprintf(&b, "%d span(s) received in %d other trace(s)", n, len(others))
		if n > 0 {
			b.WriteString(":\n")
			byTrace := map[string][]Span{}
			for _, s := range all {
				if s.TraceID != strings.ToLower(traceID) {
					byTrace[s.TraceID] = append(byTrace[s.TraceID], s)
				}
			}
			ids := make([]string, 0, len(byTrace))
			for id := range byTrace {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			for _, id := range ids {
				fmt.Fprintf(&b, "  trace %s:\n%s", id, indent(Format(byTrace[id]), "  "))
			}
		} else {
			b.WriteString("\n")
		}
	}
	r.mu.Lock()
	rejected := slices.Clone(r.rejected)
	r.mu.Unlock()
	if len(rejected) > 0 {
		fmt.Fprintf(&b, "%d export request(s) rejected:\n  %s\n", len(rejected), strings.Join(rejected, "\n  "))
	}
	return b.String()
}

// Format prints spans as a tree, one span a line, children under their parent in start
// order; a span whose parent is not among them is a root, marked with its missing parent.
func Format(spans []Span) string {
	if len(spans) == 0 {
		return "  (none)\n"
	}
	spans = sorted(spans, func(Span) bool { return true })
	byID := map[string]bool{}
	for _, s := range spans {
		byID[s.TraceID+"/"+s.SpanID] = true
	}
	children := map[string][]Span{}
	var roots []Span
	for _, s := range spans {
		if s.ParentSpanID != "" && byID[s.TraceID+"/"+s.ParentSpanID] {
			children[s.TraceID+"/"+s.ParentSpanID] = append(children[s.TraceID+"/"+s.ParentSpanID], s)
		} else {
			roots = append(roots, s)
		}
	}
	var b strings.Builder
	var walk func(s Span, depth int)
	walk = func(s Span, depth int) {
		b.WriteString(strings.Repeat("  ", depth+1))
		b.WriteString(s.String())
		if depth == 0 && s.ParentSpanID != "" {
			b.WriteString(" (parent not received)")
		}
		b.WriteString("\n")
		for _, c := range children[s.TraceID+"/"+s.SpanID] {
			walk(c, depth+1)
		}
	}
	for _, s := range roots {
		walk(s, 0)
	}
	return b.String()
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "")
}

func sorted(spans []Span, keep func(Span) bool) []Span {
	out := make([]Span, 0, len(spans))
	for _, s := range spans {
		if keep(s) {
			out = append(out, s)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

func (r *Receiver) reject(w http.ResponseWriter, req *http.Request, code int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.rejected = append(r.rejected, fmt.Sprintf("%s %s: %d %s", req.Method, req.URL.Path, code, msg))
	r.mu.Unlock()
	http.Error(w, msg, code)
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	switch req.URL.Path {
	case "/v1/traces", "/v1/metrics", "/v1/logs":
	default:
		r.reject(w, req, http.StatusNotFound, "not an OTLP/HTTP path")
		return
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		r.reject(w, req, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if ct, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err != nil || ct != "application/x-protobuf" {
		r.reject(w, req, http.StatusUnsupportedMediaType, "Content-Type %q: only application/x-protobuf is supported", req.Header.Get("Content-Type"))
		return
	}
	var body io.Reader = req.Body
	switch enc := strings.ToLower(strings.TrimSpace(req.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			r.reject(w, req, http.StatusBadRequest, "gzip: %v", err)
			return
		}
		defer zr.Close()
		body = zr
	default:
		r.reject(w, req, http.StatusUnsupportedMediaType, "Content-Encoding %q not supported", enc)
		return
	}
	data, err := io.ReadAll(io.LimitReader(body, maxBody+1))
	if err != nil {
		r.reject(w, req, http.StatusBadRequest, "read body: %v", err)
		return
	}
	if len(data) > maxBody {
		r.reject(w, req, http.StatusRequestEntityTooLarge, "body over %d bytes", maxBody)
		return
	}
	if req.URL.Path != "/v1/traces" {
		// Metrics and logs: accepted and dropped. An empty body is the empty response.
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
		return
	}
	var export coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(data, &export); err != nil {
		r.reject(w, req, http.StatusBadRequest, "decode ExportTraceServiceRequest: %v", err)
		return
	}
	spans := convert(&export)
	resp, err := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	if err != nil {
		r.reject(w, req, http.StatusInternalServerError, "encode response: %v", err)
		return
	}

	r.mu.Lock()
	r.spans = append(r.spans, spans...)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()

	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, bytes.NewReader(resp))
}

func convert(export *coltracepb.ExportTraceServiceRequest) []Span {
	var out []Span
	for _, rs := range export.GetResourceSpans() {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = fmt.Sprint(value(kv.GetValue()))
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			scope := ss.GetScope().GetName()
			for _, s := range ss.GetSpans() {
				out = append(out, Span{
					TraceID:      hex.EncodeToString(s.GetTraceId()),
					SpanID:       hex.EncodeToString(s.GetSpanId()),
					ParentSpanID: hex.EncodeToString(s.GetParentSpanId()),
					Name:         s.GetName(),
					Kind:         kind(s.GetKind()),
					Service:      service,
					Scope:        scope,
					Attributes:   attributes(s.GetAttributes()),
					Status:       status(s.GetStatus().GetCode()),
					Start:        unixNano(s.GetStartTimeUnixNano()),
					End:          unixNano(s.GetEndTimeUnixNano()),
				})
			}
		}
	}
	return out
}

func unixNano(ns uint64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(ns))
}

func kind(k tracepb.Span_SpanKind) string {
	switch k {
	case tracepb.Span_SPAN_KIND_SERVER:
		return "server"
	case tracepb.Span_SPAN_KIND_CLIENT:
		return "client"
	case tracepb.Span_SPAN_KIND_PRODUCER:
		return "producer"
	case tracepb.Span_SPAN_KIND_CONSUMER:
		return "consumer"
	case tracepb.Span_SPAN_KIND_INTERNAL:
		return "internal"
	default:
		return "unspecified"
	}
}

func status(c tracepb.Status_StatusCode) string {
	switch c {
	case tracepb.Status_STATUS_CODE_OK:
		return "ok"
	case tracepb.Status_STATUS_CODE_ERROR:
		return "error"
	default:
		return "unset"
	}
}

func attributes(kvs []*commonpb.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[kv.GetKey()] = value(kv.GetValue())
	}
	return m
}

func value(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		return x.DoubleValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_BytesValue:
		return x.BytesValue
	case *commonpb.AnyValue_ArrayValue:
		out := make([]any, 0, len(x.ArrayValue.GetValues()))
		for _, e := range x.ArrayValue.GetValues() {
			out = append(out, value(e))
		}
		return out
	case *commonpb.AnyValue_KvlistValue:
		return attributes(x.KvlistValue.GetValues())
	default:
		return nil
	}
}
