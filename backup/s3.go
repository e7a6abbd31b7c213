package backup

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3Config says where backups are uploaded: a bucket on AWS S3 or on an S3-compatible server
// (MinIO, versitygw, Ceph, Cloudflare R2…).
type S3Config struct {
	// Endpoint is the base URL of an S3-compatible server (http(s)://host[:port]); "" means
	// AWS S3 itself, in Region.
	Endpoint string
	// Region is the bucket's region. It is required for AWS S3; with an Endpoint, "" means
	// us-east-1, which S3-compatible servers accept.
	Region string
	// Bucket holds the backups; it must exist.
	Bucket string
	// Prefix goes before each backup's file name to make its key: "agentic/" stores
	// agentic/agentic-20261125T020000Z.dump. "" stores backups at the bucket's root. Prune
	// considers only backups directly under the prefix.
	Prefix string
	// AccessKeyID and SecretAccessKey are the static credentials requests are signed with.
	AccessKeyID, SecretAccessKey string
	// VirtualHostStyle addresses the bucket as a host name (bucket.host/key) rather than a
	// path (host/bucket/key). Path style, the default, is what S3-compatible servers serve
	// without DNS set-up; AWS serves both.
	VirtualHostStyle bool
}

// Validate reports the first missing or malformed field of the configuration, by name.
func (c S3Config) Validate() error {
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return fmt.Errorf("backup: s3: Endpoint %q must be an http(s)://host[:port] URL", c.Endpoint)
		}
	} else if c.Region == "" {
		return errors.New("backup: s3: Region is required when no Endpoint is set (AWS S3)")
	}
	switch {
	case c.Bucket == "":
		return errors.New("backup: s3: Bucket is required")
	case strings.ContainsAny(c.Bucket, "/ "):
		return fmt.Errorf("backup: s3: Bucket %q is not a bucket name", c.Bucket)
	case c.AccessKeyID == "":
		return errors.New("backup: s3: AccessKeyID is required")
	case c.SecretAccessKey == "":
		return errors.New("backup: s3: SecretAccessKey is required")
	case strings.HasPrefix(c.Prefix, "/"):
		return fmt.Errorf("backup: s3: Prefix %q must not start with /", c.Prefix)
	}
	return nil
}

// maxPut is the largest object one PutObject may store (5 GiB). A multipart upload could
// store more, but its checksum is a checksum of the parts' checksums, not the file's SHA-256
// that Result records, so backups stay single objects.
const maxPut = 5 << 30

// S3 uploads, verifies, prunes and downloads backups in one bucket. It is safe for
// concurrent use.
type S3 struct {
	client *s3.Client
	bucket string
	prefix string
}

// NewS3 validates c and returns a client for its bucket. It does not contact the server.
func NewS3(c S3Config) (*S3, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	region := c.Region
	if region == "" {
		region = "us-east-1"
	}
	opts := s3.Options{
		Region:       region,
		Credentials:  aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, "")),
		UsePathStyle: !c.VirtualHostStyle,
		// Checksums are sent and checked where this file asks for them (SHA-256, against
		// Result.SHA256), not the SDK's default CRC32 on every request, which some
		// S3-compatible servers reject.
		RequestChecksumCalculation:                aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation:                aws.ResponseChecksumValidationWhenRequired,
		DisableLogOutputChecksumValidationSkipped: true,
	}
	if c.Endpoint != "" {
		opts.BaseEndpoint = aws.String(strings.TrimSuffix(c.Endpoint, "/"))
	}
	return &S3{client: s3.New(opts), bucket: c.Bucket, prefix: c.Prefix}, nil
}

// Key returns the object key a backup file is stored under: the prefix and its base name.
func (u *S3) Key(file string) string { return u.prefix + filepath.Base(file) }

