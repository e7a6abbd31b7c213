package ingest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/store"
)

// Limits of admin fields.
const (
	maxNameLen = 200
	// maxBudgetUSD bounds monthly_budget_usd so that micro-dollars fit comfortably in int64.
	maxBudgetUSD = 1e9
)

var tiers = map[string]bool{"free": true, "basic": true, "pro": true, "enterprise": true}

// tenantAPI returns t as the admin API shows it; the secret only when asked.
func tenantAPI(t *store.Tenant, withSecret bool) client.Tenant {
	out := client.Tenant{ID: t.ID, Name: t.Name, Tier: t.Tier, CreatedAt: t.CreatedAt.UTC()}
	if t.MonthlyBudgetMicros != nil {
		v := store.MicrosToUSD(*t.MonthlyBudgetMicros)
		out.MonthlyBudgetUSD = &v
	}
	if withSecret {
		out.WebhookSecret = t.WebhookSecret
	}
	return out
}

// validation collects field errors into one 422; its code is the first error's.
type validation struct {
	code   string
	fields []client.ProblemField
}

func (v *validation) add(code, path, msg string) {
	if v.code == "" {
		v.code = code
	}
	v.fields = append(v.fields, field(path, msg))
}

func (v *validation) err() error {
	if v.code == "" {
		return nil
	}
	detail := v.fields[0].Path + " " + v.fields[0].Message
	if len(v.fields) > 1 {
		detail = fmt.Sprintf("%s (and %d more)", detail, len(v.fields)-1)
	}
	return newProblem(http.StatusUnprocessableEntity, v.code, detail).withFields(v.fields...)
}

func checkName(v *validation, name string, required bool) {
	switch {
	case strings.TrimSpace(name) == "":
		if required {
			v.add(codeInvalidRequest, "/name", "is required")
		}
	case utf8.RuneCountInString(name) > maxNameLen:
		v.add(codeInvalidRequest, "/name", fmt.Sprintf("must be at most %d characters", maxNameLen))
	case strings.ContainsRune(name, 0):
		v.add(codeInvalidRequest, "/name", "must not contain NUL characters")
	}
}

func checkTier(v *validation, tier string) {
	if !tiers[tier] {
		v.add(codeInvalidTier, "/tier", "must be one of free, basic, pro, enterprise")
	}
}

func checkBudget(v *validation, usd float64) {
	if usd < 0 || usd > maxBudgetUSD {
		v.add(codeInvalidBudget, "/monthly_budget_usd", "must be a number from 0 to 1e9, or null")
	}
}

// randomBytes returns n random bytes.
func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("random bytes: %w", err)
	}
	return b, nil
}

