package backup

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, as store/sqlite uses
)

// sqliteTables are the store's tables a SQLite backup must hold to count as one.
var sqliteTables = []string{"schema_migrations", "tenants", "api_keys", "tasks"}

// sqliteBusy is how long a backup waits for a lock the running store holds.
const sqliteBusy = 10 * time.Second

// RunSQLite backs up the SQLite store database at dbPath (dev mode's store/sqlite file) into
// dir as agentic-<UTC time>.db. VACUUM INTO writes a consistent, compacted copy (a snapshot:
// the store may keep running and writing meanwhile) into a temporary file in dir, in rollback
// journal mode so the copy is one self-contained file. The copy must pass VerifySQLite; then it
// is checksummed and renamed into place without replacing any backup, as Run does. A copy that
// fails any step is removed. now is the clock for the name (time.Now when nil). Result.Entries
// is the number of tables.
func RunSQLite(ctx context.Context, dbPath, dir string, now func() time.Time) (*Result, error) {
	if now == nil {
		now = time.Now
	}
	started := now().UTC()
	t0 := time.Now()
	if dir == "" {
		return nil, errNoDir
	}
	src, err := filepath.Abs(dbPath)
	if err != nil {
		return nil, fmt.Errorf("backup: sqlite database: %w", err)
	}
	// VACUUM INTO from a missing file would back up a new empty database.
	if fi, err := os.Stat(src); err != nil {
		return nil, fmt.Errorf("backup: sqlite database: %w", err)
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("backup: sqlite database %s is not a file", src)
	}
	// VACUUM INTO needs a file that does not exist or is empty: the temporary file is empty,
	// and 0600, before SQLite writes into it.
	dir, tmpName, err := tempIn(dir, sqliteExt)
	if err != nil {
		return nil, err
	}
	kept := false
	defer func() {
		if !kept {
			removeSQLite(tmpName)
		}
	}()

	if err := vacuumInto(ctx, src, tmpName); err != nil {
		return nil, fmt.Errorf("backup: vacuum into: %w", err)
	}
	tables, err := checkSQLite(ctx, tmpName)
	if err != nil {
		return nil, fmt.Errorf("backup: verify: %w", err)
	}
	r, err := seal(tmpName, dir, sqliteExt, started, t0, tables)
	kept = err == nil
	return r, err
}

// vacuumInto copies the database src into the empty file dst and switches the copy to
// rollback-journal mode (VACUUM INTO keeps the source's WAL mode, and a WAL database is
// not a single self-contained file once opened).
func vacuumInto(ctx context.Context, src, dst string) error {
	// Not query_only, which refuses VACUUM INTO even though it writes only to dst; nor
	// mode=ro, which cannot read a WAL database whose -shm it may not create.
	db, err := openSQLite(src, url.Values{"_pragma": {busyPragma()}})
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return sqliteError(ctx, err)
	}
	if err := db.Close(); err != nil {
		return sqliteError(ctx, err)
	}

	out, err := openSQLite(dst, url.Values{"_pragma": {busyPragma()}})
	if err != nil {
		return err
	}
	defer out.Close()
	var mode string
	if err := out.QueryRowContext(ctx, `PRAGMA journal_mode=DELETE`).Scan(&mode); err != nil {
		return sqliteError(ctx, err)
	}
	if mode != "delete" {
		return fmt.Errorf("journal mode of the copy is %q, want delete", mode)
	}
	if err := out.Close(); err != nil {
		return sqliteError(ctx, err)
	}
	return nil
}

// VerifySQLite checks a SQLite backup file: its checksum must be wantSHA256 (when that is
// not ""), PRAGMA integrity_check must answer "ok", and it must hold the store's tables
// (schema_migrations, tenants, api_keys, tasks). The file is opened read-only and immutable,
// so nothing is written beside it. It returns the number of tables.
func VerifySQLite(ctx context.Context, file, wantSHA256 string) (tables int, err error) {
	if wantSHA256 != "" {
		_, got, err := hashFile(file)
		if err != nil {
			return 0, fmt.Errorf("backup: verify: %w", err)
		}
		if !strings.EqualFold(got, wantSHA256) {
			return 0, fmt.Errorf("backup: verify %s: checksum %s, want %s", file, got, wantSHA256)
		}
	}
	n, err := checkSQLite(ctx, file)
	if err != nil {
		return 0, fmt.Errorf("backup: verify %s: %w", file, err)
	}
	return n, nil
}

// checkSQLite runs the integrity check and the table check of VerifySQLite on file.
func checkSQLite(ctx context.Context, file string) (int, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return 0, err
	}
	if fi.Size() == 0 {
		return 0, errors.New("empty file")
	}
	db, err := openSQLite(file, url.Values{"mode": {"ro"}, "immutable": {"1"}})
	if err != nil {
		return 0, err
	}
	defer db.Close()

	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return 0, fmt.Errorf("integrity check: %w", sqliteError(ctx, err))
	}
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return 0, fmt.Errorf("integrity check: %w", sqliteError(ctx, err))
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("integrity check: %w", sqliteError(ctx, err))
	}
	if len(problems) > 0 {
		if len(problems) > 5 {
			problems = append(problems[:5], fmt.Sprintf("and %d more", len(problems)-5))
		}
		return 0, fmt.Errorf("integrity check: %s", strings.Join(problems, "; "))
	}

	names, err := sqliteTableNames(ctx, db)
	if err != nil {
		return 0, err
	}
	var missing []string
	for _, want := range sqliteTables {
		if !names[want] {
			missing = append(missing, want)
		}
	}
	if len(missing) > 0 {
		return 0, fmt.Errorf("not an Agentic store: no table %s", strings.Join(missing, ", "))
	}
	return len(names), nil
}

