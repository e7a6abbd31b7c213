package ingest

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/agentic-run/agentic/cache"
	"github.com/agentic-run/agentic/store"
)

// API key format: "ak_" + base64url(32 bytes) without padding.
const (
	keyPrefix   = "ak_"
	keyLen      = len(keyPrefix) + 43
	shownPrefix = 7 // characters of the key shown to humans: "ak_abcd"
)

// tenantFunc is a handler for a tenant route; k is the caller's API key.
type tenantFunc func(w http.ResponseWriter, r *http.Request, k *store.APIKey) error

// bearer returns the token of an "Authorization: Bearer …" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const scheme = "bearer "
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	tok := strings.TrimSpace(h[len(scheme):])
	return tok, tok != ""
}

// admin guards an admin route: the admin token passes; a valid tenant key is 403; anything
// else 401.
func (s *Server) admin(h handlerFunc) http.Handler {
	return s.public(func(w http.ResponseWriter, r *http.Request) error {
		tok, ok := bearer(r)
		if !ok {
			return errUnauthorized
		}
		sum := sha256.Sum256([]byte(tok))
		if subtle.ConstantTimeCompare(sum[:], s.adminHash[:]) == 1 {
			return h(w, r)
		}
		if _, err := s.authenticate(r.Context(), tok); err == nil {
			return errForbidden
		}
		return errUnauthorized
	})
}

// tenant guards a tenant route with the caller's API key.
func (s *Server) tenant(h tenantFunc) http.Handler {
	return s.public(func(w http.ResponseWriter, r *http.Request) error {
		tok, ok := bearer(r)
		if !ok {
			return errUnauthorized
		}
		k, err := s.authenticate(r.Context(), tok)
		if err != nil {
			return err
		}
		if err := s.admitRequest(r.Context(), w, k.TenantID); err != nil {
			return err
		}
		return h(w, r, k)
	})
}

// keyCacheKey is the shared cache entry of a key hash. It is global, not a tenant's: the
// tenant is what the lookup finds.
func keyCacheKey(hash [32]byte) cache.Key {
	return cache.GlobalKey("apikey:" + hex.EncodeToString(hash[:]))
}

// authenticate finds the unrevoked API key tok: in-process cache (≤ 1 s), then the shared
// cache, then the store. A revoked key's shared entry is a tombstone (RevokedAt set), which
// read-through fills never overwrite.
func (s *Server) authenticate(ctx context.Context, tok string) (*store.APIKey, error) {
	if len(tok) != keyLen || !strings.HasPrefix(tok, keyPrefix) {
		return nil, errUnauthorized
	}
	hash := sha256.Sum256([]byte(tok))
	s.metrics.keyLookups.Add(1)
	if s.keys.ttl > 0 {
		k := s.keys.get(hash)
		s.metrics.keyLocalLookup(ctx, k != nil)
		if k != nil {
			s.metrics.keyHits.Add(1)
			return k, nil
		}
	}
	gen := s.keys.generation()
	kc := s.cfg.KeyCache
	if kc != nil {
		var k store.APIKey
		found, err := kc.Get(ctx, keyCacheKey(hash), &k) // counted by its cache.Instrumented
		switch {
		case err != nil:
			s.log.LogAttrs(ctx, slog.LevelWarn, "api key cache read failed", slog.String("error", err.Error()))
		case found && k.RevokedAt != nil:
			return nil, errUnauthorized
		case found:
			s.metrics.keyHits.Add(1)
			s.keys.put(hash, &k, gen)
			return &k, nil
		}
	}
	k, err := s.cfg.Store.APIKeyByHash(ctx, hash[:])
	if errors.Is(err, store.ErrNotFound) {
		return nil, errUnauthorized
	}
	if err != nil {
		return nil, fmt.Errorf("look up api key: %w", err)
	}
	if kc != nil {
		if _, err := kc.Add(ctx, keyCacheKey(hash), k, keyCacheTTL); err != nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "api key cache fill failed", slog.String("error", err.Error()))
		}
	}
	s.keys.put(hash, k, gen)
	return k, nil
}

// localKeys is the in-process cache of API keys. A revocation through any replica drops the
// entry at once (an invalidation on the bus); the TTL (≤ 1 s) bounds how long a replica
// that missed the invalidation keeps accepting the key.
type localKeys struct {
	ttl time.Duration
	mu  sync.RWMutex
	m   map[[32]byte]localKey
	// gen counts deletions: a lookup that began before one may have read what it deleted,
	// so its result is not cached (put with a stale generation is dropped).
	gen uint64
}

type localKey struct {
	k   *store.APIKey
	exp time.Time
}

// maxLocalKeys bounds the in-process cache; beyond it, expired entries are swept and, if that
// is not enough, the cache starts over.
const maxLocalKeys = 10000

func newLocalKeys(ttl time.Duration) *localKeys {
	return &localKeys{ttl: ttl, m: make(map[[32]byte]localKey)}
}

func (c *localKeys) get(hash [32]byte) *store.APIKey {
	if c.ttl <= 0 {
		return nil
	}
	c.mu.RLock()
	e, ok := c.m[hash]
	c.mu.RUnlock()
	if !ok || time.Now().After(e.exp) {
		return nil
	}
	return e.k
}

// generation returns the count of deletions so far, to pass to put.
func (c *localKeys) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put caches k unless a deletion happened since gen was read.
func (c *localKeys) put(hash [32]byte, k *store.APIKey, gen uint64) {
	if c.ttl <= 0 {
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.m) >= maxLocalKeys {
		for h, e := range c.m {
			if now.After(e.exp) {
				delete(c.m, h)
			}
		}
		if len(c.m) >= maxLocalKeys {
			clear(c.m)
		}
	}
	c.m[hash] = localKey{k: k, exp: now.Add(c.ttl)}
}

func (c *localKeys) delete(hash [32]byte) {
	c.mu.Lock()
	delete(c.m, hash)
	c.gen++
	c.mu.Unlock()
}
