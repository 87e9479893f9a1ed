package engine

import (
	"strings"
	"syscall"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/vfs"
	"github.com/kalamdb/libkalam/vfs/errorfs"
)

// A segment write that fails while a flush writes a row group (not only
// at the footer) is an IO error, never a panic; the hot rows stay and a
// flush afterwards succeeds.
func TestFlushFailedRowGroupWrite(t *testing.T) {
	dir := t.TempDir()
	sw := &errorfs.Switch{}
	opts := DefaultOptions()
	opts.FS = errorfs.Wrap(vfs.Default, sw)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	opts.Allocator = mem
	db, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		db.Close()
		mem.AssertSize(t, 0)
	}()
	if _, err := db.CreateTable("b", "", benchSchema, map[string]string{"primary_key": "id", "row_group_rows": "10000", "compression": "none"}); err != nil {
		t.Fatal(err)
	}
	const rows = 300_000
	rec := benchBatch(mem, 0, rows)
	_, err = db.AppendRecord("b", rec)
	rec.Release()
	if err != nil {
		t.Fatal(err)
	}
	segWrites := func(op errorfs.Op, path string) bool {
		return op == errorfs.OpWrite && strings.Contains(path, "segment_")
	}
	for _, n := range []int{1, 2} {
		plan := &errorfs.Plan{N: n, Err: syscall.EIO, Match: segWrites}
		sw.Set(plan)
		_, err = db.Flush("b")
		sw.Set(nil)
		if plan.Fired() == nil {
			t.Fatalf("write %d of the segment never happened", n)
		}
		if !kerr.Is(err, kerr.IO) {
			t.Fatalf("flush with write %d failing: error %v, want kerr.IO", n, err)
		}
	}
	// The segment takes many writes (its row groups go out while the flush
	// runs), so the failures above were mid-flush, not at the footer.
	count := &errorfs.Plan{Match: segWrites}
	sw.Set(count)
	_, err = db.Flush("b")
	sw.Set(nil)
	if err != nil {
		t.Fatal(err)
	}
	if count.Seen() < 3 {
		t.Fatalf("the segment took %d writes: the failures were not mid-flush", count.Seen())
	}
	if n := len(scanIDs(t, db, "b")); n != rows {
		t.Fatalf("%d rows after the flush, want %d", n, rows)
	}
}
