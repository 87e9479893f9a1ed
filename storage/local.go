package storage

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/vfs"
)

// TmpSuffix marks an object being written on a local root; a crash can
// leave one behind, and the store's open removes them (DESIGN §2.2 step 4).
const TmpSuffix = ".tmp"

// LocalStorage is a storage root in a local directory. Each commit step of
// DESIGN §2.2 is the file-system one: write name.tmp, fsync, rename, fsync
// the directory.
type LocalStorage struct {
	root string
	fs   vfs.FS
}

// NewLocal returns the storage rooted at dir (created when missing) on fsys
// (nil: the operating system's).
func NewLocal(dir string, fsys vfs.FS) (*LocalStorage, error) {
	if fsys == nil {
		fsys = vfs.Default
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, kerr.Wrap(kerr.InvalidArgument, err, "storage %q", dir)
	}
	if err := fsys.MkdirAll(abs, 0o755); err != nil {
		return nil, kerr.Wrap(kerr.IO, err, "storage %q", dir)
	}
	return &LocalStorage{root: abs, fs: fsys}, nil
}

// String is the root directory.
func (l *LocalStorage) String() string { return l.root }

// Local is true.
func (l *LocalStorage) Local() bool { return true }

// FS is the file system the root is on.
func (l *LocalStorage) FS() vfs.FS { return l.fs }

// LocalPath is the file path of an object.
func (l *LocalStorage) LocalPath(name string) (string, error) {
	clean, err := CheckName(name)
	if err != nil {
		return "", err
	}
	return filepath.Join(l.root, filepath.FromSlash(clean)), nil
}

func ioErr(err error, format string, args ...any) error {
	if errors.Is(err, fs.ErrNotExist) {
		return kerr.Wrap(kerr.NotFound, err, format, args...)
	}
	return kerr.Wrap(kerr.IO, err, format, args...)
}

// Create writes name.tmp; Commit fsyncs it, renames it to name and fsyncs
// the directory.
func (l *LocalStorage) Create(_ context.Context, name string) (Writer, error) {
	p, err := l.LocalPath(name)
	if err != nil {
		return nil, err
	}
	if err := l.fs.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, ioErr(err, "create %s", p)
	}
	tmp := p + TmpSuffix
	f, err := l.fs.Create(tmp)
	if err != nil {
		return nil, ioErr(err, "create %s", tmp)
	}
	return &localWriter{l: l, f: f, bw: bufio.NewWriterSize(f, 1<<20), tmp: tmp, final: p}, nil
}

type localWriter struct {
	l          *LocalStorage
	f          vfs.File
	bw         *bufio.Writer
	tmp, final string
	n          int64
	started    int64 // bytes whose writeback has been started
	done       bool
	err        error
}

// writebackChunk is how much a writer hands the file before starting that
// part's writeback (vfs.StartWriteback): a segment's disk writes then
// overlap with encoding the rest of it, and Commit's fsync waits for the
// last part only. A 15 MB segment's fsync took 7–12 ms at the end of a
// flush when all of it was still dirty.
const writebackChunk = 4 << 20

// startWriteback is vfs.StartWriteback; tests record the calls.
var startWriteback = vfs.StartWriteback

func (w *localWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.bw.Write(p)
	w.n += int64(n)
	if err != nil {
		w.err = kerr.Wrap(kerr.IO, err, "write %s", w.tmp)
		return n, w.err
	}
	if inFile := w.n - int64(w.bw.Buffered()); inFile-w.started >= writebackChunk {
		_ = startWriteback(w.f, w.started, inFile-w.started)
		w.started = inFile
	}
	return n, nil
}

func (w *localWriter) Commit() (int64, error) {
	if w.done {
		return 0, kerr.New(kerr.Internal, "commit %s: writer already finished", w.final)
	}
	fail := func(err error) (int64, error) {
		w.Abort()
		return 0, err
	}
	if w.err != nil {
		return fail(w.err)
	}
	if err := w.bw.Flush(); err != nil {
		return fail(kerr.Wrap(kerr.IO, err, "write %s", w.tmp))
	}
	if err := w.f.Sync(); err != nil {
		return fail(kerr.Wrap(kerr.IO, err, "fsync %s", w.tmp))
	}
	err := w.f.Close()
	w.f = nil
	if err != nil {
		return fail(kerr.Wrap(kerr.IO, err, "close %s", w.tmp))
	}
	if err := w.l.fs.Rename(w.tmp, w.final); err != nil {
		return fail(kerr.Wrap(kerr.IO, err, "rename %s", w.tmp))
	}
	w.done = true
	if err := w.l.fs.SyncDir(filepath.Dir(w.final)); err != nil {
		// The object is in place but its name may not survive a power loss:
		// report the failure and take the name back, so that the caller's
		// error leaves nothing behind.
		_ = w.l.fs.Remove(w.final)
		return 0, kerr.Wrap(kerr.IO, err, "fsync directory of %s", w.final)
	}
	return w.n, nil
}

