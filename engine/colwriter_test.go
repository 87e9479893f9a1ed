package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/metadata"
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
	sch := storageSchema(arrow.NewSchema(flat, nil), func(string) bool { return false })
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
		rec, err := toStorage(one, sch, mem)
		if err != nil {
			t.Fatal(err)
		}
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
				pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem))
		}
		got, want, _ := writeBothWays(t, sch, recs, props, l.RowGroupRows)
		if len(want) < 1000 {
			t.Fatalf("%s: pqarrow wrote only %d bytes", codec, len(want))
		}
		if diff := sameFile(t, got, want); diff != "" {
			t.Fatalf("%s: %s", codec, diff)
		}
	}
}

// writeBothWays writes recs (each cut at row-group boundaries of
// rowGroupRows rows, as segWriter.write cuts them) through pqarrow's
// FileWriter and through columnWriter, each with fresh properties from
// props, and returns columnWriter's file, pqarrow's, and the column
// writer.
func writeBothWays(t *testing.T, sch *arrow.Schema, recs []arrow.RecordBatch,
	props func() (*parquet.WriterProperties, pqarrow.ArrowWriterProperties), rowGroupRows int64) ([]byte, []byte, *columnWriter) {
	t.Helper()
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
	inRG := int64(0)
	for _, rec := range recs {
		for off := int64(0); off < rec.NumRows(); {
			if inRG == rowGroupRows {
				if err := pw.NewBufferedRowGroupChecked(); err != nil {
					t.Fatal(err)
				}
				if err := cw.newRowGroup(); err != nil {
					t.Fatal(err)
				}
				inRG = 0
			}
			take := min(rowGroupRows-inRG, rec.NumRows()-off)
			part := rec.NewSlice(off, off+take)
			if err := pw.WriteBuffered(part); err != nil {
				t.Fatal(err)
			}
			if err := cw.write(part, nil); err != nil {
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
	return got.Bytes(), want.Bytes(), cw
}

// sameFile reports how got differs from want ("" when it does not): the
// bytes before the footer must be equal, and so must the footers once the
// page encoding statistics of each column chunk are sorted — arrow-go
// lists them in the order of a map's iteration, which varies from run to
// run for a chunk that fell back from dictionary to plain encoding.
func sameFile(t *testing.T, got, want []byte) string {
	t.Helper()
	gb, gf := canonicalFooter(t, got)
	wb, wf := canonicalFooter(t, want)
	if !bytes.Equal(gb, wb) {
		return "before the footer: " + firstDifference(gb, wb)
	}
	if !bytes.Equal(gf, wf) {
		return "footer: " + firstDifference(gf, wf)
	}
	return ""
}

func canonicalFooter(t *testing.T, file []byte) (body, footer []byte) {
	t.Helper()
	if len(file) < 12 {
		t.Fatalf("%d bytes: not a Parquet file", len(file))
	}
	n := int(binary.LittleEndian.Uint32(file[len(file)-8:]))
	start := len(file) - 8 - n
	md, err := metadata.NewFileMetaData(file[start:len(file)-8], nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, rg := range md.RowGroups {
		for _, c := range rg.Columns {
			st := c.MetaData.EncodingStats
			sort.Slice(st, func(i, j int) bool {
				if st[i].PageType != st[j].PageType {
					return st[i].PageType < st[j].PageType
				}
				return st[i].Encoding < st[j].Encoding
			})
		}
	}
	footer, err = md.Serialize(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return file[:start], footer
}

func firstDifference(got, want []byte) string {
	at := 0
	for at < min(len(got), len(want)) && got[at] == want[at] {
		at++
	}
	return fmt.Sprintf("%d bytes, pqarrow's %d; first difference at byte %d", len(got), len(want), at)
}

// TestColumnWriterDictionaryMatchesPqarrow: dictionary columns of few
// distinct values, written mostly as indices looked up by stringDict, give
// pqarrow's file byte for byte — new values arriving mid-row-group and
// mid-batch, nulls, empty strings (a first batch of nothing else), values
// of every length, values that share a slot of stringDict's lookup memo,
// string and binary types with 32- and 64-bit offsets, whole chunks of
// nulls before the first value of a row group, batches that span pages and
// row groups, every codec, and a dictionary that outgrows its page limit so
// the writer falls back to plain encoding mid-chunk.
func TestColumnWriterDictionaryMatchesPqarrow(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "cat", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "lcat", Type: arrow.BinaryTypes.LargeString, Nullable: true},
		{Name: "bcat", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "req", Type: arrow.BinaryTypes.String},
		{Name: "grow", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "empty", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "late", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "blank", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "clash", Type: arrow.BinaryTypes.String},
	}, nil)
	dict := map[string]bool{"cat": true, "lcat": true, "bcat": true, "req": true, "grow": true, "empty": true, "late": true,
		"blank": true, "clash": true}
	// Values that share their length and first and last bytes, and so the
	// slot of stringDict's lookup memo.
	clash := []string{"axa", "aya", "aza", "a", "aa", "", "ab", "b"}
	rng := rand.New(rand.NewPCG(11, 12))
	word := func(k int) string { return strings.Repeat(string(rune('a'+k%26)), 1+k%7) + fmt.Sprint(k) }
	var recs []arrow.RecordBatch
	id := int64(0)
	for b, n := range []int{3000, 9000, 1, 20000, 4500} {
		rb := array.NewRecordBuilder(mem, sch)
		for i := 0; i < n; i++ {
			rb.Field(0).(*array.Int64Builder).Append(id)
			id++
			// Few values, more of them in later batches (new entries
			// mid-row-group), a tenth null.
			k := rng.IntN(4 + 3*b)
			null := rng.IntN(10) == 0
			for c, bld := range rb.Fields()[1:4] {
				if null {
					bld.AppendNull()
					continue
				}
				v := word(k + c)
				switch x := bld.(type) {
				case *array.StringBuilder:
					x.Append(v)
				case *array.LargeStringBuilder:
					x.Append(v)
				case *array.BinaryBuilder:
					x.Append([]byte(v))
				}
			}
			rb.Field(4).(*array.StringBuilder).Append(word(k % 5))
			// Distinct values accumulate until the dictionary page
			// limit (below) forces plain encoding.
			if null {
				rb.Field(5).AppendNull()
			} else {
				rb.Field(5).(*array.StringBuilder).Append(word(int(id / 3)))
			}
			if k == 0 {
				rb.Field(6).(*array.StringBuilder).Append("")
			} else {
				rb.Field(6).(*array.StringBuilder).Append(word(k))
			}
			// Null for whole chunks at the start of each row group of
			// 7000 rows: chunks with no value and an empty dictionary.
			if id%7000 < 2500 {
				rb.Field(7).AppendNull()
			} else {
				rb.Field(7).(*array.StringBuilder).Append(word(k))
			}
			// Only empty strings in the first batch (no value bytes at
			// all), then empty strings among others.
			if b == 0 || k%3 == 0 {
				rb.Field(8).(*array.StringBuilder).Append("")
			} else {
				rb.Field(8).(*array.StringBuilder).Append(word(k))
			}
			rb.Field(9).(*array.StringBuilder).Append(clash[rng.IntN(len(clash))])
		}
		recs = append(recs, rb.NewRecordBatch())
		rb.Release()
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	for _, codec := range []compress.Compression{compress.Codecs.Zstd, compress.Codecs.Snappy, compress.Codecs.Lz4Raw, compress.Codecs.Uncompressed} {
		for _, rgRows := range []int64{7000, 131072} {
			l := segment.RecommendedLayout()
			l.Compression = codec
			l.RowGroupRows = rgRows
			props := func() (*parquet.WriterProperties, pqarrow.ArrowWriterProperties) {
				wp := append(segment.WriterProperties(l, sch, dict), parquet.WithAllocator(mem),
					parquet.WithDictionaryPageSizeLimit(64*1024), parquet.WithDataPageSize(8*1024))
				return parquet.NewWriterProperties(wp...), pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem))
			}
			got, want, cw := writeBothWays(t, sch, recs, props, rgRows)
			if diff := sameFile(t, got, want); diff != "" {
				t.Fatalf("%s, row groups of %d: %s", codec, rgRows, diff)
			}
			for _, c := range []int{1, 2, 3, 4, 9} {
				if cw.indexed[c] < 10 {
					t.Errorf("%s: %d chunks written as indices, want most of them", sch.Field(c).Name, cw.indexed[c])
				}
			}
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
	cw, err := newColumnWriter(sch, struct{ io.Writer }{&out}, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem)))
	if err != nil {
		t.Fatal(err)
	}
	err = cw.write(rec, nil)
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
