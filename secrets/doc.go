// Package secrets gives the platform's processes their credentials (AGENTIC_ADMIN_TOKEN,
// the password in DATABASE_URL, OPENAI_API_KEY, ANTHROPIC_API_KEY, ...) from wherever the
// deployment keeps them, not only from plain environment variables.
//
// A Source looks a credential up by the name of the variable that would hold it. Three
// sources exist:
//
//   - Env: the variable itself (NAME).
//   - Files: the container convention NAME_FILE, naming a file whose content is the value
//     (Docker and Kubernetes secrets mounted as files); one trailing newline is removed.
//   - Vault: one secret in a HashiCorp Vault KV version 2 engine whose fields are named
//     like the variables, read at start with a token that is renewed in the background.
//
// FromEnv chains them in that order: an explicit NAME wins, then NAME_FILE, then Vault
// when VAULT_ADDR is configured. Setting both NAME and NAME_FILE is an error rather than
// a silent choice. Resolve replaces getenv for one name.
//
// Like the rest of the platform, this package never reads the environment itself: cmd/
// passes its getenv function in, and tests pass a map. (The Vault client library does
// read its standard TLS and namespace variables; see NewVault.)
//
// Secret values never appear in errors or logs: errors name the variable, the file path
// or the Vault mount and path, never the content, and Vault errors are rewritten to one
// line with the token removed. VaultConfig prints and logs without its token.
package secrets