func (w *localWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	_ = w.l.fs.Remove(w.tmp)
}

// Open opens the file for reads at offsets.
func (l *LocalStorage) Open(_ context.Context, name string) (Reader, error) {
	p, err := l.LocalPath(name)
	if err != nil {
		return nil, err
	}
	f, err := l.fs.Open(p)
	if err != nil {
		return nil, ioErr(err, "open %s", p)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, ioErr(err, "stat %s", p)
	}
	return &localReader{File: f, size: st.Size()}, nil
}

type localReader struct {
	vfs.File
	size int64
}

func (r *localReader) Size() int64 { return r.size }

// ReadFile reads a whole file.
func (l *LocalStorage) ReadFile(ctx context.Context, name string) ([]byte, error) {
	r, err := l.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	buf := make([]byte, r.Size())
	n, err := r.ReadAt(buf, 0)
	if n == len(buf) {
		err = nil // io.ReaderAt may report io.EOF with the last byte
	}
	if err != nil {
		return nil, ioErr(err, "read %s", name)
	}
	return buf, nil
}

// WriteFile writes name.tmp, fsyncs, renames and fsyncs the directory.
func (l *LocalStorage) WriteFile(ctx context.Context, name string, data []byte) error {
	w, err := l.Create(ctx, name)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		return err
	}
	_, err = w.Commit()
	return err
}

// CreateExclusive writes data under a temporary name of its own, fsyncs
// it and hard-links it to name: the kernel refuses the link when name
// exists, so of racing creators one wins and each of the others sees the
// winner's whole file, never a part. The temporary name goes, and the
// directory is fsynced. A file system without hard links (EPERM, ENOTSUP:
// some FUSE and SMB mounts) gets a rename, which is not exclusive.
//
// It holds name's lock (see ReplaceIf) while it does, so that a replace
// cannot slip between its check and its link, and so that temporary files
// of name found under the lock are a crashed writer's, and go.
func (l *LocalStorage) CreateExclusive(ctx context.Context, name string, data []byte) error {
	p, err := l.LocalPath(name)
	if err != nil {
		return err
	}
	if _, err := l.fs.Stat(p); err == nil {
		return kerr.New(kerr.AlreadyExists, "create %s: it exists", p)
	}
	if err := l.fs.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return ioErr(err, "create %s", p)
	}
	unlock, err := l.lock(p)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := l.fs.Stat(p); err == nil {
		return kerr.New(kerr.AlreadyExists, "create %s: it exists", p)
	}
	// Racers must not share the temporary file: Create truncates.
	tmp := fmt.Sprintf("%s.%s%s", p, randomSuffix(), TmpSuffix)
	f, err := l.fs.Create(tmp)
	if err != nil {
		return ioErr(err, "create %s", tmp)
	}
	defer func() { _ = l.fs.Remove(tmp) }()
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return kerr.Wrap(kerr.IO, werr, "write %s", tmp)
	}
	switch err := l.fs.Link(tmp, p); {
	case errors.Is(err, fs.ErrExist):
		return kerr.Wrap(kerr.AlreadyExists, err, "create %s: it exists", p)
	case errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.ENOSYS):
		if err := l.fs.Rename(tmp, p); err != nil {
			return kerr.Wrap(kerr.IO, err, "rename %s", tmp)
		}
	case err != nil:
		return kerr.Wrap(kerr.IO, err, "link %s", p)
	}
	if err := l.fs.SyncDir(filepath.Dir(p)); err != nil {
		_ = l.fs.Remove(p)
		return kerr.Wrap(kerr.IO, err, "fsync directory of %s", p)
	}
	return nil
}

// ReplaceIf reads name, compares and writes it (WriteFile) holding name's
// lock, a file beside it (name + LockSuffix): every local writer of
// compared content (ReplaceIf, CreateExclusive) holds it, in this process
// and in others. A file system without locks gets an unlocked compare and
// write, which is not exclusive.
func (l *LocalStorage) ReplaceIf(ctx context.Context, name string, old, data []byte) error {
	p, err := l.LocalPath(name)
	if err != nil {
		return err
	}
	unlock, err := l.lock(p)
	if err != nil {
		return err
	}
	defer unlock()
	cur, err := l.ReadFile(ctx, name)
	if err != nil {
		return err
	}
	if !bytes.Equal(cur, old) {
		return kerr.New(kerr.AlreadyExists, "replace %s: it changed (another writer replaced it)", p)
	}
	return l.WriteFile(ctx, name, data)
}

