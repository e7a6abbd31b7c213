// Package storetest is the conformance suite every store.Store implementation must pass
// (PostgreSQL now, SQLite for `agentic dev` later), in the way River's riverdrivertest and
// Watermill's pubsub/tests pin down their drivers.
//
// An implementation's test calls Run with a constructor that returns a fresh, empty, migrated
// store; every subtest gets its own store and runs in parallel. The suite checks behaviour
// callers depend on: tenant isolation, idempotent creation under races and its 24-hour window,
// exactly-once FinishTask, the lease rules of StartTask, pagination and filters, the outbox.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/store"
)

// UsageCounter is implemented by stores that can say how many usage records a task has. Run
// requires it, to check that FinishTask and CancelTask record usage exactly once.
type UsageCounter interface {
	// UsageRecordCount returns the number of usage records stored for the task.
	UsageRecordCount(ctx context.Context, taskID string) (int, error)
}

// base is the time the suite's fixtures are created around. It has nanoseconds, so stores
// must truncate to microseconds for round trips to compare equal.
var base = time.Date(2026, 11, 25, 12, 0, 0, 123456789, time.UTC)

// Run runs the conformance suite. newStore must return a fresh, empty store per call (a new
// schema or file) that stays valid until the test given to it ends.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Ping", testPing},
		{"Tenants", testTenants},
		{"TenantPatch", testTenantPatch},
		{"WebhookSecretRotation", testWebhookSecretRotation},
		{"APIKeys", testAPIKeys},
		{"CreateTaskRoundTrip", testCreateTaskRoundTrip},
		{"CreateTaskDuplicateID", testCreateTaskDuplicateID},
		{"Idempotency", testIdempotency},
		{"IdempotencyRace", testIdempotencyRace},
		{"IdempotencyReuseAfter24h", testIdempotencyReuse},
		{"TenantIsolation", testTenantIsolation},
		{"ListPagination", testListPagination},
		{"ListFilters", testListFilters},
		{"ListLimits", testListLimits},
		{"Outbox", testOutbox},
		{"StartTaskLease", testStartTaskLease},
		{"StartTaskUnknown", testStartTaskUnknown},
		{"Heartbeat", testHeartbeat},
		{"ReleaseTask", testReleaseTask},
		{"FinishTask", testFinishTask},
		{"FinishTaskRace", testFinishTaskRace},
		{"CancelTask", testCancelTask},
		{"FinishTaskCalls", testFinishTaskCalls},
		{"RecordCalls", testRecordCalls},
		{"CallsTenantIsolation", testCallsTenantIsolation},
		{"InvalidCalls", testInvalidCalls},
		{"Deliveries", testDeliveries},
		{"Usage", testUsage},
		{"TaskCache", testTaskCache},
		{"CachedCalls", testCachedCalls},
		{"Backups", testBackups},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

// fixture helpers

func ctx(t *testing.T) context.Context { return t.Context() }

func us(tm time.Time) time.Time { return tm.UTC().Truncate(time.Microsecond) }

func ptr[T any](v T) *T { return &v }

func newTenant(t *testing.T, s store.Store) *store.Tenant {
	t.Helper()
	ten := &store.Tenant{
		ID:            store.NewID("ten"),
		Name:          "acme " + t.Name(),
		Tier:          "pro",
		WebhookSecret: "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=",
		CreatedAt:     base,
	}
	require.NoError(t, s.CreateTenant(ctx(t), ten))
	return ten
}

// taskAt returns an unsaved task of the tenant created at 'at'.
func taskAt(tenantID string, at time.Time) *store.Task {
	return &store.Task{
		ID:          store.NewID("tsk"),
		TenantID:    tenantID,
		Agent:       "summarizer",
		Status:      store.StatusQueued,
		Input:       json.RawMessage(`{"text": "hello, world"}`),
		MaxAttempts: 3,
		Metadata:    map[string]string{},
		Quality:     "standard",
		TraceID:     "4bf92f3577b34da6a3ce929d0e0e4736",
		CreatedAt:   at,
	}
}

func createTask(t *testing.T, s store.Store, tk *store.Task) *store.Task {
	t.Helper()
	got, existed, err := s.CreateTask(ctx(t), tk)
	require.NoError(t, err)
	require.False(t, existed)
	require.Equal(t, tk.ID, got.ID)
	return got
}

func newTask(t *testing.T, s store.Store, tenantID string) *store.Task {
	t.Helper()
	return createTask(t, s, taskAt(tenantID, base))
}

// requireTaskEqual compares tasks field by field, JSON documents by meaning.
func requireTaskEqual(t *testing.T, want, got *store.Task) {
	t.Helper()
	require.NotNil(t, got)
	w, g := *want, *got
	jsonEq(t, w.Input, g.Input, "input")
	jsonEq(t, w.Output, g.Output, "output")
	jsonEq(t, w.Routing, g.Routing, "routing")
	w.Input, g.Input, w.Output, g.Output, w.Routing, g.Routing = nil, nil, nil, nil, nil, nil
	if len(w.Metadata) == 0 {
		w.Metadata = map[string]string{}
	}
	if len(g.Metadata) == 0 {
		g.Metadata = map[string]string{}
	}
	if len(w.RequestHash) == 0 {
		w.RequestHash = nil
	}
	if len(g.RequestHash) == 0 {
		g.RequestHash = nil
	}
	w.CreatedAt = us(w.CreatedAt)
	w.StartedAt, w.FinishedAt, w.PublishedAt, w.LeaseUntil = usp(w.StartedAt), usp(w.FinishedAt), usp(w.PublishedAt), usp(w.LeaseUntil)
	require.Equal(t, w, g)
}

func usp(tm *time.Time) *time.Time {
	if tm == nil {
		return nil
	}
	return ptr(us(*tm))
}

func jsonEq(t *testing.T, want, got json.RawMessage, what string) {
	t.Helper()
	if len(want) == 0 || len(got) == 0 {
		require.Equal(t, len(want) == 0, len(got) == 0, "%s: want %s, got %s", what, want, got)
		return
	}
	require.JSONEq(t, string(want), string(got), what)
}

