package secrets_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/internal/syncbuf"
	"github.com/agentic-run/agentic/secrets"
)

const testToken = "hvs.CAESIJtestTOKENvalue0123456789"

// fakeVault speaks the parts of Vault's HTTP API the package uses, with the bodies the
// Vault API docs show: token lookup-self and renew-self, and the KV v2 read.
type fakeVault struct {
	token     string // the only token accepted, as X-Vault-Token
	ttl       int    // lookup-self data.ttl and renew-self auth.lease_duration, seconds
	renewable bool
	mount     string
	path      string
	// readStatus, when not 0 or 200, is answered to the KV read with readErrors.
	readStatus int
	readErrors []string

	mu      sync.Mutex
	data    map[string]any
	version int

	renewals atomic.Int64 // successful renew-self calls
	reads    atomic.Int64 // successful KV reads
	denied   atomic.Int64 // requests without the right token
}

func newFakeVault(t *testing.T, f *fakeVault) *httptest.Server {
	t.Helper()
	if f.token == "" {
		f.token = testToken
	}
	if f.mount == "" {
		f.mount = "secret"
	}
	if f.path == "" {
		f.path = "agentic"
	}
	if f.version == 0 {
		f.version = 3
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv
}

func (f *fakeVault) setData(data map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data = data
	f.version++
}

// kvPath is the URL path of the KV v2 read of the secret.
func (f *fakeVault) kvPath() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return "/v1/" + f.mount + "/data/" + f.path
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (f *fakeVault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Vault-Token") != f.token {
		f.denied.Add(1)
		writeJSON(w, http.StatusForbidden, map[string]any{"errors": []string{"permission denied"}})
		return
	}
	envelope := func(data, auth any) map[string]any {
		return map[string]any{
			"request_id":     "1d2f2f4c-7fbb-e3b5-d3c1-6f2a9c2b9d11",
			"lease_id":       "",
			"renewable":      false,
			"lease_duration": 0,
			"data":           data,
			"wrap_info":      nil,
			"warnings":       nil,
			"auth":           auth,
		}
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/auth/token/lookup-self":
		writeJSON(w, http.StatusOK, envelope(map[string]any{
			"accessor":         "8609694a-cdbc-db9b-d345-e782dbb562ed",
			"creation_time":    1523979354,
			"creation_ttl":     f.ttl,
			"display_name":     "token-agentic",
			"entity_id":        "",
			"expire_time":      nil,
			"explicit_max_ttl": 0,
			"id":               f.token,
			"issue_time":       "2026-04-17T11:35:54.466476078Z",
			"meta":             nil,
			"num_uses":         0,
			"orphan":           false,
			"path":             "auth/token/create",
			"policies":         []string{"agentic-read", "default"},
			"renewable":        f.renewable,
			"ttl":              f.ttl,
			"type":             "service",
		}, nil))
	// The docs show POST; the Go client sends PUT, which Vault treats the same.
	case (r.Method == http.MethodPost || r.Method == http.MethodPut) && r.URL.Path == "/v1/auth/token/renew-self":
		f.renewals.Add(1)
		writeJSON(w, http.StatusOK, envelope(nil, map[string]any{
			"client_token":   f.token,
			"accessor":       "8609694a-cdbc-db9b-d345-e782dbb562ed",
			"policies":       []string{"agentic-read", "default"},
			"token_policies": []string{"agentic-read", "default"},
			"metadata":       nil,
			"lease_duration": f.ttl,
			"renewable":      true,
			"entity_id":      "",
			"token_type":     "service",
			"orphan":         false,
		}))
	case r.Method == http.MethodGet && r.URL.Path == f.kvPath():
		if f.readStatus != 0 && f.readStatus != http.StatusOK {
			writeJSON(w, f.readStatus, map[string]any{"errors": f.readErrors})
			return
		}
		f.reads.Add(1)
		f.mu.Lock()
		data, version := f.data, f.version
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, envelope(map[string]any{
			"data": data,
			"metadata": map[string]any{
				"created_time":    "2026-03-14T10:02:36.617935Z",
				"custom_metadata": nil,
				"deletion_time":   "",
				"destroyed":       false,
				"version":         version,
			},
		}, nil))
	default:
		// What Vault answers for a KV v2 path that holds nothing.
		writeJSON(w, http.StatusNotFound, map[string]any{"errors": []string{}})
	}
}

