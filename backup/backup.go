package backup

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Config says where backups go and how they are made.
type Config struct {
	// DatabaseURL is what to dump (postgres://…). When it sets a search_path through its
	// options parameter (options=-csearch_path=s), the first schema of that path is dumped
	// (pg_dump -n); otherwise the whole database is. The password is handed to the tools in
	// PGPASSWORD, never on their command line.
	DatabaseURL string
	// Dir is where backups are written (AGENTIC_BACKUP_DIR); it is created (0700) if missing.
	Dir string
	// PgDump and PgRestore are the binaries; "" finds them on PATH or in `pg_config --bindir`.
	PgDump, PgRestore string
	// Now is the clock (time.Now when nil); backup names and retention use it.
	Now func() time.Time
}

// Result is one backup as it is recorded.
type Result struct {
	File     string        // absolute path: Dir/agentic-20261125T020000Z.dump (-2, -3… if taken twice in a second; .db for SQLite)
	Size     int64         // bytes
	SHA256   string        // hex checksum of the file
	Duration time.Duration // how long the dump and its verification took
	Entries  int           // table-of-contents entries pg_restore --list found (SQLite: tables)
	Started  time.Time     // by the Config's clock, UTC
}

// prefix and ext frame a backup's name (sqliteExt for SQLite's); a name that does not match
// nameRE is not a backup.
const (
	prefix     = "agentic-"
	ext        = ".dump"
	sqliteExt  = ".db"
	stampFmt   = "20060102T150405Z"
	tempPrefix = ".agentic-tmp-" // in-progress dumps: never match nameRE, so Prune leaves them
)

var nameRE = regexp.MustCompile(`^agentic-(\d{8}T\d{6}Z)(?:-([1-9]\d*))?\.(?:dump|db)$`)

// Name is the file name of a backup started at t (UTC, to the second); n > 1 adds the suffix
// that tells apart backups taken in the same second.
func Name(t time.Time, n int) string {
	return nameExt(t, n, ext)
}

// nameExt is Name with the extension e (ext or sqliteExt).
func nameExt(t time.Time, n int, e string) string {
	s := prefix + t.UTC().Format(stampFmt)
	if n > 1 {
		s += "-" + strconv.Itoa(n)
	}
	return s + e
}

// parseName returns the time and sequence number of a backup's file name; ok is false for
// any other name.
func parseName(name string) (t time.Time, n int, ok bool) {
	m := nameRE.FindStringSubmatch(name)
	if m == nil {
		return time.Time{}, 0, false
	}
	t, err := time.Parse(stampFmt, m[1])
	if err != nil {
		return time.Time{}, 0, false
	}
	n = 1
	if m[2] != "" {
		if n, err = strconv.Atoi(m[2]); err != nil {
			return time.Time{}, 0, false
		}
	}
	return t, n, true
}

