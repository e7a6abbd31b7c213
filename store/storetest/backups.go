package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/store"
)

// Backup runs round-trip, come back newest first, filter by outcome, and bad records are
// refused.
func testBackups(t *testing.T, s store.Store) {
	got, err := s.ListBackups(ctx(t), store.BackupFilter{})
	require.NoError(t, err)
	require.Empty(t, got)
	require.NotNil(t, got, "an empty list, not nil")

	var want []*store.Backup
	for i := range 5 {
		b := &store.Backup{ID: fmt.Sprintf("bkp_%d", i), Trigger: "schedule", Outcome: store.BackupOK,
			File: fmt.Sprintf("/var/backups/agentic-%d.dump", i), Size: int64(1000 + i), SHA256: fmt.Sprintf("%064d", i),
			Entries: 42, S3Key: fmt.Sprintf("agentic/agentic-%d.dump", i),
			StartedAt: base.Add(time.Duration(i) * time.Hour), FinishedAt: base.Add(time.Duration(i)*time.Hour + 3*time.Second)}
		if i == 3 {
			b.Trigger, b.Outcome, b.File, b.Size, b.SHA256, b.Entries, b.S3Key = "manual", store.BackupFailed, "", 0, "", 0, ""
			b.Error = "pg_dump: connection refused"
		}
		require.NoError(t, s.RecordBackup(ctx(t), b))
		want = append([]*store.Backup{b}, want...)
	}
	got, err = s.ListBackups(ctx(t), store.BackupFilter{})
	require.NoError(t, err)
	require.Len(t, got, 5)
	for i := range got {
		require.Equal(t, *want[i], *got[i])
		require.Equal(t, us(want[i].StartedAt), got[i].StartedAt)
	}

	ok, err := s.ListBackups(ctx(t), store.BackupFilter{Outcome: store.BackupOK, Limit: 2})
	require.NoError(t, err)
	require.Equal(t, []string{"bkp_4", "bkp_2"}, []string{ok[0].ID, ok[1].ID})
	failed, err := s.ListBackups(ctx(t), store.BackupFilter{Outcome: store.BackupFailed})
	require.NoError(t, err)
	require.Len(t, failed, 1)
	require.Equal(t, "pg_dump: connection refused", failed[0].Error)

	for _, b := range []*store.Backup{
		{Trigger: "schedule", Outcome: store.BackupOK},
		{ID: "bkp_x", Trigger: "schedule", Outcome: "maybe"},
		{ID: "bkp_y", Outcome: store.BackupOK},
	} {
		require.ErrorIs(t, s.RecordBackup(ctx(t), b), store.ErrInvalidBackup)
	}
	for _, f := range []store.BackupFilter{{Outcome: "maybe"}, {Limit: -1}, {Limit: 101}} {
		_, err := s.ListBackups(ctx(t), f)
		require.ErrorIs(t, err, store.ErrInvalidBackup)
	}
}
