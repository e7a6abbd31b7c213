package secrets

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// Source looks credentials up by the name of the environment variable that would hold
// them, such as "AGENTIC_ADMIN_TOKEN".
type Source interface {
	// Lookup returns the value of name. ok is false with a nil error when this source
	// does not hold name, so a Chain can ask the next one; an error means the source
	// holds something for name but it cannot be used, and the lookup must fail.
	Lookup(ctx context.Context, name string) (value string, ok bool, err error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context, name string) (string, bool, error)

// Lookup calls f.
func (f SourceFunc) Lookup(ctx context.Context, name string) (string, bool, error) {
	return f(ctx, name)
}

// Env returns the Source of plain environment variables read through getenv. An empty
// variable counts as not set, as it does everywhere else in the platform's configuration.
func Env(getenv func(string) string) Source {
	return SourceFunc(func(_ context.Context, name string) (string, bool, error) {
		v := getenv(name)
		return v, v != "", nil
	})
}

// FileSuffix is appended to a variable's name to get the variable that names a file
// holding its value, the convention of Docker and Kubernetes secrets (POSTGRES_PASSWORD_FILE).
const FileSuffix = "_FILE"

// Files returns the Source of the NAME_FILE convention: when NAME_FILE is set, the value
// of NAME is the content of that file with one trailing line ending ("\n" or "\r\n")
// removed, since editors and `echo` add one that is never part of a secret. Any other
// whitespace is kept.
//
// Setting both NAME and NAME_FILE is an error, because silently preferring one would hide
// a stale credential. An unreadable file is an error naming NAME_FILE and the path.
func Files(getenv func(string) string) Source {
	return SourceFunc(func(_ context.Context, name string) (string, bool, error) {
		fileVar := name + FileSuffix
		path := getenv(fileVar)
		if path == "" {
			return "", false, nil
		}
		if getenv(name) != "" {
			return "", false, fmt.Errorf("secrets: both %s and %s are set, set only one", name, fileVar)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			// The *fs.PathError repeats the path; keep only its cause so the message
			// reads once, in one line.
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return "", false, fmt.Errorf("secrets: %s: read %q: %w", fileVar, path, err)
		}
		return trimLineEnding(string(b)), true, nil
	})
}

// trimLineEnding removes exactly one trailing "\r\n" or "\n".
func trimLineEnding(s string) string {
	if t, ok := strings.CutSuffix(s, "\r\n"); ok {
		return t
	}
	t, _ := strings.CutSuffix(s, "\n")
	return t
}

// Chain returns a Source that asks each source in order and returns the first value
// found. An error from any source stops the lookup: a broken source must not be skipped
// in favour of a later, possibly stale one. Nil sources are ignored.
func Chain(sources ...Source) Source {
	var list []Source
	for _, s := range sources {
		if s != nil {
			list = append(list, s)
		}
	}
	return SourceFunc(func(ctx context.Context, name string) (string, bool, error) {
		for _, s := range list {
			v, ok, err := s.Lookup(ctx, name)
			if err != nil || ok {
				return v, ok, err
			}
		}
		return "", false, nil
	})
}

// Resolve returns the value of name from src, or "" when no source holds it, so it can
// replace getenv for an optional setting; required settings check for "" as before.
func Resolve(ctx context.Context, src Source, name string) (string, error) {
	v, ok, err := src.Lookup(ctx, name)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", nil
	}
	return v, nil
}

// FromEnv builds the process's Source from its configuration: the plain variable NAME,
// then the file named by NAME_FILE, then HashiCorp Vault when VAULT_ADDR is set (see
// VaultFromEnv). NAME and NAME_FILE are mutually exclusive, so between them order only
// decides which error wins; Vault is asked only for names set in neither.
//
// The returned close function stops Vault token renewal; it is never nil and safe to call
// more than once.
func FromEnv(ctx context.Context, getenv func(string) string) (Source, func() error, error) {
	v, err := VaultFromEnv(ctx, getenv)
	if err != nil {
		return nil, nil, err
	}
	closeFn := func() error { return nil }
	// A nil *Vault in a Source interface would not be nil; add it only when configured.
	var vault Source
	if v != nil {
		vault = v
		closeFn = v.Close
	}
	// Files first so that NAME together with NAME_FILE is reported rather than NAME
	// winning silently; with only one of them set the order makes no difference.
	return Chain(Files(getenv), Env(getenv), vault), closeFn, nil
}