func TestVaultReadsKVv2(t *testing.T) {
	t.Parallel()
	f := &fakeVault{data: map[string]any{
		"AGENTIC_ADMIN_TOKEN": "admin-from-vault",
		"OPENAI_API_KEY":      "sk-vault",
		"EMPTY":               "",
		"DB_PORT":             5432,
		"FLAGS":               map[string]any{"debug": true},
		"NOTHING":             nil,
	}}
	srv := newFakeVault(t, f)
	var logs syncbuf.Buffer
	v, err := secrets.NewVault(t.Context(), secrets.VaultConfig{
		Address: srv.URL, Token: testToken, Path: "/agentic/",
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, v.Close()) })
	assert.False(t, v.Renewing(), "a token without TTL is not renewed")
	assert.Equal(t, int64(0), f.denied.Load(), "every request carried X-Vault-Token")
	assert.Equal(t, int64(1), f.reads.Load())

	tests := []struct {
		name, want, wantErr string
		wantOK              bool
	}{
		{name: "AGENTIC_ADMIN_TOKEN", want: "admin-from-vault", wantOK: true},
		{name: "OPENAI_API_KEY", want: "sk-vault", wantOK: true},
		{name: "EMPTY", want: "", wantOK: true},
		{name: "UNSET"},
		{name: "DB_PORT", wantErr: `secrets: vault kv v2 mount "secret" path "agentic": field DB_PORT is a number, not a string`},
		{name: "FLAGS", wantErr: "field FLAGS is an object, not a string"},
		{name: "NOTHING", wantErr: "field NOTHING is null, not a string"},
	}
	for _, tt := range tests {
		got, ok, err := v.Lookup(t.Context(), tt.name)
		if tt.wantErr != "" {
			require.ErrorContains(t, err, tt.wantErr, tt.name)
			assert.NotContains(t, err.Error(), "5432", "value of a non-string field leaked")
			assert.NotContains(t, err.Error(), "debug", "value of a non-string field leaked")
			continue
		}
		require.NoError(t, err, tt.name)
		assert.Equal(t, tt.wantOK, ok, tt.name)
		assert.Equal(t, tt.want, got, tt.name)
	}

	out := logs.String()
	assert.Contains(t, out, "vault secrets loaded")
	for _, secret := range []string{testToken, "admin-from-vault", "sk-vault"} {
		assert.NotContains(t, out, secret)
	}
}

func TestVaultRefresh(t *testing.T) {
	t.Parallel()
	f := &fakeVault{data: map[string]any{"OPENAI_API_KEY": "sk-old"}}
	srv := newFakeVault(t, f)
	v, err := secrets.NewVault(t.Context(), secrets.VaultConfig{Address: srv.URL, Token: testToken, Path: "agentic"})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, v.Close()) })

	f.setData(map[string]any{"OPENAI_API_KEY": "sk-rotated", "ANTHROPIC_API_KEY": "sk-ant-new"})
	got, _, err := v.Lookup(t.Context(), "OPENAI_API_KEY")
	require.NoError(t, err)
	assert.Equal(t, "sk-old", got, "values are cached until Refresh")

	require.NoError(t, v.Refresh(t.Context()))
	assert.Equal(t, int64(2), f.reads.Load())
	for name, want := range map[string]string{"OPENAI_API_KEY": "sk-rotated", "ANTHROPIC_API_KEY": "sk-ant-new"} {
		got, ok, err := v.Lookup(t.Context(), name)
		require.NoError(t, err)
		assert.True(t, ok, name)
		assert.Equal(t, want, got, name)
	}

	// A failed refresh keeps the last good values.
	f.mu.Lock()
	f.path = "moved"
	f.mu.Unlock()
	require.Error(t, v.Refresh(t.Context()))
	got, _, err = v.Lookup(t.Context(), "OPENAI_API_KEY")
	require.NoError(t, err)
	assert.Equal(t, "sk-rotated", got)
}

func TestVaultErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		readStatus int
		readErrors []string
		clientTok  string
		path       string
		wantErr    []string
		wantStatus int
		wantIs     error
	}{
		{
			name:       "wrong token is denied at lookup-self",
			clientTok:  "hvs.WRONGtoken-not-the-one-vault-knows",
			wantErr:    []string{"secrets: vault token lookup-self at ", ": permission denied (HTTP 403)"},
			wantStatus: http.StatusForbidden,
		},
		{
			name:       "policy denies the secret",
			readStatus: http.StatusForbidden,
			readErrors: []string{"1 error occurred:\n\t* permission denied\n\n"},
			wantErr: []string{`secrets: vault kv v2 read mount "secret" path "agentic": ` +
				"1 error occurred: * permission denied (HTTP 403)"},
			wantStatus: http.StatusForbidden,
		},
		{
			name:       "server echoes the token",
			readStatus: http.StatusBadRequest,
			readErrors: []string{"bad token " + testToken},
			wantErr:    []string{"bad token [redacted] (HTTP 400)"},
			wantStatus: http.StatusBadRequest,
		},
		{
			name:    "path holds no secret",
			path:    "missing",
			wantErr: []string{`secrets: vault kv v2 mount "secret" path "missing": no secret there (GET /v1/secret/data/missing answered 404)`},
			wantIs:  vaultapi.ErrSecretNotFound,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newFakeVault(t, &fakeVault{readStatus: tt.readStatus, readErrors: tt.readErrors})
			cfg := secrets.VaultConfig{Address: srv.URL, Token: testToken, Path: "agentic"}
			if tt.clientTok != "" {
				cfg.Token = tt.clientTok
			}
			if tt.path != "" {
				cfg.Path = tt.path
			}
			v, err := secrets.NewVault(t.Context(), cfg)
			require.Error(t, err)
			assert.Nil(t, v)
			msg := err.Error()
			for _, want := range tt.wantErr {
				assert.Contains(t, msg, want)
			}
			assert.NotContains(t, msg, "\n", "one line")
			assert.NotContains(t, msg, testToken)
			assert.NotContains(t, msg, cfg.Token)
			if tt.wantStatus != 0 {
				var re *vaultapi.ResponseError
				require.ErrorAs(t, err, &re, "the client's error stays reachable")
				assert.Equal(t, tt.wantStatus, re.StatusCode)
			}
			if tt.wantIs != nil {
				assert.ErrorIs(t, err, tt.wantIs)
			}
		})
	}
}

func TestVaultDeletedVersion(t *testing.T) {
	t.Parallel()
	// KV v2 answers a deleted latest version with "data": null and the metadata.
	f := &fakeVault{data: nil}
	srv := newFakeVault(t, f)
	_, err := secrets.NewVault(t.Context(), secrets.VaultConfig{Address: srv.URL, Token: testToken, Path: "agentic"})
	require.ErrorContains(t, err, `mount "secret" path "agentic": the latest version has no data`)
}

