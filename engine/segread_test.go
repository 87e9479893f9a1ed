package engine

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/engine/segment"
	"github.com/kalamdb/libkalam/kerr"
)

// withNarrowReads sets the narrow reader on or off until the test ends.
func withNarrowReads(t *testing.T, on bool) {
	old := narrowReads
	narrowReads = on
	t.Cleanup(func() { narrowReads = old })
}

// withSegmentOpenOptions sets the narrow reader's limits until the test ends.
func withSegmentOpenOptions(t *testing.T, o segment.Options) {
	old := segmentOpenOptions
	segmentOpenOptions = o
	t.Cleanup(func() { segmentOpenOptions = old })
}

// readerStates builds table "d" (every column type, row groups of 7) in
// states that exercise every read path: isolated segments, overlapping
// ones (upserts and deletes flushed later), and hot rows on top.
func readerStates(t *testing.T, db *DB, mem memory.Allocator) {
	t.Helper()
	if _, err := db.CreateTable("d", "", allTypesSchema, map[string]string{"primary_key": "id", "row_group_rows": "7"}); err != nil {
		t.Fatal(err)
	}
	all := allTypesBatch(t, mem, 160)
	defer all.Release()
	put := func(lo, hi int64) {
		part := all.NewSlice(lo, hi)
		defer part.Release()
		if _, err := db.AppendRecord("d", part); err != nil {
			t.Fatal(err)
		}
	}
	flush := func() {
		if _, err := db.Flush("d"); err != nil {
			t.Fatal(err)
		}
	}
	put(0, 40) // three isolated segments
	flush()
	put(40, 80)
	flush()
	put(80, 120)
	flush()
	put(30, 50) // overlaps the first two
	if _, err := db.DeleteWhere("d", "id >= 45 AND id < 48"); err != nil {
		t.Fatal(err)
	}
	flush()
	put(120, 160) // isolated, after everything
	flush()
	put(100, 105) // hot rows over the third
	if _, err := db.DeleteWhere("d", "id = 110"); err != nil {
		t.Fatal(err)
	}
}

// readerRequests are scans that cover projections, filters on key and
// other columns, batch sizes, limits and system columns.
var readerRequests = []ScanRequest{
	{Limit: -1},
	{Limit: -1, BatchRows: 5},
	{Limit: -1, Columns: []string{"s", "lst", "id"}},
	{Limit: -1, Columns: []string{"i32"}, Filter: "id >= 20 AND id < 90"},
	{Limit: -1, Filter: "id >= 33 AND id <= 44", BatchRows: 3},
	{Limit: -1, Filter: "i32 > 50000 OR s = 'sc'"},
	{Limit: -1, Filter: "id IN (1, 46, 77, 101, 119)"},
	{Limit: -1, Columns: []string{"id", "_seq", "_deleted"}},
	{Limit: -1, Columns: []string{}},
	{Limit: 9, BatchRows: 4},
	{Limit: -1, Filter: "ts_us IS NULL"},
}

// scanResult reads a scan into one record (nil when empty).
func scanResult(t *testing.T, db *DB, req ScanRequest, mem memory.Allocator) arrow.RecordBatch {
	t.Helper()
	s, err := db.Scan("d", req)
	if err != nil {
		t.Fatalf("scan %+v: %v", req, err)
	}
	return readAll(t, s, mem)
}

func sameResult(a, b arrow.RecordBatch) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return array.RecordEqual(a, b)
}

// TestNarrowAndPqarrowReadAlike: every scan of every state returns the same
// record through the narrow reader as through pqarrow alone, and a scan
// whose narrow reads all fail at read time (segment.ErrUnsupported: a page
// above the reader's limit) falls back to pqarrow with the same result.
func TestNarrowAndPqarrowReadAlike(t *testing.T) {
	db, mem, _ := testDB(t)
	readerStates(t, db, mem)
	for i, req := range readerRequests {
		narrow := scanResult(t, db, req, mem)
		func() {
			withNarrowReads(t, false)
			pq := scanResult(t, db, req, mem)
			if !sameResult(narrow, pq) {
				t.Errorf("request %d %+v: narrow and pqarrow differ\nnarrow: %v\npqarrow: %v", i, req, narrow, pq)
			}
			if pq != nil {
				pq.Release()
			}
		}()
		narrowReads = true
		// The narrow reader declines every page at read time (above its
		// page limit), or every file at open (above its footer limit).
		for _, o := range []segment.Options{{MaxPageBytes: 1}, {MaxFooterBytes: 1}} {
			func() {
				withSegmentOpenOptions(t, o)
				fb := scanResult(t, db, req, mem)
				if !sameResult(narrow, fb) {
					t.Errorf("request %d %+v, limits %+v: fallback differs\nnarrow: %v\nfallback: %v", i, req, o, narrow, fb)
				}
				if fb != nil {
					fb.Release()
				}
			}()
			segmentOpenOptions = segment.Options{}
		}
		if narrow != nil {
			narrow.Release()
		}
	}
	// Segment scans too.
	man, err := db.Manifest("d")
	if err != nil {
		t.Fatal(err)
	}
	for _, seg := range man.LiveSegments() {
		read := func() arrow.RecordBatch {
			s, err := db.ScanSegment("d", seg.ID, ScanRequest{Limit: -1, BatchRows: 6})
			if err != nil {
				t.Fatal(err)
			}
			return readAll(t, s, mem)
		}
		narrow := read()
		narrowReads = false
		pq := read()
		narrowReads = true
		if !sameResult(narrow, pq) {
			t.Errorf("segment %s: narrow and pqarrow differ", seg.Path)
		}
		narrow.Release()
		pq.Release()
	}
}

