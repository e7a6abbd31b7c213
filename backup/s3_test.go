package backup_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/agentic-run/agentic/backup"
	"github.com/agentic-run/agentic/internal/s3test"
	"github.com/agentic-run/agentic/store/postgres/pgtest"
)

// bucket is a versitygw server with a bucket, an S3 uploader on it with prefix "agentic/",
// and a raw SDK client to look at the bucket behind the uploader's back.
type bucket struct {
	cfg backup.S3Config
	up  *backup.S3
	raw *s3.Client
}

func newBucket(t *testing.T) *bucket {
	t.Helper()
	endpoint, access, secret, name := s3test.Start(t)
	cfg := backup.S3Config{Endpoint: endpoint, Bucket: name, Prefix: "agentic/", AccessKeyID: access, SecretAccessKey: secret}
	up, err := backup.NewS3(cfg)
	require.NoError(t, err)
	raw := s3.New(s3.Options{
		Region:       s3test.Region,
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(access, secret, ""),
	})
	return &bucket{cfg, up, raw}
}

// keys lists every key in the bucket.
func (b *bucket) keys(t *testing.T) []string {
	t.Helper()
	out, err := b.raw.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(b.cfg.Bucket)})
	require.NoError(t, err)
	keys := []string{}
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

// put stores body at key directly.
func (b *bucket) put(t *testing.T, key string, body []byte) {
	t.Helper()
	_, err := b.raw.PutObject(t.Context(), &s3.PutObjectInput{
		Bucket: aws.String(b.cfg.Bucket), Key: aws.String(key), Body: bytes.NewReader(body),
	})
	require.NoError(t, err)
}

// get reads the object at key directly.
func (b *bucket) get(t *testing.T, key string) []byte {
	t.Helper()
	out, err := b.raw.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(b.cfg.Bucket), Key: aws.String(key)})
	require.NoError(t, err)
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	require.NoError(t, err)
	return body
}

// fakeBackup writes size random bytes as a backup named for at in a new directory and
// returns its Result.
func fakeBackup(t *testing.T, at time.Time, size int) *backup.Result {
	t.Helper()
	body := make([]byte, size)
	_, err := rand.Read(body)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), backup.Name(at, 1))
	require.NoError(t, os.WriteFile(file, body, 0o600))
	sum := sha256.Sum256(body)
	return &backup.Result{File: file, Size: int64(size), SHA256: hex.EncodeToString(sum[:]), Started: at}
}

func TestS3ConfigValidate(t *testing.T) {
	t.Parallel()
	good := backup.S3Config{Endpoint: "http://127.0.0.1:7070", Bucket: "b", AccessKeyID: "k", SecretAccessKey: "s"}
	cases := []struct {
		name string
		edit func(c *backup.S3Config)
		msg  string // "" = valid
	}{
		{"s3-compatible", func(*backup.S3Config) {}, ""},
		{"aws", func(c *backup.S3Config) { c.Endpoint, c.Region = "", "eu-west-1" }, ""},
		{"https with path and prefix", func(c *backup.S3Config) { c.Endpoint, c.Prefix = "https://s3.example.com/", "x/y/" }, ""},
		{"aws without region", func(c *backup.S3Config) { c.Endpoint = "" }, "Region"},
		{"no bucket", func(c *backup.S3Config) { c.Bucket = "" }, "Bucket"},
		{"bucket with slash", func(c *backup.S3Config) { c.Bucket = "a/b" }, "Bucket"},
		{"no access key", func(c *backup.S3Config) { c.AccessKeyID = "" }, "AccessKeyID"},
		{"no secret", func(c *backup.S3Config) { c.SecretAccessKey = "" }, "SecretAccessKey"},
		{"endpoint without scheme", func(c *backup.S3Config) { c.Endpoint = "127.0.0.1:7070" }, "Endpoint"},
		{"endpoint ftp", func(c *backup.S3Config) { c.Endpoint = "ftp://host" }, "Endpoint"},
		{"endpoint with credentials", func(c *backup.S3Config) { c.Endpoint = "http://u:p@host" }, "Endpoint"},
		{"prefix from root", func(c *backup.S3Config) { c.Prefix = "/agentic/" }, "Prefix"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := good
			tc.edit(&c)
			err := c.Validate()
			_, nerr := backup.NewS3(c)
			if tc.msg == "" {
				require.NoError(t, err)
				require.NoError(t, nerr)
				return
			}
			require.ErrorContains(t, err, tc.msg)
			require.ErrorContains(t, nerr, tc.msg, "NewS3 validates")
		})
	}
}

