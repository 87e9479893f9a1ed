package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/engine/keyenc"
	"github.com/kalamdb/libkalam/kerr"
)

func openRemoteAt(t *testing.T, storage string) *DB {
	t.Helper()
	o := DefaultOptions()
	o.Storage = storage
	o.ReadOnly = true
	db, err := Open("", o)
	if err != nil {
		t.Fatalf("storage-only open of %s: %v", storage, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// scanRows renders a scan of db as "id:kind" rows.
func scanRows(t *testing.T, db *DB, table string, req ScanRequest) string {
	t.Helper()
	s, err := db.Scan(table, req)
	return rowsOf(t, s, err)
}

// rowsOf renders a stream as "id:kind" rows.
func rowsOf(t *testing.T, s Stream, err error) string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range collect(t, s) {
		out = append(out, fmt.Sprintf("%v:%v", r["id"], r["kind"]))
	}
	return strings.Join(out, " ")
}

// TestStorageOnlyReader: a reader with no RocksDB, opened on storage/, sees
// exactly each committed version of the writer — new flushes without
// reopening, alters, older versions, system tables — never hot rows, and
// NotFound once vacuum removed a version's files.
func TestStorageOnlyReader(t *testing.T) {
	w, mem, dir := testDB(t)
	w.CreateTable("e", "", eventsSchema, map[string]string{"primary_key": "id"})
	appendEvents(t, w, mem, "e", 1, 2)
	w.Flush("e")
	appendEvents(t, w, mem, "e", 3) // hot: the reader does not see it
	r := openRemoteAt(t, filepath.Join(dir, "storage"))
	if got := scanRows(t, r, "e", allRows()); got != "1:k1 2:k2" {
		t.Fatalf("remote rows: %s", got)
	}
	if _, err := r.Flush("e"); !kerr.Is(err, kerr.ReadOnly) {
		t.Fatalf("remote flush: %v", err)
	}
	w.Flush("e")
	v2 := uint64(2)
	if got := scanRows(t, r, "e", allRows()); got != "1:k1 2:k2 3:k3" {
		t.Fatalf("remote rows after the writer flushed: %s", got)
	}
	if got := scanRows(t, r, "e", ScanRequest{Limit: -1, AsOfVersion: int64(v2)}); got != "1:k1 2:k2" {
		t.Fatalf("remote rows at version 2: %s", got)
	}
	// An alter and a new table, both seen without reopening.
	if err := w.RenameColumn("e", "kind", "category"); err != nil {
		t.Fatal(err)
	}
	s, err := r.Scan("e", ScanRequest{Columns: []string{"id", "category"}, Filter: "category = 'k3'", Limit: -1})
	if got := fmt.Sprint(collectOrFail(t, s, err)); got != "[map[category:k3 id:3]]" {
		t.Fatalf("remote rows after a rename: %s", got)
	}
	w.CreateTable("later", "", eventsSchema, map[string]string{"primary_key": "id"})
	if _, err := r.Table("later"); err != nil {
		t.Fatalf("a table created after the remote open: %v", err)
	}
	names := map[string]bool{}
	for _, ti := range r.Tables() {
		names[ti.QualifiedName()] = true
	}
	if !names["default.e"] || !names["default.later"] {
		t.Fatalf("remote tables: %v", names)
	}
	sys, err := r.SystemTable("segments", allRows())
	if n := len(collectOrFail(t, sys, err)); n != 2 {
		t.Fatalf("remote system.segments: %d rows", n)
	}
	h, err := r.History("e")
	if err != nil || len(h) == 0 || h[len(h)-1].Operation != opAlter {
		t.Fatalf("remote history: %v %v", h, err)
	}
	// Compaction then vacuum: the old version's files are gone.
	w.Compact("e", CompactOptions{})
	w.Vacuum("e", 0, false)
	if _, err := r.Scan("e", ScanRequest{Limit: -1, AsOfVersion: int64(v2)}); !kerr.Is(err, kerr.NotFound) {
		t.Fatalf("remote scan of a vacuumed version: %v", err)
	}
	s, err = r.Scan("e", ScanRequest{Columns: []string{"id"}, Limit: -1})
	if got := len(collectOrFail(t, s, err)); got != 3 {
		t.Fatalf("remote rows after compact+vacuum: %d", got)
	}
}

func collectOrFail(t *testing.T, s Stream, err error) []map[string]any {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	return collect(t, s)
}

// TestSplitsEqualTheScan: for random tables (overlapping segments,
// tombstones), filters, split sizes and versions, the splits' results in
// order equal the scan at that version, row for row.
func TestSplitsEqualTheScan(t *testing.T) {
	w, mem, dir := testDB(t)
	w.CreateTable("s", "", eventsSchema, map[string]string{"primary_key": "id", "row_group_rows": "16"})
	r := rand.New(rand.NewSource(5))
	var versions []uint64
	for i := 0; i < 12; i++ {
		ids := make([]int64, 20+r.Intn(40))
		for j := range ids {
			ids[j] = int64(r.Intn(400))
		}
		appendEvents(t, w, mem, "s", ids...)
		if r.Intn(3) == 0 {
			deleteIDs(t, w, mem, "s", int64(r.Intn(400)), int64(r.Intn(400)))
		}
		w.Flush("s")
		m, _ := w.Manifest("s")
		versions = append(versions, m.Version)
	}
	appendEvents(t, w, mem, "s", 1000) // hot: not part of any split
	filters := []string{"", "id < 100", "id >= 150 AND id < 260", "kind != 'k7'", "amount > 100 OR id < 20"}
	for trial := 0; trial < 30; trial++ {
		v := versions[r.Intn(len(versions))]
		req := ScanRequest{Filter: filters[r.Intn(len(filters))], Limit: -1, AsOfVersion: int64(v)}
		if r.Intn(3) == 0 {
			req.Columns = []string{"kind", "id"}
		}
		want := scanRows(t, w, "s", req)
		splits, err := w.ScanSplits("s", req, r.Intn(4), int64(1+r.Intn(120)))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, sp := range splits {
			if sp.Version != v || sp.Storage != filepath.Join(dir, "storage") {
				t.Fatalf("split %+v", sp)
			}
			o := DefaultOptions()
			o.Allocator = memory.NewGoAllocator()
			s, err := OpenSplit(sp, o)
			if part := rowsOf(t, s, err); part != "" {
				got = append(got, part)
			}
		}
		if g := strings.Join(got, " "); g != want {
			t.Fatalf("trial %d (version %d, %+v, %d splits):\n splits %s\n scan   %s", trial, v, req, len(splits), g, want)
		}
	}
	// The latest version by default; hot rows are not in any split.
	splits, err := w.ScanSplits("s", ScanRequest{Limit: -1}, 0, 50)
	if err != nil || len(splits) < 3 {
		t.Fatalf("%d splits, %v", len(splits), err)
	}
	if m, _ := w.Manifest("s"); splits[0].Version != m.Version {
		t.Fatalf("split version %d, latest %d", splits[0].Version, m.Version)
	}
	if max3, _ := w.ScanSplits("s", ScanRequest{Limit: -1}, 3, 1); len(max3) > 3 {
		t.Fatalf("max_splits 3 gave %d", len(max3))
	}
	if _, err := w.ScanSplits("s", ScanRequest{Limit: 5}, 0, 0); !kerr.Is(err, kerr.InvalidArgument) {
		t.Fatalf("splits with a limit: %v", err)
	}
	// A table with no segment yet (its rows hot): one split, no rows.
	w.CreateTable("empty", "", eventsSchema, map[string]string{"primary_key": "id"})
	appendEvents(t, w, mem, "empty", 1, 2)
	es, err := w.ScanSplits("empty", ScanRequest{Limit: -1}, 0, 0)
	if err != nil || len(es) != 1 || len(es[0].Segments) != 0 {
		t.Fatalf("splits of a table without segments: %+v %v", es, err)
	}
	s0, err := openSplitT(t, es[0])
	if got := rowsOf(t, s0, err); got != "" {
		t.Fatalf("split of a table without segments: %q", got)
	}
	// A split of a version storage does not hold: NotFound naming it.
	gone := splits[0]
	gone.Version = 999
	if _, err := OpenSplit(gone, DefaultOptions()); !kerr.Is(err, kerr.InvalidArgument) || !strings.Contains(err.Error(), "the split names version 999") {
		t.Fatalf("split whose manifest is of another version: %v", err)
	}
	gone.TableDef, gone.Manifest = nil, nil // as an older library made it: read from storage
	if _, err := OpenSplit(gone, DefaultOptions()); !kerr.Is(err, kerr.NotFound) || !strings.Contains(err.Error(), "version 999 not found") {
		t.Fatalf("split of a missing version: %v", err)
	}
	bad := splits[0]
	bad.Manifest = []byte(`{"version": "x"}`)
	if _, err := OpenSplit(bad, DefaultOptions()); !kerr.Is(err, kerr.InvalidArgument) || !strings.Contains(err.Error(), "split: manifest") {
		t.Fatalf("split with a damaged manifest: %v", err)
	}
	_ = arrow.PrimitiveTypes.Int64
}

// openSplitT opens a split with a Go allocator (rowsOf's argument pair).
func openSplitT(t *testing.T, sp ScanSplit) (Stream, error) {
	t.Helper()
	o := DefaultOptions()
	o.Allocator = memory.NewGoAllocator()
	return OpenSplit(sp, o)
}

// TestSplitChecksKeysOnlyWhereSegmentsStraddle: a split compares rows with
// its key bounds only in the clusters of segments whose key span is not
// within its range (explain's key_checked); a segment wholly inside is read
// as an unbounded scan reads it. The splits still equal the scan.
func TestSplitChecksKeysOnlyWhereSegmentsStraddle(t *testing.T) {
	w, mem, _ := testDB(t)
	w.CreateTable("d", "", eventsSchema, map[string]string{"primary_key": "id", "row_group_rows": "16"})
	span := func(lo, hi int64) []int64 {
		var ids []int64
		for i := lo; i <= hi; i++ {
			ids = append(ids, i)
		}
		return ids
	}
	// Four disjoint segments, then one spanning 120..210 (over the second
	// and the third).
	flushes := [][]int64{span(0, 49), span(100, 149), span(200, 249), span(300, 349), append(span(120, 130), 210)}
	for _, ids := range flushes {
		appendEvents(t, w, mem, "d", ids...)
		if _, err := w.Flush("d"); err != nil {
			t.Fatal(err)
		}
	}
	m, err := w.Manifest("d")
	if err != nil || len(m.Segments) != len(flushes) {
		t.Fatalf("manifest: %v", err)
	}
	spanOf := map[string][2]int64{}
	for i, s := range m.Segments {
		ids := flushes[i]
		lo, hi := ids[0], ids[0]
		for _, id := range ids {
			lo, hi = min(lo, id), max(hi, id)
		}
		spanOf[s.ID] = [2]int64{lo, hi}
	}
	splits, err := w.ScanSplits("d", ScanRequest{Limit: -1}, 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	// Bounds at the min keys of the segments that start a split.
	bounds := []int64{100, 120, 300}
	if len(splits) != len(bounds)+1 {
		t.Fatalf("%d splits, want %d", len(splits), len(bounds)+1)
	}
	checkedSomewhere, insideSomewhere := false, false
	var got []string
	for i, sp := range splits {
		lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
		if i > 0 {
			lo = bounds[i-1]
			if !bytes.Equal(sp.KeyLo, keyenc.AppendInt64(nil, lo)) {
				t.Fatalf("split %d: key_lo %x, want the key of %d", i, []byte(sp.KeyLo), lo)
			}
		}
		if i < len(bounds) {
			hi = bounds[i]
		}
		plan, err := w.Explain("d", ScanRequest{Limit: -1, AsOfVersion: int64(sp.Version), keyLo: sp.KeyLo, keyHi: sp.KeyHi, keyBounded: true})
		if err != nil {
			t.Fatal(err)
		}
		var ex struct {
			Read []struct {
				SegmentID  string `json:"segment_id"`
				KeyChecked bool   `json:"key_checked"`
			} `json:"read"`
		}
		if err := json.Unmarshal(plan, &ex); err != nil {
			t.Fatal(err)
		}
		if len(ex.Read) != len(sp.Segments) {
			t.Fatalf("split %d reads %d segments, names %v", i, len(ex.Read), sp.Segments)
		}
		for _, r := range ex.Read {
			s := spanOf[r.SegmentID]
			inside := s[0] >= lo && s[1] < hi
			if r.KeyChecked == inside {
				t.Errorf("split %d [%d, %d): segment %v key_checked %v", i, lo, hi, s, r.KeyChecked)
			}
			checkedSomewhere = checkedSomewhere || r.KeyChecked
			insideSomewhere = insideSomewhere || inside
		}
		s, err := openSplitT(t, sp)
		if part := rowsOf(t, s, err); part != "" {
			got = append(got, part)
		}
	}
	if !checkedSomewhere || !insideSomewhere {
		t.Fatalf("the table must have segments inside and across split bounds (checked %v, inside %v)", checkedSomewhere, insideSomewhere)
	}
	if g, want := strings.Join(got, " "), scanRows(t, w, "d", allRows()); g != want {
		t.Fatalf("splits:\n %s\nscan:\n %s", g, want)
	}
	// An unbounded scan checks no key.
	plan, err := w.Explain("d", allRows())
	if err != nil || strings.Contains(string(plan), "key_checked") {
		t.Fatalf("unbounded plan: %s %v", plan, err)
	}
}

// countingAllocator counts the bytes a store takes from its base allocator.
type countingAllocator struct {
	*memory.CheckedAllocator
	mu    sync.Mutex
	bytes int
}

func (c *countingAllocator) Allocate(n int) []byte {
	c.mu.Lock()
	c.bytes += n
	c.mu.Unlock()
	return c.CheckedAllocator.Allocate(n)
}

func (c *countingAllocator) Reallocate(n int, b []byte) []byte {
	c.mu.Lock()
	c.bytes += n
	c.mu.Unlock()
	return c.CheckedAllocator.Reallocate(n, b)
}

func (c *countingAllocator) taken() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// flushedEventIDs creates table e on w with ids 0..n-1 in one flushed
// segment and returns n.
func flushedEventIDs(t *testing.T, w *DB, mem memory.Allocator, n int) int64 {
	t.Helper()
	w.CreateTable("e", "", eventsSchema, map[string]string{"primary_key": "id"})
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = int64(i)
	}
	appendEvents(t, w, mem, "e", ids...)
	if _, err := w.Flush("e"); err != nil {
		t.Fatal(err)
	}
	return int64(n)
}

// drainIDAmount scans id and amount of e through db, releasing each batch
// as it comes (as a host draining a stream does), and returns the rows.
func drainIDAmount(t *testing.T, db *DB) (rows int64) {
	t.Helper()
	s, err := db.Scan("e", ScanRequest{Columns: []string{"id", "amount"}, Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for {
		rec, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if rec == nil {
			return rows
		}
		rows += rec.NumRows()
		rec.Release()
	}
}

// assertScansReuse runs scan (rows of the flushedEventIDs table, bytes it
// took from the base allocator) five times. Without reuse every scan takes
// its batches' bytes afresh (the two columns' values alone are 4.8 MB);
// with it, a scan takes only what it holds at its peak beyond what the
// scans before released, which depends on timing (a quick host hands
// buffers back within the first scan already): five scans together take
// less than two scans' values.
func assertScansReuse(t *testing.T, scan func() (int64, int), n int64) {
	t.Helper()
	var taken []int
	total := 0
	for i := 0; i < 5; i++ {
		rows, fresh := scan()
		if rows != n {
			t.Fatalf("scan %d: %d rows, want %d", i, rows, n)
		}
		taken = append(taken, fresh)
		total += fresh
	}
	if total >= 2*4_800_000 {
		t.Fatalf("the base allocator gave %v bytes to five scans (%d in all): the scans should reuse each other's buffers", taken, total)
	}
}

// TestStorageOnlyReaderRecyclesBuffers: a storage-only reader hands out
// column buffers through the store's recycler as the writer does (from
// mallocator, each fresh buffer is a new mmap whose pages the kernel
// faults in and zeroes): a second scan reuses the buffers the first one's
// batches released, and closing the reader returns every byte.
func TestStorageOnlyReaderRecyclesBuffers(t *testing.T) {
	w, mem, dir := testDB(t)
	n := flushedEventIDs(t, w, mem, 300_000)
	base := &countingAllocator{CheckedAllocator: memory.NewCheckedAllocator(memory.NewGoAllocator())}
	o := DefaultOptions()
	o.Storage = filepath.Join(dir, "storage")
	o.ReadOnly = true
	o.Allocator = base
	r, err := Open("", o)
	if err != nil {
		t.Fatal(err)
	}
	// No trim between the scans, however slow the machine (the race detector).
	r.st.mem.(*recycler).idle = time.Hour
	scan := func() (rows int64, taken int) {
		before := base.taken()
		rows = drainIDAmount(t, r)
		return rows, base.taken() - before
	}
	assertScansReuse(t, scan, n)
	r.Close()
	base.AssertSize(t, 0)
}

// TestBufferPoolOutlivesItsStores: readers opened one after another with
// one BufferPool (a worker running splits) share its buffers: a second
// reader's scan reuses what the first one's released, closing a reader
// leaves the pool working, and the pool returns every byte to its base
// allocator once idle.
func TestBufferPoolOutlivesItsStores(t *testing.T) {
	w, mem, dir := testDB(t)
	n := flushedEventIDs(t, w, mem, 300_000)
	base := &countingAllocator{CheckedAllocator: memory.NewCheckedAllocator(memory.NewGoAllocator())}
	pool := NewBufferPool(base)
	pool.r.idle = time.Hour // no trim before the checks, however slow the machine
	scanWithNewReader := func() (rows int64, taken int) {
		o := DefaultOptions()
		o.Storage = filepath.Join(dir, "storage")
		o.ReadOnly = true
		o.Buffers = pool
		r, err := Open("", o)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		before := base.taken()
		rows = drainIDAmount(t, r)
		return rows, base.taken() - before
	}
	assertScansReuse(t, scanWithNewReader, n)
	if base.CurrentAlloc() == 0 {
		t.Fatal("the pool kept nothing after its readers closed")
	}
	pool.r.trim(time.Now().Add(time.Hour))
	base.AssertSize(t, 0)
}

// TestStorageOnlyReaderNeverPairsAnOldDefinitionWithANewVersion: an alter
// whose table.json could not be written (storage down at that moment)
// returned OK and left table.json as it was, while later commits mirrored
// their manifests: storage-only readers read the new versions in the old
// schema, a dropped column's values back under its name. Now no
// manifest.json goes out before the definition it needs, and the next
// commit's mirror writes table.json. A reader's table description follows
// the newest version too (Python's Table.refresh; it stayed at the one it
// first loaded).
func TestStorageOnlyReaderNeverPairsAnOldDefinitionWithANewVersion(t *testing.T) {
	w, mem, dir := testDB(t)
	if _, err := w.CreateTable("e", "", eventsSchema, map[string]string{"primary_key": "id"}); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, w, mem, "e", 1, 2)
	if _, err := w.Flush("e"); err != nil {
		t.Fatal(err)
	}
	r := openRemoteAt(t, filepath.Join(dir, "storage"))
	if got := scanRows(t, r, "e", allRows()); got != "1:k1 2:k2" {
		t.Fatalf("remote rows: %s", got)
	}
	// table.json cannot be written (a directory stands in its way); when
	// storage is back it holds the old definition, as an S3 object whose
	// PUT failed does.
	tj := filepath.Join(dir, "storage", "default", "e", "table.json")
	oldDef, err := os.ReadFile(tj)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(tj); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(tj, "blocked"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := w.DropColumns("e", []string{"kind"}); err != nil {
		t.Fatal(err)
	}
	if err := w.AddColumns("e", []arrow.Field{{Name: "kind", Type: arrow.BinaryTypes.String, Nullable: true}}); err != nil {
		t.Fatal(err)
	}
	// The reader still reads the version whose definition storage holds.
	if got := scanRows(t, r, "e", allRows()); got != "1:k1 2:k2" {
		t.Fatalf("remote rows while table.json is behind: %s", got)
	}
	if err := os.RemoveAll(tj); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tj, oldDef, 0o644); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, w, mem, "e", 3)
	if _, err := w.Flush("e"); err != nil {
		t.Fatal(err)
	}
	wantV := w.st.tables["default.e"].currentManifest().Version
	// The new kind is a new column: null for rows 1 and 2.
	if got := scanRows(t, r, "e", allRows()); got != "1:<nil> 2:<nil> 3:k3" {
		t.Fatalf("remote rows after the next commit: %s", got)
	}
	if got := scanRows(t, r, "e", ScanRequest{Limit: -1, AsOfVersion: int64(wantV)}); got != "1:<nil> 2:<nil> 3:k3" {
		t.Fatalf("remote rows at version %d: %s", wantV, got)
	}
	ti, err := r.Table("e")
	if err != nil {
		t.Fatal(err)
	}
	if ti.Version != wantV {
		t.Fatalf("remote table description at version %d, the writer's is %d", ti.Version, wantV)
	}
}

// TestStorageOnlyReaderFollowsATableMadeAgain: a table dropped and made
// again under its name starts its versions over at 1, so a reader that
// loaded the old table reached a version number the old table had also
// reached and read the new table's files with the old definition (a
// column silently missing, wrong names, a type mismatch). Found by a
// cross-process reader pass. The reader now sees the new table.
func TestStorageOnlyReaderFollowsATableMadeAgain(t *testing.T) {
	w, mem, dir := testDB(t)
	wide := arrow.NewSchema(append(eventsSchema.Fields(), arrow.Field{Name: "extra", Type: arrow.PrimitiveTypes.Int64, Nullable: true}), nil)
	if _, err := w.CreateTable("e", "", wide, map[string]string{"primary_key": "id"}); err != nil {
		t.Fatal(err)
	}
	if err := w.DropColumns("e", []string{"kind"}); err != nil { // the old table at version 2: (id, amount, extra)
		t.Fatal(err)
	}
	r := openRemoteAt(t, filepath.Join(dir, "storage"))
	if got := scanRows(t, r, "e", allRows()); got != "" {
		t.Fatalf("remote rows of the old table: %q", got)
	}
	if err := w.DropTable("e"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // a creation time of its own (ms)
	if _, err := w.CreateTable("e", "", eventsSchema, map[string]string{"primary_key": "id"}); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, w, mem, "e", 1, 2)
	if _, err := w.Flush("e"); err != nil { // the new table at version 2: (id, kind, amount)
		t.Fatal(err)
	}
	if got := scanRows(t, r, "e", allRows()); got != "1:k1 2:k2" {
		t.Fatalf("remote rows of the table made again: %q, want 1:k1 2:k2", got)
	}
	if got := scanRows(t, r, "e", ScanRequest{Limit: -1, AsOfVersion: 2}); got != "1:k1 2:k2" {
		t.Fatalf("remote rows at version 2 of the table made again: %q", got)
	}
	ti, err := r.Table("e")
	if err != nil {
		t.Fatal(err)
	}
	if len(ti.Columns) != 3 || ti.Columns[1].Name != "kind" {
		t.Fatalf("remote description of the table made again: %+v", ti.Columns)
	}
}

// TestStorageOnlySystemTablesSkipATableDroppedMeanwhile: a table the
// writer drops between a storage-only reader's listing and its reading of
// the table's manifest is left out of system.manifests and
// system.segments; they failed with NotFound ("open .../manifest.json").
// Found by a cross-process reader pass (a writer dropping and making
// tables again in a loop).
func TestStorageOnlySystemTablesSkipATableDroppedMeanwhile(t *testing.T) {
	w, mem, dir := testDB(t)
	for _, n := range []string{"a", "b"} {
		w.CreateTable(n, "", eventsSchema, map[string]string{"primary_key": "id"})
		appendEvents(t, w, mem, n, 1)
		w.Flush(n)
	}
	r := openRemoteAt(t, filepath.Join(dir, "storage"))
	if got := len(r.st.sortedTables()); got != 2 {
		t.Fatalf("reader lists %d tables", got)
	}
	if err := w.DropTable("a"); err != nil {
		t.Fatal(err)
	}
	// What a system table scan does after its listing: build from the
	// tables listed (a still there).
	for _, name := range []string{"system.manifests", "system.segments"} {
		sys, _ := lookupSystemTable(name)
		b := array.NewRecordBuilder(memory.NewGoAllocator(), sys.schema)
		if err := sys.build(r, b); err != nil {
			t.Fatalf("%s with a table dropped meanwhile: %v", name, err)
		}
		rec := b.NewRecordBatch()
		if rec.NumRows() != 1 || rec.Column(1).(*array.String).Value(0) != "b" {
			t.Fatalf("%s: %d rows", name, rec.NumRows())
		}
		rec.Release()
		b.Release()
	}
}
