package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/kerr"
)

func appendEvents(t *testing.T, db *DB, mem memory.Allocator, table string, ids ...int64) {
	t.Helper()
	kinds := make([]string, len(ids))
	amts := make([]float64, len(ids))
	for i, id := range ids {
		kinds[i] = fmt.Sprintf("k%d", id)
		amts[i] = float64(id)
	}
	rec := eventsBatch(mem, ids, kinds, amts)
	defer rec.Release()
	if _, err := db.AppendRecord(table, rec); err != nil {
		t.Fatalf("append %v: %v", ids, err)
	}
}

func explainDoc(t *testing.T, db *DB, table string, req ScanRequest) map[string]any {
	t.Helper()
	b, err := db.Explain(table, req)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func prunedReasons(doc map[string]any) map[string]string {
	out := map[string]string{}
	for _, p := range doc["pruned"].([]any) {
		m := p.(map[string]any)
		out[m["path"].(string)] = m["reason"].(string)
	}
	return out
}

func TestPruningThroughExplain(t *testing.T) {
	db, mem, _ := testDB(t)
	if _, err := db.CreateTable("p", "", eventsSchema, map[string]string{"primary_key": "id", "row_group_rows": "10"}); err != nil {
		t.Fatal(err)
	}
	// Three disjoint segments: [0,29], [100,129], [200,229]; row groups of 10.
	for _, base := range []int64{0, 100, 200} {
		var ids []int64
		for i := int64(0); i < 30; i++ {
			ids = append(ids, base+i)
		}
		appendEvents(t, db, mem, "p", ids...)
		if _, err := db.Flush("p"); err != nil {
			t.Fatal(err)
		}
	}
	doc := explainDoc(t, db, "p", ScanRequest{Filter: "id >= 105 AND id < 112", Limit: -1})
	reasons := prunedReasons(doc)
	if reasons["data/segment_001.parquet"] != "key_range" || reasons["data/segment_003.parquet"] != "key_range" {
		t.Fatalf("key-range pruning: %v", doc)
	}
	read := doc["read"].([]any)
	if len(read) != 1 || read[0].(map[string]any)["path"] != "data/segment_002.parquet" {
		t.Fatalf("read: %v", read)
	}
	if rgs := fmt.Sprint(read[0].(map[string]any)["row_groups"]); rgs != "[0 1]" {
		t.Fatalf("row groups read: %s", rgs)
	}
	if doc["merge"] != "concat" || doc["hot"] != false {
		t.Fatalf("merge/hot: %v %v", doc["merge"], doc["hot"])
	}
	s, _ := db.Scan("p", ScanRequest{Filter: "id >= 105 AND id < 112", Limit: -1, Columns: []string{"id"}})
	if got := rowsString(collect(t, s), "id"); got != "105;106;107;108;109;110;111" {
		t.Fatalf("rows: %s", got)
	}
	// Column statistics prune an isolated segment on a non-key column.
	doc = explainDoc(t, db, "p", ScanRequest{Filter: "amount > 150", Limit: -1})
	reasons = prunedReasons(doc)
	if reasons["data/segment_001.parquet"] != "column_stats" || reasons["data/segment_002.parquet"] != "column_stats" {
		t.Fatalf("column-stats pruning: %v", doc)
	}
	// Row-group statistics of a non-key column inside an isolated segment.
	doc = explainDoc(t, db, "p", ScanRequest{Filter: "amount >= 215", Limit: -1})
	read = doc["read"].([]any)
	if len(read) != 1 || fmt.Sprint(read[0].(map[string]any)["row_groups"]) != "[1 2]" {
		t.Fatalf("row-group pruning on amount: %v", doc)
	}
	// A hot upsert overlaps segment 3: the segment is the oldest input of
	// its cluster, so its statistics still prune it (DESIGN §4 refined
	// rule: no older input can hold its keys); the hot row is read.
	rec := eventsBatch(mem, []int64{205}, []string{"x"}, []float64{1})
	db.AppendRecord("p", rec)
	rec.Release()
	doc = explainDoc(t, db, "p", ScanRequest{Filter: "amount < 2", Limit: -1})
	if reasons = prunedReasons(doc); reasons["data/segment_003.parquet"] != "column_stats" || doc["hot"] != true {
		t.Fatalf("the oldest input of a cluster is pruned by statistics: %v", doc)
	}
	s, _ = db.Scan("p", ScanRequest{Filter: "amount < 2", Limit: -1, Columns: []string{"id"}})
	if got := rowsString(collect(t, s), "id"); got != "0;1;205" {
		t.Fatalf("rows after upsert: %s", got)
	}
	// The hot row is the newer input: a filter its version fails must not
	// let segment 3's older version of key 205 through.
	s, _ = db.Scan("p", ScanRequest{Filter: "amount >= 205", Limit: -1, Columns: []string{"id"}})
	if got := rowsString(collect(t, s), "id"); strings.Contains(got, "205") {
		t.Fatalf("an older version reappeared from under a newer one: %s", got)
	}
	doc = explainDoc(t, db, "p", ScanRequest{Filter: "amount >= 205", Limit: -1})
	if doc["merge"] != "newest_wins" {
		t.Fatalf("segment 3 and the hot row must merge: %v", doc)
	}
	// A contradictory key filter reads nothing.
	doc = explainDoc(t, db, "p", ScanRequest{Filter: "id > 5 AND id < 3", Limit: -1})
	if len(doc["read"].([]any)) != 0 || len(prunedReasons(doc)) != 3 {
		t.Fatalf("empty key range: %v", doc)
	}
}

func TestSnapshotIsolation(t *testing.T) {
	db, mem, _ := testDB(t)
	db.CreateTable("s", "", eventsSchema, map[string]string{"primary_key": "id"})
	appendEvents(t, db, mem, "s", 1, 2, 3)
	s, err := db.Scan("s", ScanRequest{Columns: []string{"id", "kind"}, Limit: -1, BatchRows: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Read one batch, then change the table under the open stream.
	first, err := s.Next()
	if err != nil || first == nil {
		t.Fatal(err)
	}
	first.Release()
	appendEvents(t, db, mem, "s", 4)
	rec := eventsBatch(mem, []int64{2}, []string{"changed"}, []float64{0})
	db.AppendRecord("s", rec)
	rec.Release()
	if _, err := db.Flush("s"); err != nil {
		t.Fatal(err)
	}
	rows := collect(t, s)
	if got := rowsString(rows, "id", "kind"); got != "2,k2;3,k3" {
		t.Fatalf("open stream saw later writes: %s", got)
	}
	s2, _ := db.Scan("s", ScanRequest{Columns: []string{"id", "kind"}, Limit: -1})
	if got := rowsString(collect(t, s2), "id", "kind"); got != "1,k1;2,changed;3,k3;4,k4" {
		t.Fatalf("new scan: %s", got)
	}
}

var userSchema = arrow.NewSchema([]arrow.Field{
	{Name: "user_id", Type: arrow.BinaryTypes.String},
	{Name: "n", Type: arrow.PrimitiveTypes.Int64},
	{Name: "note", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

func userBatch(mem memory.Allocator, users []string, ns []int64, notes []string) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, userSchema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).AppendValues(users, nil)
	b.Field(1).(*array.Int64Builder).AppendValues(ns, nil)
	b.Field(2).(*array.StringBuilder).AppendValues(notes, nil)
	return b.NewRecordBatch()
}

// TestRenameDefaultUserColumn: renaming a user table's user column left
// at its default (user_id) makes the options name it, as they do when the
// option was given: the options, system.tables and table.json said
// nothing, which reads as user_id, a column the table no longer had.
func TestRenameDefaultUserColumn(t *testing.T) {
	db, _, dir := testDB(t)
	for _, opts := range []map[string]string{{"primary_key": "n"}, {"primary_key": "n", "user_column": "user_id"}} {
		name := "u" + strconv.Itoa(len(opts))
		if _, err := db.CreateTable(name, "user", userSchema, opts); err != nil {
			t.Fatal(err)
		}
		if err := db.RenameColumn(name, "user_id", "who"); err != nil {
			t.Fatal(err)
		}
		info, err := db.Table(name)
		if err != nil {
			t.Fatal(err)
		}
		if info.UserColumn != "who" || info.Options["user_column"] != "who" || info.Options["primary_key"] != "n" {
			t.Fatalf("%s: user column %q, options %v", name, info.UserColumn, info.Options)
		}
		raw, err := os.ReadFile(filepath.Join(dir, "storage", "default", name, tableJSONName))
		if err != nil {
			t.Fatal(err)
		}
		var def tableDef
		if err := json.Unmarshal(raw, &def); err != nil || def.Options["user_column"] != "who" {
			t.Fatalf("%s: table.json options %v (%v)", name, def.Options, err)
		}
	}
}

func TestUserTable(t *testing.T) {
	db, mem, _ := testDB(t)
	if _, err := db.CreateTable("u", "user", userSchema, map[string]string{"primary_key": "n"}); err != nil {
		t.Fatal(err)
	}
	rec := userBatch(mem, []string{"bob", "alice", "bob", "alice"}, []int64{1, 1, 2, 2}, []string{"b1", "a1", "b2", "a2"})
	db.AppendRecord("u", rec)
	rec.Release()
	db.Flush("u")
	rec = userBatch(mem, []string{"carol"}, []int64{1}, []string{"c1"})
	db.AppendRecord("u", rec)
	rec.Release()
	db.Flush("u")
	// Rows come back in key order: user first, then the primary key.
	s, _ := db.Scan("u", allRows())
	if got := rowsString(collect(t, s), "user_id", "n", "note"); got != "alice,1,a1;alice,2,a2;bob,1,b1;bob,2,b2;carol,1,c1" {
		t.Fatalf("rows: %s", got)
	}
	// The same n under two users are different rows; an upsert touches one.
	rec = userBatch(mem, []string{"bob"}, []int64{1}, []string{"B1"})
	db.AppendRecord("u", rec)
	rec.Release()
	s, _ = db.Scan("u", ScanRequest{Filter: "user_id = 'bob'", Limit: -1})
	if got := rowsString(collect(t, s), "n", "note"); got != "1,B1;2,b2" {
		t.Fatalf("bob: %s", got)
	}
	// A filter on the user column prunes other users' segments.
	doc := explainDoc(t, db, "u", ScanRequest{Filter: "user_id = 'carol'", Limit: -1})
	if r := prunedReasons(doc); r["data/segment_001.parquet"] != "key_range" {
		t.Fatalf("user pruning: %v", doc)
	}
	// Delete takes the user column and the key.
	keys := arrow.NewSchema([]arrow.Field{userSchema.Field(0), userSchema.Field(1)}, nil)
	kb := array.NewRecordBuilder(mem, keys)
	kb.Field(0).(*array.StringBuilder).AppendValues([]string{"alice", "alice", "nobody"}, nil)
	kb.Field(1).(*array.Int64Builder).AppendValues([]int64{2, 9, 1}, nil)
	krec := kb.NewRecordBatch()
	kb.Release()
	rdr, _ := array.NewRecordReader(keys, []arrow.RecordBatch{krec})
	n, err := db.Delete("u", rdr)
	rdr.Release()
	krec.Release()
	if err != nil || n != 1 {
		t.Fatalf("delete: %d %v", n, err)
	}
	s, _ = db.Scan("u", ScanRequest{Filter: "user_id = 'alice'", Limit: -1})
	if got := rowsString(collect(t, s), "n"); got != "1" {
		t.Fatalf("alice after delete: %s", got)
	}
	// The user column must be present and non-null.
	bad := arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Int64}}, nil)
	bb := array.NewRecordBuilder(mem, bad)
	bb.Field(0).(*array.Int64Builder).Append(5)
	brec := bb.NewRecordBatch()
	bb.Release()
	_, err = db.AppendRecord("u", brec)
	brec.Release()
	if !kerr.Is(err, kerr.InvalidArgument) || !strings.Contains(err.Error(), "user_id") {
		t.Fatalf("append without user column: %v", err)
	}
}

func TestNoPrimaryKeyTable(t *testing.T) {
	db, mem, _ := testDB(t)
	db.CreateTable("log", "", eventsSchema, nil)
	appendEvents(t, db, mem, "log", 7, 7, 8) // no key: duplicates are separate rows
	db.Flush("log")
	appendEvents(t, db, mem, "log", 9)
	s, _ := db.Scan("log", ScanRequest{Columns: []string{"id", colSeq}, Limit: -1})
	rows := collect(t, s)
	if got := rowsString(rows, "id"); got != "7;7;8;9" {
		t.Fatalf("rows in _seq order: %s", got)
	}
	// Delete by _seq, one row from a segment and one hot.
	seqs := []int64{rows[1][colSeq].(int64), rows[3][colSeq].(int64), 12345}
	ks := arrow.NewSchema([]arrow.Field{{Name: colSeq, Type: arrow.PrimitiveTypes.Int64}}, nil)
	kb := array.NewRecordBuilder(mem, ks)
	kb.Field(0).(*array.Int64Builder).AppendValues(seqs, nil)
	krec := kb.NewRecordBatch()
	kb.Release()
	rdr, _ := array.NewRecordReader(ks, []arrow.RecordBatch{krec})
	n, err := db.Delete("log", rdr)
	rdr.Release()
	krec.Release()
	if err != nil || n != 2 {
		t.Fatalf("delete by _seq: %d %v", n, err)
	}
	for round := 0; round < 2; round++ {
		s, _ = db.Scan("log", ScanRequest{Columns: []string{"id"}, Limit: -1})
		if got := rowsString(collect(t, s), "id"); got != "7;8" {
			t.Fatalf("round %d after delete: %s", round, got)
		}
		db.Flush("log")
	}
}

func TestReadOnlyAndSharedOpen(t *testing.T) {
	dir := t.TempDir()
	db, mem := openAt(t, dir)
	db.CreateTable("t", "", eventsSchema, map[string]string{"primary_key": "id"})
	appendEvents(t, db, mem, "t", 1, 2)
	// A second open in the process shares the store under its own session.
	db2, _ := openAt(t, dir)
	if db2.SessionID() == db.SessionID() {
		t.Fatal("sessions must differ")
	}
	if got := fmt.Sprint(scanIDs(t, db2, "t")); got != "[1 2]" {
		t.Fatalf("second handle: %s", got)
	}
	db2.Close()
	if _, err := db2.Scan("t", allRows()); !kerr.Is(err, kerr.Closed) {
		t.Fatalf("closed handle: %v", err)
	}
	if got := fmt.Sprint(scanIDs(t, db, "t")); got != "[1 2]" {
		t.Fatalf("first handle after second closed: %s", got)
	}
	db.Close()
	opts := DefaultOptions()
	opts.ReadOnly = true
	ro, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if got := fmt.Sprint(scanIDs(t, ro, "t")); got != "[1 2]" {
		t.Fatalf("read-only scan: %s", got)
	}
	if _, err := ro.Flush("t"); !kerr.Is(err, kerr.ReadOnly) {
		t.Fatalf("flush on read-only: %v", err)
	}
	if err := ro.CreateNamespace("x"); !kerr.Is(err, kerr.ReadOnly) {
		t.Fatalf("create namespace on read-only: %v", err)
	}
	rec := eventsBatch(memory.DefaultAllocator, []int64{3}, []string{"c"}, []float64{3})
	defer rec.Release()
	if _, err := ro.AppendRecord("t", rec); !kerr.Is(err, kerr.ReadOnly) {
		t.Fatalf("append on read-only: %v", err)
	}
	// Opening a missing store without create_if_missing is NOT_FOUND.
	opts = DefaultOptions()
	opts.CreateIfMissing = false
	if _, err := Open(filepath.Join(dir, "nope"), opts); !kerr.Is(err, kerr.NotFound) {
		t.Fatalf("missing store: %v", err)
	}
}

func TestRecoverFromStorage(t *testing.T) {
	dir := t.TempDir()
	db, mem := openAt(t, dir)
	db.CreateNamespace("app")
	db.CreateTable("app.e", "", eventsSchema, map[string]string{"primary_key": "id", "compression": "snappy"})
	appendEvents(t, db, mem, "app.e", 1, 2, 3)
	db.Flush("app.e")
	appendEvents(t, db, mem, "app.e", 2)
	db.Flush("app.e")
	appendEvents(t, db, mem, "app.e", 50) // hot only: lost with rocksdb
	before, _ := db.Manifest("app.e")
	db.Close()
	if err := os.RemoveAll(filepath.Join(dir, "rocksdb")); err != nil {
		t.Fatal(err)
	}
	opts := DefaultOptions()
	opts.Recover = true
	opts.Allocator = memory.NewCheckedAllocator(memory.NewGoAllocator())
	db2, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	ti, err := db2.Table("app.e")
	if err != nil || ti.Options["compression"] != "snappy" || fmt.Sprint(ti.PrimaryKey) != "[id]" {
		t.Fatalf("rebuilt table: %+v %v", ti, err)
	}
	after, _ := db2.Manifest("app.e")
	if after.Version != before.Version || len(after.Segments) != 2 {
		t.Fatalf("rebuilt manifest %d/%d segs, want %d/2", after.Version, len(after.Segments), before.Version)
	}
	s, _ := db2.Scan("app.e", ScanRequest{Columns: []string{"id", "kind"}, Limit: -1})
	if got := rowsString(collect(t, s), "id", "kind"); got != "1,k1;2,k2;3,k3" {
		t.Fatalf("rows after recover: %s", got)
	}
	// New writes get _seq above everything in the segments and win.
	rec := eventsBatch(memory.DefaultAllocator, []int64{1}, []string{"new"}, []float64{0})
	db2.AppendRecord("app.e", rec)
	rec.Release()
	db2.Flush("app.e")
	s, _ = db2.Scan("app.e", ScanRequest{Filter: "id = 1", Limit: -1})
	if got := rowsString(collect(t, s), "kind"); got != "new" {
		t.Fatalf("upsert after recover: %s", got)
	}
}

func TestAutoFlush(t *testing.T) {
	db, mem, _ := testDB(t)
	db.CreateTable("af", "", eventsSchema, map[string]string{"primary_key": "id", "flush_rows": "10"})
	appendEvents(t, db, mem, "af", 1, 2, 3, 4, 5)
	if m, _ := db.Manifest("af"); len(m.Segments) != 0 {
		t.Fatal("flushed below the threshold")
	}
	appendEvents(t, db, mem, "af", 6, 7, 8, 9, 10, 11)
	m, _ := db.Manifest("af")
	if len(m.Segments) != 1 || m.Segments[0].RowCount != 11 {
		t.Fatalf("auto flush: %+v", m.Segments)
	}
}

func TestSystemTablesAndLiveQueries(t *testing.T) {
	dir := t.TempDir()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	opts := DefaultOptions()
	opts.Allocator = mem
	opts.MaxConcurrentScans = 1
	opts.SessionID = "sess-1"
	db, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { db.Close(); mem.AssertSize(t, 0) }()
	db.CreateNamespace("app")
	db.CreateTable("app.e", "", eventsSchema, map[string]string{"primary_key": "id", "note": "kept"})
	appendEvents(t, db, mem, "app.e", 1, 2)
	db.Flush("app.e")

	s, _ := db.SystemTable("tables", allRows())
	rows := collect(t, s)
	if got := rowsString(rows, "namespace", "table_name", "type"); got != "app,e,shared;system,tables,system;system,live_queries,system;system,namespaces,system;system,manifests,system;system,segments,system" {
		t.Fatalf("system.tables: %s", got)
	}
	if rows[0]["options"] != `{"note":"kept","primary_key":"id"}` {
		t.Fatalf("options: %v", rows[0]["options"])
	}
	s, _ = db.Scan("system.namespaces", ScanRequest{Filter: "table_count > 0", Limit: -1})
	if got := rowsString(collect(t, s), "namespace", "table_count"); got != "app,1;system,5" {
		t.Fatalf("namespaces: %s", got)
	}
	s, _ = db.SystemTable("system.segments", allRows())
	rows = collect(t, s)
	if len(rows) != 1 || rows[0]["path"] != "data/segment_001.parquet" || rows[0]["row_count"] != uint64(2) || rows[0]["tombstone"] != false {
		t.Fatalf("segments: %v", rows)
	}
	s, _ = db.SystemTable("manifests", ScanRequest{Columns: []string{"version", "segment_count", "manifest_json"}, Limit: -1})
	rows = collect(t, s)
	js, _ := db.ManifestJSON("app.e")
	if len(rows) != 1 || rows[0]["version"] != uint64(2) || rows[0]["manifest_json"] != string(js) {
		t.Fatalf("manifests: %v", rows)
	}
	if _, err := db.SystemTable("nope", allRows()); !kerr.Is(err, kerr.NotFound) {
		t.Fatalf("unknown system table: %v", err)
	}
	// One slot: the first scan runs, the second stays Queued until the first
	// is released; system-table scans take no slot.
	a, _ := db.Scan("app.e", ScanRequest{Limit: -1, SQL: "scan A"})
	b, _ := db.Scan("app.e", ScanRequest{Limit: -1})
	ra, err := a.Next()
	if err != nil || ra == nil {
		t.Fatal(err)
	}
	ra.Release()
	gotB := make(chan error, 1)
	go func() {
		rec, err := b.Next()
		if rec != nil {
			rec.Release()
		}
		gotB <- err
	}()
	time.Sleep(50 * time.Millisecond)
	lq, _ := db.SystemTable("live_queries", allRows())
	rows = collect(t, lq)
	states := map[string]string{}
	for _, r := range rows {
		states[r["sql"].(string)] = r["state"].(string)
		if r["session_id"] != "sess-1" {
			t.Fatalf("session id: %v", r)
		}
	}
	if states["scan A"] != "Running" || states["SELECT id, kind, amount FROM app.e"] != "Queued" ||
		states["SELECT query_id, session_id, sql, start_time, duration_ms, state FROM system.live_queries"] != "Running" {
		t.Fatalf("live queries: %v", states)
	}
	a.Close()
	if err := <-gotB; err != nil {
		t.Fatalf("queued scan after slot freed: %v", err)
	}
	b.Close()
	lq, _ = db.SystemTable("live_queries", ScanRequest{Columns: []string{"sql"}, Limit: -1})
	if got := rowsString(collect(t, lq), "sql"); got != "SELECT sql FROM system.live_queries" {
		t.Fatalf("live queries after release: %s", got)
	}
	// Cancel wakes a queued scan.
	a, _ = db.Scan("app.e", allRows())
	ra, _ = a.Next()
	ra.Release()
	b, _ = db.Scan("app.e", allRows())
	go func() { time.Sleep(20 * time.Millisecond); b.Cancel() }()
	if _, err := b.Next(); !kerr.Is(err, kerr.Cancelled) {
		t.Fatalf("cancelled queued scan: %v", err)
	}
	b.Close()
	a.Close()
	if db.OpenStreams() != 0 {
		t.Fatalf("open streams: %d", db.OpenStreams())
	}
}

func TestCloseWithOpenStream(t *testing.T) {
	dir := t.TempDir()
	db, mem := openAt(t, dir)
	db.CreateTable("t", "", eventsSchema, map[string]string{"primary_key": "id"})
	appendEvents(t, db, mem, "t", 1, 2, 3)
	s, _ := db.Scan("t", ScanRequest{Limit: -1, BatchRows: 1})
	rec, _ := s.Next()
	rec.Release()
	db.Close()
	if _, err := s.Next(); !kerr.Is(err, kerr.Closed) {
		t.Fatalf("next after close: %v", err)
	}
	s.Close() // the store closes now; must not crash
	db2, _ := openAt(t, dir)
	if got := fmt.Sprint(scanIDs(t, db2, "t")); got != "[1 2 3]" {
		t.Fatalf("reopen: %s", got)
	}
}

func TestSegmentScan(t *testing.T) {
	db, mem, _ := testDB(t)
	db.CreateTable("t", "", eventsSchema, map[string]string{"primary_key": "id"})
	appendEvents(t, db, mem, "t", 1, 2, 3)
	keys := eventsSchema.Field(0)
	kb := array.NewRecordBuilder(mem, arrow.NewSchema([]arrow.Field{keys}, nil))
	kb.Field(0).(*array.Int64Builder).Append(2)
	krec := kb.NewRecordBatch()
	kb.Release()
	rdr, _ := array.NewRecordReader(krec.Schema(), []arrow.RecordBatch{krec})
	db.Delete("t", rdr)
	rdr.Release()
	krec.Release()
	id, _ := db.Flush("t")
	s, err := db.ScanSegment("t", id, allRows())
	if err != nil {
		t.Fatal(err)
	}
	if names := s.Schema().Field(3).Name + " " + s.Schema().Field(4).Name; names != "_seq _deleted" {
		s.Close()
		t.Fatalf("segment scan columns: %v", s.Schema())
	}
	if got := rowsString(collect(t, s), "id", "_deleted", "kind"); got != "1,false,k1;2,true,<nil>;3,false,k3" {
		t.Fatalf("segment rows: %s", got)
	}
	if _, err := db.ScanSegment("t", "nope", allRows()); !kerr.Is(err, kerr.NotFound) {
		t.Fatalf("unknown segment: %v", err)
	}
}

func TestTimeTravel(t *testing.T) {
	db, mem, _ := testDB(t)
	db.CreateTable("t", "", eventsSchema, map[string]string{"primary_key": "id"})
	appendEvents(t, db, mem, "t", 1)
	db.Flush("t") // version 2
	rec := eventsBatch(mem, []int64{1, 2}, []string{"v3", "v3"}, []float64{0, 0})
	db.AppendRecord("t", rec)
	rec.Release()
	db.Flush("t") // version 3
	s, _ := db.Scan("t", ScanRequest{AsOfVersion: 2, Limit: -1})
	if got := rowsString(collect(t, s), "id", "kind"); got != "1,k1" {
		t.Fatalf("version 2: %s", got)
	}
	s, _ = db.Scan("t", ScanRequest{AsOfVersion: 1, Limit: -1})
	if got := collect(t, s); len(got) != 0 {
		t.Fatalf("version 1: %v", got)
	}
	if _, err := db.Scan("t", ScanRequest{AsOfVersion: 9, Limit: -1}); !kerr.Is(err, kerr.NotFound) || !strings.Contains(err.Error(), "oldest available version is 1") {
		t.Fatalf("missing version: %v", err)
	}
}

func TestAppendValidation(t *testing.T) {
	db, mem, _ := testDB(t)
	db.CreateTable("t", "", eventsSchema, map[string]string{"primary_key": "id"})
	mk := func(fields []arrow.Field, build func(b *array.RecordBuilder)) arrow.RecordBatch {
		b := array.NewRecordBuilder(mem, arrow.NewSchema(fields, nil))
		defer b.Release()
		build(b)
		return b.NewRecordBatch()
	}
	cases := []struct {
		name   string
		rec    arrow.RecordBatch
		substr string
	}{
		{"unknown column first", mk([]arrow.Field{{Name: "zzz", Type: arrow.PrimitiveTypes.Int64}, {Name: "kind", Type: arrow.PrimitiveTypes.Int32}},
			func(b *array.RecordBuilder) {
				b.Field(0).(*array.Int64Builder).Append(1)
				b.Field(1).(*array.Int32Builder).Append(1)
			}), `unknown column "zzz"`},
		{"missing key", mk([]arrow.Field{{Name: "kind", Type: arrow.BinaryTypes.String}},
			func(b *array.RecordBuilder) { b.Field(0).(*array.StringBuilder).Append("x") }), `missing non-nullable column "id"`},
		{"lossy type", mk([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "amount", Type: arrow.BinaryTypes.String}},
			func(b *array.RecordBuilder) {
				b.Field(0).(*array.Int64Builder).Append(1)
				b.Field(1).(*array.StringBuilder).Append("1.5")
			}), `column "amount"`},
	}
	for _, c := range cases {
		_, err := db.AppendRecord("t", c.rec)
		c.rec.Release()
		if !kerr.Is(err, kerr.InvalidArgument) || !strings.Contains(err.Error(), c.substr) {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
	// Lossless casts: large_string and dictionary-encoded strings append; a
	// missing nullable column becomes null; order of columns is free.
	dictType := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}
	rec := mk([]arrow.Field{{Name: "kind", Type: dictType}, {Name: "id", Type: arrow.PrimitiveTypes.Int64}},
		func(b *array.RecordBuilder) {
			db := b.Field(0).(*array.BinaryDictionaryBuilder)
			db.AppendString("x")
			db.AppendString("y")
			db.AppendString("x")
			b.Field(1).(*array.Int64Builder).AppendValues([]int64{1, 2, 3}, nil)
		})
	if _, err := db.AppendRecord("t", rec); err != nil {
		t.Fatalf("dictionary append: %v", err)
	}
	rec.Release()
	rec = mk([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "kind", Type: arrow.BinaryTypes.LargeString}},
		func(b *array.RecordBuilder) {
			b.Field(0).(*array.Int64Builder).Append(4)
			b.Field(1).(*array.LargeStringBuilder).Append("z")
		})
	if _, err := db.AppendRecord("t", rec); err != nil {
		t.Fatalf("large_string append: %v", err)
	}
	rec.Release()
	s, _ := db.Scan("t", allRows())
	if got := rowsString(collect(t, s), "id", "kind", "amount"); got != "1,x,<nil>;2,y,<nil>;3,x,<nil>;4,z,<nil>" {
		t.Fatalf("rows: %s", got)
	}
	// Filter errors name the column or the position.
	if _, err := db.Scan("t", ScanRequest{Filter: "nope = 1", Limit: -1}); !kerr.Is(err, kerr.InvalidArgument) || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("unknown filter column: %v", err)
	}
	if _, err := db.Scan("t", ScanRequest{Filter: "id = ", Limit: -1}); !kerr.Is(err, kerr.InvalidArgument) || !strings.Contains(err.Error(), "position") {
		t.Fatalf("syntax error: %v", err)
	}
	if _, err := db.Scan("t", ScanRequest{Columns: []string{"nope"}, Limit: -1}); !kerr.Is(err, kerr.InvalidArgument) || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("unknown projection: %v", err)
	}
}

