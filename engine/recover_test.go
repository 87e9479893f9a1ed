package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/linxGnu/grocksdb"

	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/manifest"
	"github.com/kalamdb/libkalam/vfs/errorfs"
)

// threeTables makes tables a, b and c with two flushed rows each and one
// hot row, and closes the store.
func threeTables(t *testing.T, dir string) {
	t.Helper()
	db, err := Open(dir, killedAtClose())
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewGoAllocator()
	for _, name := range []string{"a", "b", "c"} {
		if _, err := db.CreateTable(name, "", eventsSchema, map[string]string{"primary_key": "id"}); err != nil {
			t.Fatal(err)
		}
		appendEvents(t, db, mem, name, 1, 2)
		if _, err := db.Flush(name); err != nil {
			t.Fatal(err)
		}
		appendEvents(t, db, mem, name, 3)
	}
	db.Close()
}

// killedAtClose are options whose store closes as a killed writer would
// leave it: memtables not flushed, the write-ahead log holding the writes
// (the tests here then lose or damage that log).
func killedAtClose() Options {
	o := DefaultOptions()
	o.failpoint = func(step string) error {
		if step == "close_flush" {
			return errors.New("killed before the close flush")
		}
		return nil
	}
	return o
}

func openOpts(dir string, recover bool) (*DB, error) {
	o := DefaultOptions()
	o.Recover = recover
	return Open(dir, o)
}

func tableNames(db *DB) string {
	var out []string
	for _, ti := range db.Tables() {
		out = append(out, ti.QualifiedName())
	}
	return strings.Join(out, " ")
}

// TestRecoverReportsABadTableAndRecoversTheOthers: one table whose manifest
// names a segment outside the table is reported while the others are
// recovered (defect 5: it aborted the whole recovery and the next open
// showed no table at all).
func TestRecoverReportsABadTableAndRecoversTheOthers(t *testing.T) {
	dir := t.TempDir()
	threeTables(t, dir)
	bman := filepath.Join(dir, "storage", "default", "b", "manifest.json")
	good, _ := os.ReadFile(bman)
	m, err := manifest.Decode(good)
	if err != nil {
		t.Fatal(err)
	}
	m.Segments[0].Path = "../a/data/segment_001.parquet"
	bad, _ := manifest.Encode(m)
	os.WriteFile(bman, bad, 0o644)
	os.RemoveAll(filepath.Join(dir, "rocksdb"))

	_, err = openOpts(dir, true)
	if !kerr.Is(err, kerr.Corruption) || !strings.Contains(err.Error(), "default.b") || !strings.Contains(err.Error(), "2 table(s) recovered") {
		t.Fatalf("recover with a bad table: %v", err)
	}
	db, err := openOpts(dir, false)
	if err != nil {
		t.Fatalf("open after the recover: %v", err)
	}
	if got := tableNames(db); got != "default.a default.c" {
		t.Fatalf("tables after recover: %q", got)
	}
	if got := fmt.Sprint(scanIDs(t, db, "c")); got != "[1 2]" {
		t.Fatalf("rows of c (hot row 3 is lost with RocksDB): %s", got)
	}
	if _, err := os.Stat(bman); err != nil {
		t.Fatal("the bad table's files were removed")
	}
	if _, err := db.CreateTable("b", "", eventsSchema, nil); !kerr.Is(err, kerr.AlreadyExists) {
		t.Fatalf("creating over the unrecovered table: %v", err)
	}
	db.Close()
	// Fixed, it is recovered by the next recover.
	os.WriteFile(bman, good, 0o644)
	db, err = openOpts(dir, true)
	if err != nil {
		t.Fatalf("recover after the fix: %v", err)
	}
	defer db.Close()
	if got := tableNames(db); got != "default.a default.b default.c" {
		t.Fatalf("tables after the second recover: %q", got)
	}
	if got := fmt.Sprint(scanIDs(t, db, "b")); got != "[1 2]" {
		t.Fatalf("rows of b: %s", got)
	}
}

