package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The roles of migration 00003. Every statement the store sends runs as one of them, for the
// one transaction it is part of.
const (
	roleTenant = "agentic_tenant" // row-level security admits one tenant's rows
	roleSystem = "agentic_system" // work across tenants: workers, dispatchers, admin
)

// scope is who a statement runs as: a tenant, through the tenant role with the tenant set for
// the transaction, or the system. The zero scope is no one, and the store never sends it.
type scope struct {
	role   string
	tenant string
}

// system is the scope of work that spans tenants.
var system = scope{role: roleSystem}

// tenant is the scope of a tenant-facing statement. The id comes from the authenticated API
// key, through the store method's argument; an empty id admits no rows.
func tenant(id string) scope { return scope{role: roleTenant, tenant: id} }

// setScopeSQL makes a scope the transaction's: set_config(…, true) is SET LOCAL, so the role
// and the tenant end with the transaction and never reach the next user of the connection.
const setScopeSQL = `SELECT set_config('role', $1, true), set_config('agentic.tenant_id', $2, true)`

// queueScope queues the statement that enters sc.
func queueScope(batch *pgx.Batch, sc scope) {
	batch.Queue(setScopeSQL, sc.role, sc.tenant).Exec(func(pgconn.CommandTag) error { return nil })
}

// errNoScope guards against a statement with the zero scope, which would run as the login.
var errNoScope = errors.New("postgres: statement without a scope")

// scoped sends sc's set-up and the statements queue adds as one pipelined batch: one round
// trip and one implicit transaction, which is what set_config's "local" lasts for.
func (s *Store) scoped(ctx context.Context, sc scope, queue func(*pgx.Batch)) error {
	if sc.role == "" {
		return errNoScope
	}
	batch := &pgx.Batch{}
	queueScope(batch, sc)
	queue(batch)
	return s.pool.SendBatch(ctx, batch).Close()
}

// queryRow runs sql in sc and scans its one row; no row is pgx.ErrNoRows. (A callback's
// error would make pgx forget the batch's prepared statements, so no row is not one.)
func (s *Store) queryRow(ctx context.Context, sc scope, sql string, args []any, scan func(pgx.Row) error) error {
	var scanErr error
	err := s.scoped(ctx, sc, func(b *pgx.Batch) {
		b.Queue(sql, args...).QueryRow(func(row pgx.Row) error {
			scanErr = scan(row)
			if errors.Is(scanErr, pgx.ErrNoRows) {
				return nil
			}
			return scanErr
		})
	})
	if err != nil {
		return err
	}
	return scanErr
}

// one runs sql in sc and scans its one row with scan; no row is pgx.ErrNoRows.
func one[T any](ctx context.Context, s *Store, sc scope, scan func(pgx.Row) (T, error), sql string, args ...any) (T, error) {
	var v T
	err := s.queryRow(ctx, sc, sql, args, func(row pgx.Row) (err error) {
		v, err = scan(row)
		return err
	})
	return v, err
}

// query runs sql in sc and hands its rows to each.
func (s *Store) query(ctx context.Context, sc scope, sql string, args []any, each func(pgx.Rows) error) error {
	return s.scoped(ctx, sc, func(b *pgx.Batch) {
		b.Queue(sql, args...).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				if err := each(rows); err != nil {
					return err
				}
			}
			return rows.Err()
		})
	})
}

// exec runs sql in sc and returns its command tag.
func (s *Store) exec(ctx context.Context, sc scope, sql string, args ...any) (pgconn.CommandTag, error) {
	var tag pgconn.CommandTag
	err := s.scoped(ctx, sc, func(b *pgx.Batch) {
		b.Queue(sql, args...).Exec(func(t pgconn.CommandTag) error { tag = t; return nil })
	})
	return tag, err
}