func explainOf(t *testing.T, db *DB, table string, req ScanRequest) map[string]any {
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

// TestExplainNamesTheReader: explain tells, per segment read, whether the
// narrow reader or pqarrow reads it, and which columns go to pqarrow why.
func TestExplainNamesTheReader(t *testing.T) {
	db, mem, _ := testDB(t)
	readerStates(t, db, mem)
	reader := func(req ScanRequest) (string, string) {
		doc := explainOf(t, db, "d", req)
		var readers, cols []string
		for _, r := range doc["read"].([]any) {
			m := r.(map[string]any)
			readers = append(readers, m["reader"].(string))
			if pc, ok := m["pqarrow_columns"].(map[string]any); ok {
				var names []string
				for k, why := range pc {
					if why.(string) == "" {
						t.Errorf("pqarrow column %s without a reason", k)
					}
					names = append(names, k)
				}
				cols = append(cols, strings.Join(sortedStrings(names), "+"))
			}
		}
		return strings.Join(readers, ","), strings.Join(cols, ",")
	}
	if r, c := reader(ScanRequest{Limit: -1, Columns: []string{"id", "s", "f64"}}); r != "narrow,narrow,narrow,narrow,narrow" || c != "" {
		t.Fatalf("flat columns: readers %q, pqarrow columns %q", r, c)
	}
	// Nested columns are pqarrow's, the rest stays narrow.
	if r, c := reader(ScanRequest{Limit: -1}); r != "mixed,mixed,mixed,mixed,mixed" || c != "lst+st,lst+st,lst+st,lst+st,lst+st" {
		t.Fatalf("all columns: readers %q, pqarrow columns %q", r, c)
	}
	// Only a nested column of a segment without tombstones (_deleted
	// dropped): pqarrow alone.
	nested := arrow.NewSchema([]arrow.Field{allTypesSchema.Field(0), allTypesSchema.Field(26)}, nil)
	if _, err := db.CreateTable("n", "", nested, map[string]string{"primary_key": "id"}); err != nil {
		t.Fatal(err)
	}
	rec := allTypesBatch(t, mem, 10)
	proj, err := rec.Schema().FieldsByName("lst")
	if !err || len(proj) != 1 {
		t.Fatal("no lst")
	}
	in := array.NewRecordBatch(nested, []arrow.Array{rec.Column(0), rec.Column(26)}, rec.NumRows())
	rec.Release()
	if _, err := db.AppendRecord("n", in); err != nil {
		t.Fatal(err)
	}
	in.Release()
	if _, err := db.Flush("n"); err != nil {
		t.Fatal(err)
	}
	doc := explainOf(t, db, "n", ScanRequest{Limit: -1, Columns: []string{"lst"}})
	if m := doc["read"].([]any)[0].(map[string]any); m["reader"] != "pqarrow" || m["pqarrow_columns"].(map[string]any)["lst"] == nil {
		t.Fatalf("only a nested column: %v", m)
	}
	withSegmentOpenOptions(t, segment.Options{MaxFooterBytes: 1})
	if r, c := reader(ScanRequest{Limit: -1, Columns: []string{"id"}}); r != "pqarrow,pqarrow,pqarrow,pqarrow,pqarrow" || c != "*,*,*,*,*" {
		t.Fatalf("files the narrow reader declines: readers %q, columns %q", r, c)
	}
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestKeyRangeScanReadsItsPages: with the page index, a key-range scan of
// a segment with large row groups reads only the row ranges of the key
// pages that can hold its keys (explain's row_ranges), with exact results.
func TestKeyRangeScanReadsItsPages(t *testing.T) {
	db, mem, _ := testDB(t)
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "v", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	}, nil)
	if _, err := db.CreateTable("k", "", sch, map[string]string{"primary_key": "id", "compression": "none"}); err != nil {
		t.Fatal(err)
	}
	const rows = 200000 // one row group; 256 KiB pages hold ~32Ki int64 keys
	b := array.NewRecordBuilder(mem, sch)
	for i := 0; i < rows; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i) * 2)
		b.Field(1).(*array.Float64Builder).Append(float64(i))
	}
	rec := b.NewRecordBatch()
	b.Release()
	if _, err := db.AppendRecord("k", rec); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	if _, err := db.Flush("k"); err != nil {
		t.Fatal(err)
	}
	filter := "id >= 200000 AND id < 202000" // rows 100000..100999
	doc := explainOf(t, db, "k", ScanRequest{Limit: -1, Filter: filter})
	read := doc["read"].([]any)
	if len(read) != 1 {
		t.Fatalf("read: %v", read)
	}
	ranges, _ := read[0].(map[string]any)["row_ranges"].([]any)
	if len(ranges) != 1 {
		t.Fatalf("row_ranges: %v (want one range of pages)", read[0])
	}
	r := ranges[0].(map[string]any)
	first, n := int64(r["first_row"].(float64)), int64(r["num_rows"].(float64))
	if first > 100000 || first+n < 101000 || n >= rows/2 {
		t.Fatalf("row range [%d, %d) must hold rows [100000, 101000) and be a few pages", first, first+n)
	}
	s, err := db.Scan("k", ScanRequest{Limit: -1, Filter: filter})
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, s, mem)
	defer got.Release()
	if got.NumRows() != 1000 {
		t.Fatalf("%d rows, want 1000", got.NumRows())
	}
	ids := got.Column(0).(*array.Int64)
	for i := 0; i < 1000; i++ {
		if ids.Value(i) != 200000+int64(i)*2 {
			t.Fatalf("row %d: id %d", i, ids.Value(i))
		}
	}
	// A key range no page holds (odd keys between two pages' bounds are
	// not excluded by bounds, but one past the end is).
	doc = explainOf(t, db, "k", ScanRequest{Limit: -1, Filter: "id > 400000"})
	if len(doc["read"].([]any)) != 0 {
		t.Fatalf("a range past the last key: %v", doc)
	}
}

