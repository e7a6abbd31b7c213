package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/agentic-run/agentic/backup"
	"github.com/agentic-run/agentic/store"
)

// What asked for a backup (store.Backup.Trigger).
const (
	TriggerSchedule = "schedule" // the scheduler's backup job (ops.backup.requested)
	TriggerManual   = "manual"   // `agentic backup`
)

// DefaultBackupRetention is how long backups are kept, locally and in the bucket.
const DefaultBackupRetention = 7 * 24 * time.Hour

// BackupStore records backup runs (store.Store).
type BackupStore interface {
	RecordBackup(ctx context.Context, b *store.Backup) error
	ListBackups(ctx context.Context, f store.BackupFilter) ([]*store.Backup, error)
}

// BackupsConfig configures Backups.
type BackupsConfig struct {
	// Take makes one verified backup in Dir: backup.Run for PostgreSQL, backup.RunSQLite for
	// the SQLite store of `agentic dev`.
	Take func(ctx context.Context) (*backup.Result, error)
	// Dir is where Take writes; backups in it older than Retention (7 days) are deleted after
	// each good backup, never the newest.
	Dir       string
	Retention time.Duration
	// S3, when set, receives a copy of every verified backup (checked against its SHA-256),
	// with the same retention. A backup that cannot be uploaded is a failed run: it is kept
	// locally, but the run counts as a failure until a copy is off the machine.
	S3     *backup.S3
	Store  BackupStore
	Meter  metric.Meter
	Logger *slog.Logger
	Now    func() time.Time
}

// Backups takes, uploads, records and prunes backups: the handler of ops.backup.requested and
// the body of `agentic backup`. A failed run is recorded, logged at error and counted in
// agentic_backup_failures_total; agentic_backup_last_success_timestamp_seconds is the end of
// the latest good run, read from the store at start so it survives restarts.
type Backups struct {
	cfg BackupsConfig
	log *slog.Logger

	runs        metric.Int64Counter     // agentic.backup.runs
	failures    metric.Int64Counter     // agentic.backup.failures
	duration    metric.Float64Histogram // agentic.backup.duration
	lastSuccess atomic.Int64            // unix seconds; 0 when unknown
	lastSize    atomic.Int64            // bytes of the latest good backup
}

// NewBackups checks cfg and registers the backup metrics.
func NewBackups(ctx context.Context, cfg BackupsConfig) (*Backups, error) {
	switch {
	case cfg.Take == nil || cfg.Store == nil:
		return nil, errors.New("handlers: BackupsConfig.Take and Store are required")
	case cfg.Dir == "":
		return nil, errors.New("handlers: BackupsConfig.Dir is required")
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultBackupRetention
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Backups{cfg: cfg, log: log}
	m := meterOrNoop(cfg.Meter)
	var errs [5]error
	b.runs, errs[0] = m.Int64Counter("agentic.backup.runs", metric.WithUnit("{run}"),
		metric.WithDescription("Backup runs, by trigger and outcome."))
	b.failures, errs[1] = m.Int64Counter("agentic.backup.failures", metric.WithUnit("{run}"),
		metric.WithDescription("Backup runs that failed (dump, verification, upload or record), by step."))
	b.duration, errs[2] = m.Float64Histogram("agentic.backup.duration", metric.WithUnit("s"),
		metric.WithDescription("Time to take, verify and upload a backup, by outcome."),
		metric.WithExplicitBucketBoundaries(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200))
	var last, size metric.Int64ObservableGauge
	last, errs[3] = m.Int64ObservableGauge("agentic.backup.last_success_timestamp", metric.WithUnit("s"),
		metric.WithDescription("When the latest good backup finished, in Unix seconds (absent until one is known)."))
	size, errs[4] = m.Int64ObservableGauge("agentic.backup.size", metric.WithUnit("By"),
		metric.WithDescription("Size of the latest good backup."))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("handlers: backup metrics: %w", err)
	}
	if _, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		if t := b.lastSuccess.Load(); t > 0 {
			o.ObserveInt64(last, t)
			o.ObserveInt64(size, b.lastSize.Load())
		}
		return nil
	}, last, size); err != nil {
		return nil, fmt.Errorf("handlers: backup metrics: %w", err)
	}
	// The latest good backup may be older than this process.
	if good, err := cfg.Store.ListBackups(ctx, store.BackupFilter{Outcome: store.BackupOK, Limit: 1}); err != nil {
		log.WarnContext(ctx, "backups: could not read the latest good backup", "error", err)
	} else if len(good) == 1 {
		b.succeeded(good[0])
	}
	return b, nil
}

