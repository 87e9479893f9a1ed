// sync_file_range with its offsets in single registers: the 64-bit Linux
// ports whose syscall package has it (on 32-bit ones the offsets are split
// and the argument order varies).

//go:build linux && (amd64 || arm64 || riscv64 || s390x || loong64 || mips64 || mips64le)

package vfs

import (
	"os"
	"syscall"
)

// hasWriteback: StartWriteback starts writeback of operating-system files.
const hasWriteback = true

// syncFileRangeWrite is SYNC_FILE_RANGE_WRITE: start writing back the
// range's dirty pages, without waiting for them.
const syncFileRangeWrite = 2

// StartWriteback asks the kernel to start writing bytes [off, off+n) of f
// to disk without waiting (sync_file_range): a large file's final fsync
// then waits for little more than its last part, instead of for all of it
// at once. A hint only — Sync is what makes data durable — so callers may
// ignore its error: ErrNoWriteback for a file that is not an operating
// system file (test file systems), or the system call's.
func StartWriteback(f File, off, n int64) error {
	of, ok := f.(*os.File)
	if !ok {
		return ErrNoWriteback
	}
	rc, err := of.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall6(syscall.SYS_SYNC_FILE_RANGE, fd, uintptr(off), uintptr(n), syncFileRangeWrite, 0, 0)
	}); err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}