// TestScanManySegmentsReadAhead: more concatenated segments than one
// read-ahead run holds, read whole, with a limit that stops inside a run,
// and released mid-way: exact rows, and nothing left allocated (the
// checked allocator of testDB).
func TestScanManySegmentsReadAhead(t *testing.T) {
	db, mem, _ := testDB(t)
	if _, err := db.CreateTable("m", "", eventsSchema, map[string]string{"primary_key": "id", "row_group_rows": "5"}); err != nil {
		t.Fatal(err)
	}
	const segs, per = maxRunFiles*2 + 3, 12
	for s := 0; s < segs; s++ {
		var ids []int64
		for i := 0; i < per; i++ {
			ids = append(ids, int64(s*per+i))
		}
		appendEvents(t, db, mem, "m", ids...)
		if _, err := db.Flush("m"); err != nil {
			t.Fatal(err)
		}
	}
	for _, req := range []ScanRequest{{Limit: -1}, {Limit: -1, BatchRows: 7}, {Limit: 250, BatchRows: 100}, {Limit: -1, Filter: "id >= 100 AND id < 300"}} {
		s, err := db.Scan("m", req)
		if err != nil {
			t.Fatal(err)
		}
		got := readAll(t, s, mem)
		lo, hi := int64(0), int64(segs*per)
		if req.Limit > 0 {
			hi = req.Limit
		}
		if req.Filter != "" {
			lo, hi = 100, 300
		}
		if got.NumRows() != hi-lo {
			t.Fatalf("%+v: %d rows, want %d", req, got.NumRows(), hi-lo)
		}
		ids := got.Column(0).(*array.Int64)
		for i := 0; i < ids.Len(); i++ {
			if ids.Value(i) != lo+int64(i) {
				t.Fatalf("%+v: row %d has id %d", req, i, ids.Value(i))
			}
		}
		got.Release()
	}
	// Released after a few batches: the read-ahead of the run is freed.
	s, err := db.Scan("m", ScanRequest{Limit: -1, BatchRows: 5})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		rec, err := s.Next()
		if err != nil || rec == nil {
			t.Fatalf("next: %v", err)
		}
		rec.Release()
	}
	s.Close()
}

