package platform

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/agentic-run/agentic/backup"
	"github.com/agentic-run/agentic/handlers"
	"github.com/agentic-run/agentic/limits"
	"github.com/agentic-run/agentic/llm"
	"github.com/agentic-run/agentic/schedule"
)

// Config is everything the processes read from the environment, typed, with defaults.
type Config struct {
	HTTPAddr    string // AGENTIC_HTTP_ADDR, ingest (":8080")
	MetricsAddr string // AGENTIC_METRICS_ADDR, health on workers and scheduler ("" = off)
	DatabaseURL string // DATABASE_URL
	NatsURL     string // NATS_URL
	RedisURL    string // REDIS_URL ("" = no Redis)
	AdminToken  string // AGENTIC_ADMIN_TOKEN
	DataDir     string // AGENTIC_DATA_DIR: agentic dev's embedded engines keep their state here ("./.agentic")
	AutoMigrate bool   // AGENTIC_AUTO_MIGRATE (true)
	Prefix      string // AGENTIC_NATS_PREFIX: subjects and streams ("agentic")
	Replicas    int    // AGENTIC_NATS_REPLICAS: stream replicas (1; 3 on a production cluster)

	WebhookAllow string // AGENTIC_WEBHOOK_ALLOW: hosts and CIDRs allowed as webhook targets

	// The LLM providers: one without credentials is not routed to.
	OpenAIKey        string // OPENAI_API_KEY
	OpenAIBaseURL    string // OPENAI_BASE_URL: any OpenAI-compatible endpoint (vLLM, a proxy)
	AnthropicKey     string // ANTHROPIC_API_KEY
	AnthropicBaseURL string // ANTHROPIC_BASE_URL
	GroqKey          string // GROQ_API_KEY
	OllamaHost       string // OLLAMA_HOST: Ollama's OpenAI-compatible API, no key needed
	// Models (AGENTIC_MODELS_FILE) is the model registry: DESIGN.md's models and prices, or
	// the file's.
	Models []llm.Model

	// Sim (AGENTIC_SIM) routes to the simulated provider, which then answers for every model
	// whose provider has no credentials, at that model's price. On by default when no real
	// provider has credentials, and always in agentic dev.
	Sim         bool
	SimLatency  time.Duration // AGENTIC_SIM_LATENCY ("50ms")
	SimFailRate float64       // AGENTIC_SIM_FAIL_RATE (0)

	MaxAttempts       int           // AGENTIC_MAX_ATTEMPTS (3)
	AckWait           time.Duration // AGENTIC_ACK_WAIT: redelivery after a silent worker, and the task lease ("30s")
	DrainTimeout      time.Duration // AGENTIC_DRAIN_TIMEOUT: graceful shutdown budget ("25s")
	Concurrency       int           // AGENTIC_WORKER_CONCURRENCY: tasks at once per worker (64)
	ReconcileSchedule string        // AGENTIC_RECONCILE_SCHEDULE ("*/10 * * * * *")
	ReconcileGrace    time.Duration // AGENTIC_RECONCILE_GRACE ("10s")
	WebhookGiveUp     time.Duration // AGENTIC_WEBHOOK_GIVE_UP: how long deliveries are retried ("24h")

	// Queues (AGENTIC_WORKER_QUEUES) are what a worker consumes: tasks, webhooks and ops (the
	// scheduler's jobs), all by default; a backup pod runs "ops" alone.
	Queues map[string]bool

	// The scheduler's jobs: cron specs in UTC (a leading seconds field or a descriptor such as
	// "@hourly" allowed), "off" to disable.
	BackupSchedule     string // AGENTIC_BACKUP_SCHEDULE ("0 2 * * *": daily at 02:00 UTC)
	CacheSweepSchedule string // AGENTIC_CACHE_SWEEP_SCHEDULE ("@hourly")

	// Backups: a worker with a backup directory takes the scheduled backups (it needs pg_dump
	// and pg_restore); agentic dev keeps them in AGENTIC_DATA_DIR/backups.
	BackupDir       string        // AGENTIC_BACKUP_DIR ("": this worker takes no backups)
	BackupRetention time.Duration // AGENTIC_BACKUP_RETENTION, locally and in the bucket ("168h")
	// BackupS3 is where verified backups are copied (AGENTIC_BACKUP_S3_*); nil without a
	// bucket.
	BackupS3 *backup.S3Config

	Tiers    limits.Tiers    // AGENTIC_TIERS_FILE: the tiers' limits (DESIGN.md's by default)
	FailOpen map[string]bool // AGENTIC_FAIL_OPEN: the limits admitting work while Redis is down

	LogLevel slog.Level // AGENTIC_LOG_LEVEL (info)
	Pprof    bool       // AGENTIC_PPROF: serve /debug/pprof on AGENTIC_METRICS_ADDR (false)

	// Tracer is the process's tracer provider (telemetry.NewTracingEnv, configured by the
	// standard OTEL_* variables), set by Run and RunDev, not read from the environment; nil
	// traces nothing.
	Tracer trace.TracerProvider
}