// sqliteTableNames returns the names of the database's own tables.
func sqliteTableNames(ctx context.Context, db *sql.DB) (map[string]bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", sqliteError(ctx, err))
	}
	defer rows.Close()
	names := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("list tables: %w", sqliteError(ctx, err))
		}
		names[name] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tables: %w", sqliteError(ctx, err))
	}
	return names, nil
}

// RestoreSQLite restores the SQLite backup file as the store database at dbPath. The store
// must not be running on dbPath. dbPath may be missing, empty, or a store database without
// tenants and tasks (say, one just created by store/sqlite.Open); one that holds any tenant
// or task row, or that is not a SQLite database, is refused and left as it was. The file is
// copied into a temporary file beside dbPath, the copy verified as VerifySQLite does, the
// old database's -wal, -shm and -journal files removed (they belong to the file being
// replaced and would corrupt the new one), and the copy renamed over dbPath.
func RestoreSQLite(ctx context.Context, file, dbPath string) error {
	src, err := filepath.Abs(file)
	if err != nil {
		return fmt.Errorf("backup: restore: %w", err)
	}
	dst, err := filepath.Abs(dbPath)
	if err != nil {
		return fmt.Errorf("backup: restore: %w", err)
	}
	if src == dst {
		return fmt.Errorf("backup: restore: %s is both the backup and the database", src)
	}
	if err := emptyStore(ctx, dst); err != nil {
		return fmt.Errorf("backup: restore: %w", err)
	}

	dir := filepath.Dir(dst)
	tmp, err := os.CreateTemp(dir, ".agentic-restore-*"+sqliteExt)
	if err != nil {
		return fmt.Errorf("backup: restore: %w", err)
	}
	tmpName := tmp.Name()
	kept := false
	defer func() {
		if !kept {
			removeSQLite(tmpName)
		}
	}()
	err = copyFile(tmp, src)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup: restore: copy %s: %w", src, err)
	}
	if _, err := checkSQLite(ctx, tmpName); err != nil {
		return fmt.Errorf("backup: restore refused: %s: %w", src, err)
	}

	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if err := os.Remove(dst + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("backup: restore: %w", err)
		}
	}
	if err := os.Rename(tmpName, dst); err != nil {
		return fmt.Errorf("backup: restore: %w", err)
	}
	kept = true
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("backup: restore: %w", err)
	}
	return nil
}

// emptyStore returns nil when the database at path is missing, empty, or has no tenant and
// no task rows, and an error saying why otherwise.
func emptyStore(ctx context.Context, path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a file", path)
	}
	if fi.Size() == 0 {
		return nil
	}
	// Not immutable: rows still in the database's WAL count too.
	db, err := openSQLite(path, url.Values{"_pragma": {busyPragma(), "query_only(1)"}})
	if err != nil {
		return err
	}
	defer db.Close()
	names, err := sqliteTableNames(ctx, db)
	if err != nil {
		return fmt.Errorf("%s: %w; restore needs a missing or empty store database", path, err)
	}
	for _, table := range []string{"tenants", "tasks"} {
		if !names[table] {
			continue
		}
		var found bool
		if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM "`+table+`")`).Scan(&found); err != nil {
			return fmt.Errorf("%s: count %s: %w", path, table, sqliteError(ctx, err))
		}
		if found {
			return fmt.Errorf("%s already holds %s rows; restore needs it empty", path, strings.TrimSuffix(table, "s"))
		}
	}
	return nil
}

// copyFile copies the file src into dst and flushes dst to disk.
func copyFile(dst *os.File, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if _, err := io.Copy(dst, in); err != nil {
		return err
	}
	return dst.Sync()
}

// removeSQLite removes a temporary database and any journal SQLite left beside it.
func removeSQLite(name string) {
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		os.Remove(name + suffix)
	}
}

// openSQLite opens the database file at abs with the driver's parameters; one connection, so
// per-connection pragmas hold for every statement.
func openSQLite(abs string, params url.Values) (*sql.DB, error) {
	p := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(abs))
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive letter
	}
	db, err := sql.Open("sqlite", "file:"+p+"?"+params.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %s", abs, err.Error())
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

func busyPragma() string {
	return fmt.Sprintf("busy_timeout(%d)", sqliteBusy.Milliseconds())
}

// sqliteError keeps a driver error's message (no driver type leaves the package) and a
// context error matchable.
func sqliteError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return errors.New(err.Error())
}

// hashFile returns the size and hex SHA-256 of the file.
func hashFile(name string) (int64, string, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	return hashReader(f)
}

// hashReader returns the number of bytes read from r and their hex SHA-256.
func hashReader(r io.Reader) (int64, string, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return n, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}
