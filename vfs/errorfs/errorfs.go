// Package errorfs wraps a vfs.FS and fails chosen operations, so that tests
// can inject ENOSPC, EIO, short writes and failed fsyncs at every step of the
// commit protocol (in the spirit of Pebble's vfs/errorfs).
package errorfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kalamdb/libkalam/vfs"
)

// Op is a kind of file operation.
type Op int

// The operations an Injector sees.
const (
	OpCreate Op = iota
	OpOpen
	OpWrite
	OpRead
	OpSync
	OpClose
	OpRename
	OpRemove
	OpRemoveAll
	OpMkdirAll
	OpReadDir
	OpStat
	OpSyncDir
	OpLink
	OpLock
	numOps
)

var opNames = [numOps]string{"create", "open", "write", "read", "fsync", "close", "rename", "remove",
	"remove-all", "mkdir", "readdir", "stat", "sync-dir", "link", "lock"}

func (o Op) String() string {
	if o >= 0 && o < numOps {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", int(o))
}

// Mutating reports whether the operation changes what is stored (the ones
// whose failure the commit protocol must survive).
func (o Op) Mutating() bool {
	switch o {
	case OpCreate, OpWrite, OpSync, OpClose, OpRename, OpLink, OpRemove, OpRemoveAll, OpMkdirAll, OpSyncDir:
		return true
	}
	return false
}

// ErrInjected marks every injected failure (errors.Is works through the
// returned *os.PathError-like wrapping).
var ErrInjected = errors.New("injected fault")

// Fault is an injected error: Err is what the operation reports (ENOSPC,
// EIO, ...). With Short set, a write first stores half of its bytes.
type Fault struct {
	Op    Op
	Path  string
	Err   error
	Short bool
}

func (f *Fault) Error() string {
	return fmt.Sprintf("%s %s: %v (%v)", f.Op, f.Path, f.Err, ErrInjected)
}

// Unwrap exposes both the errno and ErrInjected.
func (f *Fault) Unwrap() []error { return []error{f.Err, ErrInjected} }

// Injector decides, for each operation, whether it fails: a nil return lets
// it through.
type Injector interface {
	MaybeError(op Op, path string) *Fault
}

// InjectorFunc adapts a function.
type InjectorFunc func(op Op, path string) *Fault

// MaybeError calls f.
func (f InjectorFunc) MaybeError(op Op, path string) *Fault { return f(op, path) }

// Plan counts the operations that match a filter and fails the Nth one
// (1-based); with N = 0 it only counts. After it fired it lets everything
// through, like a transient fault. Safe for concurrent use.
type Plan struct {
	mu     sync.Mutex
	Match  func(op Op, path string) bool // nil: every mutating operation
	N      int
	Err    error // default syscall.EIO
	Short  bool
	seen   int
	fired  *Fault
	record []string
}

// MaybeError implements Injector.
func (p *Plan) MaybeError(op Op, path string) *Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	match := p.Match
	if match == nil {
		match = func(op Op, _ string) bool { return op.Mutating() }
	}
	if !match(op, path) {
		return nil
	}
	p.seen++
	p.record = append(p.record, op.String()+" "+path)
	if p.fired != nil || p.N == 0 || p.seen != p.N {
		return nil
	}
	err := p.Err
	if err == nil {
		err = syscall.EIO
	}
	p.fired = &Fault{Op: op, Path: path, Err: err, Short: p.Short && op == OpWrite}
	return p.fired
}

// Seen is how many matching operations happened.
func (p *Plan) Seen() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen
}

// Fired is the fault injected, or nil.
func (p *Plan) Fired() *Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fired
}

// Ops lists the matching operations seen, in order ("rename /x/y").
func (p *Plan) Ops() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.record...)
}

// Switch holds an Injector that tests can set and clear while the FS is in
// use (nil: no faults).
type Switch struct {
	mu  sync.RWMutex
	inj Injector
}

// Set installs inj (nil clears).
func (s *Switch) Set(inj Injector) {
	s.mu.Lock()
	s.inj = inj
	s.mu.Unlock()
}

// MaybeError implements Injector.
func (s *Switch) MaybeError(op Op, path string) *Fault {
	s.mu.RLock()
	inj := s.inj
	s.mu.RUnlock()
	if inj == nil {
		return nil
	}
	return inj.MaybeError(op, path)
}

