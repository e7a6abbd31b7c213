package e2e

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Engines of a test's own, to stop and start again under a running cluster.

// lowPort returns a free TCP port on 127.0.0.1 below the ephemeral range. While a server is
// down its clients redial it in a loop, and a dial from an ephemeral port equal to the
// server's connects to itself (TCP simultaneous open), leaving the server unable to listen
// again.
func lowPort(t *testing.T) int {
	t.Helper()
	for range 100 {
		p := 20000 + rand.IntN(10000)
		if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
			require.NoError(t, ln.Close())
			return p
		}
	}
	t.Fatal("no free port below the ephemeral range")
	return 0
}

// waitListening waits until something accepts connections on 127.0.0.1:port.
func waitListening(t *testing.T, port int, what string) {
	t.Helper()
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	}, 10*time.Second, 20*time.Millisecond, "%s did not start", what)
}

// redisProc is a redis-server of the test's own, to stop and start again on the same port.
type redisProc struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
}

func startRedis(t *testing.T) *redisProc {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	require.NoError(t, err, "redis-server is needed (scripts/engines.sh installs it)")
	r := &redisProc{t: t, port: lowPort(t)}
	r.start(bin)
	t.Cleanup(r.stop)
	return r
}

func (r *redisProc) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *redisProc) start(bin string) {
	r.t.Helper()
	r.cmd = exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(r.port), "--save", "", "--appendonly", "no")
	require.NoError(r.t, r.cmd.Start())
	waitListening(r.t, r.port, "redis-server")
}

func (r *redisProc) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// pgProc is a PostgreSQL cluster of the test's own (initdb into a temporary directory, trust
// authentication, listening on 127.0.0.1 only), to stop and start again on the same port.
type pgProc struct {
	t      *testing.T
	bindir string
	root   string // data, socket and log
	port   int
	owner  string // the OS user the server runs as when the test runs as root
}

// pgBinDir finds PostgreSQL's server binaries: pg_config --bindir, else the newest
// /usr/lib/postgresql/*/bin, else initdb on the PATH.
func pgBinDir() (string, error) {
	has := func(dir string) bool {
		_, err := os.Stat(filepath.Join(dir, "initdb"))
		_, err2 := os.Stat(filepath.Join(dir, "pg_ctl"))
		return err == nil && err2 == nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); has(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, dir := range dirs {
		if has(dir) {
			return dir, nil
		}
	}
	if bin, err := exec.LookPath("initdb"); err == nil && has(filepath.Dir(bin)) {
		return filepath.Dir(bin), nil
	}
	return "", fmt.Errorf("PostgreSQL's server binaries initdb and pg_ctl are not installed " +
		"(not under `pg_config --bindir`, /usr/lib/postgresql/*/bin or the PATH): install the PostgreSQL server " +
		"(e.g. apt-get install postgresql)")
}

// startPostgres initialises and starts a cluster; it fails the test (never skips) when the
// server's binaries are missing.
func startPostgres(t *testing.T) *pgProc {
	t.Helper()
	bindir, err := pgBinDir()
	if err != nil {
		t.Fatal(err)
	}
	root, err := os.MkdirTemp("", "agentic-pg-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	p := &pgProc{t: t, bindir: bindir, root: root, port: lowPort(t)}
	require.NoError(t, os.Mkdir(filepath.Join(root, "sock"), 0o700))
	if os.Geteuid() == 0 {
		// initdb refuses to run as root: the cluster belongs to the postgres user.
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, the test needs the OS user postgres to own its PostgreSQL cluster: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, dir := range []string{root, filepath.Join(root, "sock")} {
			require.NoError(t, os.Chown(dir, uid, gid))
		}
		p.owner = u.Username
	}
	p.run("initdb", "-D", filepath.Join(root, "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync")
	p.start()
	t.Cleanup(func() { _, _ = p.try("pg_ctl", p.pgCtl("-m", "immediate", "stop")...) })
	return p
}

func (p *pgProc) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

// run runs one of the server's binaries (as the cluster's owner when the test is root) and
// fails the test if it fails.
func (p *pgProc) run(name string, args ...string) {
	p.t.Helper()
	out, err := p.try(name, args...)
	require.NoError(p.t, err, "%s %s:\n%s", name, strings.Join(args, " "), out)
}

func (p *pgProc) try(name string, args ...string) ([]byte, error) {
	bin := filepath.Join(p.bindir, name)
	cmd := exec.Command(bin, args...)
	if p.owner != "" {
		cmd = exec.Command("runuser", append([]string{"-u", p.owner, "--", bin}, args...)...)
	}
	cmd.Dir = p.root
	return cmd.CombinedOutput()
}

func (p *pgProc) pgCtl(args ...string) []string {
	return append([]string{"-D", filepath.Join(p.root, "data"), "-w", "-t", "30"}, args...)
}

// start starts the server and returns once it accepts connections.
func (p *pgProc) start() {
	p.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
		p.port, filepath.Join(p.root, "sock"))
	p.run("pg_ctl", p.pgCtl("-l", filepath.Join(p.root, "log"), "-o", opts, "start")...)
	waitListening(p.t, p.port, "postgres")
}

// stop stops the server, disconnecting its clients.
func (p *pgProc) stop() {
	p.t.Helper()
	p.run("pg_ctl", p.pgCtl("-m", "fast", "stop")...)
}