func (c Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Run dumps the database with pg_dump -Fc into a temporary file in Dir, verifies it (the
// table of contents must list with pg_restore --list, and every data block must read back
// whole), computes its checksum, and renames it into place without replacing any backup. A
// dump that fails any step is removed, never kept as good. Errors name the step and carry
// the tool's stderr, without the password.
func Run(ctx context.Context, c Config) (*Result, error) {
	started := c.now().UTC()
	t0 := time.Now()
	if c.Dir == "" {
		return nil, errNoDir
	}
	conn, err := parseURL(c.DatabaseURL)
	if err != nil {
		return nil, err
	}
	pgDump, err := binary(c.PgDump, "pg_dump")
	if err != nil {
		return nil, err
	}
	pgRestore, err := binary(c.PgRestore, "pg_restore")
	if err != nil {
		return nil, err
	}
	dir, tmpName, err := tempIn(c.Dir, ext)
	if err != nil {
		return nil, err
	}
	kept := false
	defer func() {
		if !kept {
			os.Remove(tmpName)
		}
	}()

	args := []string{"--format=custom", "--file=" + tmpName, "--no-password"}
	if conn.schema != "" {
		args = append(args, "--schema="+quotePattern(conn.schema))
	}
	args = append(args, "--dbname="+conn.libpq)
	if _, err := conn.run(ctx, pgDump, args...); err != nil {
		return nil, fmt.Errorf("backup: pg_dump: %w", err)
	}

	toc, err := check(ctx, pgRestore, tmpName)
	if err != nil {
		return nil, fmt.Errorf("backup: verify: %w", err)
	}
	r, err := seal(tmpName, dir, ext, started, t0, len(toc))
	kept = err == nil
	return r, err
}

var errNoDir = errors.New("backup: no backup directory (AGENTIC_BACKUP_DIR)")

// tempIn makes dir (0700) and, in it, the empty temporary file of a backup in progress with
// extension ext, created 0600 since a backup holds every secret. It returns dir as an
// absolute path and the file's name.
func tempIn(dir, ext string) (abs, tmpName string, err error) {
	if abs, err = filepath.Abs(dir); err == nil {
		err = os.MkdirAll(abs, 0o700)
	}
	if err != nil {
		return "", "", fmt.Errorf("backup: directory: %w", err)
	}
	tmp, err := os.CreateTemp(abs, tempPrefix+"*"+ext)
	if err != nil {
		return "", "", fmt.Errorf("backup: temporary file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return "", "", fmt.Errorf("backup: temporary file: %w", err)
	}
	return abs, tmp.Name(), nil
}

// seal checksums a verified backup, syncs it and renames it into place as the backup started
// at started.
func seal(tmpName, dir, ext string, started, t0 time.Time, entries int) (*Result, error) {
	size, sum, err := syncAndHash(tmpName)
	if err != nil {
		return nil, fmt.Errorf("backup: checksum: %w", err)
	}
	file, err := place(tmpName, dir, started, ext)
	if err != nil {
		return nil, fmt.Errorf("backup: rename into place: %w", err)
	}
	return &Result{File: file, Size: size, SHA256: sum, Duration: time.Since(t0), Entries: entries, Started: started}, nil
}

// place links tmp to the first free name for started with extension e in dir (a link never
// replaces an existing file, so concurrent runs in one second get distinct names), removes
// tmp, and syncs the directory.
func place(tmp, dir string, started time.Time, e string) (string, error) {
	for n := 1; n <= 1000; n++ {
		file := filepath.Join(dir, nameExt(started, n, e))
		err := os.Link(tmp, file)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		if err := os.Remove(tmp); err != nil {
			os.Remove(file)
			return "", err
		}
		return file, syncDir(dir)
	}
	return "", fmt.Errorf("more than 1000 backups named for %s", started.Format(stampFmt))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// syncAndHash flushes the file to disk and returns its size and hex SHA-256.
func syncAndHash(name string) (int64, string, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return 0, "", err
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// Verify checks a backup file: its checksum must be wantSHA256 (when that is not ""), its
// table of contents must list with pg_restore --list, and every data block must read back
// (pg_restore into /dev/null) — a listing alone reads only the head of the file, so a
// truncated dump would still list. It returns the number of TOC entries.
func Verify(ctx context.Context, c Config, file, wantSHA256 string) (entries int, err error) {
	toc, err := verify(ctx, c, file, wantSHA256)
	return len(toc), err
}

// verify is Verify returning the TOC entry lines.
func verify(ctx context.Context, c Config, file, wantSHA256 string) ([]string, error) {
	pgRestore, err := binary(c.PgRestore, "pg_restore")
	if err != nil {
		return nil, err
	}
	if wantSHA256 != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("backup: verify: %w", err)
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("backup: verify: %w", err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, wantSHA256) {
			return nil, fmt.Errorf("backup: verify %s: checksum %s, want %s", file, got, wantSHA256)
		}
	}
	toc, err := check(ctx, pgRestore, file)
	if err != nil {
		return nil, fmt.Errorf("backup: verify %s: %w", file, err)
	}
	return toc, nil
}

// check lists file's table of contents and reads every data block back, returning the TOC
// entry lines.
func check(ctx context.Context, pgRestore, file string) ([]string, error) {
	if _, err := os.Stat(file); err != nil {
		return nil, err
	}
	var none conn
	out, err := none.run(ctx, pgRestore, "--list", file)
	if err != nil {
		return nil, fmt.Errorf("pg_restore --list: %w", err)
	}
	toc := tocEntries(out)
	if len(toc) == 0 {
		return nil, errors.New("pg_restore --list: no table-of-contents entries")
	}
	if _, err := none.run(ctx, pgRestore, "--file="+os.DevNull, file); err != nil {
		return nil, fmt.Errorf("pg_restore (read back): %w", err)
	}
	return toc, nil
}

// tocEntries returns the entry lines of a pg_restore --list output.
func tocEntries(list []byte) []string {
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(list))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		l := sc.Text()
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, ";") {
			continue
		}
		lines = append(lines, l)
	}
	return lines
}

// expired returns the backups among names (base names by name) older than cutoff by the
// time in their names, never the newest backup; names that are not backups are left out.
func expired(names []string, name func(string) string, cutoff time.Time) []string {
	type bk struct {
		name string
		t    time.Time
		n    int
	}
	var all []bk
	for _, s := range names {
		if t, n, ok := parseName(name(s)); ok {
			all = append(all, bk{s, t, n})
		}
	}
	if len(all) == 0 {
		return nil
	}
	sort.Slice(all, func(i, j int) bool {
		if !all[i].t.Equal(all[j].t) {
			return all[i].t.Before(all[j].t)
		}
		return all[i].n < all[j].n
	})
	var out []string
	for _, b := range all[:len(all)-1] { // the newest is always kept
		if b.t.Before(cutoff) {
			out = append(out, b.name)
		}
	}
	return out
}

// Prune deletes the backups in Dir whose name's timestamp is more than keep before c.Now,
// never the newest backup, and returns the removed paths. Files not named like backups are
// left alone; a missing Dir has nothing to prune.
func Prune(c Config, keep time.Duration) ([]string, error) {
	if keep <= 0 {
		return nil, fmt.Errorf("backup: prune: retention %v must be positive", keep)
	}
	dir, err := filepath.Abs(c.Dir)
	if err != nil {
		return nil, fmt.Errorf("backup: prune: %w", err)
	}
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("backup: prune: %w", err)
	}
	var names []string
	for _, de := range des {
		if de.Type().IsRegular() {
			names = append(names, de.Name())
		}
	}
	var removed []string
	var errs []error
	for _, name := range expired(names, func(name string) string { return name }, c.now().Add(-keep)) {
		p := filepath.Join(dir, name)
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, p)
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("backup: prune: %w", err)
	}
	return removed, nil
}

