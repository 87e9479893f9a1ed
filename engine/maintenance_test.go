package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kalamdb/libkalam/kerr"
)

func TestCompactVacuumWithPinnedScan(t *testing.T) {
	db, mem, dir := testDB(t)
	db.CreateTable("c", "", eventsSchema, map[string]string{"primary_key": "id"})
	appendEvents(t, db, mem, "c", 1, 2, 3, 4)
	db.Flush("c")
	appendEvents(t, db, mem, "c", 3, 5) // overlaps segment 1
	db.Flush("c")
	delRec := keyBatch(mem, []int64{4})
	rdr := recordReader(t, delRec)
	if n, err := db.Delete("c", rdr); err != nil || n != 1 {
		t.Fatalf("delete: %d %v", n, err)
	}
	rdr.Release()
	delRec.Release()
	db.Flush("c") // segment 3 holds the tombstone of 4
	// A scan opened now must keep reading its snapshot across compaction and vacuum.
	held, err := db.Scan("c", ScanRequest{Columns: []string{"id"}, Limit: -1, BatchRows: 1})
	if err != nil {
		t.Fatal(err)
	}
	first, _ := held.Next()
	first.Release()

	rep, err := db.Compact("c", CompactOptions{TargetRows: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.InputSegments) != 3 || len(rep.OutputSegments) != 2 || rep.RowsRead != 7 || rep.RowsWritten != 4 ||
		rep.TombstonesDropped != 1 || rep.VersionsDropped != 2 {
		t.Fatalf("report: %+v", rep)
	}
	m, _ := db.Manifest("c")
	if len(m.LiveSegments()) != 2 || len(m.Segments) != 5 || m.Version != 5 {
		t.Fatalf("manifest after compaction: v%d %d segs", m.Version, len(m.Segments))
	}
	for _, s := range m.Segments[:3] {
		if !s.Tombstone || s.TombstonedAt == nil {
			t.Fatalf("input not tombstoned: %+v", s)
		}
	}
	// Vacuum with the scan still open deletes nothing it reads.
	removed, err := db.Vacuum("c", 0, false)
	if err != nil || len(removed) != 0 {
		t.Fatalf("vacuum with a pinned scan removed %v (%v)", removed, err)
	}
	if got := rowsString(collect(t, held), "id"); got != "2;3;5" {
		t.Fatalf("held scan: %s", got)
	}
	// Now the files can go; dry run first.
	dry, err := db.Vacuum("c", 0, true)
	if err != nil || strings.Join(dry, ",") != "data/segment_001.parquet,data/segment_002.parquet,data/segment_003.parquet" {
		t.Fatalf("dry run: %v %v", dry, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "storage/default/c/data/segment_001.parquet")); err != nil {
		t.Fatal("dry run deleted a file")
	}
	// A long retention keeps them.
	if kept, _ := db.Vacuum("c", DefaultVacuumRetentionMs, false); len(kept) != 0 {
		t.Fatalf("retention ignored: %v", kept)
	}
	removed, err = db.Vacuum("c", 0, false)
	if err != nil || len(removed) != 3 {
		t.Fatalf("vacuum: %v %v", removed, err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "storage/default/c/data"))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "segment_004.parquet,segment_005.parquet" {
		t.Fatalf("files after vacuum: %v", names)
	}
	s, _ := db.Scan("c", ScanRequest{Columns: []string{"id", "kind"}, Limit: -1})
	if got := rowsString(collect(t, s), "id", "kind"); got != "1,k1;2,k2;3,k3;5,k5" {
		t.Fatalf("rows after compaction and vacuum: %s", got)
	}
	// Versions that needed the vacuumed files are gone, with a clear error.
	_, err = db.Scan("c", ScanRequest{AsOfVersion: 3, Limit: -1})
	if !kerr.Is(err, kerr.NotFound) || !strings.Contains(err.Error(), "oldest available version") {
		t.Fatalf("vacuumed version: %v", err)
	}
	s, err = db.Scan("c", ScanRequest{AsOfVersion: 5, Columns: []string{"id"}, Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	if got := rowsString(collect(t, s), "id"); got != "1;2;3;5" {
		t.Fatalf("version 5: %s", got)
	}
	h, _ := db.History("c")
	var ops []string
	for _, e := range h {
		ops = append(ops, fmt.Sprintf("%d:%s+%d-%d", e.Version, e.Operation, e.SegmentsAdded, e.SegmentsRemoved))
	}
	if got := strings.Join(ops, " "); got != "1:create+0-0 2:flush+1-0 3:flush+1-0 4:flush+1-0 5:compact+2-3 6:vacuum+0-3" {
		t.Fatalf("history: %s", got)
	}
	// min_segments skips small tables.
	rep, _ = db.Compact("c", CompactOptions{MinSegments: 5})
	if !rep.Skipped {
		t.Fatalf("min_segments: %+v", rep)
	}
}

func TestAutoCompact(t *testing.T) {
	db, mem, _ := testDB(t)
	db.CreateTable("ac", "", eventsSchema, map[string]string{"primary_key": "id", "auto_compact_segments": "3"})
	for i := int64(0); i < 3; i++ {
		appendEvents(t, db, mem, "ac", i)
		if _, err := db.Flush("ac"); err != nil {
			t.Fatal(err)
		}
	}
	m, _ := db.Manifest("ac")
	if len(m.LiveSegments()) != 1 || m.LiveSegments()[0].RowCount != 3 {
		t.Fatalf("auto compaction: %+v", m.LiveSegments())
	}
}

// TestVacuumCrashBeforeDelete: a failure after the vacuum commit leaves
// unreferenced files, which the next open deletes.
func TestVacuumCrashBeforeDelete(t *testing.T) {
	dir := t.TempDir()
	db, mem := openAt(t, dir)
	db.CreateTable("v", "", eventsSchema, map[string]string{"primary_key": "id"})
	appendEvents(t, db, mem, "v", 1)
	db.Flush("v")
	appendEvents(t, db, mem, "v", 2)
	db.Flush("v")
	if _, err := db.Compact("v", CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	db.st.failpoint = func(s string) error {
		if s == "vacuum_before_delete" {
			return errors.New("injected")
		}
		return nil
	}
	if _, err := db.Vacuum("v", 0, false); err == nil {
		t.Fatal("vacuum with injected failure succeeded")
	}
	db.st.failpoint = nil
	data := filepath.Join(dir, "storage/default/v/data")
	if ents, _ := os.ReadDir(data); len(ents) != 3 {
		t.Fatalf("files before recovery: %d", len(ents))
	}
	db.Close()
	db2, _ := openAt(t, dir)
	ents, _ := os.ReadDir(data)
	if len(ents) != 1 || ents[0].Name() != "segment_003.parquet" {
		t.Fatalf("files after recovery: %v", ents)
	}
	if got := fmt.Sprint(scanIDs(t, db2, "v")); got != "[1 2]" {
		t.Fatalf("rows: %s", got)
	}
}

func TestVacuumedVersionMessage(t *testing.T) {
	db, mem, _ := testDB(t)
	db.CreateTable("vm", "", eventsSchema, map[string]string{"primary_key": "id"})
	appendEvents(t, db, mem, "vm", 1)
	db.Flush("vm") // v2
	appendEvents(t, db, mem, "vm", 2)
	db.Flush("vm")                                       // v3
	db.Compact("vm", CompactOptions{})                   // v4
	if _, err := db.Vacuum("vm", 0, false); err != nil { // v5 drops v2, v3
		t.Fatal(err)
	}
	_, err := db.Scan("vm", ScanRequest{AsOfVersion: 2, Limit: -1})
	want := "manifest version 2 not found (oldest available version is 1; the first available after 2 is 4)"
	if !kerr.Is(err, kerr.NotFound) || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
}

// TestTimeTravelToAVacuumedVersionIsNotFound: a scan as of a time at which
// a vacuumed version was current is NotFound (DESIGN §6), not the rows of
// an older kept version; times when a kept version was current still read
// it. It returned the empty table of version 1, which vacuum keeps (it has
// no files).
func TestTimeTravelToAVacuumedVersionIsNotFound(t *testing.T) {
	db, mem, _ := testDB(t)
	if _, err := db.CreateTable("tv", "", eventsSchema, map[string]string{"primary_key": "id"}); err != nil {
		t.Fatal(err)
	}
	step := func() { time.Sleep(5 * time.Millisecond) } // distinct commit times
	step()
	appendEvents(t, db, mem, "tv", 1, 2, 3)
	if _, err := db.Flush("tv"); err != nil { // version 2
		t.Fatal(err)
	}
	step()
	appendEvents(t, db, mem, "tv", 4)
	if _, err := db.Flush("tv"); err != nil { // version 3
		t.Fatal(err)
	}
	step()
	if _, err := db.Compact("tv", CompactOptions{}); err != nil { // version 4
		t.Fatal(err)
	}
	if _, err := db.Vacuum("tv", 0, false); err != nil {
		t.Fatal(err)
	}
	hist, err := db.History("tv")
	if err != nil {
		t.Fatal(err)
	}
	at := map[uint64]int64{}
	for _, h := range hist {
		at[h.Version] = h.Time
	}
	count := func(ms int64) (int, error) {
		s, err := db.Scan("tv", ScanRequest{Limit: -1, AsOfTimeMs: ms})
		if err != nil {
			return 0, err
		}
		return len(collect(t, s)), nil
	}
	for _, v := range []uint64{2, 3} {
		if n, err := count(at[v]); !kerr.Is(err, kerr.NotFound) {
			t.Errorf("as of version %d's commit: %d rows, %v; want NotFound", v, n, err)
		}
	}
	if n, err := count(at[4]); err != nil || n != 4 {
		t.Errorf("as of version 4's commit: %d rows, %v; want 4", n, err)
	}
	if n, err := count(at[2] - 1); err != nil || n != 0 {
		t.Errorf("as of just before version 2: %d rows, %v; want version 1's 0 rows", n, err)
	}
}
