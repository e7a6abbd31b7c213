package postgres

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// ListQuery exposes ListTasks' SQL to the plan tests.
var ListQuery = listQuery

// UnpublishedSQL is Unpublished's query, for the plan tests.
const UnpublishedSQL = unpublishedSQL

// Batches reports how many multi-statement group commits the store has flushed.
func Batches(s *Store) int64 { return s.batch.batches.Load() }

// Multis reports how many multi-row statements (starts and finishes of many tasks) it sent.
func Multis(s *Store) int64 { return s.batch.multis.Load() + s.relaxed.multis.Load() }

// CommitSettings reports synchronous_commit as a relaxed and a durable flush see it.
func CommitSettings(t *testing.T, s *Store) (relaxed, durable string) {
	setting := func(b *batcher) string {
		var v string
		require.NoError(t, b.queryRow(t.Context(), `SELECT current_setting('synchronous_commit')`, nil,
			func(row pgx.Row) error { return row.Scan(&v) }))
		return v
	}
	return setting(s.relaxed), setting(s.batch)
}

// Calls reports how many calls went through the durable and the relaxed batcher.
func Calls(s *Store) (durable, relaxed int64) { return s.batch.calls.Load(), s.relaxed.calls.Load() }
