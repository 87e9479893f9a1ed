//go:build !linux

package vfs

// StartWriteback reports ErrNoWriteback where sync_file_range does not
// exist; Sync alone makes data durable.
func StartWriteback(f File, off, n int64) error { return ErrNoWriteback }
