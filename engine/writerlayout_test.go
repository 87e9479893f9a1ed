package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/kalamdb/libkalam/engine/segment"
)

// openSegmentFile opens a flushed segment file of a local store with the
// narrow reader, to inspect its footer.
func openSegmentFile(t *testing.T, path string) *segment.File {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	st, err := fh.Stat()
	if err != nil {
		t.Fatal(err)
	}
	f, err := segment.Open(fh, st.Size(), path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	return f
}

// TestCompressionOptionReachesTheFooter: every documented value of the
// compression option (DESIGN §3) is the codec of every column chunk of the
// segments the table writes.
func TestCompressionOptionReachesTheFooter(t *testing.T) {
	db, mem, dir := testDB(t)
	for _, c := range []struct{ option, codec string }{
		{"lz4_raw", "LZ4_RAW"}, {"snappy", "SNAPPY"}, {"none", "UNCOMPRESSED"}, {"zstd", "ZSTD"}, {"", "ZSTD"},
	} {
		name := "c_" + c.option
		opts := map[string]string{"primary_key": "id"}
		if c.option != "" {
			opts["compression"] = c.option
		} else {
			name = "c_default"
		}
		if _, err := db.CreateTable(name, "", eventsSchema, opts); err != nil {
			t.Fatal(err)
		}
		rec := eventsBatch(mem, []int64{1, 2, 3}, []string{"a", "b", "a"}, []float64{1, 2, 3})
		if _, err := db.AppendRecord(name, rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
		if _, err := db.Flush(name); err != nil {
			t.Fatal(err)
		}
		f := openSegmentFile(t, filepath.Join(dir, "storage", "default", name, "data", "segment_001.parquet"))
		for rg := 0; rg < f.NumRowGroups(); rg++ {
			for col := 0; col < f.NumColumns(); col++ {
				if got := f.Chunk(rg, col).Codec; got != c.codec {
					t.Errorf("compression=%q: column %s of row group %d is %s, want %s", c.option, f.Column(col).Name, rg, got, c.codec)
				}
			}
		}
	}
}

// legacyWriterProperties are the properties segments were written with
// before the layout of segment.RecommendedLayout: V1 pages of 1 MiB, no
// page index, a dictionary for every column but _seq, floats, temporal
// types and a single-column key.
func legacyWriterProperties(t *table, stored *arrow.Schema, _ arrow.RecordBatch) []parquet.WriterProperty {
	wopts := []parquet.WriterProperty{
		parquet.WithCompression(codecOf(t.opts.compression)),
		parquet.WithMaxRowGroupLength(t.opts.rowGroupRows),
		parquet.WithStats(true),
		parquet.WithCreatedBy("libkalam"),
		parquet.WithDictionaryFor(colSeq, false),
	}
	for _, f := range stored.Fields() {
		switch f.Type.ID() {
		case arrow.FLOAT32, arrow.FLOAT64, arrow.TIMESTAMP, arrow.TIME32, arrow.TIME64, arrow.DURATION:
			wopts = append(wopts, parquet.WithDictionaryFor(f.Name, false))
		}
	}
	sv := t.view()
	if len(sv.keyCols) == 1 && !sv.keyHasSeq {
		wopts = append(wopts, parquet.WithDictionaryFor(sv.schema.Field(sv.keyCols[0]).Name, false))
	}
	return wopts
}

// withWriterProperties makes the store write segments with props until the
// test ends (or the returned restore is called).
func withWriterProperties(t *testing.T, props func(*table, *arrow.Schema, arrow.RecordBatch) []parquet.WriterProperty) func() {
	old := segmentWriterProperties
	segmentWriterProperties = props
	restore := func() { segmentWriterProperties = old }
	t.Cleanup(restore)
	return restore
}

// readAll concatenates a stream into one record (nil when empty).
func readAll(t *testing.T, s Stream, mem memory.Allocator) arrow.RecordBatch {
	t.Helper()
	defer s.Close()
	var recs []arrow.RecordBatch
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	for {
		rec, err := s.Next()
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		if rec == nil {
			break
		}
		recs = append(recs, rec)
	}
	if len(recs) == 0 {
		return nil
	}
	cols := make([]arrow.Array, s.Schema().NumFields())
	var rows int64
	for _, r := range recs {
		rows += r.NumRows()
	}
	for c := range cols {
		parts := make([]arrow.Array, len(recs))
		for i, r := range recs {
			parts[i] = r.Column(c)
		}
		var err error
		if cols[c], err = array.Concatenate(parts, mem); err != nil {
			t.Fatal(err)
		}
	}
	out := array.NewRecordBatch(s.Schema(), cols, rows)
	for _, c := range cols {
		c.Release()
	}
	return out
}

// assertSameColumns fails unless got has want's rows [lo, hi) column by
// column (types and values).
func assertSameColumns(t *testing.T, what string, got, want arrow.RecordBatch, lo, hi int64) {
	t.Helper()
	if got == nil || got.NumRows() != hi-lo {
		n := int64(-1)
		if got != nil {
			n = got.NumRows()
		}
		t.Fatalf("%s: %d rows, want %d", what, n, hi-lo)
	}
	w := want.NewSlice(lo, hi)
	defer w.Release()
	for c := 0; c < int(w.NumCols()); c++ {
		name := w.Schema().Field(c).Name
		idx := got.Schema().FieldIndices(name)
		if len(idx) != 1 {
			t.Fatalf("%s: no column %q", what, name)
		}
		g := got.Column(idx[0])
		if !arrow.TypeEqual(g.DataType(), w.Column(c).DataType()) || !array.Equal(g, w.Column(c)) {
			t.Fatalf("%s: column %s\n got %v\nwant %v", what, name, g, w.Column(c))
		}
	}
}

// TestSegmentLayoutForReading: new segments have V2 data pages, a page
// index and statistics on every column, and a dictionary only where the
// values repeat (DESIGN §9, segment/LAYOUT.md).
func TestSegmentLayoutForReading(t *testing.T) {
	db, mem, dir := testDB(t)
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "cat", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "n", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "label", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "v", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	}, nil)
	if _, err := db.CreateTable("l", "", sch, map[string]string{"primary_key": "id", "row_group_rows": "3000"}); err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(mem, sch)
	const rows = 10000
	for i := 0; i < rows; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("c%d", i%10))
		b.Field(2).(*array.Int32Builder).Append(int32(i * 7919 % 100003))
		b.Field(3).(*array.StringBuilder).Append(fmt.Sprintf("user-%08x", i*2654435761))
		b.Field(4).(*array.Float64Builder).Append(float64(i) / 3)
	}
	rec := b.NewRecordBatch()
	b.Release()
	defer rec.Release()
	if _, err := db.AppendRecord("l", rec); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Flush("l"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "storage", "default", "l", "data", "segment_001.parquet")
	f := openSegmentFile(t, path)
	if f.NumRowGroups() != 4 { // row_group_rows still decides
		t.Fatalf("%d row groups, want 4", f.NumRowGroups())
	}
	dict := map[string]bool{"cat": true}
	for rg := 0; rg < f.NumRowGroups(); rg++ {
		for col := 0; col < f.NumColumns(); col++ {
			name := f.Column(col).Name
			if ok, why := f.Supported(col); !ok {
				t.Errorf("column %s not read by the narrow reader: %s", name, why)
			}
			if got := f.Chunk(rg, col).HasDictionary; got != dict[name] {
				t.Errorf("row group %d column %s: dictionary %v, want %v", rg, name, got, dict[name])
			}
			if !f.HasPageIndex(rg, col) {
				t.Errorf("row group %d column %s: no page index", rg, name)
			}
			if _, ok := f.Statistics(rg, col); !ok {
				t.Errorf("row group %d column %s: no statistics", rg, name)
			}
		}
	}
	// Page versions, as arrow-go's reader sees them.
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	for rg := 0; rg < pf.NumRowGroups(); rg++ {
		for col := 0; col < pf.MetaData().Schema.NumColumns(); col++ {
			pr, err := pf.RowGroup(rg).GetColumnPageReader(col)
			if err != nil {
				t.Fatal(err)
			}
			for pr.Next() {
				switch pg := pr.Page().(type) {
				case *file.DataPageV2, *file.DictionaryPage:
				default:
					t.Fatalf("row group %d column %d: page %T, want V2 data pages", rg, col, pg)
				}
			}
			if err := pr.Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	got := readAll(t, mustScan(t, db, "l", allRows()), mem)
	defer got.Release()
	assertSameColumns(t, "scan", got, rec, 0, rows)
}

func mustScan(t *testing.T, db *DB, table string, req ScanRequest) Stream {
	t.Helper()
	s, err := db.Scan(table, req)
	if err != nil {
		t.Fatalf("scan %s: %v", table, err)
	}
	return s
}

// TestLegacySegmentsStayReadable: segments written with the properties of
// earlier versions (V1 pages, dictionary on most columns, no page index),
// and ones whose columns carry no Parquet field ids, read like new ones —
// mixed in one table, scanned whole, filtered, by segment.
func TestLegacySegmentsStayReadable(t *testing.T) {
	db, mem, dir := testDB(t)
	if _, err := db.CreateTable("old", "", allTypesSchema, map[string]string{"primary_key": "id", "row_group_rows": "7"}); err != nil {
		t.Fatal(err)
	}
	all := allTypesBatch(t, mem, 90)
	defer all.Release()
	flushRows := func(lo, hi int64) string {
		part := all.NewSlice(lo, hi)
		defer part.Release()
		if _, err := db.AppendRecord("old", part); err != nil {
			t.Fatal(err)
		}
		id, err := db.Flush("old")
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	restore := withWriterProperties(t, legacyWriterProperties)
	legacy := flushRows(0, 30)
	// Written before field ids: the same legacy file with the field-id
	// metadata stripped from the Parquet schema and ARROW:schema.
	noIDs := flushRows(30, 60)
	rewriteWithoutFieldIDs(t, filepath.Join(dir, "storage", "default", "old", "data", "segment_002.parquet"))
	restore()
	current := flushRows(60, 90)

	got := readAll(t, mustScan(t, db, "old", allRows()), mem)
	assertSameColumns(t, "full scan", got, all, 0, 90)
	got.Release()
	got = readAll(t, mustScan(t, db, "old", ScanRequest{Limit: -1, Filter: "id >= 25 AND id < 65", BatchRows: 4}), mem)
	assertSameColumns(t, "key range", got, all, 25, 65)
	got.Release()
	for i, id := range []string{legacy, noIDs, current} {
		s, err := db.ScanSegment("old", id, ScanRequest{Limit: -1, Columns: userColumnNames(allTypesSchema)})
		if err != nil {
			t.Fatal(err)
		}
		got = readAll(t, s, mem)
		assertSameColumns(t, "segment scan", got, all, int64(30*i), int64(30*i+30))
		got.Release()
	}
}

// rewriteWithoutFieldIDs rewrites a segment file in place with the same
// rows and legacy properties but no field ids, as segments were written
// before schema evolution.
func rewriteWithoutFieldIDs(t *testing.T, path string) {
	t.Helper()
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 1 << 20}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	for i := range fr.Manifest.Fields {
		pqarrowReadTypes(&fr.Manifest.Fields[i])
	}
	tbl, err := fr.ReadTable(context.Background())
	pf.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	fields := make([]arrow.Field, tbl.Schema().NumFields())
	for i, f := range tbl.Schema().Fields() {
		f.Metadata = arrow.Metadata{}
		fields[i] = f
	}
	sch := arrow.NewSchema(fields, nil)
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	props := parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(7), parquet.WithStats(true), parquet.WithDictionaryFor(colSeq, false))
	w, err := pqarrow.NewFileWriter(sch, out, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	cols := make([]arrow.Column, tbl.NumCols())
	for i := range cols {
		cols[i] = *arrow.NewColumn(fields[i], tbl.Column(i).Data())
	}
	nt := array.NewTable(sch, cols, tbl.NumRows())
	if err := w.WriteTable(nt, 7); err != nil {
		t.Fatal(err)
	}
	nt.Release()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f := openSegmentFile(t, path)
	for c := 0; c < f.NumColumns(); c++ {
		if f.Column(c).HasFieldID {
			t.Fatalf("column %s still has a field id", f.Column(c).Name)
		}
	}
}