// Restore restores a backup into the database of url after verifying the file. The database
// must be empty of the dump's objects: a schema the dump creates may already exist (say,
// recreated empty after a DROP SCHEMA … CASCADE) but must hold no relations, and then its
// CREATE SCHEMA is left out, so a dump of one schema restores what pg_restore -n would plus
// the schema's grants and comment (the row-level-security roles need its USAGE grant).
// pg_restore runs with --no-owner --exit-on-error --single-transaction: a failure restores
// nothing.
func Restore(ctx context.Context, c Config, url, file string) error {
	target, err := parseURL(url)
	if err != nil {
		return err
	}
	pgRestore, err := binary(c.PgRestore, "pg_restore")
	if err != nil {
		return err
	}
	lines, err := verify(ctx, c, file, "")
	if err != nil {
		return fmt.Errorf("backup: restore refused: %w", err)
	}

	existing, err := schemas(ctx, url)
	if err != nil {
		return fmt.Errorf("backup: restore: %w", err)
	}
	keep := make([]string, 0, len(lines))
	for _, l := range lines {
		name, ok := schemaEntry(l, existing)
		if !ok {
			keep = append(keep, l)
			continue
		}
		if n := existing[name]; n > 0 {
			return fmt.Errorf("backup: restore: schema %q already holds %d relations; restore needs it empty", name, n)
		}
	}

	list, err := os.CreateTemp("", "agentic-restore-*.list")
	if err != nil {
		return fmt.Errorf("backup: restore: %w", err)
	}
	defer os.Remove(list.Name())
	_, err = io.WriteString(list, strings.Join(keep, "\n")+"\n")
	if cerr := list.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup: restore: %w", err)
	}
	if _, err := target.run(ctx, pgRestore,
		"--exit-on-error", "--single-transaction", "--no-owner", "--no-password",
		"--use-list="+list.Name(), "--dbname="+target.libpq, file); err != nil {
		return fmt.Errorf("backup: restore: pg_restore: %w", err)
	}
	return nil
}

// schemaEntry reports whether a TOC line is the SCHEMA entry (the CREATE SCHEMA) of one of
// the existing schemas, and which. Lines read "id; tableoid oid SCHEMA - name owner"; names
// may hold spaces, so the longest existing name that fits wins.
func schemaEntry(line string, existing map[string]int) (string, bool) {
	_, rest, ok := strings.Cut(line, "; ")
	if !ok {
		return "", false
	}
	f := strings.SplitN(rest, " ", 5)
	if len(f) < 5 || f[2] != "SCHEMA" || f[3] != "-" {
		return "", false
	}
	best, found := "", false
	for name := range existing {
		if (f[4] == name || strings.HasPrefix(f[4], name+" ")) && len(name) >= len(best) {
			best, found = name, true
		}
	}
	return best, found
}