func TestOpenWithoutRecoverRefusesOrphanedStorage(t *testing.T) {
	dir := t.TempDir()
	db, mem := openAt(t, dir)
	db.CreateTable("t", "", eventsSchema, map[string]string{"primary_key": "id"})
	appendEvents(t, db, mem, "t", 1)
	db.Flush("t")
	db.Close()
	os.RemoveAll(filepath.Join(dir, "rocksdb"))
	_, err := Open(dir, DefaultOptions())
	if !kerr.Is(err, kerr.Corruption) || !strings.Contains(err.Error(), "recover") {
		t.Fatalf("open over orphaned storage: %v", err)
	}
	if _, statErr := os.Stat(filepath.Join(dir, "rocksdb")); !os.IsNotExist(statErr) {
		t.Fatal("a refused open created rocksdb/")
	}
}

// TestHotRowCountStaysExact: the hot-row count drives flush_rows and the
// range-deletion fast path of flush, so a delete of a hot row in a table
// keyed by _seq (which replaces the row's entry) must not inflate it.
func TestHotRowCountStaysExact(t *testing.T) {
	db, mem, _ := testDB(t)
	db.CreateTable("h", "", eventsSchema, nil)
	appendEvents(t, db, mem, "h", 1, 2, 3)
	s, _ := db.Scan("h", ScanRequest{Columns: []string{colSeq}, Limit: 1})
	rows := collect(t, s)
	ks := arrow.NewSchema([]arrow.Field{{Name: colSeq, Type: arrow.PrimitiveTypes.Int64}}, nil)
	kb := array.NewRecordBuilder(mem, ks)
	kb.Field(0).(*array.Int64Builder).Append(rows[0][colSeq].(int64))
	krec := kb.NewRecordBatch()
	kb.Release()
	rdr := recordReader(t, krec)
	if n, err := db.Delete("h", rdr); err != nil || n != 1 {
		t.Fatalf("delete: %d %v", n, err)
	}
	rdr.Release()
	krec.Release()
	tb, _ := db.st.lookupTable("h")
	if got, want := tb.hotRows.Load(), int64(3); got != want {
		t.Fatalf("hot rows %d, want %d", got, want)
	}
	n, err := countHotEntries(db.st, tb)
	if err != nil || n != 3 {
		t.Fatalf("entries in rocksdb %d (%v)", n, err)
	}
	db.Flush("h")
	if got := tb.hotRows.Load(); got != 0 {
		t.Fatalf("hot rows after flush %d", got)
	}
}

