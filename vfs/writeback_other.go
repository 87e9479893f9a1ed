//go:build !(linux && (amd64 || arm64 || riscv64 || s390x || loong64 || mips64 || mips64le))

package vfs

// hasWriteback: StartWriteback starts writeback of operating-system files.
const hasWriteback = false

// StartWriteback reports ErrNoWriteback where sync_file_range is not
// available (see writeback_syncrange.go); Sync alone makes data durable.
func StartWriteback(f File, off, n int64) error { return ErrNoWriteback }
