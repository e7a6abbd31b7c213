package store

import (
	"errors"
	"fmt"
	"time"
)

// The outcomes of a backup run.
const (
	BackupOK     = "ok"
	BackupFailed = "failed"
)

// Backup is one backup run as recorded: a verified backup, or a failure and its reason. Backups
// are the platform's, not a tenant's.
type Backup struct {
	ID      string // bkp_…
	Trigger string // what asked for it: "schedule" (the backup job) or "manual" (agentic backup)
	Outcome string // BackupOK or BackupFailed
	// File is the backup's path on the machine that took it; Size, SHA256 and Entries (the
	// table-of-contents entries or tables it holds) describe the verified file.
	File    string
	Size    int64
	SHA256  string
	Entries int
	// S3Key is where the backup was uploaded ("" when no bucket is configured).
	S3Key string
	// Error says which step failed and why ("" when ok).
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time
}

// BackupFilter narrows ListBackups: Outcome "" is any; Limit 1–100 (20 when 0).
type BackupFilter struct {
	Outcome string
	Limit   int
}

// ErrInvalidBackup is returned for a backup record a store refuses: no id, an unknown
// outcome or trigger, or an unknown filter outcome.
var ErrInvalidBackup = errors.New("store: invalid backup record")

// CheckBackup reports whether b can be stored.
func CheckBackup(b *Backup) error {
	switch {
	case b == nil || b.ID == "":
		return fmt.Errorf("%w: no id", ErrInvalidBackup)
	case b.Outcome != BackupOK && b.Outcome != BackupFailed:
		return fmt.Errorf("%w: outcome %q", ErrInvalidBackup, b.Outcome)
	case b.Trigger == "":
		return fmt.Errorf("%w: no trigger", ErrInvalidBackup)
	}
	return nil
}

// Check validates f and returns it with its default limit.
func (f BackupFilter) Check() (BackupFilter, error) {
	if f.Outcome != "" && f.Outcome != BackupOK && f.Outcome != BackupFailed {
		return f, fmt.Errorf("%w: outcome %q", ErrInvalidBackup, f.Outcome)
	}
	switch {
	case f.Limit == 0:
		f.Limit = 20
	case f.Limit < 0 || f.Limit > 100:
		return f, fmt.Errorf("%w: limit %d not in 1–100", ErrInvalidBackup, f.Limit)
	}
	return f, nil
}
