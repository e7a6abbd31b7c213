package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// DefaultVaultMount is the mount of the KV v2 engine a dev-mode Vault server enables.
const DefaultVaultMount = "secret"

// VaultConfig says where the platform's secrets live in HashiCorp Vault. Its String and
// LogValue methods leave the token out, so a config can be printed or logged whole.
type VaultConfig struct {
	// Address is the Vault server's URL, e.g. https://vault.internal:8200.
	Address string
	// Token authenticates every request (Vault token auth). It is looked up at start;
	// when Vault reports it renewable with a TTL, it is renewed in the background until
	// Close.
	Token string
	// Mount is the path the KV version 2 engine is mounted at; "" means "secret".
	Mount string
	// Path is the KV path of the one secret whose fields hold the credentials, keyed by
	// variable name, e.g. "agentic" for secret/data/agentic. Required.
	Path string
	// Logger receives start, refresh and renewal events; never values or the token.
	// Nil discards them.
	Logger *slog.Logger
}

// String describes the config without its token.
func (c VaultConfig) String() string {
	return fmt.Sprintf("vault %s mount %q path %q", c.Address, c.Mount, c.Path)
}

// GoString describes the config without its token, for %#v.
func (c VaultConfig) GoString() string { return c.String() }

// LogValue logs the config without its token.
func (c VaultConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("address", c.Address),
		slog.String("mount", c.Mount),
		slog.String("path", c.Path),
	)
}

// withDefaults fills in defaults and normalises the slashes operators tend to add.
func (c VaultConfig) withDefaults() VaultConfig {
	c.Mount = strings.Trim(c.Mount, "/")
	if c.Mount == "" {
		c.Mount = DefaultVaultMount
	}
	c.Path = strings.Trim(c.Path, "/")
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c VaultConfig) validate() error {
	if err := checkAddress(c.Address); err != nil {
		return fmt.Errorf("secrets: vault config: Address %w", err)
	}
	if c.Token == "" {
		return errors.New("secrets: vault config: Token is required")
	}
	if c.Path == "" {
		return errors.New("secrets: vault config: Path is required")
	}
	return nil
}

// checkAddress reports why addr is not a usable Vault address, phrased to follow the
// name of the setting it came from.
func checkAddress(addr string) error {
	if addr == "" {
		return errors.New("is required")
	}
	u, err := url.Parse(addr)
	if err != nil {
		return fmt.Errorf("is not a URL: %q", addr)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return fmt.Errorf("has no host: %q", addr)
		}
	case "unix":
	default:
		return fmt.Errorf("must be an http, https or unix URL: %q", addr)
	}
	return nil
}

// Vault is a Source backed by one secret in a HashiCorp Vault KV version 2 engine. It
// reads the secret once at start and answers lookups from that copy; Refresh reads it
// again. Each field of the secret is one credential named like its environment variable.
type Vault struct {
	client *vault.Client
	cfg    VaultConfig
	log    *slog.Logger

	mu   sync.RWMutex
	data map[string]any

	watcher   *vault.LifetimeWatcher // nil when the token is not renewed
	stop      chan struct{}
	renewDone chan struct{}
	closeOnce sync.Once
}

var _ Source = (*Vault)(nil)

// NewVault connects to Vault with cfg.Token, checks the token with lookup-self, reads the
// secret at cfg.Mount/cfg.Path, and starts renewing the token when Vault says it is
// renewable and has a TTL (root and other non-expiring tokens are left alone). Call Close
// to stop the renewal.
//
// Address and token always come from cfg. The Vault client library still applies its own
// transport settings from the standard VAULT_CACERT, VAULT_CLIENT_CERT,
// VAULT_SKIP_VERIFY, VAULT_NAMESPACE and similar variables, as every Vault tool does.
func NewVault(ctx context.Context, cfg VaultConfig) (*Vault, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}

	conf := vault.DefaultConfig()
	if conf.Error != nil {
		return nil, fmt.Errorf("secrets: vault client config: %w", conf.Error)
	}
	conf.Address = cfg.Address
	conf.AgentAddress = "" // VAULT_AGENT_ADDR would take precedence over Address
	client, err := vault.NewClient(conf)
	if err != nil {
		return nil, fmt.Errorf("secrets: vault client: %w", redact(err, cfg.Token))
	}
	client.SetToken(cfg.Token)

	v := &Vault{client: client, cfg: cfg, log: cfg.Logger}

	self, err := client.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return nil, vaultError(fmt.Sprintf("token lookup-self at %s", cfg.Address), err, cfg.Token)
	}
	if self == nil || self.Data == nil {
		return nil, fmt.Errorf("secrets: vault token lookup-self at %s: empty response", cfg.Address)
	}
	renewable, err := self.TokenIsRenewable()
	if err != nil {
		return nil, fmt.Errorf("secrets: vault token lookup-self: renewable: %w", err)
	}
	ttl, err := self.TokenTTL()
	if err != nil {
		return nil, fmt.Errorf("secrets: vault token lookup-self: ttl: %w", err)
	}

	if err := v.Refresh(ctx); err != nil {
		return nil, err
	}

	if renewable && ttl > 0 {
		if err := v.startRenewal(ctx, ttl); err != nil {
			return nil, err
		}
	}
	v.log.InfoContext(ctx, "vault secrets loaded", slog.Any("vault", cfg),
		slog.Bool("token_renewed", v.watcher != nil), slog.Duration("token_ttl", ttl))
	return v, nil
}

