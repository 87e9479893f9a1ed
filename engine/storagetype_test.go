package engine

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/engine/segment"
)

// timeSchema holds the types segments store under another type
// (storagetype.go).
var timeSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "tss", Type: &arrow.TimestampType{Unit: arrow.Second, TimeZone: "Asia/Karachi"}, Nullable: true},
	{Name: "tsn", Type: &arrow.TimestampType{Unit: arrow.Second}, Nullable: true},
	{Name: "t32", Type: arrow.FixedWidthTypes.Time32s, Nullable: true},
	{Name: "d64", Type: arrow.FixedWidthTypes.Date64, Nullable: true},
	{Name: "dur", Type: &arrow.DurationType{Unit: arrow.Second}, Nullable: true},
}, nil)

// timeValue is row id's value of timeSchema column c (timeOfDay: date64
// values that are not whole days, which the first layout cannot hold).
func timeValue(c string, id int64, timeOfDay bool) int64 {
	switch c {
	case "tss", "tsn":
		return id*1000 - 50000
	case "t32":
		return id
	case "d64":
		v := id * 86400000
		if timeOfDay {
			v += id * 7
		}
		return v
	case "dur":
		return id*3 - 100
	}
	return id
}

func timeBatch(mem memory.Allocator, ids []int64, timeOfDay bool) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, timeSchema)
	defer b.Release()
	for _, id := range ids {
		for c, f := range timeSchema.Fields() {
			if c > 0 && id%7 == 3 {
				b.Field(c).AppendNull()
				continue
			}
			v := timeValue(f.Name, id, timeOfDay)
			switch fb := b.Field(c).(type) {
			case *array.Int64Builder:
				fb.Append(v)
			case *array.TimestampBuilder:
				fb.Append(arrow.Timestamp(v))
			case *array.Time32Builder:
				fb.Append(arrow.Time32(v))
			case *array.Date64Builder:
				fb.Append(arrow.Date64(v))
			case *array.DurationBuilder:
				fb.Append(arrow.Duration(v))
			}
		}
	}
	return b.NewRecordBatch()
}

// olderStorageSchema is a segmentStorageSchema that writes columns as
// storedType says, with a hint naming hintedType, as older versions did.
func olderStorageSchema(storedType, hintedType func(arrow.DataType) arrow.DataType) func(*arrow.Schema, func(string) bool) *arrow.Schema {
	return func(s *arrow.Schema, _ func(string) bool) *arrow.Schema {
		fields := make([]arrow.Field, s.NumFields())
		hints := make([]arrow.Field, s.NumFields())
		for i, f := range s.Fields() {
			h := f
			h.Type = hintedType(f.Type)
			hints[i] = h
			f.Type = storedType(f.Type)
			fields[i] = f
		}
		md := arrow.NewMetadata([]string{"ARROW:schema"}, []string{storageSchemaHint(arrow.NewSchema(hints, nil))})
		return arrow.NewSchema(fields, &md)
	}
}