func TestVaultRenewsTokenUntilClose(t *testing.T) {
	t.Parallel()
	f := &fakeVault{ttl: 2, renewable: true, data: map[string]any{"AGENTIC_ADMIN_TOKEN": "admin-from-vault"}}
	srv := newFakeVault(t, f)
	var logs syncbuf.Buffer
	v, err := secrets.NewVault(t.Context(), secrets.VaultConfig{
		Address: srv.URL, Token: testToken, Path: "agentic",
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	require.NoError(t, err)
	require.True(t, v.Renewing())

	// The watcher renews at once, then again at about two thirds of the 2s TTL: a second
	// renewal proves it keeps going on the TTL the server returned.
	require.Eventually(t, func() bool { return f.renewals.Load() >= 2 }, 10*time.Second, 20*time.Millisecond,
		"renew-self called %d times", f.renewals.Load())
	assert.Equal(t, int64(0), f.denied.Load(), "renew-self carried X-Vault-Token")

	require.NoError(t, v.Close())
	require.NoError(t, v.Close(), "Close is idempotent")
	after := f.renewals.Load()
	// Close waited for the watcher to end, so no renewal may follow, even past the next
	// one that was due (~1.4s).
	require.Never(t, func() bool { return f.renewals.Load() != after }, 2500*time.Millisecond, 50*time.Millisecond)

	got, ok, err := v.Lookup(t.Context(), "AGENTIC_ADMIN_TOKEN")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "admin-from-vault", got, "cached values outlive Close")

	out := logs.String()
	assert.Contains(t, out, "vault token renewed")
	assert.NotContains(t, out, testToken)
	assert.NotContains(t, out, "admin-from-vault")
}

func TestVaultConfigHidesToken(t *testing.T) {
	t.Parallel()
	cfg := secrets.VaultConfig{Address: "https://vault:8200", Token: testToken, Mount: "kv", Path: "agentic"}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "vault", cfg)
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), logs.String()} {
		assert.NotContains(t, s, testToken)
		assert.Contains(t, s, "agentic")
	}
}

func TestNewVaultValidatesConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     secrets.VaultConfig
		wantErr string
	}{
		{"no address", secrets.VaultConfig{Token: "t", Path: "p"}, "secrets: vault config: Address is required"},
		{"address without scheme", secrets.VaultConfig{Address: "vault:8200", Token: "t", Path: "p"},
			`secrets: vault config: Address must be an http, https or unix URL: "vault:8200"`},
		{"no token", secrets.VaultConfig{Address: "http://127.0.0.1:1", Path: "p"}, "secrets: vault config: Token is required"},
		{"no path", secrets.VaultConfig{Address: "http://127.0.0.1:1", Token: "t", Path: "/"}, "secrets: vault config: Path is required"},
	}
	for _, tt := range tests {
		_, err := secrets.NewVault(t.Context(), tt.cfg)
		require.EqualError(t, err, tt.wantErr, tt.name)
	}
}

func TestVaultFromEnv(t *testing.T) {
	t.Parallel()
	f := &fakeVault{mount: "kv", data: map[string]any{"OPENAI_API_KEY": "sk-vault"}}
	srv := newFakeVault(t, f)

	tests := []struct {
		name    string
		vars    map[string]string
		wantNil bool
		wantErr string
	}{
		{name: "no VAULT_ADDR means no vault", vars: map[string]string{"VAULT_TOKEN": testToken}, wantNil: true},
		{name: "token missing", vars: map[string]string{"VAULT_ADDR": srv.URL, "AGENTIC_VAULT_PATH": "agentic"},
			wantErr: "secrets: VAULT_TOKEN or VAULT_TOKEN_FILE is required when VAULT_ADDR is set"},
		{name: "path missing", vars: map[string]string{"VAULT_ADDR": srv.URL, "VAULT_TOKEN": testToken},
			wantErr: "secrets: AGENTIC_VAULT_PATH is required when VAULT_ADDR is set"},
		{name: "bad address", vars: map[string]string{"VAULT_ADDR": "vault.internal:8200", "VAULT_TOKEN": testToken, "AGENTIC_VAULT_PATH": "agentic"},
			wantErr: `secrets: VAULT_ADDR must be an http, https or unix URL: "vault.internal:8200"`},
		{name: "token twice", vars: map[string]string{"VAULT_ADDR": srv.URL, "VAULT_TOKEN": testToken,
			"VAULT_TOKEN_FILE": writeFile(t, testToken+"\n"), "AGENTIC_VAULT_PATH": "agentic", "AGENTIC_VAULT_MOUNT": "kv"},
			wantErr: "secrets: both VAULT_TOKEN and VAULT_TOKEN_FILE are set, set only one"},
		{name: "wrong mount", vars: map[string]string{"VAULT_ADDR": srv.URL, "VAULT_TOKEN": testToken, "AGENTIC_VAULT_PATH": "agentic"},
			wantErr: `mount "secret" path "agentic": no secret there`},
		{name: "token from env", vars: map[string]string{"VAULT_ADDR": srv.URL, "VAULT_TOKEN": testToken,
			"AGENTIC_VAULT_PATH": "agentic", "AGENTIC_VAULT_MOUNT": "kv"}},
		{name: "token from file", vars: map[string]string{"VAULT_ADDR": srv.URL, "VAULT_TOKEN_FILE": writeFile(t, testToken+"\n"),
			"AGENTIC_VAULT_PATH": "agentic", "AGENTIC_VAULT_MOUNT": "kv"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := secrets.VaultFromEnv(t.Context(), env(tt.vars))
			switch {
			case tt.wantErr != "":
				require.ErrorContains(t, err, tt.wantErr)
				assert.NotContains(t, err.Error(), "\n")
				assert.NotContains(t, err.Error(), testToken)
				assert.Nil(t, v)
			case tt.wantNil:
				require.NoError(t, err)
				assert.Nil(t, v)
			default:
				require.NoError(t, err)
				require.NotNil(t, v)
				t.Cleanup(func() { assert.NoError(t, v.Close()) })
				got, ok, err := v.Lookup(t.Context(), "OPENAI_API_KEY")
				require.NoError(t, err)
				assert.True(t, ok)
				assert.Equal(t, "sk-vault", got)
			}
		})
	}
}

