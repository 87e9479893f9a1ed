package storage

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/kalamdb/libkalam/kerr"
)

// S3Storage is a storage root in an S3-compatible object store:
// s3://bucket/prefix. Objects are the keys prefix/name. The commit steps of
// DESIGN §2.2 map to object-store ones: Create buffers and uploads (one
// PUT, or a multipart upload for large objects) and the object appears only
// when Commit completes it; WriteFile is one PUT, which S3 makes visible
// atomically; there are no directories, so List groups keys by "/".
type S3Storage struct {
	uri    string // s3://bucket[/prefix], for messages
	bucket string
	prefix string // no leading or trailing slash; "" is the bucket's root
	c      *s3Client
	tune   s3Tuning
}

// s3Tuning holds the sizes that bound a writer's and a reader's memory.
type s3Tuning struct {
	// partSize is the first multipart part size (S3 allows 5 MiB at
	// least, but for the last part); objects up to it are one PUT. Parts double after every 1000 so that 10000 parts reach 5 TB.
	partSize int
	// uploadConcurrency parts upload at once; a writer holds at most
	// (uploadConcurrency+1) part buffers.
	uploadConcurrency int
	// footerSize is read (and kept) from the end of an object when it is
	// opened: a Parquet footer and its length usually fit.
	footerSize int
	// readAhead is the block size of a reader: a smaller read that misses
	// fetches its whole (aligned) block, so that a run of small reads of
	// nearby ranges (column chunks) costs one request.
	readAhead int
	// cacheSize bounds the fetched ranges a reader keeps (besides the
	// footer).
	cacheSize int
	// deleteBatch keys go in one DeleteObjects call (S3 takes 1000 at most).
	deleteBatch int
	// listPage is ListObjectsV2's max-keys (0: the server's default, 1000).
	listPage int
}

var defaultTuning = s3Tuning{
	partSize:          8 << 20,
	uploadConcurrency: 2,
	footerSize:        64 << 10,
	readAhead:         1 << 20,
	cacheSize:         4 << 20,
	deleteBatch:       1000,
}