// Under matches operations on paths under dir (a path prefix).
func Under(dir string, ops ...Op) func(Op, string) bool {
	return func(op Op, path string) bool {
		if !strings.HasPrefix(path, dir) {
			return false
		}
		if len(ops) == 0 {
			return op.Mutating()
		}
		for _, o := range ops {
			if o == op {
				return true
			}
		}
		return false
	}
}

// Wrap returns fs with inj consulted before every operation.
func Wrap(fs vfs.FS, inj Injector) vfs.FS { return &errFS{fs: fs, inj: inj} }

type errFS struct {
	fs  vfs.FS
	inj Injector
}

func (e *errFS) check(op Op, path string) error {
	if f := e.inj.MaybeError(op, path); f != nil {
		return f
	}
	return nil
}

func (e *errFS) Create(name string) (vfs.File, error) {
	if err := e.check(OpCreate, name); err != nil {
		return nil, err
	}
	f, err := e.fs.Create(name)
	if err != nil {
		return nil, err
	}
	return &errFile{File: f, fs: e, path: name}, nil
}

func (e *errFS) Open(name string) (vfs.File, error) {
	if err := e.check(OpOpen, name); err != nil {
		return nil, err
	}
	f, err := e.fs.Open(name)
	if err != nil {
		return nil, err
	}
	return &errFile{File: f, fs: e, path: name}, nil
}

func (e *errFS) Rename(oldname, newname string) error {
	if err := e.check(OpRename, newname); err != nil {
		return err
	}
	return e.fs.Rename(oldname, newname)
}

func (e *errFS) Link(oldname, newname string) error {
	if err := e.check(OpLink, newname); err != nil {
		return err
	}
	return e.fs.Link(oldname, newname)
}

func (e *errFS) Lock(name string, wait time.Duration) (io.Closer, error) {
	if err := e.check(OpLock, name); err != nil {
		return nil, err
	}
	return e.fs.Lock(name, wait)
}

func (e *errFS) HoldLock(name string) (io.Closer, error) {
	if err := e.check(OpLock, name); err != nil {
		return nil, err
	}
	return e.fs.HoldLock(name)
}

func (e *errFS) Remove(name string) error {
	if err := e.check(OpRemove, name); err != nil {
		return err
	}
	return e.fs.Remove(name)
}

func (e *errFS) RemoveAll(name string) error {
	if err := e.check(OpRemoveAll, name); err != nil {
		return err
	}
	return e.fs.RemoveAll(name)
}

func (e *errFS) MkdirAll(dir string, perm os.FileMode) error {
	if err := e.check(OpMkdirAll, dir); err != nil {
		return err
	}
	return e.fs.MkdirAll(dir, perm)
}

func (e *errFS) ReadDir(dir string) ([]os.DirEntry, error) {
	if err := e.check(OpReadDir, dir); err != nil {
		return nil, err
	}
	return e.fs.ReadDir(dir)
}

func (e *errFS) Stat(name string) (os.FileInfo, error) {
	if err := e.check(OpStat, name); err != nil {
		return nil, err
	}
	return e.fs.Stat(name)
}

func (e *errFS) SyncDir(dir string) error {
	if err := e.check(OpSyncDir, dir); err != nil {
		return err
	}
	return e.fs.SyncDir(dir)
}

type errFile struct {
	vfs.File
	fs   *errFS
	path string
}

func (f *errFile) Write(p []byte) (int, error) {
	if ft := f.fs.inj.MaybeError(OpWrite, f.path); ft != nil {
		if ft.Short && len(p) > 1 {
			n, err := f.File.Write(p[:len(p)/2])
			if err != nil {
				return n, err
			}
			return n, ft
		}
		return 0, ft
	}
	return f.File.Write(p)
}

func (f *errFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.check(OpRead, f.path); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

func (f *errFile) Sync() error {
	if err := f.fs.check(OpSync, f.path); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *errFile) Close() error {
	if err := f.fs.check(OpClose, f.path); err != nil {
		f.File.Close() // the descriptor is gone either way, as with close(2)
		return err
	}
	return f.File.Close()
}