// TestPreciseOverlap: hot keys make only the segments that hold them
// overlap (DESIGN §4), so statistics keep pruning the others; of two
// overlapping segments the older is pruned and filtered early, the newer
// is not.
func TestPreciseOverlap(t *testing.T) {
	db, mem, _ := testDB(t)
	db.CreateTable("o", "", eventsSchema, map[string]string{"primary_key": "id"})
	for k := int64(0); k < 8; k++ {
		ids := make([]int64, 10)
		for i := range ids {
			ids[i] = k*100 + int64(i)
		}
		appendEvents(t, db, mem, "o", ids...) // amount = id
		db.Flush("o")
	}
	// Two scattered hot upserts: keys 5 and 795 (segments 1 and 8).
	rec := eventsBatch(mem, []int64{5, 795}, []string{"h", "h"}, []float64{5, 795})
	db.AppendRecord("o", rec)
	rec.Release()
	doc := explainDoc(t, db, "o", ScanRequest{Filter: "amount >= 400 AND amount < 410", Limit: -1})
	read := doc["read"].([]any)
	if len(read) != 1 || read[0].(map[string]any)["path"] != "data/segment_005.parquet" {
		t.Fatalf("scattered hot keys stopped statistics from pruning: %v", doc)
	}
	s, _ := db.Scan("o", ScanRequest{Filter: "amount >= 400 AND amount < 410", Limit: -1, Columns: []string{"id"}})
	if got := rowsString(collect(t, s), "id"); got != "400;401;402;403;404;405;406;407;408;409" {
		t.Fatalf("rows: %s", got)
	}
	// A newer segment overlapping an older one: upsert keys 3 and 7 with
	// amount 1000, flush. The filter amount >= 1000 may prune the older
	// segment 1 by statistics (its keys' newer versions are elsewhere) but
	// must read the newer segment; amount < 10 must not return 3 and 7 from
	// the older segment.
	db.Flush("o")
	rec = eventsBatch(mem, []int64{3, 7}, []string{"n", "n"}, []float64{1000, 1000})
	db.AppendRecord("o", rec)
	rec.Release()
	db.Flush("o")
	s, _ = db.Scan("o", ScanRequest{Filter: "amount < 10", Limit: -1, Columns: []string{"id"}})
	if got := rowsString(collect(t, s), "id"); got != "0;1;2;4;5;6;8;9" {
		t.Fatalf("an older version reappeared from under a newer one: %s", got)
	}
	doc = explainDoc(t, db, "o", ScanRequest{Filter: "amount >= 1000", Limit: -1})
	if reasons := prunedReasons(doc); reasons["data/segment_001.parquet"] != "column_stats" {
		t.Fatalf("the older segment of an overlapping pair is pruned by statistics: %v", doc)
	}
	s, _ = db.Scan("o", ScanRequest{Filter: "amount >= 1000", Limit: -1, Columns: []string{"id"}})
	if got := rowsString(collect(t, s), "id"); got != "3;7" {
		t.Fatalf("rows: %s", got)
	}
}