var prefixRE = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// FromEnv reads the configuration. An error names the variable and what is wrong with it,
// in one line.
func FromEnv(getenv func(string) string) (Config, error) {
	r := reader{getenv: getenv}
	c := Config{
		HTTPAddr:           r.str("AGENTIC_HTTP_ADDR", ":8080"),
		MetricsAddr:        r.str("AGENTIC_METRICS_ADDR", ""),
		DatabaseURL:        r.str("DATABASE_URL", ""),
		NatsURL:            r.str("NATS_URL", ""),
		RedisURL:           r.str("REDIS_URL", ""),
		AdminToken:         r.str("AGENTIC_ADMIN_TOKEN", ""),
		DataDir:            r.str("AGENTIC_DATA_DIR", "./.agentic"),
		AutoMigrate:        r.boolean("AGENTIC_AUTO_MIGRATE", true),
		Prefix:             r.str("AGENTIC_NATS_PREFIX", "agentic"),
		Replicas:           r.integer("AGENTIC_NATS_REPLICAS", 1),
		WebhookAllow:       r.str("AGENTIC_WEBHOOK_ALLOW", ""),
		SimLatency:         r.duration("AGENTIC_SIM_LATENCY", 50*time.Millisecond),
		SimFailRate:        r.float("AGENTIC_SIM_FAIL_RATE", 0),
		MaxAttempts:        r.integer("AGENTIC_MAX_ATTEMPTS", 3),
		AckWait:            r.duration("AGENTIC_ACK_WAIT", 30*time.Second),
		DrainTimeout:       r.duration("AGENTIC_DRAIN_TIMEOUT", 25*time.Second),
		Concurrency:        r.integer("AGENTIC_WORKER_CONCURRENCY", 64),
		ReconcileSchedule:  r.str("AGENTIC_RECONCILE_SCHEDULE", "*/10 * * * * *"),
		ReconcileGrace:     r.duration("AGENTIC_RECONCILE_GRACE", 10*time.Second),
		WebhookGiveUp:      r.duration("AGENTIC_WEBHOOK_GIVE_UP", 24*time.Hour),
		BackupSchedule:     r.str("AGENTIC_BACKUP_SCHEDULE", "0 2 * * *"),
		CacheSweepSchedule: r.str("AGENTIC_CACHE_SWEEP_SCHEDULE", "@hourly"),
		BackupDir:          r.str("AGENTIC_BACKUP_DIR", ""),
		BackupRetention:    r.duration("AGENTIC_BACKUP_RETENTION", handlers.DefaultBackupRetention),
		LogLevel:           r.level("AGENTIC_LOG_LEVEL", slog.LevelInfo),
		Pprof:              r.boolean("AGENTIC_PPROF", false),
	}
	if r.err != nil {
		return Config{}, r.err
	}
	tiers, err := limits.LoadTiers(r.str("AGENTIC_TIERS_FILE", ""))
	if err != nil {
		return Config{}, fmt.Errorf("AGENTIC_TIERS_FILE: %w", err)
	}
	c.Tiers = tiers
	c.OpenAIKey, c.OpenAIBaseURL = r.str("OPENAI_API_KEY", ""), r.str("OPENAI_BASE_URL", "")
	c.AnthropicKey, c.AnthropicBaseURL = r.str("ANTHROPIC_API_KEY", ""), r.str("ANTHROPIC_BASE_URL", "")
	c.GroqKey, c.OllamaHost = r.str("GROQ_API_KEY", ""), r.str("OLLAMA_HOST", "")
	c.Sim = r.boolean("AGENTIC_SIM", !c.HasProvider())
	if r.err != nil {
		return Config{}, r.err
	}
	c.Models = llm.DefaultModels()
	if path := r.str("AGENTIC_MODELS_FILE", ""); path != "" {
		if c.Models, err = llm.LoadModels(path); err != nil {
			return Config{}, fmt.Errorf("AGENTIC_MODELS_FILE: %w", err)
		}
	}
	if err := llm.CheckFallbacks(c.Models); err != nil {
		return Config{}, fmt.Errorf("AGENTIC_MODELS_FILE: %w", err)
	}
	if c.FailOpen, err = failOpen(r.str("AGENTIC_FAIL_OPEN", defaultFailOpen)); err != nil {
		return Config{}, fmt.Errorf("AGENTIC_FAIL_OPEN: %w", err)
	}
	if c.Queues, err = queues(r.str("AGENTIC_WORKER_QUEUES", strings.Join(queueNames, ","))); err != nil {
		return Config{}, fmt.Errorf("AGENTIC_WORKER_QUEUES: %w", err)
	}
	if c.BackupS3, err = backupS3(&r); err != nil {
		return Config{}, err
	}
	return c, c.validate()
}

