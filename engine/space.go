package engine

import (
	"fmt"
	"strings"
	"sync"
	"syscall"

	"github.com/kalamdb/libkalam/kerr"
)

// A full disk must not stop the host process (Debian's librocksdb keeps its
// assertions and aborts in WritableFileWriter when a file writer that failed
// is written again) and must not lose acknowledged writes. Three measures:
//
//   - every write and commit first checks the file system RocksDB lives on
//     and is refused with kerr.IO while less than a reserve is free, so in
//     the usual case RocksDB never meets ENOSPC at all;
//   - RocksDB's info log goes through a logger that ignores its own write
//     errors (rocks_shim.cc), the path that asserted;
//   - when RocksDB does meet ENOSPC (another process filled the disk between
//     the check and the write, or a background flush), it stops writes with
//     a background error; the next write, once the reserve is free again,
//     resumes it (DB::Resume). RocksDB's own polling recovery is off (it
//     would make that Resume wait for its next 5-second poll).

// spaceGuard is the reserve check of one store.
type spaceGuard struct {
	dir string
	mu  sync.Mutex
	// stopped: RocksDB reported a failed write; it refuses writes until
	// resumed.
	stopped bool
	// off disables the reserve check (tests that let RocksDB itself meet a
	// full disk).
	off bool
}

func newSpaceGuard(dir string) *spaceGuard { return &spaceGuard{dir: dir} }

// reserveFor is what stays free: 1% of the file system, at least 1 MiB,
// at most 64 MiB — room for RocksDB to finish a memtable flush and write
// its manifest, and for our synced commits.
func reserveFor(total int64) int64 { return min(max(total/100, 1<<20), 64<<20) }

// statSpace returns the free (for unprivileged users) and total bytes of the
// file system holding dir.
func statSpace(dir string) (free, total int64, err error) {
	var s syscall.Statfs_t
	if err := syscall.Statfs(dir, &s); err != nil {
		return 0, 0, err
	}
	return int64(s.Bavail) * int64(s.Bsize), int64(s.Blocks) * int64(s.Bsize), nil
}

// check refuses a write of about n bytes when it would leave less than the
// reserve free, and resumes a stopped RocksDB once space is back.
func (g *spaceGuard) check(n int64) error {
	if g.off {
		return nil
	}
	free, total, err := statSpace(g.dir)
	if err != nil {
		return nil // nothing to measure (the directory is being created): let RocksDB decide
	}
	reserve := reserveFor(total)
	// The WAL holds n now and a memtable flush writes it again later.
	if free-2*n < reserve {
		return kerr.New(kerr.IO,
			"disk full: %s has %s free, and libkalam keeps %s free for RocksDB (this write needs about %s); free some space and retry",
			g.dir, fmtBytes(free), fmtBytes(reserve), fmtBytes(2*n))
	}
	return nil
}

// writeError turns a failed RocksDB write into an error naming the cause,
// and marks RocksDB stopped so that the next write resumes it.
func (st *store) writeError(err error, what string) error {
	st.space.mu.Lock()
	st.space.stopped = true
	st.space.mu.Unlock()
	msg := strings.ToLower(err.Error())
	if strings.Contains(msg, "no space") || strings.Contains(msg, "nospace") {
		return kerr.Wrap(kerr.IO, err, "%s: disk full (free some space and retry)", what)
	}
	return kerr.Wrap(kerr.IO, err, "%s", what)
}

// checkSpace is the check before a write of n bytes: the reserve, then, if
// RocksDB stopped after a failed write, a resume.
func (st *store) checkSpace(n int64) error {
	if err := st.space.check(n); err != nil {
		return err
	}
	st.space.mu.Lock()
	defer st.space.mu.Unlock()
	if !st.space.stopped {
		return nil
	}
	if err := rocksResume(st.rdb); err != nil {
		return kerr.Wrap(kerr.IO, err, "RocksDB stopped after a failed write and cannot resume yet")
	}
	st.space.stopped = false
	return nil
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
