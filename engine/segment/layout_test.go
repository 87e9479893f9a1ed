package segment

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

func TestUseDictionary(t *testing.T) {
	for _, c := range []struct {
		t              arrow.DataType
		rows, distinct int64
		want           bool
	}{
		{arrow.PrimitiveTypes.Int32, 1 << 20, 1000, true},
		{arrow.PrimitiveTypes.Int32, 1 << 20, 900_000, false}, // bench column n
		{arrow.PrimitiveTypes.Int64, 1000, 250, true},
		{arrow.PrimitiveTypes.Int64, 1000, 251, false},
		{arrow.BinaryTypes.String, 1000, 500, true},
		{arrow.BinaryTypes.String, 1000, 501, false},
		{arrow.BinaryTypes.LargeString, 1 << 20, 10, true},
		{arrow.PrimitiveTypes.Float64, 1 << 20, 1, false},
		{&arrow.TimestampType{Unit: arrow.Microsecond}, 1 << 20, 1, false},
		{arrow.FixedWidthTypes.Boolean, 1 << 20, 2, false},
		{arrow.PrimitiveTypes.Int32, 0, 0, false},
	} {
		if got := UseDictionary(c.t, c.rows, c.distinct); got != c.want {
			t.Errorf("UseDictionary(%s, %d, %d) = %v, want %v", c.t, c.rows, c.distinct, got, c.want)
		}
	}
}

func TestDictionaryColumnsAndWriterProperties(t *testing.T) {
	mem := memory.DefaultAllocator
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "key", Type: arrow.PrimitiveTypes.Int64},
		{Name: "cat", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "hi", Type: arrow.BinaryTypes.String},
		{Name: "small", Type: arrow.PrimitiveTypes.Int32},
		{Name: "x", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	b := array.NewRecordBuilder(mem, sch)
	defer b.Release()
	const n = 4000
	for i := 0; i < n; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		if i%5 == 0 {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.StringBuilder).Append(fmt.Sprint("c", i%7))
		}
		b.Field(2).(*array.StringBuilder).Append(fmt.Sprint("user", i))
		b.Field(3).(*array.Int32Builder).Append(int32(i % 100))
		b.Field(4).(*array.Float64Builder).Append(1)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	dict := DictionaryColumns(rec)
	want := map[string]bool{"key": false, "cat": true, "hi": false, "small": true, "x": false}
	for k, v := range want {
		if dict[k] != v {
			t.Errorf("dictionary[%s] = %v, want %v (all: %v)", k, dict[k], v, dict)
		}
	}
	if got := CountDistinct(rec.Column(2), 10); got != 11 {
		t.Errorf("CountDistinct stops at limit+1: got %d", got)
	}
	if got := CountDistinct(rec.Column(1), 100); got != 7 {
		t.Errorf("CountDistinct of 7 categories with nulls: %d", got)
	}
	// The recommended layout, written and read back.
	l := RecommendedLayout()
	l.RowGroupRows = 1500
	var buf bytes.Buffer
	w, err := pqarrow.NewFileWriter(sch, &buf, parquet.NewWriterProperties(WriterProperties(l, sch, dict)...),
		pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f := openBytes(t, buf.Bytes())
	if f.NumRowGroups() != 3 || !f.HasPageIndex(0, 0) {
		t.Fatalf("%d row groups, page index %v", f.NumRowGroups(), f.HasPageIndex(0, 0))
	}
	for c := 0; c < f.NumColumns(); c++ {
		ci := f.Chunk(0, c)
		if ci.HasDictionary != want[f.Column(c).Name] || ci.Codec != "ZSTD" {
			t.Errorf("column %s: %+v, dictionary wanted %v", f.Column(c).Name, ci, want[f.Column(c).Name])
		}
	}
	got, err := f.ReadRowGroup(context.Background(), 2, nil, mem)
	if err != nil {
		t.Fatal(err)
	}
	exp := rec.NewSlice(3000, 4000)
	if !array.RecordEqual(got, exp) {
		t.Fatal("recommended layout does not read back")
	}
	got.Release()
	exp.Release()
}