// queueNames are what a worker may consume.
var queueNames = []string{"tasks", "webhooks", "ops"}

// queues parses a comma-separated list of queue names.
func queues(v string) (map[string]bool, error) {
	m := map[string]bool{}
	for name := range strings.SplitSeq(v, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(queueNames, name) {
			return nil, fmt.Errorf("%q is not a queue: use a comma-separated list of %s", name, strings.Join(queueNames, ", "))
		}
		m[name] = true
	}
	return m, nil
}

// s3Vars are the variables of backup.S3Config's fields.
var s3Vars = map[string]string{
	"Endpoint": "AGENTIC_BACKUP_S3_ENDPOINT", "Region": "AGENTIC_BACKUP_S3_REGION", "Bucket": "AGENTIC_BACKUP_S3_BUCKET",
	"Prefix": "AGENTIC_BACKUP_S3_PREFIX", "AccessKeyID": "AGENTIC_BACKUP_S3_ACCESS_KEY_ID",
	"SecretAccessKey": "AGENTIC_BACKUP_S3_SECRET_ACCESS_KEY",
}

// backupS3 reads the backup bucket: none unless AGENTIC_BACKUP_S3_BUCKET is set.
func backupS3(r *reader) (*backup.S3Config, error) {
	bucket := r.str("AGENTIC_BACKUP_S3_BUCKET", "")
	if bucket == "" {
		return nil, nil
	}
	s3 := &backup.S3Config{
		Endpoint:        r.str("AGENTIC_BACKUP_S3_ENDPOINT", ""),
		Region:          r.str("AGENTIC_BACKUP_S3_REGION", ""),
		Bucket:          bucket,
		Prefix:          r.str("AGENTIC_BACKUP_S3_PREFIX", "agentic/"),
		AccessKeyID:     r.str("AGENTIC_BACKUP_S3_ACCESS_KEY_ID", ""),
		SecretAccessKey: r.str("AGENTIC_BACKUP_S3_SECRET_ACCESS_KEY", ""),
	}
	if err := s3.Validate(); err != nil {
		// Name the variable of the field Validate names first.
		field, why, _ := strings.Cut(strings.TrimPrefix(err.Error(), "backup: s3: "), " ")
		name, ok := s3Vars[field]
		if !ok {
			return nil, fmt.Errorf("AGENTIC_BACKUP_S3_BUCKET: %w", err)
		}
		return nil, fmt.Errorf("%s: %s", name, why)
	}
	return s3, nil
}

// The limits that may fail open, and those that do by default: availability for rate and
// concurrency limits, while budgets (money) fail closed.
var limitNames = []string{"requests", "executions", "concurrency", "budgets"}

const defaultFailOpen = "requests,executions,concurrency"

// failOpen parses a comma-separated list of limit names ("none" for none).
func failOpen(v string) (map[string]bool, error) {
	m := map[string]bool{}
	if v == "none" {
		return m, nil
	}
	for _, name := range strings.Split(v, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(limitNames, name) {
			return nil, fmt.Errorf("%q is not a limit: use a comma-separated list of %s, or none", name, strings.Join(limitNames, ", "))
		}
		m[name] = true
	}
	return m, nil
}