func (b *Backups) succeeded(r *store.Backup) {
	b.lastSuccess.Store(r.FinishedAt.Unix())
	b.lastSize.Store(r.Size)
}

// The steps a backup run fails at, for the failures metric.
const (
	stepTake   = "take" // dump and verify
	stepUpload = "upload"
	stepRecord = "record"
)

// Run takes one backup now: Take, upload, record, then prune what retention lets go. It
// returns the run as recorded; its error says which step failed.
func (b *Backups) Run(ctx context.Context, trigger string) (*store.Backup, error) {
	rec := &store.Backup{ID: store.NewID("bkp"), Trigger: trigger, Outcome: store.BackupOK, StartedAt: b.cfg.Now().UTC()}
	step, err := b.take(ctx, rec)
	rec.FinishedAt = b.cfg.Now().UTC()
	if err != nil {
		rec.Outcome, rec.Error = store.BackupFailed, err.Error()
	}
	if rerr := b.cfg.Store.RecordBackup(context.WithoutCancel(ctx), rec); rerr != nil {
		rerr = fmt.Errorf("record backup %s: %w", rec.ID, rerr)
		if err == nil {
			step, err = stepRecord, rerr
			rec.Outcome, rec.Error = store.BackupFailed, rerr.Error()
		} else {
			err = errors.Join(err, rerr)
		}
	}
	took := rec.FinishedAt.Sub(rec.StartedAt)
	b.runs.Add(ctx, 1, metric.WithAttributes(attribute.String("trigger", trigger), attribute.String("outcome", rec.Outcome)))
	b.duration.Record(ctx, took.Seconds(), metric.WithAttributes(attribute.String("outcome", rec.Outcome)))
	if err != nil {
		b.failures.Add(ctx, 1, metric.WithAttributes(attribute.String("step", step)))
		b.log.ErrorContext(ctx, "backup failed", "backup", rec.ID, "trigger", trigger, "step", step, "file", rec.File, "error", err)
		return rec, err
	}
	b.succeeded(rec)
	b.log.InfoContext(ctx, "backup taken", "backup", rec.ID, "trigger", trigger, "file", rec.File, "size", rec.Size,
		"sha256", rec.SHA256, "entries", rec.Entries, "s3_key", rec.S3Key, "duration", took)
	b.prune(ctx)
	return rec, nil
}

// take makes the backup and uploads it, filling rec; it returns the step that failed.
func (b *Backups) take(ctx context.Context, rec *store.Backup) (string, error) {
	res, err := b.cfg.Take(ctx)
	if err != nil {
		return stepTake, err
	}
	rec.File, rec.Size, rec.SHA256, rec.Entries = res.File, res.Size, res.SHA256, res.Entries
	if b.cfg.S3 != nil {
		key, err := b.cfg.S3.Upload(ctx, res)
		if err != nil {
			return stepUpload, fmt.Errorf("upload: %w", err)
		}
		rec.S3Key = key
	}
	return "", nil
}

// prune applies retention locally and in the bucket. Failing to delete an old backup is
// logged, not a failed run: the new backup is good.
func (b *Backups) prune(ctx context.Context) {
	now := b.cfg.Now()
	removed, err := backup.Prune(backup.Config{Dir: b.cfg.Dir, Now: func() time.Time { return now }}, b.cfg.Retention)
	if err != nil {
		b.log.WarnContext(ctx, "backups: pruning the directory failed", "dir", b.cfg.Dir, "error", err)
	}
	if len(removed) > 0 {
		b.log.InfoContext(ctx, "backups pruned", "dir", b.cfg.Dir, "removed", removed)
	}
	if b.cfg.S3 == nil {
		return
	}
	keys, err := b.cfg.S3.Prune(ctx, b.cfg.Retention, now)
	if err != nil {
		b.log.WarnContext(ctx, "backups: pruning the bucket failed", "error", err)
	}
	if len(keys) > 0 {
		b.log.InfoContext(ctx, "backups pruned from the bucket", "removed", keys)
	}
}
