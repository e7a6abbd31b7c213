package natstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentic-run/agentic/events"
)

// readyTimeout bounds how long a starting server may take to accept connections.
const readyTimeout = 30 * time.Second

// shared is the per-binary server, started on first use.
var shared struct {
	once sync.Once
	srv  *server.Server
	dir  string
	err  error
}

// ports remembers the port each StartServer store directory was first given, so a restart on
// the same directory listens where its clients expect it.
var ports struct {
	mu    sync.Mutex
	byDir map[string]int
}

// Server returns the embedded JetStream server shared by every test of this binary, starting
// it on first use. It fails the test if the server cannot start.
func Server(t testing.TB) *server.Server {
	t.Helper()
	shared.once.Do(func() {
		removeStale()
		dir, err := os.MkdirTemp("", fmt.Sprintf("natstest-%d-", os.Getpid()))
		if err != nil {
			shared.err = fmt.Errorf("natstest: temp dir: %w", err)
			return
		}
		srv, err := start(dir, -1)
		if err == nil {
			err = anchor(srv.ClientURL())
			if err != nil {
				srv.Shutdown()
			}
		}
		if err != nil {
			_ = os.RemoveAll(dir)
			shared.err = err
			return
		}
		shared.srv, shared.dir = srv, dir
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.srv
}

// URL returns the client URL of the shared server.
func URL(t testing.TB) string {
	t.Helper()
	return Server(t).ClientURL()
}

// Conn returns a new connection to the shared server, closed when the test ends.
func Conn(t testing.TB) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(URL(t), nats.Name(t.Name()), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatalf("natstest: connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// JetStream returns a JetStream context on a new connection to the shared server, and that
// connection; both are closed when the test ends.
func JetStream(t testing.TB) (jetstream.JetStream, *nats.Conn) {
	t.Helper()
	nc := Conn(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("natstest: jetstream: %v", err)
	}
	return js, nc
}

// Names returns a prefix unique to this test ("t" and 16 hex digits), valid as a NATS token.
// The streams under that prefix are deleted when the test ends.
func Names(t testing.TB) events.Names {
	t.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("natstest: random prefix: %v", err)
	}
	n := events.Names{Prefix: "t" + hex.EncodeToString(b[:])}
	url := URL(t)
	t.Cleanup(func() {
		if err := deleteStreams(url, n); err != nil {
			t.Logf("natstest: cleanup of %s: %v", n.Prefix, err)
		}
	})
	return n
}

// Setup gives the test a fresh prefix and creates its streams and consumers with
// events.Setup on file storage (as in production). A non-nil o is copied; its AckWait,
// DuplicateWindow and EventsMaxAge apply, MemoryStorage is forced off.
func Setup(t testing.TB, o *events.SetupOpts) (jetstream.JetStream, events.Names) {
	t.Helper()
	js, _ := JetStream(t)
	n := Names(t)
	var opts events.SetupOpts
	if o != nil {
		opts = *o
	}
	opts.MemoryStorage = false
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := events.Setup(ctx, js, n, &opts); err != nil {
		t.Fatalf("natstest: setup %s: %v", n.Prefix, err)
	}
	return js, n
}

// StartServer starts a separate JetStream server storing in dir and returns once it accepts
// connections. It is shut down when the test ends (the test may shut it down earlier, to
// simulate an outage, and call StartServer again on the same dir: the restarted server
// listens on the same port, so connections made with reconnects enabled find it again).
func StartServer(t testing.TB, dir string) (*server.Server, string) {
	t.Helper()
	ports.mu.Lock()
	port, ok := ports.byDir[dir]
	ports.mu.Unlock()
	if !ok {
		port = -1
	}
	srv, err := start(dir, port)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		ports.mu.Lock()
		if ports.byDir == nil {
			ports.byDir = make(map[string]int)
		}
		if a, ok := srv.Addr().(*net.TCPAddr); ok {
			ports.byDir[dir] = a.Port
		}
		ports.mu.Unlock()
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv, srv.ClientURL()
}

// Main runs the tests of a package and then shuts the shared server down and removes its
// store directory; call it from TestMain as os.Exit(natstest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if shared.srv != nil {
		shared.srv.Shutdown()
		shared.srv.WaitForShutdown()
		_ = os.RemoveAll(shared.dir)
	}
	return code
}

func start(dir string, port int) (*server.Server, error) {
	opts := &server.Options{
		ServerName:         "natstest",
		Host:               "127.0.0.1",
		Port:               port,
		JetStream:          true,
		StoreDir:           dir,
		JetStreamMaxMemory: 1 << 30,
		JetStreamMaxStore:  8 << 30,
		NoLog:              true,
		NoSigs:             true,
		MaxPayload:         8 << 20,
	}
	// NATSTEST_LOG=1 shows the server's own log on stderr, for debugging a test.
	if os.Getenv("NATSTEST_LOG") != "" {
		opts.NoLog = false
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natstest: new server: %w", err)
	}
	if !opts.NoLog {
		srv.ConfigureLogger()
	}
	go srv.Start()
	if !srv.ReadyForConnections(readyTimeout) {
		srv.Shutdown()
		return nil, errors.New("natstest: server not ready for connections")
	}
	return srv, nil
}

func deleteStreams(url string, n events.Names) error {
	nc, err := nats.Connect(url, nats.Name("natstest-cleanup"))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	for _, s := range []string{n.TasksStream(), n.EventsStream(), n.DLQStream(), n.OpsStream(), "KV_" + n.ScheduleBucket()} {
		if err := js.DeleteStream(ctx, s); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			errs = append(errs, fmt.Errorf("delete %s: %w", s, err))
		}
	}
	return errors.Join(errs...)
}

// anchor creates a file stream that is never deleted. When the last stream of an account is
// deleted, nats-server removes the account's store directory in the background, and a
// stream created at that moment fails ("error creating store for stream"); tests delete
// their streams all the time, so the shared server always keeps one.
func anchor(url string) error {
	nc, err := nats.Connect(url, nats.Name("natstest-anchor"))
	if err != nil {
		return fmt.Errorf("natstest: anchor: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("natstest: anchor: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:     "NATSTEST_ANCHOR",
		Subjects: []string{"natstest.anchor"},
		Storage:  jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("natstest: anchor: %w", err)
	}
	return nil
}

// removeStale deletes the store directories of shared servers whose test binary has exited
// without calling Main (the server dies with the binary; its directory stays behind).
func removeStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "natstest-*-*"))
	for _, dir := range dirs {
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(dir), "natstest-%d-", &pid); err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if p, err := os.FindProcess(pid); err == nil && p.Signal(syscall.Signal(0)) == nil {
			continue // still running
		}
		_ = os.RemoveAll(dir)
	}
}