// TestTimeColumnsEveryLayout: timestamp[s] (zoned and naive), time32[s],
// date64 and duration columns written in each layout segments have had —
// pqarrow's own (milliseconds, date32 days), the same bytes as int64, and
// today's (milliseconds as pyarrow reads them, duration named by the
// hint) — read back exactly, and a filter on each column prunes segments
// by the manifest's statistics and row groups by the Parquet ones, scaled
// to the column's unit.
func TestTimeColumnsEveryLayout(t *testing.T) {
	defer func(f func(*arrow.Schema, func(string) bool) *arrow.Schema) { segmentStorageSchema = f }(segmentStorageSchema)
	layouts := []struct {
		name      string
		schema    func(*arrow.Schema, func(string) bool) *arrow.Schema
		timeOfDay bool
	}{
		{"pqarrow", olderStorageSchema(func(t arrow.DataType) arrow.DataType {
			if t.ID() == arrow.DURATION {
				return arrow.PrimitiveTypes.Int64 // pqarrow writes none
			}
			return t
		}, func(t arrow.DataType) arrow.DataType { return t }), false},
		{"same-bytes", olderStorageSchema(nestedStorageType, nestedStorageType), true},
		{"current", storageSchema, false}, // whole days: date64 in today's layout
	}
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			segmentStorageSchema = l.schema
			db, mem, dir := testDB(t)
			if _, err := db.CreateTable("tm", "", timeSchema, map[string]string{"primary_key": "id", "row_group_rows": "10"}); err != nil {
				t.Fatal(err)
			}
			var all []int64
			for _, base := range []int64{0, 100, 200} {
				var ids []int64
				for i := int64(0); i < 30; i++ {
					ids = append(ids, base+i)
				}
				all = append(all, ids...)
				rec := timeBatch(mem, ids, l.timeOfDay)
				_, err := db.AppendRecord("tm", rec)
				rec.Release()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.Flush("tm"); err != nil {
					t.Fatal(err)
				}
			}
			want := timeBatch(mem, all, l.timeOfDay)
			defer want.Release()
			s, err := db.Scan("tm", allRows())
			if err != nil {
				t.Fatal(err)
			}
			got := concatStream(t, mem, s)
			for c, f := range timeSchema.Fields() {
				if !arrow.TypeEqual(got.Column(c).DataType(), f.Type) || !array.Equal(got.Column(c), want.Column(c)) {
					t.Fatalf("column %s read back as %s:\n%v\nwant\n%v", f.Name, got.Column(c).DataType(), got.Column(c), want.Column(c))
				}
			}
			got.Release()
			for _, c := range []string{"tss", "tsn", "t32", "d64", "dur"} {
				filter := fmt.Sprintf("%s >= %d AND %s < %d", c, timeValue(c, 105, l.timeOfDay), c, timeValue(c, 112, l.timeOfDay))
				s, err := db.Scan("tm", ScanRequest{Filter: filter, Limit: -1, Columns: []string{"id"}})
				if err != nil {
					t.Fatal(err)
				}
				if got := rowsString(collect(t, s), "id"); got != "105;106;107;109;110;111" {
					t.Fatalf("%s: rows %s", filter, got)
				}
				doc := explainDoc(t, db, "tm", ScanRequest{Filter: filter, Limit: -1})
				reasons := prunedReasons(doc)
				read := doc["read"].([]any)
				if reasons["data/segment_001.parquet"] != "column_stats" || reasons["data/segment_003.parquet"] != "column_stats" ||
					len(read) != 1 || fmt.Sprint(read[0].(map[string]any)["row_groups"]) != "[0 1]" {
					t.Fatalf("%s: pruning %v", filter, doc)
				}
			}
			// A timestamp[s] key: key ranges prune by the scaled bounds too.
			keyed := arrow.NewSchema([]arrow.Field{timeSchema.Field(2), timeSchema.Field(0)}, nil)
			kf := keyed.Fields()
			kf[0].Nullable = false
			keyed = arrow.NewSchema(kf, nil)
			if _, err := db.CreateTable("tk", "", keyed, map[string]string{"primary_key": "tsn", "row_group_rows": "10"}); err != nil {
				t.Fatal(err)
			}
			for _, base := range []int64{0, 100, 200} {
				kb := array.NewRecordBuilder(mem, keyed)
				for i := base; i < base+30; i++ {
					kb.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(timeValue("tsn", i, false)))
					kb.Field(1).(*array.Int64Builder).Append(i)
				}
				rec := kb.NewRecordBatch()
				kb.Release()
				_, err := db.AppendRecord("tk", rec)
				rec.Release()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.Flush("tk"); err != nil {
					t.Fatal(err)
				}
			}
			filter := fmt.Sprintf("tsn >= %d AND tsn < %d", timeValue("tsn", 105, false), timeValue("tsn", 112, false))
			ks, err := db.Scan("tk", ScanRequest{Filter: filter, Limit: -1, Columns: []string{"id"}})
			if err != nil {
				t.Fatal(err)
			}
			if got := rowsString(collect(t, ks), "id"); got != "105;106;107;108;109;110;111" {
				t.Fatalf("key %s: rows %s", filter, got)
			}
			doc := explainDoc(t, db, "tk", ScanRequest{Filter: filter, Limit: -1})
			if read := doc["read"].([]any); len(read) != 1 || fmt.Sprint(read[0].(map[string]any)["row_groups"]) != "[0 1]" {
				t.Fatalf("key %s: pruning %v", filter, doc)
			}
			if l.name != "current" {
				return
			}
			// Today's layout, as pyarrow and our reader see it.
			paths, _ := filepath.Glob(filepath.Join(dir, "storage", "*", "tm", "data", "segment_001.parquet"))
			if len(paths) != 1 {
				paths, _ = filepath.Glob(filepath.Join(dir, "storage", "tm", "data", "segment_001.parquet"))
			}
			if len(paths) != 1 {
				t.Fatalf("segment file not found under %s", dir)
			}
			raw, err := os.ReadFile(paths[0])
			if err != nil {
				t.Fatal(err)
			}
			f, err := segment.Open(strings.NewReader(string(raw)), int64(len(raw)), paths[0])
			if err != nil {
				t.Fatal(err)
			}
			layout := map[string]string{}
			for i := 0; i < f.Schema().NumFields(); i++ {
				ci := f.Column(i)
				layout[ci.Name] = ci.Type.String() + " " + ci.PhysicalType
			}
			for c, w := range map[string]string{
				"tss": "timestamp[ms, tz=Asia/Karachi] INT64", "tsn": "timestamp[ms] INT64", "t32": "time64[us] INT64",
				"d64": "timestamp[ms] INT64", "dur": "duration[s] INT64",
			} {
				if layout[c] != w {
					t.Errorf("column %s is stored as %q, want %q", c, layout[c], w)
				}
			}
		})
	}
}