// TestInterruptedRecoverIsRedone: a recover that stops before it finished
// leaves no RocksDB that opens empty; the next open redoes it (defect 5).
func TestInterruptedRecoverIsRedone(t *testing.T) {
	dir := t.TempDir()
	threeTables(t, dir)
	os.RemoveAll(filepath.Join(dir, "rocksdb"))
	o := DefaultOptions()
	o.Recover = true
	o.failpoint = func(step string) error {
		if step == "recover_before_rename" {
			return errors.New("killed")
		}
		return nil
	}
	if _, err := Open(dir, o); err == nil {
		t.Fatal("the interrupted recover succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "rocksdb")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("an interrupted recover left rocksdb/ in place")
	}
	db, err := openOpts(dir, false)
	if err != nil {
		t.Fatalf("open after an interrupted recover: %v", err)
	}
	defer db.Close()
	if got := tableNames(db); got != "default.a default.b default.c" {
		t.Fatalf("tables: %q", got)
	}
}

// TestRecoverStoppedAfterItsRenameReopens: a recover that stopped after
// its rebuilt catalog replaced rocksdb/ but before the open went on (a
// kill) leaves a store the next plain open accepts as its storage's store:
// the rebuilt catalog took the storage's store id before the rename. It
// was refused as "another store" (found by a verification pass).
func TestRecoverStoppedAfterItsRenameReopens(t *testing.T) {
	dir := t.TempDir()
	threeTables(t, dir)
	os.RemoveAll(filepath.Join(dir, "rocksdb"))
	o := DefaultOptions()
	o.Recover = true
	o.failpoint = func(step string) error {
		if step == "recover_after_rename" {
			return errors.New("killed")
		}
		return nil
	}
	if _, err := Open(dir, o); err == nil {
		t.Fatal("the stopped recover succeeded")
	}
	db, err := openOpts(dir, false)
	if err != nil {
		t.Fatalf("open after a recover stopped after its rename: %v", err)
	}
	defer db.Close()
	if got := tableNames(db); got != "default.a default.b default.c" {
		t.Fatalf("tables: %q", got)
	}
}

// TestLostWriteAheadLogIsNotSilent: when RocksDB loses the log holding
// synced DDL and flush commits, open refuses with Corruption naming the
// tables storage holds, and recover restores them (defect 6: open
// succeeded without the table).
func TestLostWriteAheadLogIsNotSilent(t *testing.T) {
	dir := t.TempDir()
	threeTables(t, dir)
	logs, _ := filepath.Glob(filepath.Join(dir, "rocksdb", "*.log"))
	if len(logs) == 0 {
		t.Fatal("no write-ahead log to lose")
	}
	for _, l := range logs {
		os.Remove(l)
	}
	_, err := openOpts(dir, false)
	if !kerr.Is(err, kerr.Corruption) || !strings.Contains(err.Error(), "default.a") || !strings.Contains(err.Error(), "recover") {
		t.Fatalf("open after losing the log: %v", err)
	}
	db, err := openOpts(dir, true)
	if err != nil {
		t.Fatalf("recover: %v", err)
	}
	defer db.Close()
	if got := tableNames(db); got != "default.a default.b default.c" {
		t.Fatalf("tables after recover: %q", got)
	}
	for _, n := range []string{"a", "b", "c"} {
		if got := fmt.Sprint(scanIDs(t, db, n)); got != "[1 2]" {
			t.Fatalf("rows of %s: %s", n, got)
		}
		h, _ := db.History(n)
		if len(h) != 2 || h[0].Operation != opCreate || h[1].Operation != opFlush {
			t.Fatalf("history of %s after recover: %+v", n, h)
		}
	}
	mem := memory.NewGoAllocator()
	appendEvents(t, db, mem, "a", 9)
	if _, err := db.Flush("a"); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(scanIDs(t, db, "a")); got != "[1 2 9]" {
		t.Fatalf("rows of a after a new flush: %s", got)
	}
}

// TestDamagedWriteAheadLog: a corrupted record in the middle of the log is
// refused (not replayed up to the damage and silently cut), and recover
// salvages what the log holds and restores the rest from storage.
func TestDamagedWriteAheadLog(t *testing.T) {
	dir := t.TempDir()
	threeTables(t, dir)
	logs, _ := filepath.Glob(filepath.Join(dir, "rocksdb", "*.log"))
	var biggest string
	var size int64
	for _, l := range logs {
		if fi, _ := os.Stat(l); fi.Size() > size {
			biggest, size = l, fi.Size()
		}
	}
	f, _ := os.OpenFile(biggest, os.O_RDWR, 0)
	f.WriteAt([]byte{0xde, 0xad, 0xbe, 0xef, 0xde, 0xad}, size/3)
	f.Close()
	db, err := openOpts(dir, false)
	if err == nil {
		// Not refused: then nothing may be missing.
		got := tableNames(db)
		db.Close()
		if got != "default.a default.b default.c" {
			t.Fatalf("open of a damaged log succeeded with tables %q", got)
		}
		t.Skip("RocksDB read past this damage without loss; nothing to recover")
	}
	if !kerr.Is(err, kerr.Corruption) || !strings.Contains(err.Error(), "recover") {
		t.Fatalf("open of a damaged log: %v", err)
	}
	db, err = openOpts(dir, true)
	if err != nil {
		t.Fatalf("recover of a damaged log: %v", err)
	}
	defer db.Close()
	if got := tableNames(db); got != "default.a default.b default.c" {
		t.Fatalf("tables after recover: %q", got)
	}
	for _, n := range []string{"a", "b", "c"} {
		ids := scanIDs(t, db, n)
		if len(ids) < 2 || ids[0] != 1 || ids[1] != 2 {
			t.Fatalf("rows of %s after recover: %v", n, ids)
		}
	}
}

// TestLostLogBehindCatalog: RocksDB keeps the tables (its memtables were
// flushed) but loses the later flush commits; open refuses because storage
// holds newer manifest versions, and recover brings them back while hot
// rows that survived stay.
func TestLostLogBehindCatalog(t *testing.T) {
	dir := t.TempDir()
	mem := memory.NewGoAllocator()
	db, err := Open(dir, killedAtClose())
	if err != nil {
		t.Fatal(err)
	}
	db.CreateTable("a", "", eventsSchema, map[string]string{"primary_key": "id"})
	appendEvents(t, db, mem, "a", 1, 2)
	fo := grocksdb.NewDefaultFlushOptions()
	for _, cf := range []*grocksdb.ColumnFamilyHandle{db.st.cfData, db.st.cfMan, db.st.cfCat} {
		if err := db.st.rdb.FlushCF(cf, fo); err != nil {
			t.Fatal(err)
		}
	}
	fo.Destroy()
	if _, err := db.Flush("a"); err != nil { // version 2: only in the log
		t.Fatal(err)
	}
	db.Close()
	logs, _ := filepath.Glob(filepath.Join(dir, "rocksdb", "*.log"))
	for _, l := range logs {
		os.Remove(l)
	}
	_, err = openOpts(dir, false)
	if !kerr.Is(err, kerr.Corruption) || !strings.Contains(err.Error(), "manifest version 2, the catalog only 1") {
		t.Fatalf("open with the catalog behind storage: %v", err)
	}
	db, err = openOpts(dir, true)
	if err != nil {
		t.Fatalf("recover: %v", err)
	}
	defer db.Close()
	m, _ := db.Manifest("a")
	if m.Version != 2 {
		t.Fatalf("version after recover: %d", m.Version)
	}
	// Rows 1 and 2 are both hot (their removal was in the lost commit) and in
	// the segment: one version each.
	if got := fmt.Sprint(scanIDs(t, db, "a")); got != "[1 2]" {
		t.Fatalf("rows after recover: %s", got)
	}
	if _, err := db.Flush("a"); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(scanIDs(t, db, "a")); got != "[1 2]" {
		t.Fatalf("rows after a flush: %s", got)
	}
}

// TestSegmentNumbersAreNeverReused: a flush that failed after uploading
// its segment leaves the manifest's last_sequence_number as it was; the
// retry wrote the same segment_N name, so the failed upload, if it landed
// late (an abandoned S3 PUT the network delivered after the client gave
// up), replaced the committed segment and its acknowledged rows were lost.
// Numbers handed out, and numbers found in storage when the store opens
// (an orphan from before a crash), are never given out again.
func TestSegmentNumbersAreNeverReused(t *testing.T) {
	dir := t.TempDir()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	opts := DefaultOptions()
	opts.Allocator = mem
	db, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	sch := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}}, nil)
	if _, err := db.CreateTable("sn", "", sch, map[string]string{"primary_key": "k"}); err != nil {
		t.Fatal(err)
	}
	appendKey := func(db *DB, k int) { appendIntKey(t, db, mem, "sn", k) }
	paths := func(db *DB) []string {
		m, err := db.Manifest("sn")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range m.Segments {
			out = append(out, s.Path)
		}
		return out
	}
	appendKey(db, 1)
	db.st.failpoint = func(step string) error {
		if step == "segment_written" {
			return errors.New("injected")
		}
		return nil
	}
	if _, err := db.Flush("sn"); err == nil {
		t.Fatal("flush with the failpoint succeeded")
	}
	db.st.failpoint = nil
	if _, err := db.Flush("sn"); err != nil {
		t.Fatal(err)
	}
	if got := paths(db); len(got) != 1 || got[0] != "data/segment_002.parquet" {
		t.Fatalf("segments after a failed flush and its retry: %v, want [data/segment_002.parquet]", got)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// An orphan in storage (a crash between upload and commit): the open
	// removes it, and its number is not given out again either.
	orphan := filepath.Join(dir, "storage", "default", "sn", "data", "segment_007.parquet")
	if err := os.WriteFile(orphan, []byte("late upload"), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatalf("orphan left after open: %v", err)
	}
	appendKey(db, 2)
	if _, err := db.Flush("sn"); err != nil {
		t.Fatal(err)
	}
	if got := paths(db); len(got) != 2 || got[1] != "data/segment_008.parquet" {
		t.Fatalf("segments after an orphan segment_007: %v, want segment_008 second", got)
	}
	if _, err := db.Compact("sn", CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	m, err := db.Manifest("sn")
	if err != nil {
		t.Fatal(err)
	}
	if live := m.LiveSegments(); len(live) != 1 || live[0].Path != "data/segment_009.parquet" || m.LastSequenceNumber != 9 {
		t.Fatalf("after compaction: live %v, last_sequence_number %d", live, m.LastSequenceNumber)
	}
}

// TestARecreatedTableNumbersItsSegmentsAboveTheDroppedOnes: a table made
// again under a dropped table's name numbered its segments from 1, so an
// S3 dataset of the old table, which names its segments by object key,
// read the new table's rows from the same keys. Its numbers now start
// above the dropped table's, across a reopen too.
func TestARecreatedTableNumbersItsSegmentsAboveTheDroppedOnes(t *testing.T) {
	dir := t.TempDir()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	opts := DefaultOptions()
	opts.Allocator = mem
	db, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	sch := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}}, nil)
	flushKey := func(db *DB, k int) string {
		appendIntKey(t, db, mem, "re", k)
		if _, err := db.Flush("re"); err != nil {
			t.Fatal(err)
		}
		m, err := db.Manifest("re")
		if err != nil {
			t.Fatal(err)
		}
		return m.Segments[len(m.Segments)-1].Path
	}
	if _, err := db.CreateTable("re", "", sch, map[string]string{"primary_key": "k"}); err != nil {
		t.Fatal(err)
	}
	flushKey(db, 1)
	flushKey(db, 2)
	if err := db.DropTable("re"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateTable("re", "", sch, map[string]string{"primary_key": "k"}); err != nil {
		t.Fatal(err)
	}
	if got := flushKey(db, 3); got != "data/segment_003.parquet" {
		t.Fatalf("the re-created table's first segment: %s, want segment_003", got)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := flushKey(db, 4); got != "data/segment_004.parquet" {
		t.Fatalf("after a reopen: %s, want segment_004", got)
	}
	if err := db.DropTable("re"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateTable("re", "", sch, map[string]string{"primary_key": "k"}); err != nil {
		t.Fatal(err)
	}
	if got := flushKey(db, 5); got != "data/segment_005.parquet" {
		t.Fatalf("made a third time: %s, want segment_005", got)
	}
}

// appendIntKey appends the row {k} to table (one int64 key column "k").
func appendIntKey(t *testing.T, db *DB, mem memory.Allocator, table string, k int) {
	t.Helper()
	sch := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}}, nil)
	rec, _, err := array.RecordFromJSON(mem, sch, strings.NewReader(fmt.Sprintf(`[{"k": %d}]`, k)))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	if _, err := db.AppendRecord(table, rec); err != nil {
		t.Fatal(err)
	}
}