// HoldRoot takes the process's lock of RootHoldName at the root, without
// waiting (vfs.FS.HoldLock): another holder, in this process or another,
// has it until it releases it or its process ends; processes it forks do
// not inherit it.
func (l *LocalStorage) HoldRoot(_ context.Context) (func(), error) {
	p := filepath.Join(l.root, RootHoldName)
	if err := l.fs.MkdirAll(l.root, 0o755); err != nil {
		return nil, ioErr(err, "hold %s", p)
	}
	lk, err := l.fs.HoldLock(p)
	switch {
	case errors.Is(err, vfs.ErrNoLocks):
		return func() {}, nil
	case errors.Is(err, vfs.ErrLocked):
		return nil, kerr.New(kerr.Busy, "storage %s is held by another writer (%s is locked)", l.root, p)
	case err != nil:
		return nil, ioErr(err, "hold %s", p)
	}
	return func() { _ = lk.Close() }, nil
}

// RootHoldName is the file a local root's holder locks (HoldRoot). Its
// name holds a '.', as no namespace's does.
const RootHoldName = "_kalam_open.lock"

// LockSuffix names the lock file of an object replaced with ReplaceIf.
const LockSuffix = ".lock"

// lock takes the lock of the object at path p (see ReplaceIf) and removes
// temporary files of p that writers killed while holding it left.
func (l *LocalStorage) lock(p string) (unlock func(), err error) {
	lk, err := l.fs.Lock(p+LockSuffix, vfs.LockWait)
	switch {
	case errors.Is(err, vfs.ErrNoLocks):
		return func() {}, nil
	case errors.Is(err, vfs.ErrLocked):
		return nil, kerr.Wrap(kerr.Busy, err, "lock %s", p)
	case err != nil:
		return nil, ioErr(err, "lock %s", p)
	}
	l.removeLeftTmp(p)
	return func() { _ = lk.Close() }, nil
}

// removeLeftTmp removes p's temporary files (CreateExclusive's own names
// and WriteFile's p.tmp): under p's lock, no writer is writing one.
func (l *LocalStorage) removeLeftTmp(p string) {
	dir, base := filepath.Split(p)
	ents, err := l.fs.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		n := e.Name()
		mid, ok := strings.CutPrefix(n, base)
		if mid, ok2 := strings.CutSuffix(mid, TmpSuffix); ok && ok2 && (mid == "" || isRandomSuffix(strings.TrimPrefix(mid, "."))) {
			_ = l.fs.Remove(filepath.Join(dir, n))
		}
	}
}

// isRandomSuffix reports whether s is one of randomSuffix's names.
func isRandomSuffix(s string) bool {
	_, err := hex.DecodeString(s)
	return len(s) == 16 && err == nil
}

// randomSuffix names one writer's temporary file.
func randomSuffix() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Remove deletes a file and fsyncs its directory.
func (l *LocalStorage) Remove(_ context.Context, name string) error {
	p, err := l.LocalPath(name)
	if err != nil {
		return err
	}
	if err := l.fs.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return kerr.Wrap(kerr.IO, err, "remove %s", p)
	}
	if err := l.fs.SyncDir(filepath.Dir(p)); err != nil {
		return kerr.Wrap(kerr.IO, err, "fsync directory of %s", p)
	}
	return nil
}

// RemoveAll deletes a directory tree.
func (l *LocalStorage) RemoveAll(_ context.Context, dir string) error {
	p, err := l.LocalPath(dir)
	if err != nil {
		return err
	}
	if err := l.fs.RemoveAll(p); err != nil {
		return kerr.Wrap(kerr.IO, err, "remove %s", p)
	}
	if err := l.fs.SyncDir(filepath.Dir(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return kerr.Wrap(kerr.IO, err, "fsync directory of %s", p)
	}
	return nil
}

// List lists a directory.
func (l *LocalStorage) List(_ context.Context, dir string) ([]Entry, error) {
	p := l.root
	if dir != "" {
		var err error
		if p, err = l.LocalPath(dir); err != nil {
			return nil, err
		}
	}
	ents, err := l.fs.ReadDir(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, kerr.Wrap(kerr.IO, err, "list %s", p)
	}
	out := make([]Entry, 0, len(ents))
	for _, e := range ents {
		ent := Entry{Name: e.Name(), IsDir: e.IsDir()}
		if !e.IsDir() {
			if info, err := e.Info(); err == nil {
				ent.Size = info.Size()
			}
		}
		out = append(out, ent)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// IsLock reports whether a listed name is a local object's lock file
// (ReplaceIf), which stays beside the object.
func IsLock(name string) bool { return strings.HasSuffix(name, LockSuffix) }

// IsTmp reports whether a listed name is a local write in progress.
func IsTmp(name string) bool { return strings.HasSuffix(name, TmpSuffix) }
