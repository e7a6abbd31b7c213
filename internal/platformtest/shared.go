package platformtest

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentic-run/agentic/events"
	"github.com/agentic-run/agentic/internal/natstest"
	"github.com/agentic-run/agentic/store/postgres/pgtest"
)

// shared is the per-binary platform of Shared.
var shared struct {
	once sync.Once
	tb   *processTB
	p    *Platform
	err  error
}

// Shared returns the platform shared by the examples of this test binary, starting it on
// first use on its own embedded NATS server and PostgreSQL schema. It returns an error, not
// a skip, when an engine is missing. The package's TestMain must call Main.
func Shared() (*Platform, error) {
	shared.once.Do(func() {
		shared.tb = &processTB{name: "platformtest_shared"}
		done := make(chan struct{})
		// Like a test, the set-up runs in its own goroutine: Fatal ends that goroutine.
		go func() {
			defer close(done)
			shared.p, shared.err = startShared(shared.tb)
		}()
		<-done
		if shared.err == nil && shared.tb.failure != nil {
			shared.err = shared.tb.failure
		}
		if shared.err != nil {
			shared.err = fmt.Errorf("platformtest: shared platform: %w", shared.err)
		}
	})
	return shared.p, shared.err
}

func startShared(tb *processTB) (*Platform, error) {
	st := pgtest.New(tb)
	dir, err := os.MkdirTemp("", "platformtest-nats-")
	if err != nil {
		return nil, err
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	_, url := natstest.StartServer(tb, dir)
	nc, err := nats.Connect(url, nats.Name("platformtest"))
	if err != nil {
		return nil, err
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	names := events.Names{Prefix: "shared"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := events.Setup(ctx, js, names, &events.SetupOpts{AckWait: 5 * time.Second}); err != nil {
		return nil, err
	}
	return start(tb, st, js, nc, names, nil)
}

// Main runs the package's tests and examples (through natstest.Main), then stops the shared
// platform if one was started. Call it from TestMain: os.Exit(platformtest.Main(m)).
func Main(m *testing.M) int {
	code := natstest.Main(m)
	if shared.tb != nil {
		shared.tb.runCleanups()
		if shared.tb.Failed() && code == 0 {
			code = 1
		}
	}
	return code
}

// processTB is the testing.TB of the shared platform: it lives as long as the process.
// Errors go to stderr and mark it failed; Fatal also ends the calling goroutine, as in a
// test. Methods it does not define are not used by the helpers it is passed to.
type processTB struct {
	testing.TB // nil: only satisfies the interface's unexported method
	name       string

	mu       sync.Mutex
	cleanups []func()
	failed   bool
	failure  error
}

func (p *processTB) Helper()      {}
func (p *processTB) Name() string { return p.name }

func (p *processTB) Cleanup(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cleanups = append(p.cleanups, f)
}

// runCleanups runs the cleanups, last registered first.
func (p *processTB) runCleanups() {
	for {
		p.mu.Lock()
		n := len(p.cleanups)
		if n == 0 {
			p.mu.Unlock()
			return
		}
		f := p.cleanups[n-1]
		p.cleanups = p.cleanups[:n-1]
		p.mu.Unlock()
		f()
	}
}

func (p *processTB) Log(args ...any) {
	fmt.Fprintln(os.Stderr, append([]any{p.name + ":"}, args...)...)
}
func (p *processTB) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, p.name+": "+format+"\n", args...)
}

func (p *processTB) Fail() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failed = true
}

func (p *processTB) Failed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed
}

func (p *processTB) fail(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failed = true
	if p.failure == nil {
		p.failure = fmt.Errorf("%s", msg)
	}
}

func (p *processTB) Error(args ...any) { p.Log(args...); p.fail(fmt.Sprint(args...)) }
func (p *processTB) Errorf(format string, args ...any) {
	p.Logf(format, args...)
	p.fail(fmt.Sprintf(format, args...))
}
func (p *processTB) FailNow()                          { p.Fail(); runtime.Goexit() }
func (p *processTB) Fatal(args ...any)                 { p.Error(args...); runtime.Goexit() }
func (p *processTB) Fatalf(format string, args ...any) { p.Errorf(format, args...); runtime.Goexit() }
func (p *processTB) Skip(args ...any)                  { p.Fatal(append([]any{"skip:"}, args...)...) }
func (p *processTB) Skipf(format string, args ...any)  { p.Fatalf("skip: "+format, args...) }
func (p *processTB) SkipNow()                          { p.Fatal("skip") }
func (p *processTB) Skipped() bool                     { return false }
func (p *processTB) Context() context.Context          { return context.Background() }

func (p *processTB) TempDir() string {
	dir, err := os.MkdirTemp("", "platformtest-")
	if err != nil {
		p.Fatalf("temp dir: %v", err)
	}
	p.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}
