package engine

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/kalamdb/libkalam/engine/segment"
)

// TestColumnWriterMatchesPqarrow: the parallel column writer produces
// pqarrow's file byte for byte (every flat column type a table stores,
// nulls and values under nulls, a dictionary column, every codec, row
// groups of several batches, and a last row group cut short), so readers
// cannot tell which one wrote a segment.
func TestColumnWriterMatchesPqarrow(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var flat []arrow.Field
	for _, f := range allTypesSchema.Fields() {
		if _, nested := f.Type.(arrow.NestedType); !nested {
			flat = append(flat, f)
		}
	}
	if len(flat) < 20 {
		t.Fatalf("only %d flat columns in allTypesSchema", len(flat))
	}
	sch := storageSchema(arrow.NewSchema(flat, nil))
	if !flatSchema(sch) {
		t.Fatal("the flat columns' storage schema is not flat")
	}
	if flatSchema(allTypesSchema) {
		t.Fatal("allTypesSchema (lists, structs) counted as flat")
	}
	var recs []arrow.RecordBatch
	for i, n := range []int{5000, 3000, 7000, 1} {
		full := allTypesFrom(t, mem, int64(i)*10000, n)
		cols := make([]arrow.Array, len(flat))
		for c, f := range flat {
			cols[c] = full.Column(allTypesSchema.FieldIndices(f.Name)[0])
		}
		one := array.NewRecordBatch(arrow.NewSchema(flat, nil), cols, int64(n))
		rec := retypeRecord(one, sch)
		one.Release()
		full.Release()
		recs = append(recs, rec)
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	for _, codec := range []compress.Compression{compress.Codecs.Zstd, compress.Codecs.Snappy, compress.Codecs.Lz4Raw, compress.Codecs.Uncompressed} {
		l := segment.RecommendedLayout()
		l.Compression = codec
		l.RowGroupRows = 6000
		props := func() (*parquet.WriterProperties, pqarrow.ArrowWriterProperties) {
			return parquet.NewWriterProperties(append(segment.WriterProperties(l, sch, map[string]bool{"s": true}), parquet.WithAllocator(mem))...),
				pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema(), pqarrow.WithAllocator(mem))
		}
		var want, got bytes.Buffer
		p, ap := props()
		pw, err := pqarrow.NewFileWriter(sch, &want, p, ap)
		if err != nil {
			t.Fatal(err)
		}
		p, ap = props()
		cw, err := newColumnWriter(sch, struct{ io.Writer }{&got}, p, ap)
		if err != nil {
			t.Fatal(err)
		}
		// Row groups of 6000 rows, from batches cut at their boundaries,
		// as segWriter.write cuts them.
		inRG := int64(0)
		for _, rec := range recs {
			for off := int64(0); off < rec.NumRows(); {
				if inRG == l.RowGroupRows {
					if err := pw.NewBufferedRowGroupChecked(); err != nil {
						t.Fatal(err)
					}
					if err := cw.newRowGroup(); err != nil {
						t.Fatal(err)
					}
					inRG = 0
				}
				take := min(l.RowGroupRows-inRG, rec.NumRows()-off)
				part := rec.NewSlice(off, off+take)
				if err := pw.WriteBuffered(part); err != nil {
					t.Fatal(err)
				}
				if err := cw.write(part); err != nil {
					t.Fatal(err)
				}
				part.Release()
				off += take
				inRG += take
			}
		}
		if err := pw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := cw.close(); err != nil {
			t.Fatal(err)
		}
		if want.Len() < 1000 || !bytes.Equal(got.Bytes(), want.Bytes()) {
			at := 0
			for at < min(got.Len(), want.Len()) && got.Bytes()[at] == want.Bytes()[at] {
				at++
			}
			t.Fatalf("%s: %d bytes, pqarrow's %d; first difference at byte %d", codec, got.Len(), want.Len(), at)
		}
	}
}

// TestColumnWriterFailsCleanly: a column the encoder cannot take (here an
// Arrow type other than the file's) fails the write with an error naming
// the column, whether the encoder returns an error or panics; the other
// columns' goroutines finish, and closing the half-written file (what an
// aborted segment does) returns instead of panicking.
func TestColumnWriterFailsCleanly(t *testing.T) {
	mem := memory.NewGoAllocator()
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "dec", Type: &arrow.Decimal128Type{Precision: 5, Scale: 0}, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	wrong := arrow.NewSchema([]arrow.Field{sch.Field(0), {Name: "dec", Type: arrow.FixedWidthTypes.Boolean, Nullable: true}, sch.Field(2)}, nil)
	b := array.NewRecordBuilder(mem, wrong)
	for i := 0; i < 1000; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.BooleanBuilder).Append(i%2 == 0)
		b.Field(2).(*array.StringBuilder).Append("x")
	}
	rec := b.NewRecordBatch()
	b.Release()
	defer rec.Release()
	l := segment.RecommendedLayout()
	props := parquet.NewWriterProperties(append(segment.WriterProperties(l, sch, nil), parquet.WithAllocator(mem))...)
	var out bytes.Buffer
	cw, err := newColumnWriter(sch, struct{ io.Writer }{&out}, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema(), pqarrow.WithAllocator(mem)))
	if err != nil {
		t.Fatal(err)
	}
	err = cw.write(rec)
	if err == nil || !strings.Contains(err.Error(), `"dec"`) {
		t.Fatalf("write: %v, want an error naming column dec", err)
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("closing after the failed write panicked: %v", r)
			}
		}()
		_ = cw.close()
	}()
}