// Refresh reads the secret again and replaces the values lookups answer from. On error
// the previous values stay in use.
func (v *Vault) Refresh(ctx context.Context) error {
	where := fmt.Sprintf("mount %q path %q", v.cfg.Mount, v.cfg.Path)
	kv, err := v.client.KVv2(v.cfg.Mount).Get(ctx, v.cfg.Path)
	if errors.Is(err, vault.ErrSecretNotFound) {
		return fmt.Errorf("secrets: vault kv v2 %s: no secret there (GET /v1/%s/data/%s answered 404): %w",
			where, v.cfg.Mount, v.cfg.Path, vault.ErrSecretNotFound)
	}
	if err != nil {
		return vaultError("kv v2 read "+where, err, v.cfg.Token)
	}
	if kv.Data == nil {
		return fmt.Errorf("secrets: vault kv v2 %s: the latest version has no data (deleted or destroyed)", where)
	}
	v.mu.Lock()
	v.data = kv.Data
	v.mu.Unlock()

	version := 0
	if kv.VersionMetadata != nil {
		version = kv.VersionMetadata.Version
	}
	v.log.DebugContext(ctx, "vault secret read", slog.String("mount", v.cfg.Mount),
		slog.String("path", v.cfg.Path), slog.Int("version", version), slog.Int("fields", len(kv.Data)))
	return nil
}

// Lookup returns the field name of the secret as last read. A field that is not a JSON
// string is an error, since a number or object silently turned into text would hide a
// mistake in how the secret was written.
func (v *Vault) Lookup(_ context.Context, name string) (string, bool, error) {
	v.mu.RLock()
	raw, ok := v.data[name]
	v.mu.RUnlock()
	if !ok {
		return "", false, nil
	}
	s, isString := raw.(string)
	if !isString {
		return "", false, fmt.Errorf("secrets: vault kv v2 mount %q path %q: field %s is %s, not a string",
			v.cfg.Mount, v.cfg.Path, name, jsonKind(raw))
	}
	return s, true, nil
}

// Close stops the token renewal and waits for it to end (an in-flight renewal request
// finishes first). It is safe to call more than once and always returns nil.
func (v *Vault) Close() error {
	v.closeOnce.Do(func() {
		if v.watcher == nil {
			return
		}
		close(v.stop)
		v.watcher.Stop()
		<-v.renewDone
	})
	return nil
}

var _ io.Closer = (*Vault)(nil)

// startRenewal hands the token to the client's LifetimeWatcher, which renews it through
// renew-self at about two thirds of each TTL until Close or until Vault stops extending
// it (explicit max TTL).
func (v *Vault) startRenewal(ctx context.Context, ttl time.Duration) error {
	w, err := v.client.NewLifetimeWatcher(&vault.LifetimeWatcherInput{
		Secret: &vault.Secret{Auth: &vault.SecretAuth{
			ClientToken:   v.cfg.Token,
			Renewable:     true,
			LeaseDuration: int(ttl / time.Second),
		}},
	})
	if err != nil {
		return fmt.Errorf("secrets: vault token renewal: %w", err)
	}
	v.watcher = w
	v.stop = make(chan struct{})
	v.renewDone = make(chan struct{})
	// The renewal outlives NewVault's ctx; keep only its values for the log records.
	go v.watch(context.WithoutCancel(ctx), w)
	return nil
}

