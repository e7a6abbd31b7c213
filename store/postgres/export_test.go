package postgres

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// ListQuery exposes ListTasks' SQL to the plan tests.
var ListQuery = listQuery

// UnpublishedSQL is Unpublished's query, for the plan tests.
const UnpublishedSQL = unpublishedSQL

// ListCallsSQL is ListCalls' query (task id, tenant id), for the plan tests.
const ListCallsSQL = listCallsSQL

// Batches reports how many multi-statement group commits the store has flushed.
func Batches(s *Store) int64 { return s.batch.batches.Load() }

// Multis reports how many multi-row statements (starts and finishes of many tasks) it sent.
func Multis(s *Store) int64 { return s.batch.multis.Load() + s.relaxed.multis.Load() }

// CommitSettings reports synchronous_commit as a relaxed and a durable flush see it.
func CommitSettings(t *testing.T, s *Store) (relaxed, durable string) {
	setting := func(b *batcher) string {
		var v string
		require.NoError(t, b.queryRow(t.Context(), system, `SELECT current_setting('synchronous_commit')`, nil,
			func(row pgx.Row) error { return row.Scan(&v) }))
		return v
	}
	return setting(s.relaxed), setting(s.batch)
}

// Calls reports how many calls went through the durable and the relaxed batcher.
func Calls(s *Store) (durable, relaxed int64) { return s.batch.calls.Load(), s.relaxed.calls.Load() }

// AsTenant runs setup and then sql as the tenant role with tenantID set for the transaction —
// the way every tenant-facing statement of the store runs — and returns the rows' first
// column as text. setup statements (set_config calls, say) run first in the same transaction.
func AsTenant(t *testing.T, s *Store, tenantID, sql string, setup ...string) ([]string, error) {
	return as(t, s, tenant(tenantID), sql, setup)
}

// AsSystem is AsTenant for the cross-tenant role.
func AsSystem(t *testing.T, s *Store, sql string) ([]string, error) {
	return as(t, s, system, sql, nil)
}

func as(t *testing.T, s *Store, sc scope, sql string, setup []string) ([]string, error) {
	var out []string
	err := s.scoped(t.Context(), sc, func(b *pgx.Batch) {
		for _, q := range setup {
			b.Queue(q)
		}
		b.Queue(sql).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				v, err := rows.Values()
				if err != nil {
					return err
				}
				out = append(out, fmt.Sprint(v[0]))
			}
			return rows.Err()
		})
	})
	return out, err
}

// Explain returns the plan of sql with args as the store runs it: as the tenant role with
// tenantID set, or, when tenantID is "", as the system role.
func Explain(t *testing.T, s *Store, tenantID, sql string, args ...any) string {
	sc := system
	if tenantID != "" {
		sc = tenant(tenantID)
	}
	var lines []string
	err := s.query(t.Context(), sc, "EXPLAIN "+sql, args, func(rows pgx.Rows) error {
		var line string
		if err := rows.Scan(&line); err != nil {
			return err
		}
		lines = append(lines, line)
		return nil
	})
	require.NoError(t, err)
	return strings.Join(lines, "\n")
}