// NewS3 returns the storage at uri (s3://bucket[/prefix]). Options not set
// are taken from the standard environment variables: AWS_ENDPOINT_URL_S3 or
// AWS_ENDPOINT_URL (endpoint), AWS_REGION or AWS_DEFAULT_REGION (region,
// default us-east-1), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN (taken together, and only when opts names no access
// key), AWS_ALLOW_HTTP. With no credentials at all, requests are sent
// unsigned (public buckets). A custom endpoint is addressed path-style
// (http://host/bucket/key); AWS itself virtual-hosted style. An http://
// endpoint needs AllowHTTP. No request is made until the first call.
func NewS3(uri string, opts Options) (*S3Storage, error) {
	bucket, prefix, err := parseS3URI(uri)
	if err != nil {
		return nil, err
	}
	region := firstNonEmpty(opts.Region, os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION"), "us-east-1")

	creds := s3Credentials{AccessKeyID: opts.AccessKeyID, SecretAccessKey: opts.SecretAccessKey, SessionToken: opts.SessionToken}
	credSource := "storage options"
	if creds.AccessKeyID == "" && creds.SecretAccessKey == "" {
		if opts.SessionToken != "" {
			return nil, kerr.New(kerr.InvalidArgument, "storage %q: session_token given without access_key_id and secret_access_key", uri)
		}
		creds = s3Credentials{AccessKeyID: os.Getenv("AWS_ACCESS_KEY_ID"), SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
			SessionToken: os.Getenv("AWS_SESSION_TOKEN")}
		credSource = "the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
	}
	if (creds.AccessKeyID == "") != (creds.SecretAccessKey == "") {
		missing := "secret_access_key"
		if creds.AccessKeyID == "" {
			missing = "access_key_id"
		}
		return nil, kerr.New(kerr.InvalidArgument, "storage %q: %s is missing from %s", uri, missing, credSource)
	}

	allowHTTP := false
	if opts.AllowHTTP != nil {
		allowHTTP = *opts.AllowHTTP
	} else if v := os.Getenv("AWS_ALLOW_HTTP"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, kerr.New(kerr.InvalidArgument, "storage %q: AWS_ALLOW_HTTP=%q is not a boolean", uri, v)
		}
		allowHTTP = b
	}

	endpoint := firstNonEmpty(opts.Endpoint, os.Getenv("AWS_ENDPOINT_URL_S3"), os.Getenv("AWS_ENDPOINT_URL"))
	pathStyle := true
	var ep *url.URL
	if endpoint == "" {
		ep = &url.URL{Scheme: "https", Host: "s3." + region + ".amazonaws.com"}
		// A bucket name with dots does not match the wildcard certificate
		// as a host name.
		pathStyle = strings.Contains(bucket, ".")
	} else {
		ep, err = url.Parse(endpoint)
		if err != nil || ep.Host == "" || (ep.Scheme != "http" && ep.Scheme != "https") || ep.RawQuery != "" || ep.Fragment != "" || ep.User != nil {
			return nil, kerr.New(kerr.InvalidArgument,
				"storage %q: endpoint %q is not an http:// or https:// URL with a host (and no query)", uri, endpoint)
		}
		if ep.Scheme == "http" && !allowHTTP {
			return nil, kerr.New(kerr.InvalidArgument,
				"storage %q: endpoint %q is plain HTTP; set the storage option allow_http to true (or AWS_ALLOW_HTTP=true) to use it",
				uri, endpoint)
		}
		ep = &url.URL{Scheme: ep.Scheme, Host: ep.Host, Path: ep.Path}
	}
	httpClient := opts.HTTPClient
	if httpClient == nil {
		httpClient = NewHTTPClient()
	}
	return &S3Storage{
		uri:    "s3://" + path.Join(bucket, prefix),
		bucket: bucket,
		prefix: prefix,
		c: &s3Client{
			endpoint:  ep,
			pathStyle: pathStyle,
			bucket:    bucket,
			signer:    &signer{creds: creds, region: region},
			http:      httpClient,
			retry:     defaultRetry,
		},
		tune: defaultTuning,
	}, nil
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// parseS3URI splits s3://bucket/prefix; the prefix is cleaned and may be
// empty.
func parseS3URI(uri string) (bucket, prefix string, err error) {
	const scheme = "s3://"
	if len(uri) < len(scheme) || !strings.EqualFold(uri[:len(scheme)], scheme) {
		return "", "", kerr.New(kerr.InvalidArgument, "storage %q: not an s3:// URI", uri)
	}
	rest := uri[len(scheme):]
	if strings.ContainsAny(rest, "?#\\") || strings.ContainsRune(rest, 0) {
		return "", "", kerr.New(kerr.InvalidArgument, "storage %q: an s3:// URI is s3://bucket/prefix, without query, fragment or backslash", uri)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if !validBucket(bucket) {
		return "", "", kerr.New(kerr.InvalidArgument,
			"storage %q: bucket name %q is not valid (3-63 characters: lower-case letters, digits, '.', '-', '_')", uri, bucket)
	}
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		clean, cerr := CheckName(prefix)
		if cerr != nil || clean != prefix {
			return "", "", kerr.New(kerr.InvalidArgument, "storage %q: prefix %q is not a clean relative path", uri, prefix)
		}
	}
	return bucket, prefix, nil
}

// validBucket accepts S3's bucket names, and '_' which some S3-compatible
// stores allow.
func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// String is s3://bucket/prefix.
func (s *S3Storage) String() string { return s.uri }

// Local is false.
func (s *S3Storage) Local() bool { return false }

// key is the object key of a checked name.
func (s *S3Storage) key(clean string) string {
	if s.prefix == "" {
		return clean
	}
	return s.prefix + "/" + clean
}

// ObjectURI is the s3://bucket/key URI of an object, for a reader that
// fetches it with a client of its own (an exported dataset's engine).
func (s *S3Storage) ObjectURI(name string) (string, error) {
	clean, err := CheckName(name)
	if err != nil {
		return "", err
	}
	return "s3://" + s.bucket + "/" + s.key(clean), nil
}

// objectURI names an object in messages: s3://bucket/prefix/name.
func (s *S3Storage) objectURI(clean string) string { return s.uri + "/" + clean }

// Create starts an object that appears under name when Commit returns:
// one PUT when it fits in a part, else a multipart upload whose parts are
// sent while writing (memory: at most uploadConcurrency+1 parts). ctx
// governs every request of the writer.
func (s *S3Storage) Create(ctx context.Context, name string) (Writer, error) {
	clean, err := CheckName(name)
	if err != nil {
		return nil, err
	}
	return newS3Writer(ctx, s, clean), nil
}

// Open fetches the object's last footerSize bytes (which tells its size in
// the same request) and returns a reader over it; see s3Reader. A missing
// object is kerr.NotFound naming its s3:// URI. Cancelling ctx cancels the
// reader's requests in flight and fails later reads.
func (s *S3Storage) Open(ctx context.Context, name string) (Reader, error) {
	clean, err := CheckName(name)
	if err != nil {
		return nil, err
	}
	return openS3Reader(ctx, s, clean)
}

// ReadFile reads a whole object in one GET.
func (s *S3Storage) ReadFile(ctx context.Context, name string) ([]byte, error) {
	clean, err := CheckName(name)
	if err != nil {
		return nil, err
	}
	data, _, err := s.c.call(ctx, &s3Request{method: http.MethodGet, key: s.key(clean), idempotent: true})
	if err != nil {
		return nil, wrapErr(ctx, err, "read", s.objectURI(clean))
	}
	return data, nil
}

// WriteFile replaces name with data: one PUT (atomic in S3: a reader sees
// the old object or the new one), or a multipart upload for data larger
// than a part, which is as atomic.
func (s *S3Storage) WriteFile(ctx context.Context, name string, data []byte) error {
	clean, err := CheckName(name)
	if err != nil {
		return err
	}
	if len(data) <= s.tune.partSize {
		return wrapErr(ctx, s.c.putObject(ctx, s.key(clean), data), "write", s.objectURI(clean))
	}
	w := newS3Writer(ctx, s, clean)
	if _, err := w.Write(data); err != nil {
		w.Abort()
		return err
	}
	_, err = w.Commit()
	return err
}

// CreateExclusive is one PUT with If-None-Match: * (S3's conditional
// write), which the server refuses with 412 when the key exists. A retry
// of a PUT whose reply was lost is refused too, though the object is the
// caller's own: the caller reads the object to tell. Servers that ignore
// the header (no conditional writes) overwrite.
func (s *S3Storage) CreateExclusive(ctx context.Context, name string, data []byte) error {
	clean, err := CheckName(name)
	if err != nil {
		return err
	}
	if len(data) > s.tune.partSize {
		return kerr.New(kerr.InvalidArgument, "create %s: %d bytes is more than one PUT takes here", s.objectURI(clean), len(data))
	}
	err = s.c.putObjectIfAbsent(ctx, s.key(clean), data)
	var se *s3Error
	if errors.As(err, &se) && se.Status == http.StatusPreconditionFailed {
		return kerr.Wrap(kerr.AlreadyExists, err, "create %s: it exists", s.objectURI(clean))
	}
	return wrapErr(ctx, err, "create", s.objectURI(clean))
}

// ReplaceIf reads the object and its ETag, compares, and writes with one
// PUT conditional on that ETag (If-Match), which the server refuses with
// 412 when another write came between. A retry of a PUT whose reply was
// lost is refused too (the ETag is now its own): an object that then
// holds data is taken for this call's write. Servers that ignore the
// header (no conditional writes) overwrite.
func (s *S3Storage) ReplaceIf(ctx context.Context, name string, old, data []byte) error {
	clean, err := CheckName(name)
	if err != nil {
		return err
	}
	uri := s.objectURI(clean)
	if len(data) > s.tune.partSize {
		return kerr.New(kerr.InvalidArgument, "replace %s: %d bytes is more than one PUT takes here", uri, len(data))
	}
	cur, etag, err := s.c.getObject(ctx, s.key(clean))
	if err != nil {
		return wrapErr(ctx, err, "replace (read)", uri)
	}
	if !bytes.Equal(cur, old) {
		return kerr.New(kerr.AlreadyExists, "replace %s: it changed (another writer replaced it)", uri)
	}
	if etag == "" {
		return kerr.New(kerr.IO, "replace %s: the server gave no ETag to make the write conditional on", uri)
	}
	err = s.c.putObjectIfMatch(ctx, s.key(clean), etag, data)
	var se *s3Error
	if errors.As(err, &se) && se.Status == http.StatusPreconditionFailed {
		if now, rerr := s.ReadFile(ctx, clean); rerr == nil && bytes.Equal(now, data) {
			return nil
		}
		return kerr.Wrap(kerr.AlreadyExists, err, "replace %s: it changed (another writer replaced it)", uri)
	}
	return wrapErr(ctx, err, "replace", uri)
}

// HoldRoot holds nothing: S3 has no locks (a lease object would need
// renewing and expiry, and its holder's death to be told from a pause).
func (s *S3Storage) HoldRoot(context.Context) (func(), error) { return func() {}, nil }

// Remove deletes the object; a missing one is not an error.
func (s *S3Storage) Remove(ctx context.Context, name string) error {
	clean, err := CheckName(name)
	if err != nil {
		return err
	}
	return wrapErr(ctx, s.c.deleteObject(ctx, s.key(clean)), "remove", s.objectURI(clean))
}

// RemoveAll deletes every object under dir/ (listed without delimiter, a
// page of up to 1000 keys at a time, each page one DeleteObjects call) and
// an object named dir itself, as os.RemoveAll removes a file.
func (s *S3Storage) RemoveAll(ctx context.Context, dir string) error {
	clean, err := CheckName(dir)
	if err != nil {
		return err
	}
	uri := s.objectURI(clean)
	prefix := s.key(clean) + "/"
	token := ""
	for {
		page, err := s.c.listPage(ctx, prefix, "", token, s.tune.deleteBatch)
		if err != nil {
			return wrapErr(ctx, err, "remove (list)", uri)
		}
		keys := make([]string, 0, len(page.Contents))
		for _, o := range page.Contents {
			keys = append(keys, o.Key)
		}
		if len(keys) > 0 {
			if err := s.c.deleteObjects(ctx, keys); err != nil {
				return wrapErr(ctx, err, "remove", uri)
			}
		}
		if !page.IsTruncated {
			break
		}
		token = page.NextContinuationToken
	}
	return wrapErr(ctx, s.c.deleteObject(ctx, s.key(clean)), "remove", uri)
}

// List returns dir's children: keys directly under dir/ as objects, and
// the next path segment of deeper keys as directories (ListObjectsV2 with
// delimiter "/"), sorted by name. A key equal to dir/ (the empty "folder"
// object some tools create) is not listed.
func (s *S3Storage) List(ctx context.Context, dir string) ([]Entry, error) {
	prefix := ""
	uri := s.uri
	if dir != "" {
		clean, err := CheckName(dir)
		if err != nil {
			return nil, err
		}
		prefix = s.key(clean) + "/"
		uri = s.objectURI(clean)
	} else if s.prefix != "" {
		prefix = s.prefix + "/"
	}
	var out []Entry
	token := ""
	for {
		page, err := s.c.listPage(ctx, prefix, "/", token, s.tune.listPage)
		if err != nil {
			return nil, wrapErr(ctx, err, "list", uri)
		}
		for _, o := range page.Contents {
			name := strings.TrimPrefix(o.Key, prefix)
			if name == "" || strings.Contains(name, "/") {
				continue
			}
			out = append(out, Entry{Name: name, Size: o.Size})
		}
		for _, p := range page.CommonPrefixes {
			name := strings.TrimSuffix(strings.TrimPrefix(p.Prefix, prefix), "/")
			if name == "" || strings.Contains(name, "/") {
				continue
			}
			out = append(out, Entry{Name: name, IsDir: true})
		}
		if !page.IsTruncated {
			break
		}
		token = page.NextContinuationToken
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
