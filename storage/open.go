package storage

import (
	"net/http"
	"path/filepath"
	"strings"

	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/vfs"
)

// Options configure Open. The S3 fields follow DESIGN §10's
// "storage_options" (AllowHTTP nil: not given, so AWS_ALLOW_HTTP decides); FS is the file system of a local root (nil: the
// operating system's; tests put a fault-injecting one here).
type Options struct {
	Endpoint        string
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	AllowHTTP       *bool
	// HTTPClient carries S3 requests (nil: a client of the storage's own).
	// A host that opens many stores of one object store — a worker running
	// one scan split after another, each through a reader of its own —
	// passes one client (NewHTTPClient) so that they share connections
	// instead of each opening new ones (a TLS handshake each on a real
	// object store). Requests are signed per storage, so stores with
	// different credentials may share it.
	HTTPClient *http.Client

	FS vfs.FS
}

// Open returns the storage at uri: a local directory path, file://path, or
// s3://bucket/prefix (NewS3 says how the S3 options are completed).
func Open(uri string, opts Options) (Storage, error) {
	if uri == "" {
		return nil, kerr.New(kerr.InvalidArgument, "storage: empty location")
	}
	if HasScheme(uri) {
		scheme := strings.ToLower(uri[:strings.Index(uri, "://")])
		switch scheme {
		case "file":
			return NewLocal(strings.TrimPrefix(uri[len("file://"):], "localhost"), opts.FS)
		case "s3":
			return NewS3(uri, opts)
		}
		return nil, kerr.New(kerr.InvalidArgument,
			"storage %q: scheme %q is not supported (local paths, file:// and s3:// are)", uri, scheme)
	}
	return NewLocal(uri, opts.FS)
}

// Location names the storage at uri the same way however it is spelled:
// an S3 root as s3://bucket/prefix (the scheme in lower case, the prefix
// without extra slashes, as Open reads it), a local root (a path or
// file://) by its absolute path with symbolic links resolved when it
// exists. A uri Open would refuse is returned as it is.
func Location(uri string) string {
	loc := uri
	if HasScheme(uri) {
		scheme := strings.ToLower(uri[:strings.Index(uri, "://")])
		if scheme == "s3" {
			bucket, prefix, err := parseS3URI(uri)
			if err != nil {
				return uri
			}
			return "s3://" + bucket + "/" + prefix
		}
		if scheme != "file" {
			return uri
		}
		loc = strings.TrimPrefix(uri[len("file://"):], "localhost")
	}
	abs, err := filepath.Abs(loc)
	if err != nil {
		return loc
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real
	}
	return abs
}
