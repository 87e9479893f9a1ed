// Package storage is where a store's storage/ tree lives: a local directory
// (the default) or an S3-compatible object store (DESIGN §10). Everything
// the commit protocol of DESIGN §2.2 does to segment files and manifest
// mirrors goes through a Storage, so each step has one meaning on every
// backend: an object written with Create is invisible until Commit returns,
// and durable once it has; WriteFile replaces a small object atomically.
//
// Names are slash-separated paths relative to the storage root
// ("app/events/data/segment_001.parquet"); a name that is absolute, empty,
// or steps out of the root with ".." is refused.
package storage

import (
	"context"
	"io"
	"path"
	"strings"

	"github.com/kalamdb/libkalam/kerr"
)

// Storage is one storage root.
type Storage interface {
	// String names the root for messages: a path or s3://bucket/prefix.
	String() string
	// Local reports whether the root is a directory of this machine's file
	// system (its objects then have file paths, see LocalPath).
	Local() bool

	// Create starts writing the object name. Nothing is visible under name
	// until Commit succeeds; Abort discards what was written.
	Create(ctx context.Context, name string) (Writer, error)
	// Open opens the object for reads at offsets. A missing object is
	// kerr.NotFound naming it.
	Open(ctx context.Context, name string) (Reader, error)
	// ReadFile reads a whole (small) object; kerr.NotFound when missing.
	ReadFile(ctx context.Context, name string) ([]byte, error)
	// WriteFile replaces name with data atomically and durably.
	WriteFile(ctx context.Context, name string, data []byte) error
	// CreateExclusive writes name with data, atomically and durably, only
	// when no object has that name; kerr.AlreadyExists when one has. Of
	// callers racing to create one name, at most one succeeds: the record
	// of who writes a storage root is claimed with it.
	CreateExclusive(ctx context.Context, name string, data []byte) error
	// ReplaceIf replaces name with data, atomically and durably, only
	// while its content is old: kerr.AlreadyExists when it holds other
	// content (another writer replaced it), kerr.NotFound when it is
	// missing. Of callers racing to replace one content, at most one
	// succeeds: a storage root's record is taken over with it.
	ReplaceIf(ctx context.Context, name string, old, data []byte) error
	// HoldRoot marks the root as held by the caller until release is
	// called (or its process ends; a process it forks does not inherit
	// the hold): another HoldRoot, in this process or another of this
	// machine (or of any machine sharing the file system's locks), fails
	// with kerr.Busy at once. A root that cannot
	// be marked (a file system without locks) and object storage, which
	// has no such mark, hold nothing: release is a no-op. Other errors
	// (a full or read-only disk) say that nothing is held.
	HoldRoot(ctx context.Context) (release func(), err error)
	// Remove deletes the object; a missing one is not an error.
	Remove(ctx context.Context, name string) error
	// RemoveAll deletes dir and everything under it.
	RemoveAll(ctx context.Context, dir string) error
	// List returns the direct children of dir ("" is the root): objects
	// and sub-directories (IsDir), sorted by name. A missing dir is empty.
	List(ctx context.Context, dir string) ([]Entry, error)
}

// Writer writes one object (Storage.Create).
type Writer interface {
	io.Writer
	// Commit makes the object visible under its name, durably, and returns
	// its size. After an error nothing new is visible under the name.
	Commit() (int64, error)
	// Abort discards the object; safe after Commit (then a no-op).
	Abort()
}

// Reader reads one object at offsets (Storage.Open). Safe for concurrent
// ReadAt calls.
type Reader interface {
	io.ReaderAt
	Size() int64
	Close() error
}

// Entry is one child of a listed directory.
type Entry struct {
	Name  string // base name
	IsDir bool
	Size  int64
}

// CheckName validates an object name (see the package comment) and returns
// it cleaned.
func CheckName(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || strings.ContainsRune(name, 0) || strings.Contains(name, "\\") {
		return "", kerr.New(kerr.InvalidArgument, "storage: invalid object name %q", name)
	}
	clean := path.Clean(name)
	if clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", kerr.New(kerr.InvalidArgument, "storage: object name %q leaves the storage root", name)
	}
	return clean, nil
}

// Join joins name parts with "/".
func Join(parts ...string) string { return path.Join(parts...) }

// HasScheme reports whether s looks like a URL ("s3://...", "file://...")
// rather than a path.
func HasScheme(s string) bool {
	i := strings.Index(s, "://")
	if i <= 0 {
		return false
	}
	for _, c := range s[:i] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
