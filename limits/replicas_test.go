package limits_test

import (
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/agentic-run/agentic/internal/redistest"
)

// replicaClients returns n Redis clients, each with its own connection pool, sharing the
// test's key prefix: what n replicas of a process would have.
func replicaClients(t *testing.T, n int) ([]*redis.Client, string) {
	c, prefix := redistest.Client(t)
	clients := []*redis.Client{c}
	for range n - 1 {
		opts := *c.Options()
		ci := redis.NewClient(&opts)
		t.Cleanup(func() { _ = ci.Close() })
		clients = append(clients, ci)
	}
	return clients, prefix
}

// roundRobin hands its items out in turn, so consecutive calls land on different replicas.
type roundRobin[T any] struct {
	items []T
	next  atomic.Uint64
}

func (r *roundRobin[T]) pick() T { return r.items[r.next.Add(1)%uint64(len(r.items))] }