// TestNoPrimaryKeyTombstonesOverSeveralSegments: in a table keyed by
// _seq, a flush of deletes from two older segments overlaps both; the
// three-way merge that follows (whose inputs open as it reaches their
// recorded min_key) drops exactly the deleted rows.
func TestNoPrimaryKeyTombstonesOverSeveralSegments(t *testing.T) {
	db, mem, _ := testDB(t)
	db.CreateTable("log", "", eventsSchema, nil)
	for _, ids := range [][]int64{{1, 2, 3}, {4, 5, 6}, {7, 8, 9}} {
		appendEvents(t, db, mem, "log", ids...)
		if _, err := db.Flush("log"); err != nil {
			t.Fatal(err)
		}
	}
	s, _ := db.Scan("log", ScanRequest{Columns: []string{"id", colSeq}, Limit: -1})
	rows := collect(t, s)
	// Delete ids 2 and 5 (one row of each of the first two segments).
	ks := arrow.NewSchema([]arrow.Field{{Name: colSeq, Type: arrow.PrimitiveTypes.Int64}}, nil)
	kb := array.NewRecordBuilder(mem, ks)
	kb.Field(0).(*array.Int64Builder).AppendValues([]int64{rows[1][colSeq].(int64), rows[4][colSeq].(int64)}, nil)
	krec := kb.NewRecordBatch()
	kb.Release()
	rdr := recordReader(t, krec)
	if n, err := db.Delete("log", rdr); err != nil || n != 2 {
		t.Fatalf("delete: %d %v", n, err)
	}
	rdr.Release()
	krec.Release()
	if _, err := db.Flush("log"); err != nil {
		t.Fatal(err)
	}
	doc := explainDoc(t, db, "log", allRows())
	if doc["merge"] != "newest_wins" {
		t.Fatalf("plan %v, want a merge of the tombstones' segment with the two it deletes from", doc["merge"])
	}
	s, err := db.Scan("log", ScanRequest{Columns: []string{"id"}, Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	if got := rowsString(collect(t, s), "id"); got != "1;3;4;6;7;8;9" {
		t.Fatalf("rows after deleting 2 and 5: %s", got)
	}
}

// TestLiveQueryLabelIsUTF8: a scan label that is not UTF-8 (a C host's
// kalam_scan_options.sql) made system.live_queries an invalid utf8 column
// for every reader; the bytes are shown as U+FFFD instead.
func TestLiveQueryLabelIsUTF8(t *testing.T) {
	db, mem, _ := testDB(t)
	if _, err := db.CreateTable("u", "", eventsSchema, nil); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, db, mem, "u", 1)
	s, err := db.Scan("u", ScanRequest{Limit: -1, SQL: "SELECT \xff\xfe FROM u"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lq, err := db.SystemTable("live_queries", ScanRequest{Columns: []string{"sql"}, Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range collect(t, lq) {
		sql := r["sql"].(string)
		if strings.ToValidUTF8(sql, "?") != sql {
			t.Fatalf("live query label %q is not UTF-8", sql)
		}
		found = found || sql == "SELECT \uFFFD FROM u"
	}
	if !found {
		t.Fatal("the label is not shown with U+FFFD for its bad bytes")
	}
}

// TestMergeModeRefusedBatchAddsNoColumns: a merge-mode write that would be
// refused once its new columns exist adds none of them (a refused batch
// changes nothing, DESIGN §3.1), and an input column that differs from a
// table column only by case is that column, as for every other write —
// it was refused ("writes match names exactly") after writes came to find
// columns by the engine's one rule (a checker's pass, 2026-12-06).
func TestMergeModeRefusedBatchAddsNoColumns(t *testing.T) {
	db, mem, _ := testDB(t)
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64},
		{Name: "a", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	}, nil)
	if _, err := db.CreateTable("mm", "", sch, map[string]string{"primary_key": "k"}); err != nil {
		t.Fatal(err)
	}
	write := func(fields []arrow.Field, js string) error {
		rec, _, err := array.RecordFromJSON(mem, arrow.NewSchema(fields, nil), strings.NewReader(js))
		if err != nil {
			t.Fatal(err)
		}
		defer rec.Release()
		rdr := recordReader(t, rec)
		defer rdr.Release()
		_, err = db.Write("mm", rdr, WriteOptions{SchemaMode: SchemaMerge})
		return err
	}
	columns := func() string {
		s, err := db.Scan("mm", ScanRequest{Limit: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var names []string
		for _, f := range s.Schema().Fields() {
			names = append(names, f.Name)
		}
		return strings.Join(names, ",")
	}
	k := arrow.Field{Name: "k", Type: arrow.PrimitiveTypes.Int64}
	extra := arrow.Field{Name: "new", Type: arrow.PrimitiveTypes.Int64, Nullable: true}
	// A value the table's column cannot hold.
	err := write([]arrow.Field{k, {Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true}, extra}, `[{"k": 1, "a": 9999999999, "new": 3}]`)
	if kerr.CodeOf(err) != kerr.InvalidArgument || !strings.Contains(err.Error(), `"a"`) {
		t.Fatalf("overflow: %v", err)
	}
	if got := columns(); got != "k,a" {
		t.Fatalf("refused writes changed the columns to %s", got)
	}
	// "A" is column a; only "new" is added.
	if err := write([]arrow.Field{k, {Name: "A", Type: arrow.PrimitiveTypes.Int32, Nullable: true}, extra}, `[{"k": 1, "A": 2, "new": 3}]`); err != nil {
		t.Fatalf("merge-mode write naming a as A: %v", err)
	}
	if got := columns(); got != "k,a,new" {
		t.Fatalf("columns %s after a good merge-mode write", got)
	}
	s, err := db.Scan("mm", ScanRequest{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	if rows := collect(t, s); len(rows) != 1 || fmt.Sprint(rows[0]["a"], rows[0]["new"]) != "2 3" {
		t.Fatalf("rows after the write: %v, want k=1 a=2 new=3", rows)
	}
}

// TestMergeModeReaddsAColumnDroppedBeforeItsRows: a drop or rename of an
// input column that commits after a merge-mode batch added its columns,
// and before the batch's rows are written, makes the batch add the column
// again rather than fail with "unknown column" (DESIGN §3.1: merge mode
// adds what the table lacks). Two concurrent threads hit it in about one
// write of twelve.
func TestMergeModeReaddsAColumnDroppedBeforeItsRows(t *testing.T) {
	db, mem, _ := testDB(t)
	sch := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}}, nil)
	if _, err := db.CreateTable("mr", "", sch, map[string]string{"primary_key": "k"}); err != nil {
		t.Fatal(err)
	}
	in := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}, {Name: "e", Type: arrow.PrimitiveTypes.Int32, Nullable: true}}, nil)
	for i, ddl := range []func() error{
		func() error { return db.DropColumns("mr", []string{"e"}) },
		func() error { return db.RenameColumn("mr", "e", "old") },
	} {
		// The other call commits in the gap, once.
		fired := false
		db.st.failpoint = func(step string) error {
			if step == "write_columns_added" && !fired {
				fired = true
				if err := ddl(); err != nil {
					t.Errorf("ddl %d: %v", i, err)
				}
			}
			return nil
		}
		rec, _, err := array.RecordFromJSON(mem, in, strings.NewReader(fmt.Sprintf(`[{"k": %d, "e": %d}]`, i, 10+i)))
		if err != nil {
			t.Fatal(err)
		}
		rdr := recordReader(t, rec)
		n, err := db.Write("mr", rdr, WriteOptions{SchemaMode: SchemaMerge})
		rdr.Release()
		rec.Release()
		db.st.failpoint = nil
		if err != nil || n != 1 || !fired {
			t.Fatalf("write %d with the column gone in between: %d rows, %v (ddl ran: %v)", i, n, err, fired)
		}
	}
	// Row 0's e went with the rename to "old"; row 1's is the new e.
	s, err := db.Scan("mr", ScanRequest{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, s)
	if len(got) != 2 || fmt.Sprint(got[0]["old"]) != "10" || got[0]["e"] != nil || fmt.Sprint(got[1]["e"]) != "11" || got[1]["old"] != nil {
		t.Fatalf("rows: %v", got)
	}
}

// TestUpdateKeepsNonNullableColumnsItLeavesOut: update and merge modes keep
// the columns a batch leaves out from the current row (DESIGN §3.1), the
// non-nullable ones too — an embedding table could not be updated without
// resending every vector. A merge that would insert a new key without such
// a column is refused before anything is written.
func TestUpdateKeepsNonNullableColumnsItLeavesOut(t *testing.T) {
	db, mem, _ := testDB(t)
	fsl := arrow.FixedSizeListOfField(2, arrow.Field{Name: "item", Type: arrow.PrimitiveTypes.Float32, Nullable: true})
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64},
		{Name: "v", Type: fsl},
		{Name: "x", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	}, nil)
	if _, err := db.CreateTable("up", "", sch, map[string]string{"primary_key": "k"}); err != nil {
		t.Fatal(err)
	}
	rows, _, err := array.RecordFromJSON(mem, sch, strings.NewReader(`[{"k": 1, "v": [1, 2], "x": 10}, {"k": 2, "v": [3, 4], "x": 20}]`))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Release()
	if _, err := db.AppendRecord("up", rows); err != nil {
		t.Fatal(err)
	}
	kx := arrow.NewSchema([]arrow.Field{sch.Field(0), sch.Field(2)}, nil)
	write := func(mode WriteMode, js string) (int64, error) {
		rec, _, err := array.RecordFromJSON(mem, kx, strings.NewReader(js))
		if err != nil {
			t.Fatal(err)
		}
		defer rec.Release()
		rdr := recordReader(t, rec)
		defer rdr.Release()
		return db.Write("up", rdr, WriteOptions{Mode: mode})
	}
	state := func() string {
		s, err := db.Scan("up", allRows())
		if err != nil {
			t.Fatal(err)
		}
		return rowsString(collect(t, s), "k", "v", "x")
	}
	if n, err := write(WriteUpdate, `[{"k": 1, "x": 11}, {"k": 7, "x": 70}]`); err != nil || n != 1 {
		t.Fatalf("update: %d, %v", n, err)
	}
	if got := state(); got != "1,[1,2],11;2,[3,4],20" {
		t.Fatalf("after the update: %s", got)
	}
	_, err = write(WriteMerge, `[{"k": 2, "x": 21}, {"k": 3, "x": 30}]`)
	if kerr.CodeOf(err) != kerr.InvalidArgument || !strings.Contains(err.Error(), `"v"`) {
		t.Fatalf("merge inserting key 3 without v: %v", err)
	}
	if got := state(); got != "1,[1,2],11;2,[3,4],20" {
		t.Fatalf("the refused merge changed rows: %s", got)
	}
	if n, err := write(WriteMerge, `[{"k": 2, "x": 22}]`); err != nil || n != 1 {
		t.Fatalf("merge of an existing key: %d, %v", n, err)
	}
	if _, err := db.Flush("up"); err != nil {
		t.Fatal(err)
	}
	if got := state(); got != "1,[1,2],11;2,[3,4],22" {
		t.Fatalf("after the merge and a flush: %s", got)
	}
}

