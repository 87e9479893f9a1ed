package storage

import (
	"strings"

	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/vfs"
)

// Options configure Open. The S3 fields follow DESIGN §10's
// "storage_options"; FS is the file system of a local root (nil: the
// operating system's; tests put a fault-injecting one here).
type Options struct {
	Endpoint        string
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	AllowHTTP       *bool

	FS vfs.FS
}

// Open returns the storage at uri: a local directory path, or a URL whose
// scheme a backend of this build handles.
func Open(uri string, opts Options) (Storage, error) {
	if uri == "" {
		return nil, kerr.New(kerr.InvalidArgument, "storage: empty location")
	}
	if HasScheme(uri) {
		scheme := strings.ToLower(uri[:strings.Index(uri, "://")])
		if scheme == "file" {
			return NewLocal(strings.TrimPrefix(uri[len("file://"):], "localhost"), opts.FS)
		}
		return nil, kerr.New(kerr.InvalidArgument,
			"storage %q: scheme %q is not supported by this build (local paths and file:// only)", uri, scheme)
	}
	return NewLocal(uri, opts.FS)
}