func (c Config) validate() error {
	check := func(name string, ok bool, why string) error {
		if ok {
			return nil
		}
		return fmt.Errorf("%s: %s", name, why)
	}
	return first(
		checkAddr("AGENTIC_HTTP_ADDR", c.HTTPAddr, false),
		checkAddr("AGENTIC_METRICS_ADDR", c.MetricsAddr, true),
		checkURL("DATABASE_URL", c.DatabaseURL, "postgres", "postgresql"),
		checkURL("NATS_URL", c.NatsURL, "nats", "tls"),
		checkURL("REDIS_URL", c.RedisURL, "redis", "rediss"),
		check("AGENTIC_NATS_PREFIX", prefixRE.MatchString(c.Prefix), fmt.Sprintf("%q must match [a-z0-9_-]{1,32}", c.Prefix)),
		check("AGENTIC_NATS_REPLICAS", c.Replicas >= 1 && c.Replicas <= 5, "must be between 1 and 5"),
		check("AGENTIC_SIM_LATENCY", c.SimLatency >= 0, "must not be negative"),
		check("AGENTIC_SIM_FAIL_RATE", c.SimFailRate >= 0 && c.SimFailRate <= 1, "must be between 0 and 1"),
		check("AGENTIC_MAX_ATTEMPTS", c.MaxAttempts >= 1 && c.MaxAttempts <= 100, "must be between 1 and 100"),
		check("AGENTIC_ACK_WAIT", c.AckWait >= time.Second, "must be at least 1s"),
		check("AGENTIC_DRAIN_TIMEOUT", c.DrainTimeout >= 0, "must not be negative"),
		check("AGENTIC_WORKER_CONCURRENCY", c.Concurrency >= 1 && c.Concurrency <= 10000, "must be between 1 and 10000"),
		check("AGENTIC_RECONCILE_GRACE", c.ReconcileGrace >= time.Second, "must be at least 1s"),
		check("AGENTIC_WEBHOOK_GIVE_UP", c.WebhookGiveUp >= time.Minute, "must be at least 1m"),
		checkSchedule("AGENTIC_RECONCILE_SCHEDULE", c.ReconcileSchedule, false),
		checkSchedule("AGENTIC_BACKUP_SCHEDULE", c.BackupSchedule, true),
		checkSchedule("AGENTIC_CACHE_SWEEP_SCHEDULE", c.CacheSweepSchedule, true),
		check("AGENTIC_BACKUP_RETENTION", c.BackupRetention >= time.Hour, "must be at least 1h"),
	)
}

// ScheduleOff disables a scheduler job that may be disabled.
const ScheduleOff = "off"

// checkSchedule checks a cron spec as the scheduler reads it.
func checkSchedule(name, spec string, mayBeOff bool) error {
	if mayBeOff && spec == ScheduleOff {
		return nil
	}
	if err := schedule.Parse(spec); err != nil {
		off := ""
		if mayBeOff {
			off = ", or off"
		}
		return fmt.Errorf("%s: %q is not a cron spec (\"0 2 * * *\", \"@hourly\"%s): %v", name, spec, off, err)
	}
	return nil
}

// Require reports the first of the named settings that is empty, for the processes that
// cannot run without them.
func (c Config) Require(names ...string) error {
	values := map[string]string{
		"DATABASE_URL":        c.DatabaseURL,
		"NATS_URL":            c.NatsURL,
		"AGENTIC_ADMIN_TOKEN": c.AdminToken,
	}
	for _, n := range names {
		if values[n] == "" {
			return fmt.Errorf("%s: required but not set", n)
		}
	}
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		return errors.New("AGENTIC_ADMIN_TOKEN: must be at least 16 characters")
	}
	return nil
}

func checkAddr(name, v string, optional bool) error {
	if v == "" && optional {
		return nil
	}
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		return fmt.Errorf("%s: %q is not host:port", name, v)
	}
	return nil
}

func checkURL(name, v string, schemes ...string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil {
		return fmt.Errorf("%s: not a URL", name)
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return nil
		}
	}
	return fmt.Errorf("%s: scheme must be one of %s", name, strings.Join(schemes, ", "))
}

// reader parses variables and keeps the first error.
type reader struct {
	getenv func(string) string
	err    error
}

func (r *reader) fail(name, v, want string) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %q is not %s", name, v, want)
	}
}

func (r *reader) str(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

func (r *reader) boolean(name string, def bool) bool {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, v, "a boolean (true or false)")
	}
	return b
}

func (r *reader) integer(name string, def int) int {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.fail(name, v, "an integer")
	}
	return n
}

func (r *reader) float(name string, def float64) float64 {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		r.fail(name, v, "a number")
	}
	return f
}

func (r *reader) duration(name string, def time.Duration) time.Duration {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		r.fail(name, v, "a duration like 30s or 5m")
	}
	return d
}

func (r *reader) level(name string, def slog.Level) slog.Level {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		r.fail(name, v, "a log level (debug, info, warn, error)")
	}
	return l
}

// first returns the first non-nil error: a bad configuration is reported in one line.
func first(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// HasProvider reports whether a real LLM provider has credentials (or, for Ollama, a host).
func (c Config) HasProvider() bool {
	return c.OpenAIKey != "" || c.AnthropicKey != "" || c.GroqKey != "" || c.OllamaHost != ""
}
