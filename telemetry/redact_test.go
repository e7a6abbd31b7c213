package telemetry

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Secrets of each kind the handler must mask; none is shorter than the patterns' minimums.
var (
	apiKey    = "ak_" + base64.RawURLEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	openAIKey = "sk-proj-AbCdEf1234567890GhIjKlMnOpQrStUvWx"
	claudeKey = "sk-ant-api03-Xy9_Zz8-Ww7Vv6Uu5Tt4Ss3Rr2Qq1Pp0"
	whsec     = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vaultTok  = "hvs.CAESIJ3ZSk5fQk9PVF9UT0tFTl9IRVJFXzEyMzQ"
	legacyTok = "s.Ab12Cd34Ef56Gh78Ij90KlMn"
	jwt       = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl"
	dbPass    = "S3cr3tPassw0rd"
)

// logLines logs through NewLogger at debug level and returns the output, failing unless every
// line is a valid JSON object.
func logLines(t *testing.T, log func(l *slog.Logger)) string {
	t.Helper()
	var buf bytes.Buffer
	log(NewLogger(&buf, slog.LevelDebug))
	require.NotZero(t, buf.Len(), "nothing was logged")
	sc := bufio.NewScanner(bytes.NewReader(buf.Bytes()))
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "line %q", sc.Text())
	}
	return buf.String()
}

// dbConfig logs itself as a group, so its password is masked by key.
type dbConfig struct{ Host, Password string }

func (c dbConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("host", c.Host), slog.String("password", c.Password))
}

// dsnValuer logs itself as a DSN string, so its password is masked by pattern.
type dsnValuer string

func (d dsnValuer) LogValue() slog.Value { return slog.StringValue(string(d)) }