func TestFromEnvOrder(t *testing.T) {
	t.Parallel()
	f := &fakeVault{ttl: 3600, renewable: true, data: map[string]any{
		"OPENAI_API_KEY":      "sk-vault",
		"ANTHROPIC_API_KEY":   "sk-ant-vault",
		"AGENTIC_ADMIN_TOKEN": "admin-vault",
		"DB_PORT":             5432,
	}}
	srv := newFakeVault(t, f)
	vars := map[string]string{
		"VAULT_ADDR":             srv.URL,
		"VAULT_TOKEN":            testToken,
		"AGENTIC_VAULT_PATH":     "agentic",
		"OPENAI_API_KEY":         "sk-env",
		"ANTHROPIC_API_KEY_FILE": writeFile(t, "sk-ant-file\n"),
	}
	src, closeFn, err := secrets.FromEnv(t.Context(), env(vars))
	require.NoError(t, err)

	tests := []struct{ name, want string }{
		{"OPENAI_API_KEY", "sk-env"},           // explicit variable beats Vault
		{"ANTHROPIC_API_KEY", "sk-ant-file"},   // NAME_FILE beats Vault
		{"AGENTIC_ADMIN_TOKEN", "admin-vault"}, // only in Vault
		{"DATABASE_URL", ""},                   // nowhere
	}
	for _, tt := range tests {
		got, err := secrets.Resolve(t.Context(), src, tt.name)
		require.NoError(t, err, tt.name)
		assert.Equal(t, tt.want, got, tt.name)
	}
	_, err = secrets.Resolve(t.Context(), src, "DB_PORT")
	require.ErrorContains(t, err, "field DB_PORT is a number")

	// The close function stops the renewal FromEnv started for the renewable token.
	require.Eventually(t, func() bool { return f.renewals.Load() >= 1 }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, closeFn())
	require.NoError(t, closeFn())
}

func TestVaultLookupAfterConcurrentRefresh(t *testing.T) {
	t.Parallel()
	f := &fakeVault{data: map[string]any{"K": "v1"}}
	srv := newFakeVault(t, f)
	v, err := secrets.NewVault(t.Context(), secrets.VaultConfig{Address: srv.URL, Token: testToken, Path: "agentic"})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, v.Close()) })

	// Under -race: lookups while refreshing must be safe and always see a whole version.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			f.setData(map[string]any{"K": fmt.Sprintf("v%d", i+2)})
			errs <- v.Refresh(t.Context())
		}()
		go func() {
			defer wg.Done()
			got, ok, err := v.Lookup(t.Context(), "K")
			if err == nil && (!ok || !strings.HasPrefix(got, "v")) {
				err = errors.New("lookup saw " + got)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}
