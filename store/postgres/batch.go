package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"
)

// batcher is group commit for the hot-path statements (submit, start, finish, delivery
// record). Concurrent calls queue up while earlier flushes run, and each flush sends what is
// queued as one pipelined batch: one round trip and one implicit transaction, so one WAL
// flush for the lot instead of one per statement. At low load a call runs alone at once, so
// batching costs no latency. Each call still sees its own result; if the batch fails as a
// whole (a constraint, a deadlock with another batch), its statements run again one by one
// so one bad call never fails its neighbours.
type batcher struct {
	pool *pgxpool.Pool
	// relaxed batches commit without waiting for their WAL flush (synchronous_commit off,
	// for that transaction only): for writes whose loss in a database crash the design
	// tolerates. A later synchronous commit on the server flushes them too.
	relaxed     bool
	maxInflight int // concurrent flushes, each on its own connection
	maxBatch    int // statements per flush

	mu       sync.Mutex
	queue    []*op
	inflight int
	batches  atomic.Int64 // flushes of more than one statement, for tests
	multis   atomic.Int64 // multi-row statements sent, for tests
	calls    atomic.Int64 // calls queued, for tests
}

// op is one queued statement. scan, when set, reads its single row (pgx.ErrNoRows is a
// result, not a failure); otherwise the statement is executed.
type op struct {
	sql  string
	args []any
	scan func(pgx.Row) error
	err  error
	done chan struct{}
	// scope is who the statement runs as; a flush enters each op's scope before its
	// statement (the zero scope fails the op).
	scope scope

	// A call whose kind has a multi-row form runs, when others of its kind share the flush,
	// as one row of a single statement over arrays instead of a statement of its own.
	multi *multi
	row   any // this call's values, as the multi form's build expects them

	// span is the caller's span, open while the caller waits for the flush: a flush runs its
	// statements under the first call's recording span, so a task's trace shows the database
	// work done for it (otelpgx only traces under a recording span).
	span trace.Span
}

// multi is the many-calls form of a statement: build turns calls into one statement (an
// UPDATE … FROM unnest(…)) whose rows each begin with the ordinal, as text, of the call they
// answer — the call whose values were applied, also when two calls name one task — followed
// by what the call's scan reads; a call without a row gets pgx.ErrNoRows, as alone.
// PostgreSQL's cost per statement, not per row, is what a busy worker spends most on.
type multi struct {
	build func(ops []*op) (sql string, args []any)
}

// flushTimeout bounds one flush; a call waits for its flush even when its own ctx ends, so
// that it never reports failure for a statement that committed.
const flushTimeout = 30 * time.Second

func newBatcher(pool *pgxpool.Pool, relaxed bool) *batcher {
	n := int(pool.Config().MaxConns) / 3
	return &batcher{pool: pool, relaxed: relaxed, maxInflight: max(1, min(n, 8)), maxBatch: 256}
}

// queryRow runs sql in sc in the next flush and scans its row with scan.
func (b *batcher) queryRow(ctx context.Context, sc scope, sql string, args []any, scan func(pgx.Row) error) error {
	return b.do(ctx, &op{sql: sql, args: args, scan: scan, scope: sc})
}

// exec runs sql in sc in the next flush.
func (b *batcher) exec(ctx context.Context, sc scope, sql string, args ...any) error {
	return b.do(ctx, &op{sql: sql, args: args, scope: sc})
}

func (b *batcher) do(ctx context.Context, o *op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if o.scope.role == "" {
		return errNoScope
	}
	o.done = make(chan struct{})
	o.span = trace.SpanFromContext(ctx)
	b.calls.Add(1)
	b.mu.Lock()
	b.queue = append(b.queue, o)
	if b.inflight < b.maxInflight {
		b.inflight++
		go b.flushLoop()
	}
	b.mu.Unlock()
	<-o.done
	return o.err
}

// flushLoop flushes what is queued until the queue is empty.
func (b *batcher) flushLoop() {
	for {
		b.mu.Lock()
		n := min(len(b.queue), b.maxBatch)
		if n == 0 {
			b.inflight--
			b.mu.Unlock()
			return
		}
		ops := make([]*op, n)
		copy(ops, b.queue)
		b.queue = b.queue[n:]
		if len(b.queue) == 0 {
			b.queue = nil // let the backing array go
		}
		b.mu.Unlock()
		b.flush(ops)
	}
}