// parallel runs fn n times at once and returns the results in call order.
func parallel[T any](n int, fn func(i int) T) []T {
	out := make([]T, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			out[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return out
}

func usageRecords(t *testing.T, s store.Store, taskID string) int {
	t.Helper()
	uc, ok := s.(UsageCounter)
	require.True(t, ok, "%T must implement storetest.UsageCounter", s)
	n, err := uc.UsageRecordCount(ctx(t), taskID)
	require.NoError(t, err)
	return n
}

func testPing(t *testing.T, s store.Store) {
	require.NoError(t, s.Ping(ctx(t)))
}

func testTenants(t *testing.T, s store.Store) {
	ten := newTenant(t, s)
	got, err := s.GetTenant(ctx(t), ten.ID)
	require.NoError(t, err)
	require.Equal(t, &store.Tenant{
		ID: ten.ID, Name: ten.Name, Tier: "pro", WebhookSecret: ten.WebhookSecret, CreatedAt: us(base),
	}, got)
	require.Equal(t, time.UTC, got.CreatedAt.Location())

	budget := &store.Tenant{ID: store.NewID("ten"), Name: "b", Tier: "free", MonthlyBudgetMicros: ptr[int64](50_000_000),
		WebhookSecret: "whsec_x", CreatedAt: base}
	require.NoError(t, s.CreateTenant(ctx(t), budget))
	got, err = s.GetTenant(ctx(t), budget.ID)
	require.NoError(t, err)
	require.Equal(t, ptr[int64](50_000_000), got.MonthlyBudgetMicros)

	dup := *ten
	dup.Name = "other"
	require.ErrorIs(t, s.CreateTenant(ctx(t), &dup), store.ErrConflict)

	_, err = s.GetTenant(ctx(t), "ten_unknown")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testTenantPatch(t *testing.T, s store.Store) {
	ten := newTenant(t, s)

	got, err := s.UpdateTenant(ctx(t), ten.ID, store.TenantPatch{MonthlyBudgetMicros: ptr[int64](5_000_000)})
	require.NoError(t, err)
	require.Equal(t, "pro", got.Tier, "a nil tier stays")
	require.Equal(t, ptr[int64](5_000_000), got.MonthlyBudgetMicros)

	got, err = s.UpdateTenant(ctx(t), ten.ID, store.TenantPatch{Tier: ptr("enterprise")})
	require.NoError(t, err)
	require.Equal(t, "enterprise", got.Tier)
	require.Equal(t, ptr[int64](5_000_000), got.MonthlyBudgetMicros, "a nil budget stays")

	got, err = s.UpdateTenant(ctx(t), ten.ID, store.TenantPatch{ClearBudget: true})
	require.NoError(t, err)
	require.Nil(t, got.MonthlyBudgetMicros)
	require.Equal(t, "enterprise", got.Tier)

	stored, err := s.GetTenant(ctx(t), ten.ID)
	require.NoError(t, err)
	require.Equal(t, got, stored)
	require.Equal(t, ten.Name, stored.Name)
	require.Equal(t, ten.WebhookSecret, stored.WebhookSecret)

	_, err = s.UpdateTenant(ctx(t), "ten_unknown", store.TenantPatch{Tier: ptr("free")})
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testWebhookSecretRotation(t *testing.T, s store.Store) {
	ten := newTenant(t, s)
	require.Equal(t, []string{ten.WebhookSecret}, ten.WebhookSecrets(base), "never rotated: one secret")

	at := base.Add(time.Hour)
	got, err := s.RotateWebhookSecret(ctx(t), ten.ID, "whsec_new", at)
	require.NoError(t, err)
	require.Equal(t, "whsec_new", got.WebhookSecret)
	require.Equal(t, ten.WebhookSecret, got.PreviousWebhookSecret)
	require.Equal(t, ptr(us(at)), got.WebhookSecretRotatedAt)
	stored, err := s.GetTenant(ctx(t), ten.ID)
	require.NoError(t, err)
	require.Equal(t, got, stored)

	require.Equal(t, []string{"whsec_new", ten.WebhookSecret}, stored.WebhookSecrets(at.Add(23*time.Hour)),
		"within a day both secrets sign")
	require.Equal(t, []string{"whsec_new"}, stored.WebhookSecrets(at.Add(store.WebhookSecretOverlap)),
		"a day later only the new one")

	got, err = s.RotateWebhookSecret(ctx(t), ten.ID, "whsec_newer", at.Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, []string{"whsec_newer", "whsec_new"}, got.WebhookSecrets(at.Add(2*time.Minute)),
		"a second rotation keeps the secret it replaced, not the first")

	other := newTenant(t, s)
	stored, err = s.GetTenant(ctx(t), other.ID)
	require.NoError(t, err)
	require.Equal(t, other.WebhookSecret, stored.WebhookSecret, "another tenant's secret is untouched")
	require.Empty(t, stored.PreviousWebhookSecret)

	_, err = s.RotateWebhookSecret(ctx(t), "ten_unknown", "whsec_x", at)
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testAPIKeys(t *testing.T, s store.Store) {
	ten := newTenant(t, s)
	hash := []byte("0123456789abcdef0123456789abcdef")
	k := &store.APIKey{ID: store.NewID("key"), TenantID: ten.ID, Name: "ci", Prefix: "ak_abcd", Hash: hash, CreatedAt: base}
	require.NoError(t, s.CreateAPIKey(ctx(t), k))
	other := &store.APIKey{ID: store.NewID("key"), TenantID: ten.ID, Name: "", Prefix: "ak_efgh",
		Hash: []byte("fedcba9876543210fedcba9876543210"), CreatedAt: base}
	require.NoError(t, s.CreateAPIKey(ctx(t), other))

	got, err := s.APIKeyByHash(ctx(t), hash)
	require.NoError(t, err)
	require.Equal(t, &store.APIKey{ID: k.ID, TenantID: ten.ID, Name: "ci", Prefix: "ak_abcd", Hash: hash, CreatedAt: us(base)}, got)

	_, err = s.APIKeyByHash(ctx(t), []byte("no such key hash................"))
	require.ErrorIs(t, err, store.ErrNotFound)

	dup := &store.APIKey{ID: store.NewID("key"), TenantID: ten.ID, Prefix: "ak_abcd", Hash: hash, CreatedAt: base}
	require.ErrorIs(t, s.CreateAPIKey(ctx(t), dup), store.ErrConflict, "hashes are unique")

	before := time.Now().Add(-time.Second)
	revoked, err := s.RevokeAPIKey(ctx(t), k.ID)
	require.NoError(t, err)
	require.Equal(t, k.ID, revoked.ID)
	require.NotNil(t, revoked.RevokedAt)
	require.WithinDuration(t, time.Now(), *revoked.RevokedAt, time.Minute)
	require.True(t, revoked.RevokedAt.After(before))

	_, err = s.APIKeyByHash(ctx(t), hash)
	require.ErrorIs(t, err, store.ErrNotFound, "a revoked key stops working")
	_, err = s.RevokeAPIKey(ctx(t), k.ID)
	require.ErrorIs(t, err, store.ErrNotFound, "revoking twice")
	_, err = s.RevokeAPIKey(ctx(t), "key_unknown")
	require.ErrorIs(t, err, store.ErrNotFound)

	got, err = s.APIKeyByHash(ctx(t), other.Hash)
	require.NoError(t, err, "the tenant's other key still works")
	require.Equal(t, other.ID, got.ID)
}

func testCreateTaskRoundTrip(t *testing.T, s store.Store) {
	ten := newTenant(t, s)
	tk := &store.Task{
		ID:             store.NewID("tsk"),
		TenantID:       ten.ID,
		Agent:          "summarizer",
		Status:         store.StatusQueued,
		Input:          json.RawMessage(`{"text": "héllo \"world\"", "n": [1, 2.5, null]}`),
		MaxAttempts:    5,
		Metadata:       map[string]string{"order": "42", "team": "a b"},
		WebhookURL:     "https://example.com/hook",
		Quality:        "premium",
		MaxCostMicros:  ptr[int64](50_000),
		IdempotencyKey: "key-1",
		RequestHash:    []byte{0xde, 0xad, 0xbe, 0xef},
		TraceID:        "4bf92f3577b34da6a3ce929d0e0e4736",
		CreatedAt:      base,
		Cache:          true,
	}
	want := *tk
	got, existed, err := s.CreateTask(ctx(t), tk)
	require.NoError(t, err)
	require.False(t, existed)
	requireTaskEqual(t, &want, got)

	stored, err := s.GetTask(ctx(t), ten.ID, tk.ID)
	require.NoError(t, err)
	requireTaskEqual(t, &want, stored)
	require.Equal(t, time.UTC, stored.CreatedAt.Location())

	loaded, err := s.LoadTask(ctx(t), tk.ID)
	require.NoError(t, err)
	requireTaskEqual(t, &want, loaded)

	// The optional fields empty.
	bare := &store.Task{ID: store.NewID("tsk"), TenantID: ten.ID, Agent: "echo", Input: json.RawMessage(`{}`), CreatedAt: base}
	wantBare := *bare
	wantBare.Status = store.StatusQueued
	createTask(t, s, bare)
	stored, err = s.GetTask(ctx(t), ten.ID, bare.ID)
	require.NoError(t, err)
	requireTaskEqual(t, &wantBare, stored)
	require.NotNil(t, stored.Metadata, "metadata is an empty map, never nil")
	require.Nil(t, stored.Error)
	require.Nil(t, stored.Output)
	require.Nil(t, stored.Routing, "no routing until FinishTask writes one")

	_, err = s.GetTask(ctx(t), ten.ID, "tsk_unknown")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.LoadTask(ctx(t), "tsk_unknown")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testCreateTaskDuplicateID(t *testing.T, s store.Store) {
	ten := newTenant(t, s)
	tk := newTask(t, s, ten.ID)
	dup := taskAt(ten.ID, base)
	dup.ID = tk.ID
	_, _, err := s.CreateTask(ctx(t), dup)
	require.ErrorIs(t, err, store.ErrConflict)
}

func testIdempotency(t *testing.T, s store.Store) {
	ten := newTenant(t, s)
	other := newTenant(t, s)

	first := taskAt(ten.ID, base)
	first.IdempotencyKey = "order-42"
	first.RequestHash = []byte{1, 2, 3}
	createTask(t, s, first)

	again := taskAt(ten.ID, base.Add(time.Hour))
	again.IdempotencyKey = "order-42"
	again.RequestHash = []byte{9, 9, 9}
	got, existed, err := s.CreateTask(ctx(t), again)
	require.NoError(t, err)
	require.True(t, existed)
	require.Equal(t, first.ID, got.ID, "the first task comes back")
	require.Equal(t, []byte{1, 2, 3}, got.RequestHash, "with its own request hash, for the caller to compare")
	_, err = s.GetTask(ctx(t), ten.ID, again.ID)
	require.ErrorIs(t, err, store.ErrNotFound, "nothing was inserted")

	// Another tenant's key space is its own.
	theirs := taskAt(other.ID, base)
	theirs.IdempotencyKey = "order-42"
	createTask(t, s, theirs)

	// A task without a key is always new.
	createTask(t, s, taskAt(ten.ID, base))
	createTask(t, s, taskAt(ten.ID, base))

	page, _, err := s.ListTasks(ctx(t), ten.ID, store.TaskFilter{Limit: 100})
	require.NoError(t, err)
	require.Len(t, page, 3)
}

func testIdempotencyRace(t *testing.T, s store.Store) {
	ten := newTenant(t, s)
	type result struct {
		task    *store.Task
		existed bool
		err     error
	}
	const n = 16
	results := parallel(n, func(i int) result {
		tk := taskAt(ten.ID, base.Add(time.Duration(i)*time.Millisecond))
		tk.IdempotencyKey = "same-key"
		got, existed, err := s.CreateTask(context.Background(), tk)
		return result{got, existed, err}
	})
	created := 0
	var winner string
	for _, r := range results {
		require.NoError(t, r.err)
		if !r.existed {
			created++
			winner = r.task.ID
		}
	}
	require.Equal(t, 1, created, "exactly one call creates the task")
	for _, r := range results {
		require.Equal(t, winner, r.task.ID, "every call returns the one task")
	}
	page, _, err := s.ListTasks(ctx(t), ten.ID, store.TaskFilter{Limit: 100})
	require.NoError(t, err)
	require.Len(t, page, 1)
}

func testIdempotencyReuse(t *testing.T, s store.Store) {
	ten := newTenant(t, s)
	mk := func(at time.Time) *store.Task {
		tk := taskAt(ten.ID, at)
		tk.IdempotencyKey = "nightly"
		return tk
	}
	first := createTask(t, s, mk(base))

	got, existed, err := s.CreateTask(ctx(t), mk(base.Add(24*time.Hour-time.Second)))
	require.NoError(t, err)
	require.True(t, existed, "within 24 hours the key is taken")
	require.Equal(t, first.ID, got.ID)

	second := mk(base.Add(24*time.Hour + time.Second))
	got, existed, err = s.CreateTask(ctx(t), second)
	require.NoError(t, err)
	require.False(t, existed, "after 24 hours the key is free again")
	require.Equal(t, second.ID, got.ID)

	got, existed, err = s.CreateTask(ctx(t), mk(base.Add(25*time.Hour)))
	require.NoError(t, err)
	require.True(t, existed, "and the window restarts from the new task")
	require.Equal(t, second.ID, got.ID)

	_, err = s.GetTask(ctx(t), ten.ID, first.ID)
	require.NoError(t, err, "the old task stays")
}

func testTenantIsolation(t *testing.T, s store.Store) {
	mine := newTenant(t, s)
	theirs := newTenant(t, s)
	tk := taskAt(theirs.ID, base)
	tk.Metadata = map[string]string{"k": "v"}
	createTask(t, s, tk)
	require.NoError(t, s.RecordDelivery(ctx(t), delivery(theirs.ID, tk.ID, 1, base)))

	_, err := s.GetTask(ctx(t), mine.ID, tk.ID)
	require.ErrorIs(t, err, store.ErrNotFound)

	for _, f := range []store.TaskFilter{{}, {Status: store.StatusQueued}, {Agent: tk.Agent}, {Metadata: map[string]string{"k": "v"}}} {
		page, next, err := s.ListTasks(ctx(t), mine.ID, f)
		require.NoError(t, err)
		require.Empty(t, page, "filter %+v", f)
		require.Empty(t, next)
	}

	_, err = s.CancelTask(ctx(t), mine.ID, tk.ID, base)
	require.ErrorIs(t, err, store.ErrNotFound)
	stored, err := s.GetTask(ctx(t), theirs.ID, tk.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusQueued, stored.Status, "the other tenant's cancel changed nothing")
	require.False(t, stored.CancelRequested)

	dl, err := s.ListDeliveries(ctx(t), mine.ID, tk.ID)
	if err == nil {
		require.Empty(t, dl)
	} else {
		require.ErrorIs(t, err, store.ErrNotFound)
	}
	dl, err = s.ListDeliveries(ctx(t), theirs.ID, tk.ID)
	require.NoError(t, err)
	require.Len(t, dl, 1)

	// One Idempotency-Key in two tenants names two tasks: a key is the tenant's own.
	a, b := taskAt(mine.ID, base), taskAt(theirs.ID, base)
	a.IdempotencyKey, b.IdempotencyKey = "shared-key", "shared-key"
	a.RequestHash, b.RequestHash = []byte("a"), []byte("b")
	gotA, existed, err := s.CreateTask(ctx(t), a)
	require.NoError(t, err)
	require.False(t, existed)
	gotB, existed, err := s.CreateTask(ctx(t), b)
	require.NoError(t, err)
	require.False(t, existed, "the other tenant's key does not make this submit a replay")
	require.Equal(t, theirs.ID, gotB.TenantID)
	require.NotEqual(t, gotA.ID, gotB.ID)
}

func testListPagination(t *testing.T, s store.Store) {
	ten := newTenant(t, s)
	// 25 tasks in groups of 3 sharing a created_at, so page boundaries fall inside groups and
	// the id must break ties.
	var ids []string
	for i := range 25 {
		tk := createTask(t, s, taskAt(ten.ID, base.Add(time.Duration(i/3)*time.Second)))
		ids = append(ids, tk.ID)
	}
	var pages [][]*store.Task
	cursor := ""
	for range 10 {
		page, next, err := s.ListTasks(ctx(t), ten.ID, store.TaskFilter{Limit: 10, Cursor: cursor})
		require.NoError(t, err)
		pages = append(pages, page)
		if next == "" {
			break
		}
		cursor = next
	}
	require.Len(t, pages, 3)
	require.Len(t, pages[0], 10)
	require.Len(t, pages[1], 10)
	require.Len(t, pages[2], 5)

	var got []*store.Task
	for _, p := range pages {
		got = append(got, p...)
	}
	seen := map[string]bool{}
	for i, tk := range got {
		require.False(t, seen[tk.ID], "duplicate %s", tk.ID)
		seen[tk.ID] = true
		if i > 0 {
			prev := got[i-1]
			newer := prev.CreatedAt.After(tk.CreatedAt) ||
				(prev.CreatedAt.Equal(tk.CreatedAt) && prev.ID > tk.ID)
			require.True(t, newer, "newest first: %s@%s before %s@%s", prev.ID, prev.CreatedAt, tk.ID, tk.CreatedAt)
		}
	}
	for _, id := range ids {
		require.True(t, seen[id], "missing %s", id)
	}
	require.True(t, got[0].CreatedAt.Equal(us(base.Add(8*time.Second))))

	// An exact multiple of the limit ends without an empty extra page.
	page, next, err := s.ListTasks(ctx(t), ten.ID, store.TaskFilter{Limit: 5, Cursor: ""})
	require.NoError(t, err)
	require.Len(t, page, 5)
	for range 4 {
		page, next, err = s.ListTasks(ctx(t), ten.ID, store.TaskFilter{Limit: 5, Cursor: next})
		require.NoError(t, err)
		require.Len(t, page, 5)
	}
	require.Empty(t, next, "the last full page has no next cursor")
}

func testListFilters(t *testing.T, s store.Store) {
	ten := newTenant(t, s)
	mk := func(agent string, meta map[string]string, i int) *store.Task {
		tk := taskAt(ten.ID, base.Add(time.Duration(i)*time.Second))
		tk.Agent, tk.Metadata = agent, meta
		return createTask(t, s, tk)
	}
	a := mk("summarizer", map[string]string{"order": "42", "team": "x"}, 0)
	b := mk("summarizer", map[string]string{"order": "43", "team": "x"}, 1)
	c := mk("sentiment", map[string]string{"order": "42"}, 2)
	d := mk("sentiment", nil, 3)
	_, err := s.StartTask(ctx(t), b.ID, base, base.Add(time.Minute))
	require.NoError(t, err)
	_, _, err = s.FinishTask(ctx(t), c.ID, store.Result{Status: store.StatusFailed,
		Error: &store.TaskError{Code: "provider_error", Message: "boom"}, FinishedAt: base})
	require.NoError(t, err)

	ids := func(f store.TaskFilter) []string {
		t.Helper()
		page, _, err := s.ListTasks(ctx(t), ten.ID, f)
		require.NoError(t, err)
		out := []string{}
		for _, tk := range page {
			out = append(out, tk.ID)
		}
		return out
	}
	require.Equal(t, []string{d.ID, c.ID, b.ID, a.ID}, ids(store.TaskFilter{}))
	require.Equal(t, []string{d.ID, a.ID}, ids(store.TaskFilter{Status: store.StatusQueued}))
	require.Equal(t, []string{b.ID}, ids(store.TaskFilter{Status: store.StatusRunning}))
	require.Equal(t, []string{c.ID}, ids(store.TaskFilter{Status: store.StatusFailed}))
	require.Equal(t, []string{}, ids(store.TaskFilter{Status: store.StatusSucceeded}))
	require.Equal(t, []string{d.ID, c.ID}, ids(store.TaskFilter{Agent: "sentiment"}))
	require.Equal(t, []string{c.ID, a.ID}, ids(store.TaskFilter{Metadata: map[string]string{"order": "42"}}))
	require.Equal(t, []string{a.ID}, ids(store.TaskFilter{Metadata: map[string]string{"order": "42", "team": "x"}}),
		"every pair must match")
	require.Equal(t, []string{b.ID, a.ID}, ids(store.TaskFilter{Metadata: map[string]string{"team": "x"}}))
	require.Equal(t, []string{}, ids(store.TaskFilter{Metadata: map[string]string{"order": "4"}}), "values match exactly")
	require.Equal(t, []string{c.ID}, ids(store.TaskFilter{Agent: "sentiment", Status: store.StatusFailed,
		Metadata: map[string]string{"order": "42"}}))
	require.Equal(t, []string{a.ID}, ids(store.TaskFilter{Agent: "summarizer", Status: store.StatusQueued}))

	// Filters hold across pages.
	page, next, err := s.ListTasks(ctx(t), ten.ID, store.TaskFilter{Metadata: map[string]string{"order": "42"}, Limit: 1})
	require.NoError(t, err)
	require.Equal(t, c.ID, page[0].ID)
	require.NotEmpty(t, next)
	page, next, err = s.ListTasks(ctx(t), ten.ID, store.TaskFilter{Metadata: map[string]string{"order": "42"}, Limit: 1, Cursor: next})
	require.NoError(t, err)
	require.Len(t, page, 1)
	require.Equal(t, a.ID, page[0].ID)
	require.Empty(t, next)
}

func testListLimits(t *testing.T, s store.Store) {
	ten := newTenant(t, s)
	for i := range 105 {
		createTask(t, s, taskAt(ten.ID, base.Add(time.Duration(i)*time.Millisecond)))
	}
	page, next, err := s.ListTasks(ctx(t), ten.ID, store.TaskFilter{Limit: 1000})
	require.NoError(t, err)
	require.Len(t, page, 100, "limit is clamped to 100")
	require.NotEmpty(t, next)
	page, next, err = s.ListTasks(ctx(t), ten.ID, store.TaskFilter{Limit: 1000, Cursor: next})
	require.NoError(t, err)
	require.Len(t, page, 5)
	require.Empty(t, next)

	page, _, err = s.ListTasks(ctx(t), ten.ID, store.TaskFilter{Limit: -3})
	require.NoError(t, err)
	require.Len(t, page, 1, "limit is clamped to 1")

	page, _, err = s.ListTasks(ctx(t), ten.ID, store.TaskFilter{})
	require.NoError(t, err)
	require.NotEmpty(t, page, "no limit gives a default page")
	require.LessOrEqual(t, len(page), 100)

	_, _, err = s.ListTasks(ctx(t), ten.ID, store.TaskFilter{Cursor: "not a cursor!"})
	require.Error(t, err, "a cursor the store did not issue")
}

func testOutbox(t *testing.T, s store.Store) {
	ten := newTenant(t, s)
	now := base.Add(time.Hour)
	old1 := createTask(t, s, taskAt(ten.ID, now.Add(-3*time.Minute)))
	old2 := createTask(t, s, taskAt(ten.ID, now.Add(-2*time.Minute)))
	old3 := createTask(t, s, taskAt(ten.ID, now.Add(-90*time.Second)))
	started := createTask(t, s, taskAt(ten.ID, now.Add(-100*time.Second)))
	canceled := createTask(t, s, taskAt(ten.ID, now.Add(-110*time.Second)))
	fresh := createTask(t, s, taskAt(ten.ID, now.Add(time.Second)))

	_, err := s.StartTask(ctx(t), started.ID, now, now.Add(time.Minute))
	require.NoError(t, err)
	_, err = s.CancelTask(ctx(t), ten.ID, canceled.ID, now)
	require.NoError(t, err)

	ids := func(before time.Time, limit int) []string {
		t.Helper()
		got, err := s.Unpublished(ctx(t), before, limit)
		require.NoError(t, err)
		out := []string{}
		for _, tk := range got {
			out = append(out, tk.ID)
		}
		return out
	}
	require.Equal(t, []string{old1.ID, old2.ID, old3.ID}, ids(now, 10), "oldest first, queued and unpublished only")
	require.Equal(t, []string{old1.ID, old2.ID}, ids(now, 2))
	require.Equal(t, []string{old1.ID, old2.ID, old3.ID, fresh.ID}, ids(now.Add(time.Minute), 10))

	stored, err := s.LoadTask(ctx(t), started.ID)
	require.NoError(t, err)
	require.NotNil(t, stored.PublishedAt, "StartTask marks the task published")

	require.NoError(t, s.MarkPublished(ctx(t), nil, now))
	require.NoError(t, s.MarkPublished(ctx(t), []string{old1.ID, old3.ID, "tsk_unknown"}, now))
	require.Equal(t, []string{old2.ID}, ids(now, 10))
	stored, err = s.LoadTask(ctx(t), old1.ID)
	require.NoError(t, err)
	require.Equal(t, ptr(us(now)), stored.PublishedAt)
}

func testStartTaskLease(t *testing.T, s store.Store) {
	ten := newTenant(t, s)
	tk := newTask(t, s, ten.ID)
	t0 := base.Add(time.Minute)

	got, err := s.StartTask(ctx(t), tk.ID, t0, t0.Add(30*time.Second))
	require.NoError(t, err)
	require.Equal(t, store.StatusRunning, got.Status)
	require.Equal(t, 1, got.Attempts)
	require.Equal(t, ptr(us(t0)), got.StartedAt)
	require.Equal(t, ptr(us(t0.Add(30*time.Second))), got.LeaseUntil)
	require.Equal(t, ptr(us(t0)), got.PublishedAt)
	stored, err := s.LoadTask(ctx(t), tk.ID)
	require.NoError(t, err)
	requireTaskEqual(t, got, stored)

	// Another delivery while the lease is live.
	held, err := s.StartTask(ctx(t), tk.ID, t0.Add(10*time.Second), t0.Add(time.Minute))
	require.ErrorIs(t, err, store.ErrTaskNotQueued)
	require.NotNil(t, held, "ErrTaskNotQueued comes with the task")
	require.Equal(t, store.StatusRunning, held.Status)
	require.Equal(t, 1, held.Attempts, "a refused start counts no attempt")
	require.Equal(t, ptr(us(t0.Add(30*time.Second))), held.LeaseUntil)

	// The worker died: the lease expired before 'at'.
	t1 := t0.Add(31 * time.Second)
	got, err = s.StartTask(ctx(t), tk.ID, t1, t1.Add(30*time.Second))
	require.NoError(t, err)
	require.Equal(t, store.StatusRunning, got.Status)
	require.Equal(t, 2, got.Attempts)
	require.Equal(t, ptr(us(t0)), got.StartedAt, "the first start's time stays")
	require.Equal(t, ptr(us(t1.Add(30*time.Second))), got.LeaseUntil)

	_, applied, err := s.FinishTask(ctx(t), tk.ID, store.Result{Status: store.StatusSucceeded, Output: json.RawMessage(`{}`), FinishedAt: t1})
	require.NoError(t, err)
	require.True(t, applied)
	_, err = s.StartTask(ctx(t), tk.ID, t1.Add(time.Hour), t1.Add(2*time.Hour))
	require.ErrorIs(t, err, store.ErrTaskFinished)

	// Concurrent deliveries of one queued task: one start wins.
	race := newTask(t, s, ten.ID)
	errs := parallel(8, func(int) error {
		_, err := s.StartTask(context.Background(), race.ID, t0, t0.Add(time.Minute))
		return err
	})
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		} else {
			require.ErrorIs(t, err, store.ErrTaskNotQueued)
		}
	}
	require.Equal(t, 1, won)
	stored, err = s.LoadTask(ctx(t), race.ID)
	require.NoError(t, err)
	require.Equal(t, 1, stored.Attempts)
}

func testStartTaskUnknown(t *testing.T, s store.Store) {
	_, err := s.StartTask(ctx(t), "tsk_unknown", base, base.Add(time.Minute))
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.Heartbeat(ctx(t), "tsk_unknown", base)
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, s.ReleaseTask(ctx(t), "tsk_unknown"), store.ErrNotFound)
	_, _, err = s.FinishTask(ctx(t), "tsk_unknown", store.Result{Status: store.StatusSucceeded, FinishedAt: base})
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.CancelTask(ctx(t), "ten_unknown", "tsk_unknown", base)
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testHeartbeat(t *testing.T, s store.Store) {
	ten := newTenant(t, s)
	tk := newTask(t, s, ten.ID)

	_, err := s.Heartbeat(ctx(t), tk.ID, base.Add(time.Minute))
	require.ErrorIs(t, err, store.ErrTaskFinished, "a queued task is not running")

	_, err = s.StartTask(ctx(t), tk.ID, base, base.Add(30*time.Second))
	require.NoError(t, err)
	cancel, err := s.Heartbeat(ctx(t), tk.ID, base.Add(90*time.Second))
	require.NoError(t, err)
	require.False(t, cancel)
	stored, err := s.LoadTask(ctx(t), tk.ID)
	require.NoError(t, err)
	require.Equal(t, ptr(us(base.Add(90*time.Second))), stored.LeaseUntil, "the lease is extended")

	// The extended lease keeps other deliveries out.
	_, err = s.StartTask(ctx(t), tk.ID, base.Add(60*time.Second), base.Add(2*time.Minute))
	require.ErrorIs(t, err, store.ErrTaskNotQueued)

	canceled, err := s.CancelTask(ctx(t), ten.ID, tk.ID, base.Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, store.StatusRunning, canceled.Status)
	cancel, err = s.Heartbeat(ctx(t), tk.ID, base.Add(2*time.Minute))
	require.NoError(t, err)
	require.True(t, cancel, "the heartbeat reports the cancel request")

	_, _, err = s.FinishTask(ctx(t), tk.ID, store.Result{Status: store.StatusCanceled,
		Error: &store.TaskError{Code: "canceled", Message: "canceled"}, FinishedAt: base.Add(2 * time.Minute)})
	require.NoError(t, err)
	_, err = s.Heartbeat(ctx(t), tk.ID, base.Add(3*time.Minute))
	require.ErrorIs(t, err, store.ErrTaskFinished)
}

func testReleaseTask(t *testing.T, s store.Store) {
	ten := newTenant(t, s)
	tk := newTask(t, s, ten.ID)
	_, err := s.StartTask(ctx(t), tk.ID, base, base.Add(time.Minute))
	require.NoError(t, err)

	require.NoError(t, s.ReleaseTask(ctx(t), tk.ID))
	stored, err := s.LoadTask(ctx(t), tk.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusQueued, stored.Status)
	require.Equal(t, 0, stored.Attempts, "the attempt is given back")
	require.Nil(t, stored.LeaseUntil)

	// Another worker takes it at once, live lease or not.
	got, err := s.StartTask(ctx(t), tk.ID, base.Add(time.Second), base.Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, 1, got.Attempts)

	// A second attempt released keeps the first.
	_, err = s.StartTask(ctx(t), tk.ID, base.Add(2*time.Minute), base.Add(3*time.Minute))
	require.NoError(t, err)
	require.NoError(t, s.ReleaseTask(ctx(t), tk.ID))
	stored, err = s.LoadTask(ctx(t), tk.ID)
	require.NoError(t, err)
	require.Equal(t, 1, stored.Attempts)
	require.Equal(t, ptr(us(base.Add(time.Second))), stored.StartedAt)

	_, err = s.StartTask(ctx(t), tk.ID, base.Add(4*time.Minute), base.Add(5*time.Minute))
	require.NoError(t, err)
	_, _, err = s.FinishTask(ctx(t), tk.ID, store.Result{Status: store.StatusSucceeded, Output: json.RawMessage(`1`), FinishedAt: base.Add(5 * time.Minute)})
	require.NoError(t, err)
	require.ErrorIs(t, s.ReleaseTask(ctx(t), tk.ID), store.ErrTaskFinished)
}

func testFinishTask(t *testing.T, s store.Store) {
	ten := newTenant(t, s)
	tk := newTask(t, s, ten.ID)
	started, err := s.StartTask(ctx(t), tk.ID, base, base.Add(time.Minute))
	require.NoError(t, err)

	_, _, err = s.FinishTask(ctx(t), tk.ID, store.Result{Status: store.StatusRunning, FinishedAt: base})
	require.Error(t, err, "a non-terminal result is refused")

	end := base.Add(10 * time.Second)
	r := store.Result{
		Status: store.StatusSucceeded, Output: json.RawMessage(`{"summary": "hi"}`),
		Model: "gpt-4o-mini", Provider: "openai", InputTokens: 1200, OutputTokens: 300, CostMicros: 360,
		FinishedAt: end,
	}
	got, applied, err := s.FinishTask(ctx(t), tk.ID, r)
	require.NoError(t, err)
	require.True(t, applied)
	want := *started
	want.Status, want.Output, want.Model, want.Provider = store.StatusSucceeded, r.Output, "gpt-4o-mini", "openai"
	want.InputTokens, want.OutputTokens, want.CostMicros = 1200, 300, 360
	want.FinishedAt = ptr(us(end))
	want.LeaseUntil = got.LeaseUntil // a store may keep or clear the lease of a finished task
	requireTaskEqual(t, &want, got)
	stored, err := s.GetTask(ctx(t), ten.ID, tk.ID)
	require.NoError(t, err)
	requireTaskEqual(t, got, stored)
	require.Equal(t, 1, usageRecords(t, s, tk.ID))

	// A second finish changes nothing and says so.
	again, applied, err := s.FinishTask(ctx(t), tk.ID, store.Result{Status: store.StatusFailed,
		Error: &store.TaskError{Code: "late", Message: "late"}, InputTokens: 9, CostMicros: 9, FinishedAt: end.Add(time.Hour)})
	require.NoError(t, err)
	require.False(t, applied)
	requireTaskEqual(t, got, again)
	require.Equal(t, 1, usageRecords(t, s, tk.ID))

	// A queued task can fail directly (a poison task), with its error.
	poison := newTask(t, s, ten.ID)
	got, applied, err = s.FinishTask(ctx(t), poison.ID, store.Result{Status: store.StatusFailed,
		Error: &store.TaskError{Code: "max_attempts", Message: "gave up after 3 attempts"}, FinishedAt: end})
	require.NoError(t, err)
	require.True(t, applied)
	require.Equal(t, store.StatusFailed, got.Status)
	require.Equal(t, &store.TaskError{Code: "max_attempts", Message: "gave up after 3 attempts"}, got.Error)
	require.Nil(t, got.Output)
	require.Equal(t, "", got.Model)
	require.Equal(t, 1, usageRecords(t, s, poison.ID))
}

func testFinishTaskRace(t *testing.T, s store.Store) {
	ten := newTenant(t, s)
	tk := newTask(t, s, ten.ID)
	_, err := s.StartTask(ctx(t), tk.ID, base, base.Add(time.Minute))
	require.NoError(t, err)
	type result struct {
		task    *store.Task
		applied bool
		err     error
	}
	const n = 16
	results := parallel(n, func(i int) result {
		model := fmt.Sprintf("sim-%d", i)
		got, applied, err := s.FinishTask(context.Background(), tk.ID, store.Result{
			Status: store.StatusSucceeded, Output: json.RawMessage(fmt.Sprintf(`{"worker": %d}`, i)),
			Model: "sim", Provider: "sim", InputTokens: int64(100 + i), OutputTokens: int64(10 + i),
			CostMicros: int64(1000 + i), FinishedAt: base.Add(time.Duration(i) * time.Second),
			Routing: json.RawMessage(fmt.Sprintf(`{"worker": %d}`, i)),
			Calls: []store.LLMCall{
				call(tk, 1, 1, model, "rate_limited", base), call(tk, 1, 2, model, "ok", base.Add(time.Second)),
			},
		})
		return result{got, applied, err}
	})
	winner := -1
	for i, r := range results {
		require.NoError(t, r.err)
		if r.applied {
			require.Equal(t, -1, winner, "a second FinishTask applied")
			winner = i
		}
	}
	require.NotEqual(t, -1, winner, "no FinishTask applied")
	w := results[winner].task
	require.Equal(t, int64(100+winner), w.InputTokens)
	require.Equal(t, int64(1000+winner), w.CostMicros)
	for _, r := range results {
		requireTaskEqual(t, w, r.task)
	}
	stored, err := s.LoadTask(ctx(t), tk.ID)
	require.NoError(t, err)
	requireTaskEqual(t, w, stored)
	require.Equal(t, 1, usageRecords(t, s, tk.ID), "usage is recorded once")
	jsonEq(t, json.RawMessage(fmt.Sprintf(`{"worker": %d}`, winner)), stored.Routing, "the winner's routing")
	calls, err := s.ListCalls(ctx(t), ten.ID, tk.ID)
	require.NoError(t, err)
	require.Len(t, calls, 2, "the calls are recorded once")
	for _, c := range calls {
		require.Equal(t, fmt.Sprintf("sim-%d", winner), c.Model, "only the applied finish's calls are recorded")
	}
}

// call returns a model call of the task's attempt.
func call(tk *store.Task, attempt, seq int, model, outcome string, at time.Time) store.LLMCall {
	c := store.LLMCall{
		TaskID: tk.ID, TenantID: tk.TenantID, Attempt: attempt, Seq: seq, Provider: "openai", Model: model,
		InputTokens: int64(100 * seq), OutputTokens: int64(10 * seq), CostMicros: int64(7 * seq),
		LatencyMS: int64(250 + seq), Outcome: outcome, At: at,
	}
	if outcome != "ok" {
		c.Error = "openai: " + outcome
		c.OutputTokens, c.CostMicros = 0, 0
	}
	return c
}

// wantCalls is calls as a store reads them back: times in UTC, to the microsecond.
func wantCalls(calls ...store.LLMCall) []store.LLMCall {
	out := make([]store.LLMCall, len(calls))
	for i, c := range calls {
		c.At = us(c.At)
		out[i] = c
	}
	return out
}

// testFinishTaskCalls: FinishTask stores the routing on the task and the attempt's calls,
// exactly once: a finish that does not apply writes neither.
func testFinishTaskCalls(t *testing.T, s store.Store) {
	ten := newTenant(t, s)
	tk := newTask(t, s, ten.ID)
	started, err := s.StartTask(ctx(t), tk.ID, base, base.Add(time.Minute))
	require.NoError(t, err)

	routing := json.RawMessage(`{"complexity": "high", "quality_floor": "standard",
		"candidates": [{"model": "gpt-4o", "dropped": ""}, {"model": "tiny", "dropped": "below_quality"}]}`)
	c1 := call(started, 1, 1, "gpt-4o", "rate_limited", base.Add(time.Second+time.Nanosecond))
	c2 := call(started, 1, 2, "gpt-4o-mini", "ok", base.Add(2*time.Second))
	end := base.Add(3 * time.Second)
	done, applied, err := s.FinishTask(ctx(t), tk.ID, store.Result{
		Status: store.StatusSucceeded, Output: json.RawMessage(`{"summary": "hi"}`), Model: "gpt-4o-mini",
		Provider: "openai", InputTokens: 300, OutputTokens: 20, CostMicros: 14, FinishedAt: end,
		Routing: routing, Calls: []store.LLMCall{c1, c2},
	})
	require.NoError(t, err)
	require.True(t, applied)
	jsonEq(t, routing, done.Routing, "the finished task carries its routing")

	// Every read returns it.
	got, err := s.GetTask(ctx(t), ten.ID, tk.ID)
	require.NoError(t, err)
	requireTaskEqual(t, done, got)
	got, err = s.LoadTask(ctx(t), tk.ID)
	require.NoError(t, err)
	requireTaskEqual(t, done, got)
	page, _, err := s.ListTasks(ctx(t), ten.ID, store.TaskFilter{})
	require.NoError(t, err)
	require.Len(t, page, 1)
	requireTaskEqual(t, done, page[0])
	jsonEq(t, routing, got.API().Routing, "the API's task has it as routing")

	calls, err := s.ListCalls(ctx(t), ten.ID, tk.ID)
	require.NoError(t, err)
	require.Equal(t, wantCalls(c1, c2), calls, "both calls, in order, every field")
	require.Equal(t, time.UTC, calls[0].At.Location())

	// A second finish is not applied: no routing change, no call written.
	again, applied, err := s.FinishTask(ctx(t), tk.ID, store.Result{
		Status: store.StatusFailed, Error: &store.TaskError{Code: "late", Message: "late"}, FinishedAt: end.Add(time.Hour),
		Routing: json.RawMessage(`{"late": true}`),
		Calls:   []store.LLMCall{call(started, 1, 3, "late", "ok", end), call(started, 2, 1, "late", "ok", end)},
	})
	require.NoError(t, err)
	require.False(t, applied)
	requireTaskEqual(t, done, again)
	calls, err = s.ListCalls(ctx(t), ten.ID, tk.ID)
	require.NoError(t, err)
	require.Equal(t, wantCalls(c1, c2), calls, "a finish that did not apply wrote no calls")

	// A finish without routing or calls leaves both empty.
	bare := newTask(t, s, ten.ID)
	done, applied, err = s.FinishTask(ctx(t), bare.ID, store.Result{Status: store.StatusFailed,
		Error: &store.TaskError{Code: "invalid_agent", Message: "no such agent"}, FinishedAt: end})
	require.NoError(t, err)
	require.True(t, applied)
	require.Nil(t, done.Routing)
	require.Nil(t, done.API().Routing)
	calls, err = s.ListCalls(ctx(t), ten.ID, bare.ID)
	require.NoError(t, err)
	require.NotNil(t, calls)
	require.Empty(t, calls)
}

// testRecordCalls: the calls of an attempt that ends in a retry are stored once however often
// they are recorded, and the finishing attempt's calls follow them in order (a finish that
// carries calls already recorded still applies).
func testRecordCalls(t *testing.T, s store.Store) {
	ten := newTenant(t, s)
	tk := newTask(t, s, ten.ID)
	first, err := s.StartTask(ctx(t), tk.ID, base, base.Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, 1, first.Attempts)

	require.NoError(t, s.RecordCalls(ctx(t), nil), "no calls is a no-op")
	a1 := call(first, first.Attempts, 1, "gpt-4o", "error", base.Add(time.Second))
	a2 := call(first, first.Attempts, 2, "claude-haiku-4-5", "circuit_open", base.Add(2*time.Second))
	require.NoError(t, s.RecordCalls(ctx(t), []store.LLMCall{a1, a2}))
	changed := a2
	changed.Model, changed.Outcome = "changed", "ok"
	require.NoError(t, s.RecordCalls(ctx(t), []store.LLMCall{a1, changed}), "a redelivered attempt records its calls again")
	calls, err := s.ListCalls(ctx(t), ten.ID, tk.ID)
	require.NoError(t, err)
	require.Equal(t, wantCalls(a1, a2), calls, "stored once, the first record kept")

	// The redelivery: attempt 2 finishes, carrying a call of attempt 1 again.
	second, err := s.StartTask(ctx(t), tk.ID, base.Add(2*time.Minute), base.Add(3*time.Minute))
	require.NoError(t, err)
	require.Equal(t, 2, second.Attempts)
	b1 := call(second, second.Attempts, 1, "gpt-4o", "ok", base.Add(2*time.Minute))
	_, applied, err := s.FinishTask(ctx(t), tk.ID, store.Result{Status: store.StatusSucceeded, Output: json.RawMessage(`{}`),
		Model: "gpt-4o", Provider: "openai", FinishedAt: base.Add(3 * time.Minute), Calls: []store.LLMCall{b1, a1}})
	require.NoError(t, err)
	require.True(t, applied)
	calls, err = s.ListCalls(ctx(t), ten.ID, tk.ID)
	require.NoError(t, err)
	require.Equal(t, wantCalls(a1, a2, b1), calls, "ordered by attempt, then seq")

	unknown := a1
	unknown.TaskID = "tsk_unknown"
	require.ErrorIs(t, s.RecordCalls(ctx(t), []store.LLMCall{unknown}), store.ErrNotFound)
}

// testCallsTenantIsolation: a tenant lists only its own tasks' calls.
func testCallsTenantIsolation(t *testing.T, s store.Store) {
	mine, theirs := newTenant(t, s), newTenant(t, s)
	tk := newTask(t, s, theirs.ID)
	_, err := s.StartTask(ctx(t), tk.ID, base, base.Add(time.Minute))
	require.NoError(t, err)
	require.NoError(t, s.RecordCalls(ctx(t), []store.LLMCall{call(tk, 1, 1, "gpt-4o", "ok", base)}))

	calls, err := s.ListCalls(ctx(t), mine.ID, tk.ID)
	require.NoError(t, err)
	require.Empty(t, calls, "another tenant's task has no calls for me")
	calls, err = s.ListCalls(ctx(t), mine.ID, "tsk_unknown")
	require.NoError(t, err)
	require.Empty(t, calls)
	calls, err = s.ListCalls(ctx(t), theirs.ID, tk.ID)
	require.NoError(t, err)
	require.Len(t, calls, 1)
}

// testInvalidCalls: a call without its attempt or seq, or routing that is not JSON, is
// refused before anything is written.
func testInvalidCalls(t *testing.T, s store.Store) {
	ten := newTenant(t, s)
	tk := newTask(t, s, ten.ID)
	started, err := s.StartTask(ctx(t), tk.ID, base, base.Add(time.Minute))
	require.NoError(t, err)
	for name, c := range map[string]store.LLMCall{
		"no attempt": call(started, 0, 1, "m", "ok", base),
		"no seq":     call(started, 1, 0, "m", "ok", base),
	} {
		require.ErrorIs(t, s.RecordCalls(ctx(t), []store.LLMCall{c}), store.ErrInvalidCall, name)
		_, _, err := s.FinishTask(ctx(t), tk.ID, store.Result{Status: store.StatusSucceeded, FinishedAt: base,
			Calls: []store.LLMCall{call(started, 1, 1, "m", "ok", base), c}})
		require.ErrorIs(t, err, store.ErrInvalidCall, name)
	}
	_, _, err = s.FinishTask(ctx(t), tk.ID, store.Result{Status: store.StatusSucceeded, FinishedAt: base,
		Routing: json.RawMessage(`{"not json"`)})
	require.ErrorIs(t, err, store.ErrInvalidCall)

	stored, err := s.LoadTask(ctx(t), tk.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusRunning, stored.Status, "nothing was written")
	calls, err := s.ListCalls(ctx(t), ten.ID, tk.ID)
	require.NoError(t, err)
	require.Empty(t, calls)
}

func testCancelTask(t *testing.T, s store.Store) {
	ten := newTenant(t, s)
	at := base.Add(time.Minute)

	queued := newTask(t, s, ten.ID)
	got, err := s.CancelTask(ctx(t), ten.ID, queued.ID, at)
	require.NoError(t, err)
	require.Equal(t, store.StatusCanceled, got.Status)
	require.NotNil(t, got.Error)
	require.Equal(t, "canceled", got.Error.Code)
	require.NotEmpty(t, got.Error.Message)
	require.Equal(t, ptr(us(at)), got.FinishedAt)
	stored, err := s.GetTask(ctx(t), ten.ID, queued.ID)
	require.NoError(t, err)
	requireTaskEqual(t, got, stored)
	require.Equal(t, 1, usageRecords(t, s, queued.ID), "a canceled task has its (empty) usage record")

	_, err = s.CancelTask(ctx(t), ten.ID, queued.ID, at)
	require.ErrorIs(t, err, store.ErrTaskFinished)
	_, applied, err := s.FinishTask(ctx(t), queued.ID, store.Result{Status: store.StatusSucceeded, FinishedAt: at})
	require.NoError(t, err)
	require.False(t, applied, "a worker cannot overwrite the cancel")
	_, err = s.StartTask(ctx(t), queued.ID, at, at.Add(time.Minute))
	require.ErrorIs(t, err, store.ErrTaskFinished, "a canceled task is never started")

	running := newTask(t, s, ten.ID)
	_, err = s.StartTask(ctx(t), running.ID, base, base.Add(time.Hour))
	require.NoError(t, err)
	got, err = s.CancelTask(ctx(t), ten.ID, running.ID, at)
	require.NoError(t, err)
	require.Equal(t, store.StatusRunning, got.Status, "a running task stays running until its worker ends it")
	require.True(t, got.CancelRequested)
	require.Nil(t, got.FinishedAt)
	require.Equal(t, 0, usageRecords(t, s, running.ID))
	got, err = s.CancelTask(ctx(t), ten.ID, running.ID, at)
	require.NoError(t, err, "asking twice is fine")
	require.True(t, got.CancelRequested)

	done, applied, err := s.FinishTask(ctx(t), running.ID, store.Result{Status: store.StatusCanceled,
		Error: &store.TaskError{Code: "canceled", Message: "canceled by the client"}, InputTokens: 10, CostMicros: 5, FinishedAt: at})
	require.NoError(t, err)
	require.True(t, applied)
	require.Equal(t, store.StatusCanceled, done.Status)
	require.Equal(t, int64(5), done.CostMicros)
	_, err = s.CancelTask(ctx(t), ten.ID, running.ID, at)
	require.ErrorIs(t, err, store.ErrTaskFinished)

	_, err = s.CancelTask(ctx(t), ten.ID, "tsk_unknown", at)
	require.ErrorIs(t, err, store.ErrNotFound)
}

func delivery(tenantID, taskID string, attempt int, at time.Time) *store.Delivery {
	return &store.Delivery{
		ID: store.NewID("dlv"), TenantID: tenantID, TaskID: taskID, WebhookID: "msg_" + taskID,
		EventType: "task.succeeded", URL: "https://example.com/hook", Attempt: attempt,
		StatusCode: 500, Error: "status 500", DurationMS: 12, CreatedAt: at,
	}
}

func testDeliveries(t *testing.T, s store.Store) {
	ten := newTenant(t, s)
	tk := newTask(t, s, ten.ID)
	quiet := newTask(t, s, ten.ID)

	d1 := delivery(ten.ID, tk.ID, 1, base)
	d2 := delivery(ten.ID, tk.ID, 2, base.Add(time.Second))
	d3 := delivery(ten.ID, tk.ID, 3, base.Add(3*time.Second))
	d3.StatusCode, d3.Error, d3.Succeeded, d3.Final = 204, "", true, true
	d0 := delivery(ten.ID, tk.ID, 2, base.Add(time.Second)) // the same time as d2
	d0.StatusCode, d0.Error = 0, "timeout"
	for _, d := range []*store.Delivery{d3, d1, d2, d0} {
		require.NoError(t, s.RecordDelivery(ctx(t), d))
	}
	got, err := s.ListDeliveries(ctx(t), ten.ID, tk.ID)
	require.NoError(t, err)
	require.Len(t, got, 4)
	require.Equal(t, d1.ID, got[0].ID, "oldest first")
	require.Equal(t, d3.ID, got[3].ID)
	require.ElementsMatch(t, []string{d0.ID, d2.ID}, []string{got[1].ID, got[2].ID})
	want := *d3
	want.CreatedAt = us(d3.CreatedAt)
	require.Equal(t, &want, got[3])
	require.Equal(t, "timeout", map[string]*store.Delivery{got[1].ID: got[1], got[2].ID: got[2]}[d0.ID].Error)

	got, err = s.ListDeliveries(ctx(t), ten.ID, quiet.ID)
	require.NoError(t, err)
	require.Empty(t, got)

	dl, err := s.ListDeliveries(ctx(t), ten.ID, "tsk_unknown")
	if err == nil {
		require.Empty(t, dl)
	} else {
		require.ErrorIs(t, err, store.ErrNotFound)
	}
}

func testUsage(t *testing.T, s store.Store) {
	mine, theirs := newTenant(t, s), newTenant(t, s)
	day1 := time.Date(2026, 11, 24, 23, 30, 0, 0, time.UTC)
	day2 := day1.Add(time.Hour) // 00:30 the next UTC day
	finish := func(tenantID string, at time.Time, r store.Result) {
		t.Helper()
		tk := newTask(t, s, tenantID)
		r.FinishedAt = at
		_, applied, err := s.FinishTask(ctx(t), tk.ID, r)
		require.NoError(t, err)
		require.True(t, applied)
	}
	ok := func(provider, model string, in, out, cost int64) store.Result {
		return store.Result{Status: store.StatusSucceeded, Output: json.RawMessage(`{}`), Provider: provider, Model: model,
			InputTokens: in, OutputTokens: out, CostMicros: cost}
	}
	finish(mine.ID, day1, ok("openai", "gpt-4o-mini", 100, 50, 45))
	finish(mine.ID, day2, ok("openai", "gpt-4o-mini", 200, 100, 90))
	finish(mine.ID, day2, ok("anthropic", "claude-haiku-4-5", 10, 10, 60))
	finish(mine.ID, day2, store.Result{Status: store.StatusFailed, Error: &store.TaskError{Code: "provider_error", Message: "x"}})
	canceled := newTask(t, s, mine.ID)
	_, err := s.CancelTask(ctx(t), mine.ID, canceled.ID, day2)
	require.NoError(t, err)
	finish(mine.ID, day2.Add(48*time.Hour), ok("openai", "gpt-4o", 1, 1, 1000)) // outside the period
	finish(theirs.ID, day2, ok("openai", "gpt-4o", 1000, 1000, 99999))          // another tenant's

	u, err := s.Usage(ctx(t), mine.ID, day1.Add(-time.Hour), day2.Add(24*time.Hour))
	require.NoError(t, err)
	require.Equal(t, map[store.Status]int64{store.StatusSucceeded: 3, store.StatusFailed: 1, store.StatusCanceled: 1}, u.Tasks)
	require.Equal(t, int64(310), u.InputTokens)
	require.Equal(t, int64(160), u.OutputTokens)
	require.Equal(t, int64(195), u.CostMicros)
	require.Equal(t, []store.ModelUsage{
		{Provider: "openai", Model: "gpt-4o-mini", Tasks: 2, InputTokens: 300, OutputTokens: 150, CostMicros: 135},
		{Provider: "anthropic", Model: "claude-haiku-4-5", Tasks: 1, InputTokens: 10, OutputTokens: 10, CostMicros: 60},
		{Provider: "", Model: "", Tasks: 2},
	}, u.ByModel)
	require.Equal(t, []store.DayUsage{
		{Date: "2026-11-24", Tasks: 1, CostMicros: 45},
		{Date: "2026-11-25", Tasks: 4, CostMicros: 150},
	}, u.ByDay)

	empty, err := s.Usage(ctx(t), mine.ID, day1.Add(-48*time.Hour), day1.Add(-24*time.Hour))
	require.NoError(t, err)
	require.Equal(t, &store.Usage{Tasks: map[store.Status]int64{}, ByModel: []store.ModelUsage{}, ByDay: []store.DayUsage{}}, empty)
}

// testTaskCache: a task's Cache choice round-trips through every way of creating a task (with
// an idempotency key, alone, many at once) and every read.
func testTaskCache(t *testing.T, s store.Store) {
	ten := newTenant(t, s)
	const n = 8
	made := parallel(n, func(i int) *store.Task {
		tk := taskAt(ten.ID, base.Add(time.Duration(i)*time.Second))
		tk.Cache = i%2 == 0
		if i < 2 {
			tk.IdempotencyKey, tk.RequestHash = fmt.Sprintf("cache-%d", i), []byte{byte(i)}
		}
		got, existed, err := s.CreateTask(ctx(t), tk)
		if err != nil || existed {
			return nil
		}
		return got
	})
	page, _, err := s.ListTasks(ctx(t), ten.ID, store.TaskFilter{Limit: n})
	require.NoError(t, err)
	require.Len(t, page, n)
	listed := map[string]bool{}
	for _, tk := range page {
		listed[tk.ID] = tk.Cache
	}
	for i, tk := range made {
		require.NotNil(t, tk, "task %d was created", i)
		want := i%2 == 0
		require.Equal(t, want, tk.Cache, "task %d as CreateTask returned it", i)
		got, err := s.GetTask(ctx(t), ten.ID, tk.ID)
		require.NoError(t, err)
		require.Equal(t, want, got.Cache, "task %d read back", i)
		loaded, err := s.LoadTask(ctx(t), tk.ID)
		require.NoError(t, err)
		require.Equal(t, want, loaded.Cache, "task %d loaded", i)
		require.Equal(t, want, listed[tk.ID], "task %d listed", i)
		require.Equal(t, want, got.API().Cache, "task %d in the API", i)
	}

	// It survives the task's life: start, finish.
	started, err := s.StartTask(ctx(t), made[0].ID, base, base.Add(time.Minute))
	require.NoError(t, err)
	require.True(t, started.Cache)
	done, applied, err := s.FinishTask(ctx(t), made[0].ID, store.Result{Status: store.StatusSucceeded,
		Output: json.RawMessage(`{}`), FinishedAt: base.Add(time.Second)})
	require.NoError(t, err)
	require.True(t, applied)
	require.True(t, done.Cache)
	started, err = s.StartTask(ctx(t), made[1].ID, base, base.Add(time.Minute))
	require.NoError(t, err)
	require.False(t, started.Cache)
}

// cachedCall returns a call of the task's attempt answered from the LLM response cache, which
// saved what the original call cost.
func cachedCall(tk *store.Task, attempt, seq int, saved int64, at time.Time) store.LLMCall {
	return store.LLMCall{TaskID: tk.ID, TenantID: tk.TenantID, Attempt: attempt, Seq: seq, Provider: "openai",
		Model: "gpt-4o-mini", InputTokens: 120, OutputTokens: 40, Outcome: store.OutcomeCached, SavedMicros: saved, At: at}
}

// testCachedCalls: calls answered from the LLM response cache keep what they saved, through
// FinishTask and RecordCalls, and Usage sums them by the calls' time, per tenant.
func testCachedCalls(t *testing.T, s store.Store) {
	mine, theirs := newTenant(t, s), newTenant(t, s)
	day := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	finish := func(tenantID string, at time.Time, calls func(tk *store.Task) []store.LLMCall) *store.Task {
		t.Helper()
		tk := newTask(t, s, tenantID)
		started, err := s.StartTask(ctx(t), tk.ID, at, at.Add(time.Minute))
		require.NoError(t, err)
		cs := calls(started)
		_, applied, err := s.FinishTask(ctx(t), tk.ID, store.Result{Status: store.StatusSucceeded,
			Output: json.RawMessage(`{}`), Provider: "openai", Model: "gpt-4o-mini", FinishedAt: at, Calls: cs})
		require.NoError(t, err)
		require.True(t, applied)
		got, err := s.ListCalls(ctx(t), tenantID, tk.ID)
		require.NoError(t, err)
		require.Equal(t, wantCalls(cs...), got, "every field, SavedMicros too")
		return started
	}
	finish(mine.ID, day, func(tk *store.Task) []store.LLMCall {
		return []store.LLMCall{cachedCall(tk, 1, 1, 1_500, day)}
	})
	finish(mine.ID, day.Add(time.Hour), func(tk *store.Task) []store.LLMCall {
		return []store.LLMCall{call(tk, 1, 1, "gpt-4o-mini", "ok", day.Add(time.Hour))} // a real call saves nothing
	})
	// A cached call recorded by an attempt that was retried counts too.
	retried := finish(mine.ID, day.Add(2*time.Hour), func(tk *store.Task) []store.LLMCall {
		return []store.LLMCall{call(tk, 1, 1, "gpt-4o-mini", "ok", day.Add(2*time.Hour))}
	})
	require.NoError(t, s.RecordCalls(ctx(t), []store.LLMCall{cachedCall(retried, 2, 1, 250, day.Add(2*time.Hour))}))
	finish(mine.ID, day.Add(72*time.Hour), func(tk *store.Task) []store.LLMCall { // outside the period
		return []store.LLMCall{cachedCall(tk, 1, 1, 7_000, day.Add(72*time.Hour))}
	})
	finish(theirs.ID, day, func(tk *store.Task) []store.LLMCall { // another tenant's
		return []store.LLMCall{cachedCall(tk, 1, 1, 9_000, day)}
	})

	u, err := s.Usage(ctx(t), mine.ID, day.Add(-time.Hour), day.Add(24*time.Hour))
	require.NoError(t, err)
	require.Equal(t, store.CachedUsage{Calls: 2, SavedMicros: 1_750}, u.Cached)
	u, err = s.Usage(ctx(t), theirs.ID, day.Add(-time.Hour), day.Add(24*time.Hour))
	require.NoError(t, err)
	require.Equal(t, store.CachedUsage{Calls: 1, SavedMicros: 9_000}, u.Cached)
	u, err = s.Usage(ctx(t), mine.ID, day.Add(-48*time.Hour), day.Add(-24*time.Hour))
	require.NoError(t, err)
	require.Equal(t, store.CachedUsage{}, u.Cached, "none in a period without calls")
}
