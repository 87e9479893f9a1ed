package engine

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/linxGnu/grocksdb"

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
	noFlushReader(t)
}

// noFlushReader fails when a flush's reader goroutine is still running: a
// flush returns only after its reader ended, failed or not.
func noFlushReader(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	if strings.Contains(string(buf), "flushRead") {
		t.Fatalf("a flush reader outlived its flush:\n%s", buf)
	}
}

// A failure on the reading side in the middle of a flush (an IO error at
// the second batch, from RocksDB or from the flush cache; a corrupt hot row
// in the middle of the table) stops the writing side: the flush returns the
// error, no segment is left, the hot rows stay, no goroutine is left, and
// the next flush (which reads them back: the failed one took the cache)
// writes everything.
func TestFlushReadFailsMidway(t *testing.T) {
	for _, how := range []string{"io", "io-cached", "corrupt"} {
		t.Run(how, func(t *testing.T) {
			db, mem, dir := testDB(t)
			if _, err := db.CreateTable("b", "", benchSchema, map[string]string{"primary_key": "id", "row_group_rows": "20000"}); err != nil {
				t.Fatal(err)
			}
			const rows = 5 * flushBatchRows
			rec := benchBatch(mem, 0, rows)
			_, err := db.AppendRecord("b", rec)
			rec.Release()
			if err != nil {
				t.Fatal(err)
			}
			tb, _ := db.st.lookupTable("b")
			want := kerr.IO
			var badKey, goodVal []byte
			switch how {
			case "io", "io-cached":
				step := "flush_cached_batch" // the rows come from the flush cache
				if how == "io" {
					step = "flush_read_batch" // from RocksDB: the cache has ended
					tb.writeMu.Lock()
					tb.endFlushCache()
					tb.writeMu.Unlock()
				}
				batches := 0
				db.st.failpoint = func(s string) error {
					if s == step {
						if batches++; batches == 2 {
							return errors.New("injected")
						}
					}
					return nil
				}
			case "corrupt":
				// The value of a row in the fourth batch gets an unknown
				// flag byte.
				badKey, goodVal = nthHotEntry(t, db.st, tb, 3*flushBatchRows+5)
				putRawHot(t, db.st, badKey, []byte{9})
				want = kerr.Corruption
			}
			_, err = db.Flush("b")
			db.st.failpoint = nil
			if !kerr.Is(err, want) {
				t.Fatalf("flush: error %v, want %v", err, want)
			}
			noFlushReader(t)
			if n := tb.hotRows.Load(); n != rows {
				t.Fatalf("hot rows after the failed flush: %d, want %d", n, rows)
			}
			m, err := db.Manifest("b")
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Segments) != 0 {
				t.Fatalf("%d segments after the failed flush", len(m.Segments))
			}
			ents, _ := os.ReadDir(filepath.Join(dir, "storage", "default", "b", "data"))
			if len(ents) != 0 {
				t.Fatalf("files left by the failed flush: %v", ents)
			}
			if badKey != nil {
				putRawHot(t, db.st, badKey, goodVal)
			}
			if _, err := db.Flush("b"); err != nil {
				t.Fatal(err)
			}
			ids := scanIDs(t, db, "b")
			if len(ids) != rows || ids[0] != 0 || ids[rows-1] != rows-1 {
				t.Fatalf("%d rows after the flush (%v...), want %d", len(ids), ids[:min(3, len(ids))], rows)
			}
			if n := tb.hotRows.Load(); n != 0 {
				t.Fatalf("hot rows after the flush: %d, want 0", n)
			}
			if ents, err := os.ReadDir(filepath.Join(dir, "storage", "default", "b", "data")); err != nil || len(ents) != 1 {
				t.Fatalf("segment files after the flush: %v, %v (the check above looked in the wrong place)", ents, err)
			}
		})
	}
}

