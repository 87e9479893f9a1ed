// Package vfs is the seam under every file operation of the commit protocol
// (DESIGN §2.2): create, write, fsync, rename, remove and directory sync go
// through an FS, so that tests can put a fault-injecting FS (package
// vfs/errorfs) where the operating system's is.
package vfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
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
	// Lock takes an exclusive lock on the file name, creating it (empty)
	// when missing; closing the result releases it. It is HoldLock's lock:
	// holders exclude each other across processes and within one, and a
	// child forked without exec holds nothing. It waits up to wait for
	// another holder (0: not at all), then fails with ErrLocked;
	// ErrNoLocks when the file system has no locks (some FUSE mounts).
	Lock(name string, wait time.Duration) (io.Closer, error)
	// HoldLock takes this process's lock on the file name, creating it
	// when missing, without waiting: ErrLocked when another process, or
	// another holder in this one, has it. The lock is not inherited by a
	// child forked without exec (a Python host's multiprocessing
	// workers), so it ends with its holder's close or process.
	HoldLock(name string) (io.Closer, error)
}

// ErrNoLocks: the file system takes no locks (Lock).
var ErrNoLocks = errors.New("file system has no file locks")

// ErrLocked: another holder kept the lock for LockWait (Lock).
var ErrLocked = errors.New("lock held by another")

// LockWait is how long a lock kept for a read and a small write is waited
// for: a holder that kept it this long is stopped or hung, and a wait
// without end would hang the caller with it.
const LockWait = 10 * time.Second

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

// Lock is HoldLock, waited for. It was flock(2), whose lock belongs to
// the open file, which a child forked without exec shares: a Python
// host's multiprocessing worker forked while a replace held it kept the
// lock after the replace let go, and every later replace of that object
// waited LockWait and failed until the worker exited.
func (fs osFS) Lock(name string, wait time.Duration) (io.Closer, error) {
	deadline := time.Now().Add(wait)
	for pause := time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		lk, err := fs.HoldLock(name)
		if !errors.Is(err, ErrLocked) {
			return lk, err
		}
		if !time.Now().Before(deadline) {
			return nil, fmt.Errorf("lock %s: %w (waited %v)", name, ErrLocked, wait)
		}
		time.Sleep(pause)
	}
}

// HoldLock is fcntl(2)'s record lock, which belongs to the process and is
// not inherited across fork: flock's belongs to the open file, which a
// fork shares, so workers forked by a Python host kept a closed store's
// storage held, and the store's next open was refused. A process's fcntl
// lock on a file is dropped when it closes any descriptor of that file,
// and two opens in one process do not exclude each other, so the process
// keeps its holders in one table (held), consulted before the file is
// opened: that table is per process because the lock is.
func (osFS) HoldLock(name string) (io.Closer, error) {
	held.mu.Lock()
	defer held.mu.Unlock()
	if fi, err := os.Stat(name); err == nil {
		if _, ok := held.files[fileIDOf(fi)]; ok {
			return nil, fmt.Errorf("lock %s: %w (in this process)", name, ErrLocked)
		}
	}
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	id := fileIDOf(fi)
	if _, ok := held.files[id]; ok {
		// Created and linked here by another holder of this process
		// since the Stat above: impossible under held.mu, but closing f
		// would drop that holder's lock, so f stays open with it.
		held.files[id] = append(held.files[id], f)
		return nil, fmt.Errorf("lock %s: %w (in this process)", name, ErrLocked)
	}
	lk := syscall.Flock_t{Type: syscall.F_WRLCK}
	for {
		err = syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &lk)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close() // no lock of this process on the file to drop
		switch err {
		case syscall.EAGAIN, syscall.EACCES:
			return nil, fmt.Errorf("lock %s: %w", name, ErrLocked)
		case syscall.ENOLCK, syscall.EOPNOTSUPP, syscall.ENOSYS:
			return nil, fmt.Errorf("lock %s: %w (%v)", name, ErrNoLocks, err)
		}
		return nil, &os.PathError{Op: "fcntl lock", Path: name, Err: err}
	}
	held.files[id] = []*os.File{f}
	return &heldLock{id: id}, nil
}

// held is the process's table of HoldLock holders, by file.
var held = struct {
	mu    sync.Mutex
	files map[fileID][]*os.File // the holder's descriptor first
}{files: map[fileID][]*os.File{}}

type fileID struct{ dev, ino uint64 }

func fileIDOf(fi os.FileInfo) fileID {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileID{uint64(st.Dev), st.Ino}
	}
	return fileID{}
}

type heldLock struct {
	id   fileID
	once sync.Once
}

// Close releases the lock: the file's descriptors close together, so the
// lock ends only with its holder.
func (h *heldLock) Close() error {
	var err error
	h.once.Do(func() {
		held.mu.Lock()
		defer held.mu.Unlock()
		for _, f := range held.files[h.id] {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		delete(held.files, h.id)
	})
	return err
}

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
