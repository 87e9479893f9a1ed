package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/kalamdb/libkalam/storage"
	"github.com/kalamdb/libkalam/vfs"
)

// readDataset reads every file of d the way pyarrow.dataset does with the
// dataset's schema (columns by name, a missing one null, stored types
// read as their values) and renders the rows in key order as the write
// model does.
func readDataset(t *testing.T, d *Dataset) []string {
	t.Helper()
	type row struct {
		id   int64
		text string
	}
	var rows []row
	for _, f := range d.Files {
		pf, err := file.OpenParquetFile(f.Path, false)
		if err != nil {
			t.Fatalf("dataset file %s: %v", f.Path, err)
		}
		fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 1024}, memory.NewGoAllocator())
		if err != nil {
			t.Fatal(err)
		}
		var tbl arrow.Table
		if f.RowGroups != nil {
			all := make([]int, pf.MetaData().Schema.NumColumns()) // flat: leaves are fields
			for i := range all {
				all[i] = i
			}
			tbl, err = fr.ReadRowGroups(context.Background(), all, f.RowGroups)
		} else {
			tbl, err = fr.ReadTable(context.Background())
		}
		pf.Close()
		if err != nil {
			t.Fatal(err)
		}
		if uint64(tbl.NumRows()) != f.Rows {
			t.Fatalf("dataset file %s holds %d rows, listed as %d", f.Path, tbl.NumRows(), f.Rows)
		}
		cols := make([]*arrow.Chunked, d.Schema.NumFields())
		for i, fld := range d.Schema.Fields() {
			if idx := tbl.Schema().FieldIndices(fld.Name); len(idx) == 1 {
				cols[i] = tbl.Column(idx[0]).Data()
			}
		}
		for r := int64(0); r < tbl.NumRows(); r++ {
			var parts []string
			var id int64
			for i := range cols {
				v := chunkValue(cols[i], r)
				if i == 0 {
					id = v.(int64)
				}
				if v == nil {
					v = "<nil>"
				}
				parts = append(parts, fmt.Sprint(v))
			}
			rows = append(rows, row{id, strings.Join(parts, ",")})
		}
		tbl.Release()
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].id < rows[j].id })
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.text
	}
	return out
}

// chunkValue is row r of a chunked column (nil: absent column or null),
// integers as int64.
func chunkValue(c *arrow.Chunked, r int64) any {
	if c == nil {
		return nil
	}
	for _, a := range c.Chunks() {
		if r >= int64(a.Len()) {
			r -= int64(a.Len())
			continue
		}
		i := int(r)
		if a.IsNull(i) {
			return nil
		}
		switch a := a.(type) {
		case *array.Int64:
			return a.Value(i)
		case *array.Int32:
			return int64(a.Value(i))
		case *array.String:
			return a.Value(i)
		case *array.LargeString:
			return a.Value(i)
		}
		panic(fmt.Sprintf("unexpected %s", a.DataType()))
	}
	panic("row out of range")
}

// modelRows renders the model's rows in key order.
func modelRows(m *wmodel) []string {
	var ids []int64
	for id := range m.rows {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = fmtW(m, id, m.rows[id])
	}
	return out
}

// checkDataset compares a dataset with the model of its version: its
// schema and its rows.
func checkDataset(t *testing.T, d *Dataset, m *wmodel, what string) {
	t.Helper()
	if d.Schema.NumFields() != len(m.cols) {
		t.Fatalf("%s: dataset schema %v, model %v", what, d.Schema, m.cols)
	}
	for i, f := range d.Schema.Fields() {
		if f.Name != m.cols[i].name || !arrow.TypeEqual(f.Type, m.cols[i].typ) {
			t.Fatalf("%s: dataset column %d is %s %s, model %s %s", what, i, f.Name, f.Type, m.cols[i].name, m.cols[i].typ)
		}
	}
	got, want := readDataset(t, d), modelRows(m)
	if strings.Join(got, ";") != strings.Join(want, ";") {
		t.Fatalf("%s: dataset version %d:\n got  %v\n want %v", what, d.Version, got, want)
	}
}