// TestS3UploadDownload uploads a backup, finds it in the bucket byte for byte under the
// prefix, checks it, and downloads it back.
func TestS3UploadDownload(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := newBucket(t)
	at := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	r := fakeBackup(t, at, 3<<20+17)

	key, err := b.up.Upload(ctx, r)
	require.NoError(t, err)
	require.Equal(t, "agentic/agentic-20261125T020000Z.dump", key)
	require.Equal(t, key, b.up.Key(r.File))
	require.Equal(t, []string{key}, b.keys(t))
	want, err := os.ReadFile(r.File)
	require.NoError(t, err)
	require.Equal(t, want, b.get(t, key))
	head, err := b.raw.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b.cfg.Bucket), Key: aws.String(key)})
	require.NoError(t, err)
	require.Equal(t, r.SHA256, head.Metadata["sha256"])
	require.NoError(t, b.up.Check(ctx, key, r))

	// Uploading again is harmless.
	key2, err := b.up.Upload(ctx, r)
	require.NoError(t, err)
	require.Equal(t, key, key2)
	require.Equal(t, []string{key}, b.keys(t))

	dst := filepath.Join(t.TempDir(), "restore")
	file, err := b.up.Download(ctx, key, dst)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dst, "agentic-20261125T020000Z.dump"), file)
	got, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, want, got)
	entries, err := os.ReadDir(dst)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file left behind")

	// The same file again is fine; a different one of that name is not replaced.
	again, err := b.up.Download(ctx, key, dst)
	require.NoError(t, err)
	require.Equal(t, file, again)
	require.NoError(t, os.WriteFile(file, []byte("other"), 0o600))
	_, err = b.up.Download(ctx, key, dst)
	require.ErrorContains(t, err, "already exists with other content")
	got, err = os.ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, []byte("other"), got)
}

// TestS3UploadRealBackup uploads a real pg_dump backup, downloads it, and the download
// verifies as the same backup.
func TestS3UploadRealBackup(t *testing.T) {
	tools(t)
	ctx := t.Context()
	b := newBucket(t)
	c := backup.Config{DatabaseURL: pgtest.URL(t), Dir: t.TempDir()}
	res, err := backup.Run(ctx, c)
	require.NoError(t, err)

	key, err := b.up.Upload(ctx, res)
	require.NoError(t, err)
	require.Equal(t, "agentic/"+filepath.Base(res.File), key)
	file, err := b.up.Download(ctx, key, t.TempDir())
	require.NoError(t, err)
	n, err := backup.Verify(ctx, c, file, res.SHA256)
	require.NoError(t, err)
	require.Equal(t, res.Entries, n)
}

// TestS3UploadSQLiteBackup uploads a SQLite backup (.db) and restores the download.
func TestS3UploadSQLiteBackup(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := newBucket(t)
	s, _ := sqliteStore(t)
	res, err := backup.RunSQLite(ctx, s.Path(), t.TempDir(), nil)
	require.NoError(t, err)
	key, err := b.up.Upload(ctx, res)
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(key, ".db"), key)
	file, err := b.up.Download(ctx, key, t.TempDir())
	require.NoError(t, err)
	target := filepath.Join(t.TempDir(), "restored.db")
	require.NoError(t, backup.RestoreSQLite(ctx, file, target))
	require.Equal(t, sqliteSnapshot(t, s.Path()), sqliteSnapshot(t, target))
}