// TestDamagedSegmentsAreCorruption damages a segment file at many places:
// every scan either succeeds (bytes no reader checks, like a value's) or
// fails with KALAM_CORRUPTION, through either reader; it never panics.
func TestDamagedSegmentsAreCorruption(t *testing.T) {
	for _, codec := range []string{"zstd", "lz4_raw", "none"} {
		t.Run(codec, func(t *testing.T) {
			withNarrowReads(t, true)
			db, mem, dir := testDB(t)
			sch := arrow.NewSchema([]arrow.Field{
				{Name: "id", Type: arrow.PrimitiveTypes.Int64},
				{Name: "kind", Type: arrow.BinaryTypes.String, Nullable: true},
				{Name: "n", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
				{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true},
			}, nil)
			if _, err := db.CreateTable("x", "", sch, map[string]string{"primary_key": "id", "compression": codec, "row_group_rows": "300"}); err != nil {
				t.Fatal(err)
			}
			b := array.NewRecordBuilder(mem, sch)
			for i := 0; i < 1000; i++ {
				b.Field(0).(*array.Int64Builder).Append(int64(i))
				if i%7 == 0 {
					b.Field(1).AppendNull()
				} else {
					b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("k%d", i%5))
				}
				b.Field(2).(*array.Int32Builder).Append(int32(i * 31))
				lb := b.Field(3).(*array.ListBuilder)
				lb.Append(true)
				lb.ValueBuilder().(*array.Int32Builder).Append(int32(i))
			}
			rec := b.NewRecordBatch()
			b.Release()
			if _, err := db.AppendRecord("x", rec); err != nil {
				t.Fatal(err)
			}
			rec.Release()
			if _, err := db.Flush("x"); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "storage", "default", "x", "data", "segment_001.parquet")
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// A hot upsert inside the segment's range: the second request
			// merges it with the segment.
			up := array.NewRecordBuilder(mem, sch)
			up.Field(0).(*array.Int64Builder).Append(600)
			up.Field(1).(*array.StringBuilder).Append("hot")
			up.Field(2).(*array.Int32Builder).Append(1)
			up.Field(3).AppendNull()
			hot := up.NewRecordBatch()
			up.Release()
			if _, err := db.AppendRecord("x", hot); err != nil {
				t.Fatal(err)
			}
			hot.Release()
			rng := rand.New(rand.NewSource(int64(len(codec))))
			for trial := 0; trial < 300; trial++ {
				narrowReads = trial%4 != 3 // pqarrow alone, too
				bad := append([]byte(nil), orig...)
				off := rng.Intn(len(bad))
				for k := 0; k < 1+rng.Intn(4) && off+k < len(bad); k++ {
					bad[off+k] ^= byte(1 + rng.Intn(255))
				}
				if err := os.WriteFile(path, bad, 0o644); err != nil {
					t.Fatal(err)
				}
				for _, req := range []ScanRequest{{Limit: -1}, {Limit: -1, Columns: []string{"id", "n"}, Filter: "id >= 500 AND n > 100", BatchRows: 77}} {
					func() {
						defer func() {
							if r := recover(); r != nil {
								t.Fatalf("damage at byte %d: panic %v\n%s", off, r, debug.Stack())
							}
						}()
						s, err := db.Scan("x", req)
						if err == nil {
							err = drain(s)
						}
						if err != nil && !kerr.Is(err, kerr.Corruption) {
							t.Fatalf("damage at byte %d, %+v: %v (code %v), want KALAM_CORRUPTION", off, req, err, kerr.CodeOf(err))
						}
					}()
				}
			}
			narrowReads = true
			if err := os.WriteFile(path, orig, 0o644); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// drain reads a stream to its end and releases it.
func drain(s Stream) error {
	defer s.Close()
	for {
		rec, err := s.Next()
		if err != nil || rec == nil {
			return err
		}
		rec.Release()
	}
}

// TestSystemColumnsOfIsolatedSegments: _deleted asked for by name (or
// named by the filter) comes back from an isolated segment that holds no
// tombstone, although such a segment's reads otherwise leave it out.
func TestSystemColumnsOfIsolatedSegments(t *testing.T) {
	db, mem, _ := testDB(t)
	if _, err := db.CreateTable("e", "", eventsSchema, map[string]string{"primary_key": "id"}); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, db, mem, "e", 1, 2, 3)
	if _, err := db.Flush("e"); err != nil {
		t.Fatal(err)
	}
	for _, req := range []ScanRequest{
		{Limit: -1, Columns: []string{"id", "_deleted"}},
		{Limit: -1, Columns: []string{"id"}, Filter: "_deleted = false"},
		{Limit: -1, Columns: []string{"_deleted", "_seq"}, Filter: "id > 1"},
	} {
		s, err := db.Scan("e", req)
		if err != nil {
			t.Fatal(err)
		}
		rows := collect(t, s)
		want := 3
		if req.Filter == "id > 1" {
			want = 2
		}
		if len(rows) != want {
			t.Fatalf("%+v: %d rows, want %d", req, len(rows), want)
		}
		for _, r := range rows {
			if d, ok := r["_deleted"]; ok && d != false {
				t.Fatalf("%+v: _deleted %v", req, d)
			}
		}
	}
}
