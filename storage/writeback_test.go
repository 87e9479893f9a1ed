package storage_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/kalamdb/libkalam/storage"
	"github.com/kalamdb/libkalam/vfs"
)

// TestLocalWriterStartsWriteback: a large object's writer starts the
// writeback of what it has handed the file as it goes, in contiguous
// parts of at least 4 MiB, so that Commit's fsync waits for the last part
// only; a small object starts none. The object's bytes are unchanged.
func TestLocalWriterStartsWriteback(t *testing.T) {
	type part struct{ off, n int64 }
	var parts []part
	defer storage.RecordWriteback(func(off, n int64) { parts = append(parts, part{off, n}) })()
	dir := t.TempDir()
	l, err := storage.NewLocal(dir, vfs.Default)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	write := func(name string, size int) []byte {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i * 7)
		}
		w, err := l.Create(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off < size; off += 100_000 {
			if _, err := w.Write(data[off:min(off+100_000, size)]); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := w.Commit(); err != nil || n != int64(size) {
			t.Fatalf("commit %s: %d bytes, %v", name, n, err)
		}
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s after commit: %d bytes, %v", name, len(got), err)
		}
		return data
	}
	write("small", 3<<20)
	if len(parts) != 0 {
		t.Fatalf("a 3 MiB object started writeback of %v", parts)
	}
	const size = 15 << 20
	write("large", size)
	if len(parts) < 3 {
		t.Fatalf("a 15 MiB object started writeback %d times: %v", len(parts), parts)
	}
	var next int64
	for _, p := range parts {
		if p.off != next || p.n < 4<<20 {
			t.Fatalf("writeback parts %v: not contiguous parts of at least 4 MiB from 0", parts)
		}
		next = p.off + p.n
	}
	if next > size {
		t.Fatalf("writeback parts %v pass the object's %d bytes", parts, size)
	}
}
