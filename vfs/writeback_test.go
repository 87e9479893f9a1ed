package vfs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// notOSFile is a File that is not an *os.File (as a test file system's are).
type notOSFile struct{ File }

func TestStartWriteback(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	f, err := Default.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	err = StartWriteback(f, 0, int64(len(data)))
	if hasWriteback && err != nil {
		t.Fatalf("StartWriteback on a file of the OS: %v", err)
	}
	if !hasWriteback && !errors.Is(err, ErrNoWriteback) {
		t.Fatalf("StartWriteback without sync_file_range: %v, want ErrNoWriteback", err)
	}
	if err := StartWriteback(notOSFile{f}, 0, 1); !errors.Is(err, ErrNoWriteback) {
		t.Fatalf("StartWriteback on a wrapped file: %v, want ErrNoWriteback", err)
	}
	// A hint: the data is unchanged and still made durable by Sync.
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("file after writeback: %d bytes, err %v", len(got), err)
	}
}
