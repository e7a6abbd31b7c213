package natstest_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/agentic-run/agentic/internal/natstest"
)

func TestMain(m *testing.M) { os.Exit(natstest.Main(m)) }

func TestSharedServer(t *testing.T) {
	t.Parallel()
	js, nc := natstest.JetStream(t)
	if !nc.IsConnected() {
		t.Fatal("not connected")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := js.AccountInfo(ctx)
	if err != nil {
		t.Fatalf("account info: %v", err)
	}
	if info == nil {
		t.Fatal("no account info")
	}
	first := natstest.Server(t)
	if again := natstest.Server(t); again != first {
		t.Fatal("server is not shared")
	}
}

func TestNamesUnique(t *testing.T) {
	t.Parallel()
	a, b := natstest.Names(t), natstest.Names(t)
	if a.Prefix == b.Prefix || len(a.Prefix) != 17 {
		t.Fatalf("prefixes %q %q", a.Prefix, b.Prefix)
	}
}

func TestStartServerRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, url := natstest.StartServer(t, dir)
	srv.Shutdown()
	srv.WaitForShutdown()
	_, url2 := natstest.StartServer(t, dir)
	if url != url2 {
		t.Fatalf("restart moved from %s to %s", url, url2)
	}
}