// Upload stores the backup r.File under Key(r.File) and returns the key. The file must still
// be the backup r describes: its size and SHA-256 are checked before anything is sent. The
// upload carries the SHA-256 (x-amz-checksum-sha256, which the server checks against what it
// receives and stores with the object) and the hex checksum as metadata sha256; afterwards the
// stored object must have r.Size bytes and r.SHA256 (see Check). An object that fails that
// check is deleted and the upload is an error. Uploading the same backup again replaces the
// object with an identical one.
func (u *S3) Upload(ctx context.Context, r *Result) (string, error) {
	if r == nil || r.File == "" {
		return "", errors.New("backup: s3: upload: no backup file")
	}
	sum, err := decodeSHA256(r.SHA256)
	if err != nil {
		return "", fmt.Errorf("backup: s3: upload %s: %w", r.File, err)
	}
	base := filepath.Base(r.File)
	if _, _, ok := parseName(base); !ok {
		return "", fmt.Errorf("backup: s3: upload %s: not a backup file name", r.File)
	}
	if r.Size > maxPut {
		return "", fmt.Errorf("backup: s3: upload %s: %d bytes is over the 5 GiB a single upload may hold", r.File, r.Size)
	}
	f, err := os.Open(r.File)
	if err != nil {
		return "", fmt.Errorf("backup: s3: upload: %w", err)
	}
	defer f.Close()
	size, got, err := hashReader(f)
	if err != nil {
		return "", fmt.Errorf("backup: s3: upload: read %s: %w", r.File, err)
	}
	if size != r.Size || !strings.EqualFold(got, r.SHA256) {
		return "", fmt.Errorf("backup: s3: upload %s: the file has %d bytes and checksum %s, the backup recorded %d bytes and %s",
			r.File, size, got, r.Size, r.SHA256)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("backup: s3: upload: %w", err)
	}

	key := u.prefix + base
	_, err = u.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:         aws.String(u.bucket),
		Key:            aws.String(key),
		Body:           f,
		ContentLength:  aws.Int64(r.Size),
		ContentType:    aws.String("application/octet-stream"),
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum)),
		Metadata:       map[string]string{"sha256": strings.ToLower(r.SHA256)},
	})
	if err != nil {
		return "", fmt.Errorf("backup: s3: upload %s to %s: %w", r.File, u.where(key), s3Error(ctx, err))
	}
	if err := u.Check(ctx, key, r); err != nil {
		// Whatever the check found, the object is not this backup: do not leave it to be
		// taken for one. The deletion outlives a cancelled ctx, briefly.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if derr := u.delete(dctx, key); derr != nil {
			return "", fmt.Errorf("%w (and deleting the object failed: %w)", err, derr)
		}
		return "", fmt.Errorf("%w (object deleted)", err)
	}
	return key, nil
}

// Check verifies that the object at key is the backup r: it must have r.Size bytes and
// SHA-256 r.SHA256. The checksum is the one the server stored with the object (a HEAD with
// checksum mode on); when the server keeps none, the object is read back and hashed.
func (u *S3) Check(ctx context.Context, key string, r *Result) error {
	if r == nil {
		return errors.New("backup: s3: check: no backup")
	}
	want, err := decodeSHA256(r.SHA256)
	if err != nil {
		return fmt.Errorf("backup: s3: check %s: %w", u.where(key), err)
	}
	head, err := u.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket:       aws.String(u.bucket),
		Key:          aws.String(key),
		ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		return fmt.Errorf("backup: s3: check %s: %w", u.where(key), s3Error(ctx, err))
	}
	if n := aws.ToInt64(head.ContentLength); n != r.Size {
		return fmt.Errorf("backup: s3: check %s: size %d, want %d", u.where(key), n, r.Size)
	}
	if c := aws.ToString(head.ChecksumSHA256); c != "" {
		got, err := base64.StdEncoding.DecodeString(c)
		if err != nil || !bytes.Equal(got, want) {
			return fmt.Errorf("backup: s3: check %s: stored checksum %s, want %s", u.where(key), b64hex(c), r.SHA256)
		}
		return nil
	}
	// No stored checksum: read the object back.
	obj, err := u.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(u.bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("backup: s3: check %s: %w", u.where(key), s3Error(ctx, err))
	}
	defer obj.Body.Close()
	n, got, err := hashReader(obj.Body)
	if err != nil {
		return fmt.Errorf("backup: s3: check %s: read back: %w", u.where(key), s3Error(ctx, err))
	}
	if n != r.Size || got != hex.EncodeToString(want) {
		return fmt.Errorf("backup: s3: check %s: read back %d bytes with checksum %s, want %d bytes and %s",
			u.where(key), n, got, r.Size, r.SHA256)
	}
	return nil
}

