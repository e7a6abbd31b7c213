package s3test_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentic-run/agentic/internal/s3test"
)

// TestStart: the server answers at the endpoint (403 to an unsigned request) and its bucket
// exists.
func TestStart(t *testing.T) {
	endpoint, access, secret, bucket := s3test.Start(t)
	if !strings.HasPrefix(endpoint, "http://127.0.0.1:") || access == "" || secret == "" || bucket == "" {
		t.Fatalf("Start() = %q, %q, %q, %q", endpoint, access, secret, bucket)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, endpoint+"/"+bucket, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("unsigned GET: status %d, want 403", resp.StatusCode)
	}
}

// TestBinaryMissing: without the binary the error says how to install it.
func TestBinaryMissing(t *testing.T) {
	empty := t.TempDir()
	t.Setenv("PATH", empty) // no versitygw, and no go to ask for GOPATH
	t.Setenv("GOPATH", filepath.Join(empty, "gopath"))
	_, err := s3test.Binary()
	if err == nil || !strings.Contains(err.Error(), "scripts/engines.sh versitygw") {
		t.Fatalf("Binary() error = %v, want one naming scripts/engines.sh versitygw", err)
	}
	if _, err := os.Stat(filepath.Join(empty, "gopath")); err == nil {
		t.Fatal("Binary created GOPATH")
	}
}