// POST /v1/admin/tenants
func (s *Server) createTenant(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Name             string   `json:"name"`
		Tier             *string  `json:"tier"`
		MonthlyBudgetUSD *float64 `json:"monthly_budget_usd"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	var v validation
	checkName(&v, body.Name, true)
	tier := "free"
	if body.Tier != nil {
		tier = *body.Tier
		checkTier(&v, tier)
	}
	if body.MonthlyBudgetUSD != nil {
		checkBudget(&v, *body.MonthlyBudgetUSD)
	}
	if err := v.err(); err != nil {
		return err
	}
	secret, err := newWebhookSecret()
	if err != nil {
		return err
	}
	t := &store.Tenant{
		ID:            store.NewID("ten"),
		Name:          strings.TrimSpace(body.Name),
		Tier:          tier,
		WebhookSecret: secret,
		CreatedAt:     s.now(),
	}
	if body.MonthlyBudgetUSD != nil {
		m := store.USDToMicros(*body.MonthlyBudgetUSD)
		t.MonthlyBudgetMicros = &m
	}
	if err := s.cfg.Store.CreateTenant(r.Context(), t); err != nil {
		return fmt.Errorf("create tenant: %w", err)
	}
	w.Header().Set("Location", "/v1/admin/tenants/"+t.ID)
	s.writeJSON(w, r, http.StatusCreated, tenantAPI(t, true))
	return nil
}

// GET /v1/admin/tenants/{id}
func (s *Server) getTenant(w http.ResponseWriter, r *http.Request) error {
	t, err := s.cfg.Store.GetTenant(r.Context(), r.PathValue("id"))
	if err != nil {
		return tenantErr(err)
	}
	s.writeJSON(w, r, http.StatusOK, tenantAPI(t, false))
	return nil
}

func tenantErr(err error) error {
	if problemFor(err).Code == codeNotFound {
		return notFound("tenant")
	}
	return fmt.Errorf("tenant: %w", err)
}

// PATCH /v1/admin/tenants/{id}: absent fields stay, "monthly_budget_usd": null clears it.
func (s *Server) patchTenant(w http.ResponseWriter, r *http.Request) error {
	var body map[string]json.RawMessage
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	if body == nil {
		return newProblem(http.StatusBadRequest, codeInvalidJSON, "the body must be a JSON object")
	}
	var (
		v     validation
		patch store.TenantPatch
	)
	for name, raw := range body {
		switch name {
		case "tier":
			var tier string
			if err := unmarshal(raw, &tier); err != nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
				return newProblem(http.StatusBadRequest, codeInvalidJSON, "/tier must be a string").
					withFields(field("/tier", "must be a string"))
			}
			checkTier(&v, tier)
			patch.Tier = &tier
		case "monthly_budget_usd":
			if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
				patch.ClearBudget = true
				continue
			}
			var usd float64
			if err := unmarshal(raw, &usd); err != nil {
				return newProblem(http.StatusBadRequest, codeInvalidJSON, "/monthly_budget_usd must be a number or null").
					withFields(field("/monthly_budget_usd", "must be a number or null"))
			}
			checkBudget(&v, usd)
			m := store.USDToMicros(usd)
			patch.MonthlyBudgetMicros = &m
		case "name", "id", "created_at", "webhook_secret":
			v.add(codeInvalidRequest, "/"+name, "cannot be changed")
		default:
			v.add(codeInvalidRequest, "/"+name, "is not a field of a tenant")
		}
	}
	if err := v.err(); err != nil {
		return err
	}
	t, err := s.cfg.Store.UpdateTenant(r.Context(), r.PathValue("id"), patch)
	if err != nil {
		return tenantErr(err)
	}
	// A new tier takes effect at once: here, and on every replica through the bus.
	s.tenants.delete(t.ID)
	if err := s.cfg.Events.Invalidate(r.Context(), events.InvalidateTenant, t.ID); err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "tenant updated but the invalidation was not published",
			slog.String("tenant_id", t.ID), slog.String("error", err.Error()))
	}
	s.writeJSON(w, r, http.StatusOK, tenantAPI(t, false))
	return nil
}

// POST /v1/admin/tenants/{id}/api-keys; the body {"name": "..."} is optional.
func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request) error {
	b, err := readBody(w, r)
	if err != nil {
		return err
	}
	var body struct {
		Name string `json:"name"`
	}
	if !isEmptyBody(b) {
		if !isJSON(r.Header.Get("Content-Type")) {
			return errNotJSON
		}
		if err := unmarshal(b, &body); err != nil {
			return err
		}
	}
	var v validation
	checkName(&v, body.Name, false)
	if err := v.err(); err != nil {
		return err
	}
	t, err := s.cfg.Store.GetTenant(r.Context(), r.PathValue("id"))
	if err != nil {
		return tenantErr(err)
	}
	raw, err := randomBytes(32)
	if err != nil {
		return err
	}
	key := keyPrefix + base64.RawURLEncoding.EncodeToString(raw)
	hash := sha256.Sum256([]byte(key))
	k := &store.APIKey{
		ID:        store.NewID("key"),
		TenantID:  t.ID,
		Name:      strings.TrimSpace(body.Name),
		Prefix:    key[:shownPrefix],
		Hash:      hash[:],
		CreatedAt: s.now(),
	}
	if err := s.cfg.Store.CreateAPIKey(r.Context(), k); err != nil {
		return fmt.Errorf("create api key: %w", err)
	}
	s.writeJSON(w, r, http.StatusCreated, client.APIKey{
		ID: k.ID, Key: key, Prefix: k.Prefix, Name: k.Name, CreatedAt: k.CreatedAt,
	})
	return nil
}

// DELETE /v1/admin/api-keys/{id}: revoke in the store, drop the local entry, tell every
// replica to drop theirs (an invalidation on the bus), and put a tombstone in the shared
// cache (read-through fills never overwrite one).
func (s *Server) revokeAPIKey(w http.ResponseWriter, r *http.Request) error {
	k, err := s.cfg.Store.RevokeAPIKey(r.Context(), r.PathValue("id"))
	if err != nil {
		if problemFor(err).Code == codeNotFound {
			return notFound("api key")
		}
		return fmt.Errorf("revoke api key: %w", err)
	}
	if len(k.Hash) != sha256.Size {
		return fmt.Errorf("revoke api key %s: stored hash has %d bytes", k.ID, len(k.Hash))
	}
	hash := [32]byte(k.Hash)
	s.keys.delete(hash)
	if kc := s.cfg.KeyCache; kc != nil {
		tomb := *k
		if tomb.RevokedAt == nil {
			at := s.now()
			tomb.RevokedAt = &at
		}
		// The request may be gone; the tombstone must still be written.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
		defer cancel()
		var err error
		for range 3 {
			if err = kc.Set(ctx, keyCacheKey(hash), tomb, keyCacheTTL); err == nil {
				break
			}
		}
		if err != nil {
			s.log.LogAttrs(r.Context(), slog.LevelError, "api key revoked but its cache entry was not replaced",
				slog.String("key_id", k.ID), slog.String("error", err.Error()))
			p := newProblem(http.StatusServiceUnavailable, codeUnavailable,
				"the key is revoked, but the shared key cache could not be updated: other replicas may accept it for up to 5 minutes")
			p.cause = err
			return p
		}
	}
	// Last, once the tombstone is in place, so a replica that drops its entry and looks the
	// key up again finds it revoked.
	if err := s.cfg.Events.Invalidate(r.Context(), events.InvalidateAPIKey, hex.EncodeToString(hash[:])); err != nil {
		// The other replicas' in-process entries still expire within the second.
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "api key revoked but the invalidation was not published",
			slog.String("key_id", k.ID), slog.String("error", err.Error()))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// POST /v1/admin/tenants/{id}/webhook-secret: a new secret; the one it replaces keeps
// signing (next to it) for store.WebhookSecretOverlap. The dispatchers are told at once.
func (s *Server) rotateWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	secret, err := newWebhookSecret()
	if err != nil {
		return err
	}
	t, err := s.cfg.Store.RotateWebhookSecret(r.Context(), r.PathValue("id"), secret, s.now())
	if err != nil {
		return tenantErr(err)
	}
	if err := s.cfg.Events.Invalidate(r.Context(), events.InvalidateTenant, t.ID); err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "webhook secret rotated but the invalidation was not published",
			slog.String("tenant_id", t.ID), slog.String("error", err.Error()))
	}
	out := tenantAPI(t, true)
	if t.WebhookSecretRotatedAt != nil {
		until := t.WebhookSecretRotatedAt.Add(store.WebhookSecretOverlap).UTC()
		out.PreviousWebhookSecretExpiresAt = &until
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// newWebhookSecret returns "whsec_" + base64 of 32 random bytes.
func newWebhookSecret() (string, error) {
	b, err := randomBytes(32)
	if err != nil {
		return "", err
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b), nil
}