func (b *batcher) flush(ops []*op) {
	ctx := context.Background()
	for _, o := range ops {
		if o.span.IsRecording() {
			// The statements are shared by every call in the flush; their spans go to the
			// first call's trace (the others' traces show the wait in their own spans).
			ctx = trace.ContextWithSpan(ctx, o.span)
			break
		}
	}
	ctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	defer func() {
		for _, o := range ops {
			close(o.done)
		}
	}()
	if len(ops) > 1 {
		b.batches.Add(1)
	}
	if err := b.run(ctx, ops); err == nil {
		return
	} else if len(ops) == 1 {
		ops[0].err = err
		return
	}
	// The implicit transaction rolled back: nothing of it is stored. Run each alone.
	for _, o := range ops {
		o.err = nil
		if err := b.run(ctx, []*op{o}); err != nil {
			o.err = err
		}
	}
}

// groupKey gathers the calls one multi-row statement can answer: one kind, one scope (a
// tenant's rows are written as that tenant).
type groupKey struct {
	m  *multi
	sc scope
}

// run sends ops as one pipelined batch: one round trip, one implicit transaction. Each
// statement runs in its op's scope, entered (SET LOCAL) just before it. A scan's
// pgx.ErrNoRows is left in its op, not returned.
func (b *batcher) run(ctx context.Context, ops []*op) error {
	batch := &pgx.Batch{}
	if b.relaxed {
		batch.Queue(`SELECT set_config('synchronous_commit', 'off', true)`)
	}
	var current scope
	enter := func(sc scope) {
		if sc != current {
			queueScope(batch, sc)
			current = sc
		}
	}
	var (
		groups map[groupKey][]*op
		keys   []groupKey // in first-seen order, so a flush's statements keep a stable order
	)
	for _, o := range ops {
		if o.multi != nil {
			k := groupKey{o.multi, o.scope}
			if groups == nil {
				groups = map[groupKey][]*op{}
			}
			if _, seen := groups[k]; !seen {
				keys = append(keys, k)
			}
			groups[k] = append(groups[k], o)
			continue
		}
		enter(o.scope)
		queueOne(batch, o)
	}
	for _, k := range keys {
		group, m := groups[k], k.m
		enter(k.sc)
		if len(group) == 1 {
			queueOne(batch, group[0])
			continue
		}
		b.multis.Add(1)
		sql, args := m.build(group)
		if group[0].scan == nil {
			// Writes without a result (inserts): the statement succeeds for all or fails
			// for all, and a failure runs each call alone.
			batch.Queue(sql, args...).Exec(func(pgconn.CommandTag) error { return nil })
			continue
		}
		batch.Queue(sql, args...).Query(func(rows pgx.Rows) error { return dispatch(rows, group) })
	}
	return b.pool.SendBatch(ctx, batch).Close()
}

// queueOne queues o as a statement of its own.
func queueOne(batch *pgx.Batch, o *op) {
	q := batch.Queue(o.sql, o.args...)
	if o.scan == nil {
		q.Exec(func(pgconn.CommandTag) error { return nil })
		return
	}
	q.QueryRow(func(row pgx.Row) error {
		o.err = o.scan(row)
		if errors.Is(o.err, pgx.ErrNoRows) {
			return nil
		}
		return o.err
	})
}

// dispatch hands each row of a multi statement to the call whose ordinal it carries.
func dispatch(rows pgx.Rows, group []*op) error {
	for _, o := range group {
		o.err = pgx.ErrNoRows
	}
	for rows.Next() {
		i, err := strconv.Atoi(string(rows.RawValues()[0]))
		if err != nil || i < 0 || i >= len(group) {
			return fmt.Errorf("multi-row statement returned ordinal %q", rows.RawValues()[0])
		}
		o := group[i]
		if o.err = o.scan(afterOrdinal{rows}); o.err != nil {
			return o.err
		}
	}
	return rows.Err()
}

// afterOrdinal scans a multi statement's row past its leading ordinal.
type afterOrdinal struct{ pgx.Rows }

func (r afterOrdinal) Scan(dest ...any) error {
	var ord string
	return r.Rows.Scan(append([]any{&ord}, dest...)...)
}

// ordinals are the parameters 0..n-1 that tie a multi statement's rows to its calls.
func ordinals(n int) []int32 {
	ords := make([]int32, n)
	for i := range ords {
		ords[i] = int32(i)
	}
	return ords
}