// schemas returns the database's schemas with how many relations each holds.
func schemas(ctx context.Context, u string) (map[string]int, error) {
	cfg, err := pgxpool.ParseConfig(u) // accepts (and drops) the pool_* parameters
	if err != nil {
		return nil, fmt.Errorf("parse url: %s", err.Error()) // redacted by pgx
	}
	cn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer cn.Close(context.WithoutCancel(ctx))
	rows, err := cn.Query(ctx, `SELECT n.nspname, count(c.oid)::int
		FROM pg_namespace n LEFT JOIN pg_class c ON c.relnamespace = n.oid
		GROUP BY n.nspname`)
	if err != nil {
		return nil, fmt.Errorf("list schemas: %w", err)
	}
	out := map[string]int{}
	for rows.Next() {
		var name string
		var n int
		if err := rows.Scan(&name, &n); err != nil {
			return nil, fmt.Errorf("list schemas: %w", err)
		}
		out[name] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list schemas: %w", err)
	}
	return out, nil
}

// conn is a database URL made ready for the libpq tools.
type conn struct {
	libpq    string // the URL without password and pgx-only parameters
	password string // for PGPASSWORD, and to scrub from messages
	schema   string // the first schema of the options' search_path, or ""
}

// pgxOnly are URL parameters pgx understands and libpq rejects.
var pgxOnly = map[string]bool{
	"statement_cache_capacity":   true,
	"description_cache_capacity": true,
	"default_query_exec_mode":    true,
}

func parseURL(s string) (conn, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return conn{}, errors.New("backup: database URL must be a postgres:// URL")
	}
	var c conn
	if u.User != nil {
		c.password, _ = u.User.Password()
		u.User = url.User(u.User.Username())
	}
	q := u.Query()
	for k := range q {
		if strings.HasPrefix(k, "pool_") || pgxOnly[k] {
			q.Del(k)
		}
	}
	c.schema = searchPathSchema(q.Get("options"))
	u.RawQuery = q.Encode()
	c.libpq = u.String()
	return c, nil
}

// searchPathSchema returns the first schema of the search_path that a libpq options string
// sets (-c search_path=…, -csearch_path=… or --search_path=…), or "".
func searchPathSchema(options string) string {
	toks := splitOptions(options)
	var val string
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		var kv string
		switch {
		case t == "-c" && i+1 < len(toks):
			i++
			kv = toks[i]
		case strings.HasPrefix(t, "--"):
			kv = t[2:]
		case strings.HasPrefix(t, "-c"):
			kv = t[2:]
		default:
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.ReplaceAll(strings.ToLower(k), "-", "_") == "search_path" {
			val = v // the last setting wins, as in the server
		}
	}
	for _, item := range strings.Split(val, ",") {
		item = strings.TrimSpace(item)
		if strings.HasPrefix(item, `"`) && strings.HasSuffix(item, `"`) && len(item) >= 2 {
			item = strings.ReplaceAll(item[1:len(item)-1], `""`, `"`)
		} else {
			item = strings.ToLower(item)
		}
		if item != "" && item != "$user" {
			return item
		}
	}
	return ""
}

// splitOptions splits a libpq options string on unescaped spaces (backslash escapes).
func splitOptions(s string) []string {
	var toks []string
	var b strings.Builder
	in := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
			in = true
		case ch == ' ' || ch == '\t':
			if in {
				toks = append(toks, b.String())
				b.Reset()
				in = false
			}
		default:
			b.WriteByte(ch)
			in = true
		}
	}
	if in {
		toks = append(toks, b.String())
	}
	return toks
}

// quotePattern makes a schema name a pg_dump pattern that matches only that name: inside
// double quotes case is kept and wildcards are literal.
func quotePattern(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// run runs a tool with the password in its environment and returns its stdout; a failure
// carries its stderr, with the password scrubbed.
func (c conn) run(ctx context.Context, bin string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = os.Environ()
	if c.password != "" {
		cmd.Env = append(cmd.Env, "PGPASSWORD="+c.password)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if c.password != "" {
			msg = strings.ReplaceAll(msg, c.password, "xxxxx")
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		if msg == "" {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s", err, msg)
	}
	return stdout.Bytes(), nil
}

// binary returns the configured tool, or finds it on PATH or in `pg_config --bindir`.
func binary(configured, name string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if pc, err := exec.LookPath("pg_config"); err == nil {
		if out, err := exec.Command(pc, "--bindir").Output(); err == nil {
			p := filepath.Join(strings.TrimSpace(string(out)), name)
			if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("backup: %s not found on PATH or in `pg_config --bindir`: install the PostgreSQL client tools of the server's major version or later (Debian/Ubuntu: apt-get install postgresql-client)", name)
}