// TestSchemaChangeThatChangesNothingCommitsNoVersion: renaming a column
// to its own name, or widening it to its own type, committed a manifest
// version whose schema was the previous one (found by a schema-evolution
// pass); such a change now commits nothing, and a real one still does.
func TestSchemaChangeThatChangesNothingCommitsNoVersion(t *testing.T) {
	db, _, _ := testDB(t)
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "v", Type: arrow.PrimitiveTypes.Int32, Nullable: true}}, nil)
	if _, err := db.CreateTable("s", "", schema, map[string]string{"primary_key": "id"}); err != nil {
		t.Fatal(err)
	}
	version := func() uint64 { return db.st.tables["default.s"].currentManifest().Version }
	v0 := version()
	if err := db.RenameColumn("s", "v", "v"); err != nil {
		t.Fatal(err)
	}
	// int32 → int32: refused or accepted, nothing may be committed.
	_ = db.WidenColumn("s", "v", arrow.PrimitiveTypes.Int32)
	if got := version(); got != v0 {
		t.Fatalf("version %d after changes that change nothing; want %d", got, v0)
	}
	if err := db.RenameColumn("s", "v", "w"); err != nil {
		t.Fatal(err)
	}
	if got := version(); got != v0+1 {
		t.Fatalf("version %d after a rename; want %d", got, v0+1)
	}
}