// TestValuesBeyondTheLayoutKeepTheOlderOne: a timestamp[s] whose
// milliseconds overflow an int64 and a date64 that is not a whole day are
// taken, flushed, compacted and put in a dataset's files, and read back
// exactly: the files holding them keep the older layout (plain int64) for
// that column, as the segments an older version wrote. A flush that met
// one failed before, every time, and left the table's rows hot.
func TestValuesBeyondTheLayoutKeepTheOlderOne(t *testing.T) {
	for _, tc := range []struct {
		col string
		v   int64
	}{
		{"tsn", math.MaxInt64/1000 + 1},
		{"tsn", math.MinInt64},
		{"d64", 86400000*3 + 1},
		{"d64", (math.MaxInt32 + 1) * 86400000}, // whole days pyarrow's int32 days cannot hold
		{"t32", math.MaxInt32},                  // fits today's layout: kept there
	} {
		t.Run(fmt.Sprintf("%s=%d", tc.col, tc.v), func(t *testing.T) {
			db, mem, dir := testDB(t)
			if _, err := db.CreateTable("tm", "", timeSchema, map[string]string{"primary_key": "id"}); err != nil {
				t.Fatal(err)
			}
			plain := timeBatch(mem, []int64{1, 2}, false)
			defer plain.Release()
			if _, err := db.AppendRecord("tm", plain); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Flush("tm"); err != nil {
				t.Fatal(err)
			}
			// Row 3 holds the value; rows 1 and 2 sit in a segment of
			// today's layout.
			c := timeSchema.FieldIndices(tc.col)[0]
			odd := timeBatch(mem, []int64{3}, false)
			cols := append([]arrow.Array{}, odd.Columns()...)
			b := array.NewBuilder(mem, timeSchema.Field(c).Type)
			switch bb := b.(type) {
			case *array.TimestampBuilder:
				bb.Append(arrow.Timestamp(tc.v))
			case *array.Date64Builder:
				bb.Append(arrow.Date64(tc.v))
			case *array.Time32Builder:
				bb.Append(arrow.Time32(tc.v))
			}
			cols[c] = b.NewArray()
			b.Release()
			rec := array.NewRecordBatch(timeSchema, cols, 1)
			cols[c].Release()
			odd.Release()
			defer rec.Release()
			if _, err := db.AppendRecord("tm", rec); err != nil {
				t.Fatal(err)
			}
			want := func(what string) {
				t.Helper()
				s, err := db.Scan("tm", ScanRequest{Limit: -1, Filter: "id = 3"})
				if err != nil {
					t.Fatal(err)
				}
				got := concatStream(t, mem, s)
				defer got.Release()
				if got.NumRows() != 1 || !array.Equal(got.Column(c), rec.Column(c)) {
					t.Fatalf("%s: %s read back as %v, wrote %v", what, tc.col, got.Column(c), rec.Column(c))
				}
			}
			d, err := db.ExportDataset("tm", DatasetRequest{})
			if err != nil {
				t.Fatalf("dataset with the value hot: %v", err)
			}
			d.Close()
			if _, err := db.Flush("tm"); err != nil {
				t.Fatalf("flush: %v", err)
			}
			want("after the flush")
			if _, err := db.Compact("tm", CompactOptions{}); err != nil {
				t.Fatalf("compact: %v", err)
			}
			want("after a compaction")
			d, err = db.ExportDataset("tm", DatasetRequest{})
			if err != nil {
				t.Fatalf("dataset: %v", err)
			}
			d.Close()
			// The compacted segment's layout of the column.
			paths, _ := filepath.Glob(filepath.Join(dir, "storage", "*", "tm", "data", "*.parquet"))
			if len(paths) == 0 {
				t.Fatalf("no segment under %s", dir)
			}
			last := paths[len(paths)-1]
			raw, err := os.ReadFile(last)
			if err != nil {
				t.Fatal(err)
			}
			f, err := segment.Open(strings.NewReader(string(raw)), int64(len(raw)), last)
			if err != nil {
				t.Fatal(err)
			}
			stored := f.Column(f.ColumnIndex(tc.col)).Type.String()
			fits := tc.col == "t32"
			if fits && stored != "time64[us]" || !fits && stored != "int64" {
				t.Fatalf("%s stored as %s", tc.col, stored)
			}
			// With the value gone, the next compaction writes today's
			// layout again: the older one was for that operation's files.
			keys := arrow.NewSchema([]arrow.Field{timeSchema.Field(0)}, nil)
			del, _, err := array.RecordFromJSON(mem, keys, strings.NewReader(`[{"id": 3}]`))
			if err != nil {
				t.Fatal(err)
			}
			rdr := recordReader(t, del)
			_, err = db.Delete("tm", rdr)
			rdr.Release()
			del.Release()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Flush("tm"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Compact("tm", CompactOptions{}); err != nil {
				t.Fatal(err)
			}
			paths, _ = filepath.Glob(filepath.Join(dir, "storage", "*", "tm", "data", "*.parquet"))
			sort.Strings(paths)
			newest := ""
			for _, p := range paths { // segment_NNN: the longest name sorts last among equals
				if len(p) >= len(newest) {
					newest = p
				}
			}
			raw, err = os.ReadFile(newest)
			if err != nil {
				t.Fatal(err)
			}
			f, err = segment.Open(strings.NewReader(string(raw)), int64(len(raw)), newest)
			if err != nil {
				t.Fatal(err)
			}
			today := map[string]string{"tsn": "timestamp[ms]", "d64": "timestamp[ms]", "t32": "time64[us]"}[tc.col]
			if got := f.Column(f.ColumnIndex(tc.col)).Type.String(); got != today {
				t.Fatalf("after the value is gone, %s is still stored as %s (%s)", tc.col, got, newest)
			}
		})
	}
}

// concatStream reads s to the end into one record.
func concatStream(t *testing.T, mem memory.Allocator, s Stream) arrow.RecordBatch {
	t.Helper()
	defer s.Close()
	var recs []arrow.RecordBatch
	for {
		rec, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if rec == nil {
			break
		}
		recs = append(recs, rec)
	}
	tbl := array.NewTableFromRecords(recs[0].Schema(), recs)
	for _, r := range recs {
		r.Release()
	}
	defer tbl.Release()
	cols := make([]arrow.Array, tbl.NumCols())
	for i := range cols {
		a, err := array.Concatenate(tbl.Column(i).Data().Chunks(), mem)
		if err != nil {
			t.Fatal(err)
		}
		cols[i] = a
		defer a.Release()
	}
	return array.NewRecordBatch(tbl.Schema(), cols, tbl.NumRows())
}