// TestS3UploadMismatch: a Result that does not describe its file uploads nothing, and an
// object that is not the backup fails Check.
func TestS3UploadMismatch(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := newBucket(t)
	at := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	good := fakeBackup(t, at, 1<<16)

	cases := []struct {
		name string
		edit func(r *backup.Result)
		msg  string
	}{
		{"wrong checksum", func(r *backup.Result) { r.SHA256 = strings.Repeat("ab", 32) }, "checksum"},
		{"wrong size", func(r *backup.Result) { r.Size-- }, "bytes"},
		{"file changed", func(r *backup.Result) {
			require.NoError(t, os.WriteFile(r.File, bytes.Repeat([]byte{1}, int(r.Size)), 0o600))
		}, "checksum"},
		{"bad checksum text", func(r *backup.Result) { r.SHA256 = "xyz" }, "not a hex SHA-256"},
		{"not a backup name", func(r *backup.Result) {
			name := filepath.Join(filepath.Dir(r.File), "latest.dump")
			require.NoError(t, os.Rename(r.File, name))
			r.File = name
		}, "not a backup file name"},
		{"missing file", func(r *backup.Result) { require.NoError(t, os.Remove(r.File)) }, "no such file"},
		{"no file", func(r *backup.Result) { r.File = "" }, "no backup file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := fakeBackup(t, at, 1<<16)
			tc.edit(r)
			_, err := b.up.Upload(ctx, r)
			require.ErrorContains(t, err, tc.msg)
			require.Empty(t, b.keys(t), "nothing reaches the bucket")
		})
	}
	_, err := b.up.Upload(ctx, nil)
	require.Error(t, err)

	// An object that is not the backup it is named for fails Check, by size or by checksum.
	key := b.up.Key(good.File)
	body, err := os.ReadFile(good.File)
	require.NoError(t, err)
	tampered := append([]byte(nil), body...)
	tampered[100] ^= 0xff
	for _, obj := range [][]byte{tampered, body[:len(body)-1]} {
		b.put(t, key, obj)
		err := b.up.Check(ctx, key, good)
		require.Error(t, err)
		require.Contains(t, err.Error(), key)
	}
	// Upload replaces the bad object with the good one.
	_, err = b.up.Upload(ctx, good)
	require.NoError(t, err)
	require.Equal(t, body, b.get(t, key))
	require.NoError(t, b.up.Check(ctx, key, good))

	// A download whose bytes do not match the checksum recorded with them is refused.
	b.put(t, key, tampered) // no checksum and no sha256 metadata now
	dst := t.TempDir()
	_, err = b.up.Download(ctx, key, dst)
	require.ErrorContains(t, err, "no SHA-256")
	_, err = b.raw.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(b.cfg.Bucket), Key: aws.String(key), Body: bytes.NewReader(tampered),
		Metadata: map[string]string{"sha256": good.SHA256},
	})
	require.NoError(t, err)
	_, err = b.up.Download(ctx, key, dst)
	require.ErrorContains(t, err, "checksum")
	entries, err := os.ReadDir(dst)
	require.NoError(t, err)
	require.Empty(t, entries, "a bad download leaves nothing")

	err = b.up.Check(ctx, "agentic/missing.dump", good)
	require.ErrorIs(t, err, fs.ErrNotExist)
	_, err = b.up.Download(ctx, "agentic/agentic-20200101T000000Z.dump", dst)
	require.ErrorIs(t, err, fs.ErrNotExist)
	_, err = b.up.Download(ctx, "agentic/../../etc/passwd", dst)
	require.ErrorContains(t, err, "not a backup name")
}

// TestS3BadCredentials: a wrong secret is an error that does not carry the secret.
func TestS3BadCredentials(t *testing.T) {
	t.Parallel()
	b := newBucket(t)
	cfg := b.cfg
	cfg.SecretAccessKey = "wrong-secret-value"
	up, err := backup.NewS3(cfg)
	require.NoError(t, err)
	_, err = up.Upload(t.Context(), fakeBackup(t, time.Now(), 100))
	require.Error(t, err)
	require.NotContains(t, err.Error(), cfg.SecretAccessKey)
	_, err = up.Prune(t.Context(), time.Hour, time.Now())
	require.Error(t, err)
	require.Empty(t, b.keys(t))

	cfg = b.cfg
	cfg.Bucket = "no-such-bucket"
	up, err = backup.NewS3(cfg)
	require.NoError(t, err)
	_, err = up.Upload(t.Context(), fakeBackup(t, time.Now(), 100))
	require.ErrorIs(t, err, fs.ErrNotExist)
}

// TestS3Prune applies retention by the names' timestamps against the injected now, and
// leaves keys that are not backups under the prefix alone.
func TestS3Prune(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := newBucket(t)
	now := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	name := func(d int, n int, ext string) string {
		return strings.TrimSuffix(backup.Name(now.Add(-time.Duration(d)*day), n), ".dump") + ext
	}
	keys := map[int]string{}
	for _, d := range []int{1, 3, 6, 8, 10} {
		keys[d] = "agentic/" + name(d, 1, ".dump")
		b.put(t, keys[d], []byte("x"))
	}
	oldDB := "agentic/" + name(9, 2, ".db")
	b.put(t, oldDB, []byte("x"))
	others := []string{
		"agentic/notes.txt",
		"agentic/agentic-latest.dump",
		"agentic/" + name(30, 1, ".dump.bak"),
		"agentic/old/" + name(30, 1, ".dump"), // deeper than the prefix
		name(30, 1, ".dump"),                  // outside the prefix
		"other/" + name(30, 1, ".dump"),
	}
	for _, k := range others {
		b.put(t, k, []byte("x"))
	}

	removed, err := b.up.Prune(ctx, 7*day, now)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{keys[8], keys[10], oldDB}, removed)
	require.ElementsMatch(t, append([]string{keys[1], keys[3], keys[6]}, others...), b.keys(t))

	// Later, everything is old: the newest backup stays.
	removed, err = b.up.Prune(ctx, 7*day, now.Add(30*day))
	require.NoError(t, err)
	require.ElementsMatch(t, []string{keys[3], keys[6]}, removed)
	require.ElementsMatch(t, append([]string{keys[1]}, others...), b.keys(t))

	_, err = b.up.Prune(ctx, 0, now)
	require.Error(t, err, "a zero retention is a mistake, not 'delete all'")

	// A bucket with no backups has nothing to prune.
	empty := newBucket(t)
	removed, err = empty.up.Prune(ctx, day, now)
	require.NoError(t, err)
	require.Empty(t, removed)
}
