// Package s3test gives tests an S3-compatible server of their own: a versitygw process
// (Apache-2.0, github.com/versity/versitygw) serving a temporary directory through its posix
// backend, on a free port of 127.0.0.1, with one empty bucket.
//
// The binary is looked up on PATH, then in $(go env GOPATH)/bin. A test whose binary is
// missing fails, naming the script that installs it; it never skips.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentic-run/agentic/internal/syncbuf"
)

// Region is the region the server answers for (versitygw's default).
const Region = "us-east-1"

// startTimeout bounds how long the server may take to answer its first request.
const startTimeout = 20 * time.Second

// Start starts a versitygw server for the test and returns its endpoint (http://127.0.0.1:PORT),
// root credentials and the name of an empty bucket on it. The server and its directory are
// removed at cleanup. The test fails at once if the server cannot be started.
func Start(t testing.TB) (endpoint, access, secret, bucket string) {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatalf("s3test: %v", err)
	}
	access, secret = "agentic-test-"+random(t, 4), random(t, 16)
	bucket = "agentic-test-" + random(t, 6)
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, bucket), 0o755); err != nil { // a bucket is a directory
		t.Fatalf("s3test: create bucket: %v", err)
	}

	// A free port can be taken by another process between probing and binding; try again then.
	var lastErr error
	for range 3 {
		ep, err := start(t, bin, access, secret, root)
		if err == nil {
			return ep, access, secret, bucket
		}
		lastErr = err
	}
	t.Fatalf("s3test: %v", lastErr)
	return "", "", "", ""
}

// Binary returns the path of the versitygw binary: on PATH, else in $(go env GOPATH)/bin.
func Binary() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	gopath := os.Getenv("GOPATH")
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		gopath = strings.TrimSpace(string(out))
	}
	if gopath == "" {
		if home, err := os.UserHomeDir(); err == nil {
			gopath = filepath.Join(home, "go")
		}
	}
	if gopath != "" {
		// GOPATH may list several directories; go install writes to the first.
		p := filepath.Join(filepath.SplitList(gopath)[0], "bin", "versitygw")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", errors.New("versitygw not found on PATH or in $(go env GOPATH)/bin: run scripts/engines.sh versitygw")
}

// start runs one server on a free port and waits until it answers.
func start(t testing.TB, bin, access, secret, root string) (string, error) {
	t.Helper()
	port, err := freePort()
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	addr := "127.0.0.1:" + port
	out := &syncbuf.Buffer{}
	cmd := exec.Command(bin, "--access", access, "--secret", secret, "--region", Region,
		"--port", addr, "--quiet", "posix", root)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}

	endpoint := "http://" + addr
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if answers(ctx, endpoint) {
			t.Cleanup(stop)
			return endpoint, nil
		}
		select {
		case err := <-exited:
			return "", fmt.Errorf("versitygw on %s exited (%v): %s", addr, err, strings.TrimSpace(out.String()))
		case <-ctx.Done():
			stop()
			return "", fmt.Errorf("versitygw on %s did not answer within %v: %s", addr, startTimeout, strings.TrimSpace(out.String()))
		case <-tick.C:
		}
	}
}

// answers reports whether an HTTP server answers at endpoint (any status: an unsigned request
// gets 403).
func answers(ctx context.Context, endpoint string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}

func random(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("s3test: random: %v", err)
	}
	return hex.EncodeToString(b)
}