func TestNewLoggerMasksSecrets(t *testing.T) {
	t.Parallel()
	pgURL := "postgres://app:" + dbPass + "@db:5432/x"
	tests := []struct {
		name    string
		log     func(l *slog.Logger)
		secrets []string // must not appear
		want    []string // must appear
	}{
		{
			name:    "key password",
			log:     func(l *slog.Logger) { l.Info("login", "password", "hunter2-xyz") },
			secrets: []string{"hunter2-xyz"},
			want:    []string{`"password":"[REDACTED]"`},
		},
		{
			name:    "key names a secret, value not a string",
			log:     func(l *slog.Logger) { l.Info("login", "pin_password", 987654, "session", true) },
			secrets: []string{"987654", "true"},
			want:    []string{`"pin_password":"[REDACTED]"`, `"session":"[REDACTED]"`},
		},
		{
			name: "empty secret stays empty",
			log:  func(l *slog.Logger) { l.Info("config", "password", "") },
			want: []string{`"password":""`},
		},
		{
			name:    "api key in message",
			log:     func(l *slog.Logger) { l.Info("using key " + apiKey + " now") },
			secrets: []string{apiKey},
			want:    []string{`"msg":"using key ak_[REDACTED] now"`},
		},
		{
			name:    "api key in string attr",
			log:     func(l *slog.Logger) { l.Warn("auth failed", "note", "key="+apiKey) },
			secrets: []string{apiKey},
			want:    []string{`"note":"key=ak_[REDACTED]"`},
		},
		{
			name: "openai key in wrapped error",
			log: func(l *slog.Logger) {
				l.Error("call failed", "error", fmt.Errorf("openai: 401 for key %s: %w", openAIKey, io.EOF))
			},
			secrets: []string{openAIKey, "AbCdEf1234567890"},
			want:    []string{`"error":"openai: 401 for key sk-[REDACTED]: EOF"`},
		},
		{
			name: "anthropic key in joined errors",
			log: func(l *slog.Logger) {
				l.Error("call failed", "error", errors.Join(errors.New("first"), errors.New("x-api-key: "+claudeKey)))
			},
			secrets: []string{claudeKey, "Xy9_Zz8"},
			want:    []string{`first\nx-api-key: sk-[REDACTED]`},
		},
		{
			name:    "keys in []string",
			log:     func(l *slog.Logger) { l.Info("keys", "list", []string{"plain", claudeKey}) },
			secrets: []string{claudeKey},
			want:    []string{`"list":["plain","sk-[REDACTED]"]`},
		},
		{
			name: "webhook secret in group",
			log: func(l *slog.Logger) {
				l.Info("hook", slog.Group("webhook", "signing", whsec, "url", "https://h.example/x"))
			},
			secrets: []string{whsec, "MfKQ9r8G"},
			want:    []string{`"webhook":{"signing":"whsec_[REDACTED]","url":"https://h.example/x"}`},
		},
		{
			name:    "vault token in nested group",
			log:     func(l *slog.Logger) { l.Info("vault", slog.Group("a", slog.Group("b", "v", "token "+vaultTok))) },
			secrets: []string{vaultTok},
			want:    []string{`"a":{"b":{"v":"token hvs.[REDACTED]"}}`},
		},
		{
			name:    "legacy vault token through With",
			log:     func(l *slog.Logger) { l.With("vault", legacyTok).Info("lookup") },
			secrets: []string{legacyTok},
			want:    []string{`"vault":"s.[REDACTED]"`},
		},
		{
			name:    "bearer token keeps the scheme",
			log:     func(l *slog.Logger) { l.Info("request", "header", "Bearer "+jwt) },
			secrets: []string{jwt, "eyJ"},
			want:    []string{`"header":"Bearer [REDACTED]"`},
		},
		{
			name:    "url credentials keep scheme user host",
			log:     func(l *slog.Logger) { l.Info("connect", "db", pgURL) },
			secrets: []string{dbPass},
			want:    []string{`"db":"postgres://app:[REDACTED]@db:5432/x"`},
		},
		{
			name:    "url credentials in message",
			log:     func(l *slog.Logger) { l.Info(fmt.Sprintf("dial %s failed", pgURL)) },
			secrets: []string{dbPass},
			want:    []string{`"msg":"dial postgres://app:[REDACTED]@db:5432/x failed"`},
		},
		{
			name:    "redis url without user",
			log:     func(l *slog.Logger) { l.Info("cache", "redis", "redis://:"+dbPass+"@cache:6379/0") },
			secrets: []string{dbPass},
			want:    []string{`"redis":"redis://:[REDACTED]@cache:6379/0"`},
		},
		{
			name:    "key=value dsn",
			log:     func(l *slog.Logger) { l.Info("connect", "dsn", "host=db user=app password="+dbPass+" dbname=x") },
			secrets: []string{dbPass},
			want:    []string{`"dsn":"host=db user=app password=[REDACTED] dbname=x"`},
		},
		{
			name:    "quoted dsn value",
			log:     func(l *slog.Logger) { l.Info("connect", "dsn", "host=db password='with space' sslmode=disable") },
			secrets: []string{"with space"},
			want:    []string{`"dsn":"host=db password='[REDACTED]' sslmode=disable"`},
		},
		{
			name:    "token in query string",
			log:     func(l *slog.Logger) { l.Info("fetch", "url", "https://api.example/v1?token=qv-77781&page=2") },
			secrets: []string{"qv-77781"},
			want:    []string{`"url":"https://api.example/v1?token=[REDACTED]&page=2"`},
		},
		{
			name: "json body in error",
			log: func(l *slog.Logger) {
				l.Error("upstream", "error", errors.New(`400: {"api_key":"k-1234567","model":"gpt-4o"}`))
			},
			secrets: []string{"k-1234567"},
			want:    []string{`{\"api_key\":\"[REDACTED]\",\"model\":\"gpt-4o\"}`},
		},
		{
			name:    "escaped json in a string",
			log:     func(l *slog.Logger) { l.Info("body", "raw", `{\"token\": \"tk-999111\"}`) },
			secrets: []string{"tk-999111"},
			want:    []string{Redacted},
		},
		{
			name:    "json.RawMessage",
			log:     func(l *slog.Logger) { l.Info("input", "input", json.RawMessage(`{"password":"rawpw-1","n":1}`)) },
			secrets: []string{"rawpw-1"},
			want:    []string{`"input":{"password":"[REDACTED]","n":1}`},
		},
		{
			name:    "[]byte",
			log:     func(l *slog.Logger) { l.Info("body", "body", []byte("key "+apiKey)) },
			secrets: []string{apiKey},
			want:    []string{`"body":"key ak_[REDACTED]"`},
		},
		{
			name:    "secret key through With",
			log:     func(l *slog.Logger) { l.With("db_password", dbPass).Info("m") },
			secrets: []string{dbPass},
			want:    []string{`"db_password":"[REDACTED]"`},
		},
		{
			name:    "With then WithGroup then attrs",
			log:     func(l *slog.Logger) { l.With("x", 1).WithGroup("db").With("password", dbPass).Info("m", "dsn", pgURL) },
			secrets: []string{dbPass},
			want:    []string{`"db":{"password":"[REDACTED]","dsn":"postgres://app:[REDACTED]@db:5432/x"}`},
		},
		{
			name:    "secret group masks all but measures",
			log:     func(l *slog.Logger) { l.WithGroup("credentials").Info("m", "user", "bob-77", "type", "basic") },
			secrets: []string{"bob-77"},
			want:    []string{`"credentials":{"user":"[REDACTED]","type":"basic"}`},
		},
		{
			name: "secret slog.Group",
			log: func(l *slog.Logger) {
				l.Info("m", slog.Group("auth", "header", "xyz-31337", "scheme", "bearer"))
			},
			secrets: []string{"xyz-31337"},
			want:    []string{`"auth":{"header":"[REDACTED]","scheme":"bearer"}`},
		},
		{
			name: "authorization in nested group",
			log: func(l *slog.Logger) {
				l.Info("req", slog.Group("req", slog.Group("headers", slog.String("Authorization", "Bearer "+jwt))))
			},
			secrets: []string{jwt},
			want:    []string{`"req":{"headers":{"Authorization":"[REDACTED]"}}`},
		},
		{
			name:    "LogValuer group masked by key",
			log:     func(l *slog.Logger) { l.Info("db", "config", dbConfig{Host: "db", Password: "lv-pass-1"}) },
			secrets: []string{"lv-pass-1"},
			want:    []string{`"config":{"host":"db","password":"[REDACTED]"}`},
		},
		{
			name:    "LogValuer string masked by pattern",
			log:     func(l *slog.Logger) { l.Info("db", "target", dsnValuer(pgURL)) },
			secrets: []string{dbPass},
			want:    []string{`"target":"postgres://app:[REDACTED]@db:5432/x"`},
		},
		{
			name: "struct through fmt",
			log: func(l *slog.Logger) {
				l.Info("cfg", "cfg", struct{ Host, Password string }{"db", "st-pass-1"})
			},
			secrets: []string{"st-pass-1"},
			want:    []string{`"cfg":"{Host:db Password:[REDACTED]}"`},
		},
		{
			name: "http.Header",
			log: func(l *slog.Logger) {
				l.Info("req", "headers", http.Header{
					"Authorization": {"Bearer " + jwt}, "Cookie": {"sid=c-4242"}, "Accept": {"application/json"},
				})
			},
			secrets: []string{jwt, "c-4242"},
			want:    []string{`"Accept":["application/json"]`, `"Authorization":["[REDACTED]"]`, `"Cookie":["[REDACTED]"]`},
		},
		{
			name: "decoded JSON map",
			log: func(l *slog.Logger) {
				var m map[string]any
				_ = json.Unmarshal([]byte(`{"model":"gpt","auth":{"api_key":"mk-5150"},"list":["x","`+apiKey+`"]}`), &m)
				l.Info("input", "input", m)
			},
			secrets: []string{"mk-5150", apiKey},
			want:    []string{`"auth":"[REDACTED]"`, `"model":"gpt"`, `"list":["x","ak_[REDACTED]"]`},
		},
		{
			name:    "secret as attribute key",
			log:     func(l *slog.Logger) { l.Info("oops", apiKey, "value") },
			secrets: []string{apiKey},
			want:    []string{`"ak_[REDACTED]":"value"`},
		},
		{
			name: "bad key from odd args",
			log: func(l *slog.Logger) {
				args := []any{"user", "bob", openAIKey} // an odd count: the last value gets !BADKEY
				l.Info("oops", args...)
			},
			secrets: []string{openAIKey},
			want:    []string{`"!BADKEY":"sk-[REDACTED]"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := logLines(t, tt.log)
			for _, s := range tt.secrets {
				require.NotContains(t, out, s)
			}
			for _, w := range tt.want {
				require.Contains(t, out, w)
			}
		})
	}
}

func TestNewLoggerKeepsBenignAttrs(t *testing.T) {
	t.Parallel()
	args := []any{
		"input_tokens", 12, "output_tokens", 30, "max_tokens", 4096, "tokens", 7, "token_count", 5,
		"inputTokens", 3, "author", "alice", "authority", "ca.example", "route", "/v1/tasks",
		"tenant_id", "ten_01jd8q3w7y5x0m2k4n6p8r9s1t", "task_id", "tsk_01jd8q3w7y5x0m2k4n6p8r9s1t",
		"key_prefix", "ak_abcd", "passed", true, "metric", "peak_memory_usage_bytes_total",
		"dsn", "host=db dbname=x", "url", "https://user@example.com/a?page=2", "auth_method", "api_key",
		"task", "risk-assessment-and-summary-task", "err", errors.New("deadline exceeded"),
		"took", 1500 * time.Millisecond, slog.Group("usage", "prompt_tokens", 10), "model", "gpt-4o-mini",
	}
	const msg = "task succeeded: 12 tokens, cost 0.0042"

	var plain bytes.Buffer
	slog.New(slog.NewJSONHandler(&plain, nil)).Info(msg, args...)
	out := logLines(t, func(l *slog.Logger) { l.Info(msg, args...) })
	require.NotContains(t, out, Redacted)
	require.Equal(t, withoutTime(t, plain.String()), withoutTime(t, out))
	for _, w := range []string{
		`"input_tokens":12`, `"max_tokens":4096`, `"token_count":5`, `"author":"alice"`, `"route":"/v1/tasks"`,
		`"tenant_id":"ten_01jd8q3w7y5x0m2k4n6p8r9s1t"`, `"task_id":"tsk_01jd8q3w7y5x0m2k4n6p8r9s1t"`,
	} {
		require.Contains(t, out, w)
	}

	out = logLines(t, func(l *slog.Logger) { l.WithGroup("token").Info("m", "count", 5) })
	require.Contains(t, out, `"token":{"count":5}`)
}

// withoutTime decodes a JSON log line and drops its time.
func withoutTime(t *testing.T, line string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(line), &m))
	delete(m, slog.TimeKey)
	return m
}

func TestNewLoggerLevel(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := NewLogger(&buf, slog.LevelWarn)
	l.Info("dropped", "password", "x")
	require.Zero(t, buf.Len())
	l.Warn("kept")
	require.Contains(t, buf.String(), `"msg":"kept"`)
}

// nilErr is an error whose Error method fails on a nil receiver.
type nilErr struct{ msg string }

func (e *nilErr) Error() string { return e.msg }

func TestNewLoggerSurvivesPanickingError(t *testing.T) {
	t.Parallel()
	var err *nilErr
	out := logLines(t, func(l *slog.Logger) { l.Error("failed", "error", err, "password", "pw-1") })
	require.Contains(t, out, `"error":"<nil>"`, "logged as slog logs it without Redact")
	require.Contains(t, out, `"password":"[REDACTED]"`)
}

func TestSecretKey(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"password": true, "Password": true, "db_password": true, "dbPassword": true, "DB-PASSWORD": true,
		"dbpassword": true, "passwd": true, "pass": true, "db.pass": true, "pwd": true,
		"token": true, "auth_token": true, "authToken": true, "X-Auth-Token": true, "accesstoken": true,
		"secret": true, "client_secret": true, "webhook_secret": true, "webhookSecret": true,
		"authorization": true, "Authorization": true, "auth": true, "api_key": true, "apiKey": true,
		"APIKey": true, "apikey": true, "X-Api-Key": true, "OPENAI_API_KEY": true, "access_key": true,
		"secret_key": true, "private_key": true, "privateKey": true, "credential": true,
		"credentials": true, "aws_credentials": true, "cookie": true, "Set-Cookie": true,
		"session": true, "signature": true, "webhook-signature": true, "jwt": true,

		"tokens": false, "input_tokens": false, "output_tokens": false, "max_tokens": false,
		"maxTokens": false, "token_count": false, "tokenCount": false, "prompt_tokens": false,
		"author": false, "authority": false, "authorID": false, "passed": false, "passedTests": false,
		"bypass": false, "compass": false, "passthrough": false, "route": false, "tenant_id": false,
		"task_id": false, "key": false, "cache_key": false, "key_prefix": false, "dsn": false,
		"auth_method": false, "token_type": false, "password_min_length": false, "oauth": false,
		"secretary_name": false, "": false,
	}
	for key, want := range tests {
		require.Equal(t, want, secretKey(key, false), "key %q", key)
	}
	require.True(t, secretKey("user", true), "inside a secret group")
	require.False(t, secretKey("count", true), "a measure inside a secret group")
}

func TestRedactString(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"nothing to see", "nothing to see"},
		{apiKey, "ak_[REDACTED]"},
		{"(" + apiKey + ")", "(ak_[REDACTED])"},
		{"ak_abcd", "ak_abcd"}, // the prefix shown to humans
		{"break_fast_long_identifier_names", "break_fast_long_identifier_names"}, // "ak_" inside a word
		{"peak_memory_usage_bytes_total", "peak_memory_usage_bytes_total"},
		{"x" + apiKey, "x" + apiKey}, // not at a word start, so not an API key
		{openAIKey, "sk-[REDACTED]"},
		{"scikit sk-learn", "scikit sk-learn"},
		{"whsec_abc+/=", "whsec_[REDACTED]"},
		{"whsec_", "whsec_"},
		{vaultTok, "hvs.[REDACTED]"},
		{legacyTok, "s.[REDACTED]"},
		{"s.Short", "s.Short"},
		{"Authorization: Bearer abc.def-ghi", "Authorization: Bearer [REDACTED]"},
		{"bearer\ttok1 next", "bearer\t[REDACTED] next"},
		{`{"h":"Bearer tok2"}`, `{"h":"Bearer [REDACTED]"}`},
		{"missing Bearer token", "missing Bearer [REDACTED]"},
		{"postgres://app:pw@db:5432/x?sslmode=disable", "postgres://app:[REDACTED]@db:5432/x?sslmode=disable"},
		{"postgres://app@db/x", "postgres://app@db/x"},
		{"postgres://app:@db/x", "postgres://app:@db/x"},
		{"https://example.com:8443/a@b", "https://example.com:8443/a@b"},
		{"amqp://u:p@ss@h/", "amqp://u:[REDACTED]@h/"},
		{"a=http://u:p1@h b=http://v:p2@k", "a=http://u:[REDACTED]@h b=http://v:[REDACTED]@k"},
		{"https://" + apiKey + ":x@h", "https://ak_[REDACTED]:[REDACTED]@h"},
		{"host=db password=pw user=u", "host=db password=[REDACTED] user=u"},
		{`password="a b"`, `password="[REDACTED]"`},
		{"Server=x;Password=pw;Database=d", "Server=x;Password=[REDACTED];Database=d"},
		{"?token=abc&page=2", "?token=[REDACTED]&page=2"},
		{"max_tokens=100 input_tokens=12", "max_tokens=100 input_tokens=12"},
		{"authorization=Bearer abc rest", "authorization=[REDACTED] rest"},
		{`{"password": "p\"w", "n": 1}`, `{"password": "[REDACTED]", "n": 1}`},
		{`{"password":"unterminated`, `{"password":"[REDACTED]`},
		{`{"tokens":"12","input_tokens":"3"}`, `{"tokens":"12","input_tokens":"3"}`},
		{`{\"secret\":\"abc\"}`, `{\"secret\":\"[REDACTED]\"}`},
		{"secrets: vault config: Token is required", "secrets: vault config: Token is required"},
		{"at 12:30:45 ok", "at 12:30:45 ok"},
	}
	for _, tt := range tests {
		got, changed := redactString(tt.in, false)
		require.Equal(t, tt.want, got, "in %q", tt.in)
		require.Equal(t, tt.want != tt.in, changed, "in %q", tt.in)
	}

	// fmt's "%+v" form of structs and maps, Key:value.
	for in, want := range map[string]string{
		"{Host:db Password:pw Port:5}": "{Host:db Password:[REDACTED] Port:5}",
		"map[token:abc user:u]":        "map[token:[REDACTED] user:u]",
		"{Token:}":                     "{Token:}",
		"{Count:3 Note:x}":             "{Count:3 Note:x}",
	} {
		got, _ := redactString(in, true)
		require.Equal(t, want, got, "in %q", in)
	}
}

// TestRedactPassesCleanRecordsWithoutAllocating is the cost guarantee: a record with nothing
// to mask reaches the next handler without a copy.
func TestRedactPassesCleanRecordsWithoutAllocating(t *testing.T) {
	ctx := context.Background()
	r := cleanRecord()
	h := Redact(slog.DiscardHandler)
	hw := h.WithAttrs([]slog.Attr{slog.String("process", "worker")}).WithGroup("task")
	require.Zero(t, testing.AllocsPerRun(200, func() { _ = h.Handle(ctx, r) }))
	require.Zero(t, testing.AllocsPerRun(200, func() { _ = hw.Handle(ctx, r) }))
	// Through the JSON handler, compare BenchmarkRedact/json with /json-unredacted: the JSON
	// handler's buffers come from a sync.Pool, which the race detector drains at random, so
	// its allocation count is not exact enough to assert on here.
}

func TestRedactForwardsToNextHandler(t *testing.T) {
	t.Parallel()
	var got []slog.Record
	next := recordFunc(func(r slog.Record) { got = append(got, r) })
	h := Redact(next)
	require.Same(t, h, Redact(h), "wrapping twice changes nothing")

	r := cleanRecord()
	require.NoError(t, h.Handle(context.Background(), r))
	r2 := slog.NewRecord(time.Now(), slog.LevelInfo, "m", 0)
	r2.AddAttrs(slog.Any("cfg", dbConfig{Host: "db", Password: "pw"}), slog.Int("n", 1))
	require.NoError(t, h.Handle(context.Background(), r2))

	require.Len(t, got, 2)
	require.Equal(t, r.NumAttrs(), got[0].NumAttrs())
	var kinds []slog.Kind
	got[1].Attrs(func(a slog.Attr) bool { kinds = append(kinds, a.Value.Kind()); return true })
	require.Equal(t, []slog.Kind{slog.KindGroup, slog.KindInt64}, kinds, "LogValuer resolved before it reaches next")
}

// recordFunc is a handler that hands each record to a function.
type recordFunc func(slog.Record)

func (f recordFunc) Enabled(context.Context, slog.Level) bool      { return true }
func (f recordFunc) Handle(_ context.Context, r slog.Record) error { f(r); return nil }
func (f recordFunc) WithAttrs([]slog.Attr) slog.Handler            { return f }
func (f recordFunc) WithGroup(string) slog.Handler                 { return f }

func cleanAttrs() []slog.Attr {
	return []slog.Attr{
		slog.String("task_id", "tsk_01jd8q3w7y5x0m2k4n6p8r9s1t"),
		slog.String("tenant_id", "ten_01jd8q3w7y5x0m2k4n6p8r9s1t"),
		slog.String("agent", "summarizer"),
		slog.Int("attempt", 2),
		slog.Int("input_tokens", 1234),
		slog.Duration("took", 1500*time.Millisecond),
		slog.Any("error", errors.New("deadline exceeded: https://api.openai.com/v1/chat")),
		slog.Group("usage", slog.Int("max_tokens", 4096), slog.Bool("cached", false)),
	}
}

func cleanRecord() slog.Record {
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "task started on model gpt-4o-mini", 0)
	r.AddAttrs(cleanAttrs()...)
	return r
}

func BenchmarkRedact(b *testing.B) {
	ctx := context.Background()
	h := Redact(slog.DiscardHandler)
	b.Run("clean", func(b *testing.B) {
		r := cleanRecord()
		b.ReportAllocs()
		for b.Loop() {
			_ = h.Handle(ctx, r)
		}
	})
	b.Run("secret", func(b *testing.B) {
		r := cleanRecord()
		r.AddAttrs(slog.String("dsn", "postgres://app:"+dbPass+"@db:5432/x"), slog.String("password", dbPass))
		b.ReportAllocs()
		for b.Loop() {
			_ = h.Handle(ctx, r)
		}
	})
	for name, l := range map[string]*slog.Logger{
		"json":            NewLogger(io.Discard, nil),
		"json-unredacted": slog.New(slog.NewJSONHandler(io.Discard, nil)),
	} {
		b.Run(name, func(b *testing.B) {
			attrs := cleanAttrs()
			b.ReportAllocs()
			for b.Loop() {
				l.LogAttrs(ctx, slog.LevelInfo, "task started", attrs...)
			}
		})
	}
}

// fuzzSeps are the bytes the fuzz target puts around the key: anything a secret can follow
// or precede in a log line that is not part of a word.
const fuzzSeps = " \n\t\"'=:/\\,;()[]{}<>@&?#-.+*|"

func FuzzRedact(f *testing.F) {
	f.Add("connecting to db", uint64(0))
	f.Add(`{"password":"`, uint64(7))
	f.Add("postgres://app:", uint64(15))
	f.Fuzz(func(t *testing.T, text string, seed uint64) {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], seed)
		sum := sha256.Sum256(append([]byte(text), b[:]...))
		key := "ak_" + base64.RawURLEncoding.EncodeToString(sum[:])

		n := uint64(len(fuzzSeps))
		i := int(seed % uint64(len(text)+1))
		s := text[:i] + string(fuzzSeps[seed%n]) + key + string(fuzzSeps[seed/n%n]) + text[i:]

		var buf bytes.Buffer
		l := NewLogger(&buf, slog.LevelDebug)
		l.Info(s, "note", s, "error", fmt.Errorf("wrapped: %w", errors.New(s)), s, "as key",
			slog.Group("g", "v", s, slog.Group("h", "list", []string{"x", s})), "body", []byte(s),
			"map", map[string]string{"k": s})
		l.With("with", s).WithGroup("grp").Warn("m", "v", s)
		out := buf.String()
		if strings.Contains(out, key) {
			t.Fatalf("key %s leaked from %q:\n%s", key, s, out)
		}
		if !strings.Contains(out, Redacted) {
			t.Fatalf("nothing masked in %q:\n%s", s, out)
		}
		for line := range strings.Lines(out) {
			if !json.Valid([]byte(line)) {
				t.Fatalf("invalid JSON line %q", line)
			}
		}
	})
}
