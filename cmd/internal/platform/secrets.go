package platform

import (
	"context"

	"github.com/agentic-run/agentic/secrets"
)

// secretVars are the variables that hold credentials. Each may also be given as a file
// (NAME_FILE, the convention of Docker and Kubernetes secrets) or, when VAULT_ADDR is set,
// as a field of the Vault KV v2 secret at AGENTIC_VAULT_MOUNT/AGENTIC_VAULT_PATH.
var secretVars = []string{
	"AGENTIC_ADMIN_TOKEN", "DATABASE_URL", "REDIS_URL", "NATS_URL",
	"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GROQ_API_KEY",
	"AGENTIC_BACKUP_S3_ACCESS_KEY_ID", "AGENTIC_BACKUP_S3_SECRET_ACCESS_KEY",
}

// load reads the configuration with the credentials resolved through the secret sources, and
// returns the resolving getenv too; closeSecrets stops Vault token renewal.
func load(ctx context.Context, getenv func(string) string) (c Config, resolved func(string) string, closeSecrets func(), err error) {
	resolved, closeFn, err := withSecrets(ctx, getenv)
	if err != nil {
		return Config{}, nil, nil, err
	}
	if c, err = FromEnv(resolved); err != nil {
		_ = closeFn()
		return Config{}, nil, nil, err
	}
	return c, resolved, func() { _ = closeFn() }, nil
}

// withSecrets returns getenv with the credentials of secretVars resolved through the
// secret sources, read once at start; the close function stops Vault token renewal.
func withSecrets(ctx context.Context, getenv func(string) string) (func(string) string, func() error, error) {
	src, closeFn, err := secrets.FromEnv(ctx, getenv)
	if err != nil {
		return nil, nil, err
	}
	vals := make(map[string]string, len(secretVars))
	for _, name := range secretVars {
		v, err := secrets.Resolve(ctx, src, name)
		if err != nil {
			_ = closeFn()
			return nil, nil, err
		}
		if v != "" {
			vals[name] = v
		}
	}
	return func(name string) string {
		if v, ok := vals[name]; ok {
			return v
		}
		return getenv(name)
	}, closeFn, nil
}