// Prune deletes the backups under the prefix whose name's timestamp is more than keep before
// now, never the newest backup, and returns the deleted keys: the rule Prune applies to a
// directory. Keys that are not backup names, or that lie deeper than the prefix, are left
// alone.
func (u *S3) Prune(ctx context.Context, keep time.Duration, now time.Time) ([]string, error) {
	if keep <= 0 {
		return nil, fmt.Errorf("backup: s3: prune: retention %v must be positive", keep)
	}
	var keys []string
	pages := s3.NewListObjectsV2Paginator(u.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(u.bucket),
		Prefix: aws.String(u.prefix),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("backup: s3: prune: list %s: %w", u.where(u.prefix), s3Error(ctx, err))
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	var removed []string
	var errs []error
	for _, key := range expired(keys, func(key string) string { return strings.TrimPrefix(key, u.prefix) }, now.Add(-keep)) {
		if err := u.delete(ctx, key); err != nil {
			errs = append(errs, fmt.Errorf("delete %s: %w", key, err))
			continue
		}
		removed = append(removed, key)
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("backup: s3: prune: %w", err)
	}
	return removed, nil
}

// Download fetches the backup at key into dstDir (created 0700 if missing) under the key's
// base name, which must be a backup name, and returns the file's path. The object's bytes
// are checked against the SHA-256 stored with it (the server's checksum, else the sha256
// metadata Upload sets) before the file is renamed into place; a download that does not
// match is removed. When the file already exists with the same checksum, it is returned as
// it is; with other content, Download fails rather than replace it. A missing object is an
// error matching fs.ErrNotExist.
func (u *S3) Download(ctx context.Context, key, dstDir string) (string, error) {
	base := path.Base(key)
	if _, _, ok := parseName(base); !ok || strings.HasSuffix(key, "/") {
		return "", fmt.Errorf("backup: s3: download %s: not a backup name", u.where(key))
	}
	dir, err := filepath.Abs(dstDir)
	if err != nil {
		return "", fmt.Errorf("backup: s3: download: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("backup: s3: download: %w", err)
	}
	obj, err := u.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket:       aws.String(u.bucket),
		Key:          aws.String(key),
		ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		return "", fmt.Errorf("backup: s3: download %s: %w", u.where(key), s3Error(ctx, err))
	}
	defer obj.Body.Close()
	want := strings.ToLower(obj.Metadata["sha256"])
	if c := aws.ToString(obj.ChecksumSHA256); c != "" {
		want = b64hex(c)
	}
	if want == "" {
		return "", fmt.Errorf("backup: s3: download %s: the object carries no SHA-256 to verify it against", u.where(key))
	}

	tmp, err := os.CreateTemp(dir, tempPrefix+"*"+path.Ext(base))
	if err != nil {
		return "", fmt.Errorf("backup: s3: download: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // after the link below, only the temporary name goes
	n, got, err := hashReader(io.TeeReader(obj.Body, tmp))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("backup: s3: download %s: %w", u.where(key), s3Error(ctx, err))
	}
	if l := obj.ContentLength; (l != nil && *l != n) || got != want {
		return "", fmt.Errorf("backup: s3: download %s: got %d bytes with checksum %s, want %d bytes and %s",
			u.where(key), n, got, aws.ToInt64(l), want)
	}

	file := filepath.Join(dir, base)
	if err := os.Link(tmpName, file); errors.Is(err, fs.ErrExist) {
		if _, have, herr := hashFile(file); herr == nil && have == want {
			return file, nil
		}
		return "", fmt.Errorf("backup: s3: download %s: %s already exists with other content", u.where(key), file)
	} else if err != nil {
		return "", fmt.Errorf("backup: s3: download: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return "", fmt.Errorf("backup: s3: download: %w", err)
	}
	return file, nil
}

// delete removes the object at key; a missing object is not an error.
func (u *S3) delete(ctx context.Context, key string) error {
	_, err := u.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(u.bucket), Key: aws.String(key)})
	if err != nil {
		return s3Error(ctx, err)
	}
	return nil
}

// where names an object for messages: s3://bucket/key.
func (u *S3) where(key string) string { return "s3://" + u.bucket + "/" + key }

// decodeSHA256 parses a hex SHA-256.
func decodeSHA256(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("checksum %q is not a hex SHA-256", s)
	}
	return b, nil
}

// b64hex turns a base64 checksum (as S3 reports it) into hex, or returns it as it is.
func b64hex(s string) string {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return s
	}
	return hex.EncodeToString(b)
}

// s3Error reduces an SDK error to its code and message, so no SDK type leaves the package:
// a missing object or bucket matches fs.ErrNotExist and a context error stays matchable.
func s3Error(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var nsb *types.NoSuchBucket
	notExist := errors.As(err, &nsk) || errors.As(err, &nf) || errors.As(err, &nsb)
	var ae smithy.APIError
	if errors.As(err, &ae) {
		msg := ae.ErrorCode()
		if m := ae.ErrorMessage(); m != "" {
			msg += ": " + m
		}
		var re interface{ HTTPStatusCode() int }
		if errors.As(err, &re) {
			if re.HTTPStatusCode() == http.StatusNotFound {
				notExist = true
			}
			msg = fmt.Sprintf("%s (HTTP %d)", msg, re.HTTPStatusCode())
		}
		if notExist {
			return fmt.Errorf("%s: %w", msg, fs.ErrNotExist)
		}
		return errors.New(msg)
	}
	if notExist {
		return fmt.Errorf("%s: %w", err.Error(), fs.ErrNotExist)
	}
	return errors.New(err.Error())
}