// nthHotEntry returns the RocksDB key and value of a table's n-th hot
// entry (0-based, every generation).
func nthHotEntry(t *testing.T, st *store, tb *table, n int) (key, val []byte) {
	t.Helper()
	ro := grocksdb.NewDefaultReadOptions()
	defer ro.Destroy()
	it := st.rdb.NewIteratorCF(ro, st.cfData)
	defer it.Close()
	i := 0
	for it.Seek(u64be(tb.uid)); it.ValidForPrefix(u64be(tb.uid)); it.Next() {
		if i == n {
			return bytes.Clone(it.Key().Data()), bytes.Clone(it.Value().Data())
		}
		i++
	}
	t.Fatalf("table has %d hot entries, not %d", i, n+1)
	return nil, nil
}

// TestWriteAheadLogStaysBounded: RocksDB's log, shared by the column
// families, stays near its bound while a writer takes in and flushes rows
// (the manifest and catalog families' few writes per flush kept every log
// file alive before, and each open replayed them all), and a writer's
// close leaves no log for the next open to replay, with its hot rows still
// there after it.
func TestWriteAheadLogStaysBounded(t *testing.T) {
	logBytes := func(dir string) int64 {
		var n int64
		logs, _ := filepath.Glob(filepath.Join(dir, "rocksdb", "*.log"))
		for _, p := range logs {
			if fi, err := os.Stat(p); err == nil {
				n += fi.Size()
			}
		}
		return n
	}
	// ingest takes in and flushes 20 × 5,000 rows (about 6 MiB of log)
	// with the given bound and returns the most log seen after a flush.
	ingest := func(dir string, limit uint64) (*DB, int64) {
		o := DefaultOptions()
		o.Allocator = memory.NewGoAllocator()
		o.walLimit = limit
		db, err := Open(dir, o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateTable("e", "", eventsSchema, map[string]string{"primary_key": "id"}); err != nil {
			t.Fatal(err)
		}
		var most int64
		for f := 0; f < 20; f++ {
			ids := make([]int64, 5000)
			for i := range ids {
				ids[i] = int64(f*5000 + i)
			}
			appendEvents(t, db, memory.NewGoAllocator(), "e", ids...)
			if _, err := db.Flush("e"); err != nil {
				t.Fatal(err)
			}
			most = max(most, logBytes(dir))
		}
		return db, most
	}
	// Unbounded (RocksDB's default is 1.5 GiB), the log keeps everything.
	free, grown := ingest(t.TempDir(), 1<<40)
	free.Close()
	if grown < 4<<20 {
		t.Fatalf("without a bound the log grew to only %d bytes: the test no longer exercises the bound", grown)
	}
	dir := t.TempDir()
	db, most := ingest(dir, 1<<20)
	if most > 3<<20 {
		t.Fatalf("with a 1 MiB bound the log reached %d bytes", most)
	}
	appendEvents(t, db, memory.NewGoAllocator(), "e", 1_000_000, 1_000_001) // hot
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if n := logBytes(dir); n > 64<<10 {
		t.Fatalf("a writer's close left %d bytes of log for the next open to replay", n)
	}
	o := DefaultOptions()
	o.Allocator = memory.NewGoAllocator()
	o.ReadOnly = true
	r, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, err := r.Scan("e", ScanRequest{Columns: []string{"id"}, Limit: -1})
	if got := len(collectOrFail(t, s, err)); got != 20*5000+2 {
		t.Fatalf("after reopening: %d rows, want %d", got, 20*5000+2)
	}
}

// TestFlushRetiresItsMemtable: a flush that range-deletes most of the data
// family's memtable has RocksDB flush that memtable, which drops the
// deleted rows instead of writing them to L0 files for a compaction to
// rewrite later (before, a 1 M-row append reached L0 as it arrived and
// compactions then spent 0.2–0.6 CPU-s per flush on the host's cores). A
// small flush leaves the memtable alone: one memtable flush per small
// flush would pile up L0 files.
func TestFlushRetiresItsMemtable(t *testing.T) {
	db, _, _ := testDB(t)
	st := db.st
	if _, err := db.CreateTable("e", "", eventsSchema, map[string]string{"primary_key": "id"}); err != nil {
		t.Fatal(err)
	}
	prop := func(name string) uint64 {
		v, ok := st.rdb.GetIntPropertyCF(name, st.cfData)
		if !ok {
			t.Fatalf("RocksDB property %s unavailable", name)
		}
		return v
	}
	settle := func() {
		deadline := time.Now().Add(20 * time.Second)
		for prop("rocksdb.num-immutable-mem-table") != 0 || prop("rocksdb.mem-table-flush-pending") != 0 ||
			prop("rocksdb.num-running-flushes") != 0 {
			if time.Now().After(deadline) {
				t.Fatal("RocksDB's memtable flush did not finish in 20 s")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	ids := func(lo, n int) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(lo + i)
		}
		return out
	}
	mem := memory.NewGoAllocator()

	// A small flush: its rows stay in the memtable, no L0 file is written.
	appendEvents(t, db, mem, "e", ids(0, 1000)...)
	if _, err := db.Flush("e"); err != nil {
		t.Fatal(err)
	}
	settle()
	if n := prop("rocksdb.num-entries-active-mem-table"); n < 1000 {
		t.Fatalf("after a 1,000-row flush the memtable holds %d entries: it was flushed", n)
	}
	if n := st.rdb.GetPropertyCF("rocksdb.num-files-at-level0", st.cfData); n != "0" {
		t.Fatalf("after a 1,000-row flush the data family has %s L0 files", n)
	}

	// A large one: the memtable is flushed and the flushed rows are dropped.
	const big = 200_000
	for lo := 1000; lo < 1000+big; lo += 50_000 {
		appendEvents(t, db, mem, "e", ids(lo, 50_000)...)
	}
	if _, err := db.Flush("e"); err != nil {
		t.Fatal(err)
	}
	settle()
	if n := prop("rocksdb.num-entries-active-mem-table"); n > 10 {
		t.Fatalf("after a %d-row flush the memtable still holds %d entries", big, n)
	}
	if b := prop("rocksdb.total-sst-files-size"); b > 64<<10 {
		t.Fatalf("after a %d-row flush the data family's SST files hold %d bytes: the flushed rows were written", big, b)
	}
	s, err := db.Scan("e", ScanRequest{Columns: []string{"id"}, Limit: -1})
	if got := len(collectOrFail(t, s, err)); got != 1000+big {
		t.Fatalf("scan after the flushes: %d rows, want %d", got, 1000+big)
	}
}

// TestWorthRetiring: the bounds of the rule retireFlushedMemtable applies.
func TestWorthRetiring(t *testing.T) {
	for _, c := range []struct {
		removed      int64
		entries, imm uint64
		l0           int
		want         bool
	}{
		{retireMinRows, 2 * retireMinRows, 0, 0, true},      // half of the memtable
		{retireMinRows, 2*retireMinRows + 1, 0, 0, false},   // less than half
		{retireMinRows - 1, retireMinRows - 1, 0, 0, false}, // a small flush
		{1 << 20, 1 << 20, 1, 0, false},                     // an earlier memtable still waits
		{1 << 20, 1 << 20, 0, retireMaxL0 - 1, true},        // L0 below the bound
		{1 << 20, 1 << 20, 0, retireMaxL0, false},           // L0 at the bound
		{1 << 20, 0, 0, 0, false},                           // an empty memtable (switched meanwhile)
	} {
		if got := worthRetiring(c.removed, c.entries, c.imm, c.l0); got != c.want {
			t.Errorf("worthRetiring(%d, %d, %d, %d) = %v, want %v", c.removed, c.entries, c.imm, c.l0, got, c.want)
		}
	}
}
