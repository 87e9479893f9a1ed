// Package vfs is the seam under every file operation of the commit protocol
// (DESIGN §2.2): create, write, fsync, rename, remove and directory sync go
// through an FS, so that tests can put a fault-injecting FS (package
// vfs/errorfs) where the operating system's is.
package vfs

import (
	"errors"
	"io"
	"os"
)

// File is an open file: written by a writer, or read at offsets.
type File interface {
	io.Writer
	io.ReaderAt
	io.Closer
	// Sync flushes the file's data to stable storage (fsync).
	Sync() error
	Stat() (os.FileInfo, error)
}

// FS is the file system the store's storage/ lives on.
type FS interface {
	// Create creates or truncates name for writing.
	Create(name string) (File, error)
	// Open opens name for reading.
	Open(name string) (File, error)
	Rename(oldname, newname string) error
	// Link makes newname a second name of the file oldname (a hard link).
	// It fails with an fs.ErrExist error when newname exists, whoever
	// created it: of two racing Links to one name, one wins.
	Link(oldname, newname string) error
	// Remove removes a file or an empty directory.
	Remove(name string) error
	RemoveAll(name string) error
	MkdirAll(dir string, perm os.FileMode) error
	ReadDir(dir string) ([]os.DirEntry, error)
	Stat(name string) (os.FileInfo, error)
	// SyncDir makes creations, renames and removals inside dir durable.
	SyncDir(dir string) error
}

// ErrNoWriteback: StartWriteback cannot start writing back this file.
var ErrNoWriteback = errors.New("writeback not supported for this file")

// Default is the operating system's file system.
var Default FS = osFS{}

type osFS struct{}

func (osFS) Create(name string) (File, error) {
	return os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
}
func (osFS) Open(name string) (File, error)              { return os.Open(name) }
func (osFS) Rename(oldname, newname string) error        { return os.Rename(oldname, newname) }
func (osFS) Link(oldname, newname string) error          { return os.Link(oldname, newname) }
func (osFS) Remove(name string) error                    { return os.Remove(name) }
func (osFS) RemoveAll(name string) error                 { return os.RemoveAll(name) }
func (osFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }
func (osFS) ReadDir(dir string) ([]os.DirEntry, error)   { return os.ReadDir(dir) }
func (osFS) Stat(name string) (os.FileInfo, error)       { return os.Stat(name) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	serr := d.Sync()
	cerr := d.Close()
	if serr != nil {
		return serr
	}
	return cerr
}