func TestDatasetStates(t *testing.T) {
	db, _, dir := testDB(t)
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "v", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	if _, err := db.CreateTable("d", "", schema, map[string]string{"primary_key": "id"}); err != nil {
		t.Fatal(err)
	}
	m := &wmodel{cols: []wcol{{"id", 1, arrow.PrimitiveTypes.Int64}, {"v", 2, arrow.BinaryTypes.String}}, rows: map[int64]map[int32]wval{}}
	put := func(lo, hi int64, v string) {
		var rows []map[int32]wval
		var ids []int64
		for id := lo; id < hi; id++ {
			rows = append(rows, map[int32]wval{2: v})
			ids = append(ids, id)
			m.rows[id] = map[int32]wval{2: v}
		}
		rec := batchOf(db.st.mem, m.cols, rows, ids)
		defer rec.Release()
		rdr := recordReader(t, rec)
		defer rdr.Release()
		if _, err := db.Append("d", rdr); err != nil {
			t.Fatal(err)
		}
	}
	export := func(req DatasetRequest) *Dataset {
		t.Helper()
		d, err := db.ExportDataset("d", req)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	kinds := func(d *Dataset) string {
		var k []string
		for _, f := range d.Files {
			if f.SegmentID != "" {
				k = append(k, "seg")
			} else {
				k = append(k, "merged")
			}
		}
		return strings.Join(k, ",")
	}
	// Only hot rows: one merged file.
	put(0, 100, "a")
	d := export(DatasetRequest{})
	checkDataset(t, d, m, "hot only")
	if got := kinds(d); got != "merged" {
		t.Fatalf("hot only: files %s", got)
	}
	tmp := d.Dir()
	if !strings.HasPrefix(tmp, filepath.Join(dir, datasetDir)) {
		t.Fatalf("merged files in %s, not under the store", tmp)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("closed dataset left %s: %v", tmp, err)
	}
	// Flushed, disjoint segments: handed out as they are.
	if _, err := db.Flush("d"); err != nil {
		t.Fatal(err)
	}
	put(200, 300, "b")
	if _, err := db.Flush("d"); err != nil {
		t.Fatal(err)
	}
	d = export(DatasetRequest{})
	checkDataset(t, d, m, "two segments")
	if got := kinds(d); got != "seg,seg" {
		t.Fatalf("two disjoint segments: files %s", got)
	}
	// Handed out as links in the dataset's directory, nothing merged.
	for _, f := range d.Files {
		if filepath.Dir(f.Path) != d.Dir() || filepath.Base(f.Path) != "segment-"+f.SegmentID+".parquet" {
			t.Fatalf("segment %s handed out as %s, not a link in %s", f.SegmentID, f.Path, d.Dir())
		}
	}
	v2 := d.Version
	m2 := m.clone()
	// A hot row inside the first segment's range merges that segment only;
	// one outside every range is a merged file of its own.
	put(50, 51, "hot")
	put(150, 151, "between")
	d3 := export(DatasetRequest{})
	checkDataset(t, d3, m, "hot keys")
	if got := kinds(d3); got != "merged,seg" {
		t.Fatalf("hot keys: files %s", got)
	}
	// Overlapping segments and a tombstone: merged; the old dataset still
	// reads its version after compaction and vacuum.
	if _, err := db.Flush("d"); err != nil {
		t.Fatal(err)
	}
	keys := batchOf(db.st.mem, m.cols[:1], []map[int32]wval{{}}, []int64{250})
	krdr := recordReader(t, keys)
	if _, err := db.Delete("d", krdr); err != nil {
		t.Fatal(err)
	}
	krdr.Release()
	keys.Release()
	delete(m.rows, 250)
	if _, err := db.Flush("d"); err != nil {
		t.Fatal(err)
	}
	d4 := export(DatasetRequest{})
	checkDataset(t, d4, m, "overlap and tombstone")
	if strings.Contains(kinds(d4), "seg") {
		t.Fatalf("overlap and tombstone: files %s", kinds(d4))
	}
	if _, err := db.Compact("d", CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Vacuum("d", 0, false); err != nil {
		t.Fatal(err)
	}
	checkDataset(t, d, m2, "version 2 dataset after compact and vacuum")
	// Vacuum left d's segments, so time travel to v2 works until d closes.
	if d2 := export(DatasetRequest{AsOfVersion: int64(v2)}); true {
		checkDataset(t, d2, m2, "time travel")
		d2.Close()
	}
	for _, x := range []*Dataset{d, d3, d4} {
		if err := x.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Vacuum("d", 0, false); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExportDataset("d", DatasetRequest{AsOfVersion: int64(v2)}); err == nil {
		t.Fatalf("version %d exported after its files were vacuumed", v2)
	}
	// After compaction: one segment, as it is.
	d5 := export(DatasetRequest{})
	checkDataset(t, d5, m, "compacted")
	if got := kinds(d5); got != "seg" {
		t.Fatalf("compacted: files %s", got)
	}
	d5.Close()
	if _, err := db.ExportDataset("system.tables", DatasetRequest{}); err == nil {
		t.Fatal("dataset of a system table")
	}
}

func TestDatasetSweep(t *testing.T) {
	dir := t.TempDir()
	db, _ := openAt(t, dir)
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	if _, err := db.CreateTable("s", "", schema, map[string]string{"primary_key": "id"}); err != nil {
		t.Fatal(err)
	}
	rec := batchOf(db.st.mem, []wcol{{"id", 1, arrow.PrimitiveTypes.Int64}}, []map[int32]wval{{}}, []int64{1})
	rdr := recordReader(t, rec)
	if _, err := db.Append("s", rdr); err != nil {
		t.Fatal(err)
	}
	rdr.Release()
	rec.Release()
	live, err := db.ExportDataset("s", DatasetRequest{})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	// What a crashed process leaves: a directory whose lock nobody holds.
	stale := filepath.Join(dir, datasetDir, "999999-1-x")
	if err := os.MkdirAll(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(stale, ".lock"), nil, 0o644)
	os.WriteFile(filepath.Join(stale, "part_000000.parquet"), []byte("x"), 0o644)
	sweepDatasets(filepath.Join(dir, datasetDir))
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale dataset directory kept: %v", err)
	}
	if _, err := os.Stat(live.Files[0].Path); err != nil {
		t.Fatalf("sweep removed a live dataset's file: %v", err)
	}
}

// TestDatasetKeepsItsFilesAcrossDropAndCreate: a dataset's segment files
// are the segments it names after the table is dropped and made again
// (which writes another segment_001.parquet under the same name): the
// dataset hands out links of its own, and their footers record its ids.
func TestDatasetKeepsItsFilesAcrossDropAndCreate(t *testing.T) {
	db, mem, _ := testDB(t)
	flushedIDs(t, db, mem, "r", 1, 2, 3)
	d, err := db.ExportDataset("r", DatasetRequest{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if len(d.Files) != 1 || d.Files[0].SegmentID == "" {
		t.Fatalf("files %+v, want the one segment as it is", d.Files)
	}
	if err := db.DropTable("r"); err != nil {
		t.Fatal(err)
	}
	flushedIDs(t, db, mem, "r", 7, 8)
	f := d.Files[0]
	local, err := storage.NewLocal(filepath.Dir(f.Path), vfs.Default)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := local.Open(context.Background(), filepath.Base(f.Path))
	if err != nil {
		t.Fatalf("the dataset's file after drop and create: %v", err)
	}
	sf, err := readSegment(f.Path, obj, mem)
	if err != nil {
		obj.Close()
		t.Fatal(err)
	}
	defer sf.close()
	if id, ok := sf.segmentID(); !ok || id != f.SegmentID {
		t.Fatalf("the dataset's file holds segment %q (recorded: %v), want %s", id, ok, f.SegmentID)
	}
	n := int64(0)
	for rg := 0; rg < sf.numRowGroups(); rg++ {
		n += sf.rowGroupRows(rg)
	}
	if n != 3 {
		t.Fatalf("the dataset's file holds %d rows, want 3", n)
	}
}

// TestDatasetWithoutItsDirectory: where the dataset cannot make its
// directory (a store on a read-only file system; here a file in the way),
// segments go out under their own paths, as before the links.
func TestDatasetWithoutItsDirectory(t *testing.T) {
	db, mem, dir := testDB(t)
	flushedIDs(t, db, mem, "w", 1, 2)
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, datasetDir), []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := db.ExportDataset("w", DatasetRequest{})
	if err != nil {
		t.Fatalf("export without a directory for the dataset: %v", err)
	}
	defer d.Close()
	if len(d.Files) != 1 || !strings.HasPrefix(d.Files[0].Path, filepath.Join(dir, "storage")) {
		t.Fatalf("files %+v, want the segment under its own path", d.Files)
	}
}

// flushedIDs creates table name (one int64 key column, id) holding ids in
// one flushed segment.
func flushedIDs(t *testing.T, db *DB, mem memory.Allocator, name string, ids ...int64) {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	if _, err := db.CreateTable(name, "", schema, map[string]string{"primary_key": "id"}); err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(mem, schema)
	b.Field(0).(*array.Int64Builder).AppendValues(ids, nil)
	rec := b.NewRecordBatch()
	b.Release()
	defer rec.Release()
	if _, err := db.AppendRecord(name, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Flush(name); err != nil {
		t.Fatal(err)
	}
}

// TestStorageOnlyDatasetFilesAreTemporary: a storage-only reader's
// dataset wrote its merged parts under its root — which names storage: a
// relative "s3:/bucket/…" directory of the working directory for object
// storage (and pyarrow could not read the paths), the writer's storage
// directory for a local one. They go under the machine's temporary
// directory now, and leave with the dataset.
func TestStorageOnlyDatasetFilesAreTemporary(t *testing.T) {
	w, mem, dir := testDB(t)
	flushedIDs(t, w, mem, "w", 1, 2, 3)
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := array.NewRecordBuilder(mem, schema)
	b.Field(0).(*array.Int64Builder).Append(2) // overlapping: the dataset merges
	rec := b.NewRecordBatch()
	b.Release()
	defer rec.Release()
	if _, err := w.AppendRecord("w", rec); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Flush("w"); err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.Storage = filepath.Join(dir, "storage")
	o.ReadOnly = true
	r, err := Open("", o)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d, err := r.ExportDataset("w", DatasetRequest{})
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(os.TempDir(), "kalam", datasetDir)
	if d.Dir() == "" || !strings.HasPrefix(d.Dir(), tmp+string(filepath.Separator)) {
		t.Fatalf("dataset directory %q, want one under %s", d.Dir(), tmp)
	}
	for _, f := range d.Files {
		if strings.HasPrefix(f.Path, dir) && !strings.HasPrefix(f.Path, filepath.Join(dir, "storage", "default")) {
			t.Errorf("dataset file %s inside the writer's store", f.Path)
		}
		if _, err := os.Stat(f.Path); err != nil {
			t.Errorf("dataset file: %v", err)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "storage", "tmp")); len(entries) > 0 {
		t.Errorf("the reader wrote into the writer's storage: %v", entries)
	}
	d.Close()
	if _, err := os.Stat(d.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dataset directory after Close: %v", err)
	}
}
