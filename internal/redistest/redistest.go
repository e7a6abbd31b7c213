// Package redistest gives tests a connected Redis client and a key prefix of their own, so
// tests that use Redis can run in parallel against one server and leave nothing behind.
//
// The server is REDIS_URL (default redis://127.0.0.1:6379/0). A test whose Redis is missing
// fails; it never skips.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultURL is the Redis tests use when REDIS_URL is unset.
const DefaultURL = "redis://127.0.0.1:6379/0"

// Client returns a client on REDIS_URL and a key prefix unique to this test
// ("agentic-test:<random hex>"). Every key the test writes must start with the prefix: at
// cleanup the prefix's keys are deleted (found with SCAN, never KEYS) and the client closed.
// The test fails at once if Redis does not answer.
func Client(t testing.TB) (*redis.Client, string) {
	t.Helper()
	url := os.Getenv("REDIS_URL")
	if url == "" {
		url = DefaultURL
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("redistest: parse REDIS_URL: %v", err)
	}
	c := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		t.Fatalf("redistest: redis at %s unreachable: %v", opts.Addr, err)
	}

	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		_ = c.Close()
		t.Fatalf("redistest: random prefix: %v", err)
	}
	prefix := "agentic-test:" + hex.EncodeToString(b[:])

	t.Cleanup(func() {
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := deletePrefix(ctx, c, prefix); err != nil {
			t.Errorf("redistest: delete keys of %s: %v", prefix, err)
		}
	})
	return c, prefix
}

// deletePrefix removes every key that starts with prefix, walking the keyspace with SCAN.
func deletePrefix(ctx context.Context, c *redis.Client, prefix string) error {
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, prefix+"*", 500).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			if err := c.Unlink(ctx, keys...).Err(); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}