// TestHistorySurvivesRecoverAfterVacuum: the history rows of versions a
// vacuum made unreadable stay after a recover, with their operations
// (found by a kill-9 pass and a schema-evolution pass: versions 2–4 were
// gone after the recover, and the compaction, now the first kept
// version, read as a flush), and a storage-only reader shows the same
// history.
func TestHistorySurvivesRecoverAfterVacuum(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewGoAllocator()
	if _, err := db.CreateTable("h", "", eventsSchema, map[string]string{"primary_key": "id"}); err != nil {
		t.Fatal(err)
	}
	for i := int64(0); i < 3; i++ {
		appendEvents(t, db, mem, "h", i, i+10)
		if _, err := db.Flush("h"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Compact("h", CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Vacuum("h", 0, false); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, db, mem, "h", 30)
	if _, err := db.Flush("h"); err != nil {
		t.Fatal(err)
	}
	if err := db.RenameColumn("h", "kind", "category"); err != nil {
		t.Fatal(err)
	}
	render := func(hs []HistoryEntry) string {
		var b strings.Builder
		for _, h := range hs {
			fmt.Fprintf(&b, "(%d %s +%d -%d)", h.Version, h.Operation, h.SegmentsAdded, h.SegmentsRemoved)
		}
		return b.String()
	}
	before, err := db.History("h")
	if err != nil {
		t.Fatal(err)
	}
	want := "(1 create +0 -0)(2 flush +1 -0)(3 flush +1 -0)(4 flush +1 -0)(5 compact +1 -3)(6 vacuum +0 -3)(7 flush +1 -0)(8 alter +0 -0)"
	if got := render(before); got != want {
		t.Fatalf("history before: %s, want %s", got, want)
	}
	db.Close()
	if got := render(mustHistory(t, openRemoteAt(t, filepath.Join(dir, "storage")), "h")); got != want {
		t.Fatalf("storage-only reader's history: %s\n want %s", got, want)
	}
	os.RemoveAll(filepath.Join(dir, "rocksdb"))
	db, err = openOpts(dir, true)
	if err != nil {
		t.Fatalf("recover: %v", err)
	}
	defer db.Close()
	if got := render(mustHistory(t, db, "h")); got != want {
		t.Fatalf("history after recover: %s\n want %s", got, want)
	}
}

func mustHistory(t *testing.T, db *DB, table string) []HistoryEntry {
	t.Helper()
	h, err := db.History(table)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestOpenSweepsUncommittedCreates: open removes the directory a create
// killed before its commit left — table.json, its temporary file
// (killed while writing it; found by a kill-9 pass with threads), or
// nothing — under a name the catalog does not hold, and leaves a table
// of the catalog alone.
func TestOpenSweepsUncommittedCreates(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateTable("kept", "", eventsSchema, map[string]string{"primary_key": "id"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	root := filepath.Join(dir, "storage", "default")
	for name, files := range map[string][]string{"a": {"table.json"}, "b": {"table.json.tmp"}, "c": nil, "d": {"table.json", "table.json.tmp"}} {
		if err := os.MkdirAll(filepath.Join(root, name), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(root, name, f), []byte("{}"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	db, err = Open(dir, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ents, _ := os.ReadDir(root)
	var left []string
	for _, e := range ents {
		left = append(left, e.Name())
	}
	if got := strings.Join(left, " "); got != "kept" {
		t.Fatalf("storage/default after open holds %q, want only the table of the catalog", got)
	}
	checkStorageConsistent(t, db, "after the sweep")
}

// TestRecoverFailsOnAVersionItCannotRead: a version file (or the history
// mirror) whose read fails — the disk, the server — fails the recover,
// which a retry then completes with every version; it used to be left
// out as if damaged (or gone: a listed file that answers not found), and
// the open after the recover removed its file: those versions were gone
// for good. A damaged version file is still left out. Found by S3 fault
// passes.
func TestRecoverFailsOnAVersionItCannotRead(t *testing.T) {
	db, sw, dir, opts := faultStore(t)
	mem := memory.NewGoAllocator()
	db.CreateTable("h", "", eventsSchema, map[string]string{"primary_key": "id"})
	for i := int64(0); i < 3; i++ {
		appendEvents(t, db, mem, "h", i)
		if _, err := db.Flush("h"); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	os.RemoveAll(filepath.Join(dir, "rocksdb"))
	for _, c := range []struct {
		fail string
		err  syscall.Errno
	}{{versionFileName(2), syscall.EIO}, {versionFileName(2), syscall.ENOENT}, {historyFileName, syscall.EIO}} {
		fail := c.fail
		if fail == historyFileName {
			// A history mirror to fail on: written by a vacuum that drops versions.
			if err := os.WriteFile(filepath.Join(dir, "storage", "default", "h", historyFileName), []byte("[]"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		sw.Set(errorfs.InjectorFunc(func(op errorfs.Op, p string) *errorfs.Fault {
			if (op == errorfs.OpOpen || op == errorfs.OpRead) && strings.HasSuffix(p, filepath.FromSlash(fail)) {
				return &errorfs.Fault{Op: op, Path: p, Err: c.err}
			}
			return nil
		}))
		ro := opts
		ro.Recover = true
		if db, err := Open(dir, ro); err == nil || !kerr.Is(err, kerr.IO) {
			if db != nil {
				db.Close()
			}
			t.Fatalf("recover with %s unreadable (%v): %v, want kerr.IO", fail, c.err, err)
		}
		sw.Set(nil)
		if _, err := os.Stat(filepath.Join(dir, "storage", "default", "h", versionFileName(2))); err != nil {
			t.Fatalf("after the failed recover (%s): %v", fail, err)
		}
		os.Remove(filepath.Join(dir, "storage", "default", "h", historyFileName))
	}
	db, err := openOpts(dir, true)
	if err != nil {
		t.Fatalf("recover: %v", err)
	}
	defer db.Close()
	var got []uint64
	for _, h := range mustHistory(t, db, "h") {
		got = append(got, h.Version)
	}
	if fmt.Sprint(got) != "[1 2 3 4]" {
		t.Fatalf("history after the retried recover: %v", got)
	}
	if ids := fmt.Sprint(scanIDs(t, db, "h")); ids != "[0 1 2]" {
		t.Fatalf("rows %s", ids)
	}
}

// copyFile puts src's bytes at dst.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// damagedMetadataStore makes table e: rows 1 and 2 flushed, then 2 and 3
// flushed again (the newest version, its own segment), and closes the
// store. It returns the table's storage directory and the newest version.
func damagedMetadataStore(t *testing.T, dir string) (string, uint64) {
	t.Helper()
	db := mustOpenWith(t, dir, DefaultOptions())
	mem := memory.NewGoAllocator()
	createEvents(t, db, "e")
	appendEvents(t, db, mem, "e", 1, 2)
	if _, err := db.Flush("e"); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, db, mem, "e", 2, 3)
	if _, err := db.Flush("e"); err != nil {
		t.Fatal(err)
	}
	info, err := db.Table("e")
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	return filepath.Join(dir, "storage", "default", "e"), uint64(info.Version)
}

// TestRecoverTakesAVersionNewerThanManifestJSON: the writer mirrors
// _versions/{v}.json before manifest.json, so a mirror stopped between
// the two (or manifest.json put back from an older copy) leaves
// manifest.json a version behind. A recover (RocksDB lost) took
// manifest.json's version and then removed the newer version's segment as
// an orphan: the rows of the last flush were gone for good (found by a
// checker). It now takes the newest version whose segments are all there.
func TestRecoverTakesAVersionNewerThanManifestJSON(t *testing.T) {
	dir := t.TempDir()
	tdir, v := damagedMetadataStore(t, dir)
	copyFile(t, filepath.Join(tdir, versionFileName(v-1)), filepath.Join(tdir, manifest.ManifestFileName))
	if err := os.RemoveAll(filepath.Join(dir, "rocksdb")); err != nil {
		t.Fatal(err)
	}
	db, err := openOpts(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := scanRows(t, db, "e", allRows()); got != "1:k1 2:k2 3:k3" {
		t.Fatalf("rows after the recover: %s; want the newest version's", got)
	}
	info, err := db.Table("e")
	if err != nil {
		t.Fatal(err)
	}
	if uint64(info.Version) != v {
		t.Fatalf("recovered at version %d, want %d", info.Version, v)
	}
	segs, _ := filepath.Glob(filepath.Join(tdir, "data", "*.parquet"))
	if len(segs) != 2 {
		t.Fatalf("segments after the recover: %v; want both", segs)
	}
}

// TestStoredMetadataFromAnotherVersionIsCorruption: a version file that
// holds another version's manifest answered a storage-only reader's time
// travel with that version's rows, and a table.json older than the
// segments (from before an added column) made both the reader and a
// recover read them without that column; each is now Corruption naming
// the file (found by a checker).
func TestStoredMetadataFromAnotherVersionIsCorruption(t *testing.T) {
	t.Run("version file", func(t *testing.T) {
		dir := t.TempDir()
		tdir, v := damagedMetadataStore(t, dir)
		// Version v-1 (rows 1 and 2) holds version v-2's manifest (none).
		copyFile(t, filepath.Join(tdir, versionFileName(v-2)), filepath.Join(tdir, versionFileName(v-1)))
		r := openRemoteAt(t, filepath.Join(dir, "storage"))
		_, err := r.Scan("e", ScanRequest{Limit: -1, AsOfVersion: int64(v - 1)})
		if !kerr.Is(err, kerr.Corruption) || !strings.Contains(err.Error(), versionFileName(v-1)) {
			t.Fatalf("time travel to a version whose file holds another: %v; want Corruption naming it", err)
		}
	})
	t.Run("table.json", func(t *testing.T) {
		dir := t.TempDir()
		db := mustOpenWith(t, dir, DefaultOptions())
		mem := memory.NewGoAllocator()
		createEvents(t, db, "e")
		tdir := filepath.Join(dir, "storage", "default", "e")
		old, err := os.ReadFile(filepath.Join(tdir, tableJSONName))
		if err != nil {
			t.Fatal(err)
		}
		if err := db.AddColumns("e", []arrow.Field{{Name: "w", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}); err != nil {
			t.Fatal(err)
		}
		appendEvents(t, db, mem, "e", 1, 2)
		if _, err := db.Flush("e"); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if err := os.WriteFile(filepath.Join(tdir, tableJSONName), old, 0o644); err != nil {
			t.Fatal(err)
		}
		o := DefaultOptions()
		o.Storage, o.ReadOnly = filepath.Join(dir, "storage"), true
		if r, err := Open("", o); err == nil {
			r.Close()
			t.Fatal("a reader opened with table.json from before an alter")
		} else if !kerr.Is(err, kerr.Corruption) || !strings.Contains(err.Error(), tableJSONName) {
			t.Fatalf("a reader with table.json from before an alter: %v; want Corruption naming it", err)
		}
		if err := os.RemoveAll(filepath.Join(dir, "rocksdb")); err != nil {
			t.Fatal(err)
		}
		if db, err = openOpts(dir, true); err == nil {
			db.Close()
			t.Fatal("recover took table e with a table.json from before its alter")
		} else if !strings.Contains(err.Error(), "could not recover default.e: table.json has schema version 1") {
			t.Fatalf("recover with table.json from before an alter: %v; want the table reported, naming table.json", err)
		}
	})
}