// watch runs the watcher and logs what it reports until it ends.
func (v *Vault) watch(ctx context.Context, w *vault.LifetimeWatcher) {
	defer close(v.renewDone)
	go w.Start()
	for {
		select {
		case err := <-w.DoneCh():
			select {
			case <-v.stop:
				return
			default:
			}
			if err != nil {
				v.log.WarnContext(ctx, "vault token renewal failed; the token will expire",
					slog.String("error", vaultError("token renew-self", err, v.cfg.Token).Error()))
			} else {
				v.log.WarnContext(ctx, "vault token renewal ended (max TTL reached or renewal denied); the token will expire")
			}
			return
		case out := <-w.RenewCh():
			ttl := 0
			if out != nil && out.Secret != nil && out.Secret.Auth != nil {
				ttl = out.Secret.Auth.LeaseDuration
			}
			v.log.DebugContext(ctx, "vault token renewed", slog.Duration("ttl", time.Duration(ttl)*time.Second))
		}
	}
}

// VaultFromEnv builds a Vault from the standard VAULT_ADDR and VAULT_TOKEN (or
// VAULT_TOKEN_FILE, see Files) plus AGENTIC_VAULT_PATH (required) and AGENTIC_VAULT_MOUNT
// (default "secret"). It returns nil and no error when VAULT_ADDR is unset: Vault is
// optional. Configuration errors name the variable at fault.
func VaultFromEnv(ctx context.Context, getenv func(string) string) (*Vault, error) {
	addr := getenv("VAULT_ADDR")
	if addr == "" {
		return nil, nil
	}
	if err := checkAddress(addr); err != nil {
		return nil, fmt.Errorf("secrets: VAULT_ADDR %w", err)
	}
	token, err := Resolve(ctx, Chain(Files(getenv), Env(getenv)), "VAULT_TOKEN")
	if err != nil {
		return nil, err
	}
	if token == "" {
		return nil, errors.New("secrets: VAULT_TOKEN or VAULT_TOKEN_FILE is required when VAULT_ADDR is set")
	}
	path := getenv("AGENTIC_VAULT_PATH")
	if strings.Trim(path, "/") == "" {
		return nil, errors.New("secrets: AGENTIC_VAULT_PATH is required when VAULT_ADDR is set (the KV v2 path holding the secrets, e.g. agentic)")
	}
	return NewVault(ctx, VaultConfig{
		Address: addr,
		Token:   token,
		Mount:   getenv("AGENTIC_VAULT_MOUNT"),
		Path:    path,
	})
}

// vaultError turns a Vault client error into one line: the client's own message spans
// several lines and repeats the URL. The original stays reachable through errors.As
// (*api.ResponseError carries the status code).
func vaultError(op string, err error, token string) error {
	var re *vault.ResponseError
	if errors.As(err, &re) {
		msg := "no error message"
		if len(re.Errors) > 0 {
			msg = oneLine(scrub(strings.Join(re.Errors, "; "), token))
		}
		return &lineError{
			msg: fmt.Sprintf("secrets: vault %s: %s (HTTP %d)", op, msg, re.StatusCode),
			err: err,
		}
	}
	return &lineError{msg: fmt.Sprintf("secrets: vault %s: %s", op, oneLine(scrub(err.Error(), token))), err: err}
}

// redact returns err with every occurrence of token in its message replaced.
func redact(err error, token string) error {
	if err == nil || token == "" || !strings.Contains(err.Error(), token) {
		return err
	}
	return &lineError{msg: scrub(err.Error(), token), err: err}
}

// scrub replaces token in s; a Vault server or proxy may echo request headers back.
func scrub(s, token string) string {
	if token == "" {
		return s
	}
	return strings.ReplaceAll(s, token, "[redacted]")
}

// oneLine collapses whitespace runs (including newlines) and caps the length, since an
// error body from a proxy in front of Vault can be a whole HTML page.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	const maxLen = 300
	if len(s) > maxLen {
		s = s[:maxLen] + "..."
	}
	return s
}

// lineError is an error with a rewritten message that still unwraps to its cause.
type lineError struct {
	msg string
	err error
}

func (e *lineError) Error() string { return e.msg }
func (e *lineError) Unwrap() error { return e.err }

// jsonKind names the JSON type of a value decoded by the Vault client (which decodes
// numbers as json.Number), without showing the value.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	default:
		return fmt.Sprintf("a %T", v)
	}
}
