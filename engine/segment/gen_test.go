package segment

import (
	"bytes"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Test data: tables of every type the store keeps, written by pqarrow the
// way engine/segment.go writes segments, with variants of every writer
// property the reader must handle.

// allTypes is one field per stored type; nullable and not.
func allTypes(nullable bool) []arrow.Field {
	f := func(name string, t arrow.DataType) arrow.Field {
		return arrow.Field{Name: name, Type: t, Nullable: nullable}
	}
	return []arrow.Field{
		f("i8", arrow.PrimitiveTypes.Int8), f("i16", arrow.PrimitiveTypes.Int16),
		f("i32", arrow.PrimitiveTypes.Int32), f("i64", arrow.PrimitiveTypes.Int64),
		f("u8", arrow.PrimitiveTypes.Uint8), f("u16", arrow.PrimitiveTypes.Uint16),
		f("u32", arrow.PrimitiveTypes.Uint32), f("u64", arrow.PrimitiveTypes.Uint64),
		f("f32", arrow.PrimitiveTypes.Float32), f("f64", arrow.PrimitiveTypes.Float64),
		f("b", arrow.FixedWidthTypes.Boolean),
		f("s", arrow.BinaryTypes.String), f("ls", arrow.BinaryTypes.LargeString),
		f("bin", arrow.BinaryTypes.Binary), f("lbin", arrow.BinaryTypes.LargeBinary),
		f("d5", &arrow.Decimal128Type{Precision: 5, Scale: 2}),
		f("d15", &arrow.Decimal128Type{Precision: 15, Scale: 3}),
		f("d38", &arrow.Decimal128Type{Precision: 38, Scale: 10}),
		f("date", arrow.FixedWidthTypes.Date32),
		f("t32", arrow.FixedWidthTypes.Time32ms),
		f("t64u", arrow.FixedWidthTypes.Time64us), f("t64n", arrow.FixedWidthTypes.Time64ns),
		f("tsms", &arrow.TimestampType{Unit: arrow.Millisecond}),
		f("tsus", &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}),
		f("tsns", &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "Asia/Karachi"}),
		f("fsb", &arrow.FixedSizeBinaryType{ByteWidth: 3}),
	}
}

// valueMode shapes a generated column.
type valueMode int

const (
	modeRandom valueMode = iota
	modeAllEqual
	modeDistinct
	modeLowCard
)

func randBytes(rng *rand.Rand, long bool) []byte {
	n := rng.Intn(12)
	switch {
	case long && rng.Intn(40) == 0:
		n = 3000 + rng.Intn(3000)
	case rng.Intn(6) == 0:
		n = 0
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + rng.Intn(26))
	}
	return b
}

// genColumn builds n values of type t: nulls with probability nullFrac
// (for nullable fields), values by mode.
func genColumn(rng *rand.Rand, mem memory.Allocator, t arrow.DataType, n int, nullFrac float64, mode valueMode) arrow.Array {
	b := array.NewBuilder(mem, t)
	defer b.Release()
	fixed := rng.Int63()
	pick := func(i int) int64 {
		switch mode {
		case modeAllEqual:
			return fixed
		case modeDistinct:
			return int64(i)*7919 + fixed%1000
		case modeLowCard:
			return int64(rng.Intn(5)) * 1013
		}
		return rng.Int63() - rng.Int63()
	}
	strs := []string{"", "alpha", "beta", strings.Repeat("long-", 900)}
	for i := 0; i < n; i++ {
		if nullFrac > 0 && rng.Float64() < nullFrac {
			b.AppendNull()
			continue
		}
		v := pick(i)
		switch bb := b.(type) {
		case *array.Int8Builder:
			bb.Append(int8(v))
		case *array.Int16Builder:
			bb.Append(int16(v))
		case *array.Int32Builder:
			bb.Append(int32(v))
		case *array.Int64Builder:
			bb.Append(v)
		case *array.Uint8Builder:
			bb.Append(uint8(v))
		case *array.Uint16Builder:
			bb.Append(uint16(v))
		case *array.Uint32Builder:
			bb.Append(uint32(v))
		case *array.Uint64Builder:
			bb.Append(uint64(v))
		case *array.Float32Builder:
			bb.Append(float32(v) / 7)
		case *array.Float64Builder:
			bb.Append(float64(v) / 7)
		case *array.BooleanBuilder:
			bb.Append(v&1 == 1)
		case *array.StringBuilder:
			bb.Append(genString(rng, mode, v, strs))
		case *array.LargeStringBuilder:
			bb.Append(genString(rng, mode, v, strs))
		case *array.BinaryBuilder:
			bb.Append([]byte(genString(rng, mode, v, strs)))
		case *array.Decimal128Builder:
			dt := t.(*arrow.Decimal128Type)
			lim := int64(1)
			for k := int32(0); k < min(dt.Precision, 18); k++ {
				lim *= 10
			}
			x := v % lim
			if dt.Precision > 18 {
				bb.Append(decimal128.FromI64(x).Mul(decimal128.FromI64(1_000_000_007)))
			} else {
				bb.Append(decimal128.FromI64(x))
			}
		case *array.Date32Builder:
			bb.Append(arrow.Date32(v % 100000))
		case *array.Time32Builder:
			bb.Append(arrow.Time32((v%86400000 + 86400000) % 86400000))
		case *array.Time64Builder:
			unit := t.(*arrow.Time64Type).Unit
			day := int64(86400_000_000)
			if unit == arrow.Nanosecond {
				day *= 1000
			}
			bb.Append(arrow.Time64((v%day + day) % day))
		case *array.TimestampBuilder:
			bb.Append(arrow.Timestamp(v % (1 << 52)))
		case *array.FixedSizeBinaryBuilder:
			bb.Append([]byte{byte(v), byte(v >> 8), byte(v >> 16)})
		default:
			panic(fmt.Sprintf("no generator for %T", b))
		}
	}
	return b.NewArray()
}

func genString(rng *rand.Rand, mode valueMode, v int64, strs []string) string {
	switch mode {
	case modeAllEqual:
		return strs[int(uint64(v)%uint64(len(strs)))]
	case modeDistinct:
		return fmt.Sprintf("k%019d", v)
	case modeLowCard:
		return strs[int(uint64(v/1013)%uint64(len(strs)))]
	}
	return string(randBytes(rng, true))
}

// writeVariant is one way of writing a segment.
type writeVariant struct {
	codec     compress.Compression
	dict      bool
	v2        bool
	rgRows    int64
	pageSize  int64 // 0: the default
	pageIndex bool
	decInt    bool // decimals as INT32/INT64 when they fit
}

func (v writeVariant) String() string {
	return fmt.Sprintf("%s/dict=%v/v2=%v/rg=%d/page=%d/idx=%v/decint=%v", v.codec, v.dict, v.v2, v.rgRows, v.pageSize, v.pageIndex, v.decInt)
}

func randomVariant(rng *rand.Rand) writeVariant {
	codecs := []compress.Compression{compress.Codecs.Uncompressed, compress.Codecs.Snappy, compress.Codecs.Zstd, compress.Codecs.Lz4Raw}
	rgs := []int64{1, 7, 100, 1000, 1 << 20}
	pages := []int64{0, 64, 1024}
	return writeVariant{codec: codecs[rng.Intn(len(codecs))], dict: rng.Intn(2) == 0, v2: rng.Intn(2) == 0,
		rgRows: rgs[rng.Intn(len(rgs))], pageSize: pages[rng.Intn(len(pages))], pageIndex: rng.Intn(2) == 0,
		decInt: rng.Intn(2) == 0}
}

// writeSegment writes rec the way engine/segment.go does (pqarrow with the
// stored schema, buffered row groups of rgRows rows), with v's properties.
func writeSegment(t testing.TB, rec arrow.RecordBatch, v writeVariant) []byte {
	t.Helper()
	opts := []parquet.WriterProperty{
		parquet.WithCompression(v.codec),
		parquet.WithMaxRowGroupLength(v.rgRows),
		parquet.WithStats(true),
		parquet.WithCreatedBy("libkalam"),
		parquet.WithDictionaryDefault(v.dict),
		parquet.WithPageIndexEnabled(v.pageIndex),
		parquet.WithStoreDecimalAsInteger(v.decInt),
	}
	if v.v2 {
		opts = append(opts, parquet.WithDataPageVersion(parquet.DataPageV2))
	}
	if v.pageSize > 0 {
		opts = append(opts, parquet.WithDataPageSize(v.pageSize), parquet.WithBatchSize(16))
	}
	var buf bytes.Buffer
	w, err := pqarrow.NewFileWriter(rec.Schema(), &buf, parquet.NewWriterProperties(opts...),
		pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	n := rec.NumRows()
	var off, inRG int64
	for off < n {
		room := v.rgRows - inRG
		if room <= 0 {
			w.NewBufferedRowGroup()
			inRG, room = 0, v.rgRows
		}
		take := min(room, n-off)
		part := fslAtZero(rec.NewSlice(off, off+take))
		if err := w.WriteBuffered(part); err != nil {
			t.Fatal(err)
		}
		part.Release()
		inRG += take
		off += take
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fslAtZero returns rec (taking its reference) with its top-level
// fixed_size_list columns at offset 0: pqarrow's writer reads a sliced
// one's values from its child's start (the engine's fslwrite.go).
func fslAtZero(rec arrow.RecordBatch) arrow.RecordBatch {
	cols := make([]arrow.Array, rec.NumCols())
	for i, c := range rec.Columns() {
		d := c.Data()
		if t, ok := c.DataType().(*arrow.FixedSizeListType); ok && d.Offset() != 0 {
			size := int64(t.Len())
			child := array.NewSliceData(d.Children()[0], int64(d.Offset())*size, int64(d.Offset()+d.Len())*size)
			var valid *memory.Buffer
			if c.NullN() > 0 {
				valid = memory.NewResizableBuffer(memory.DefaultAllocator)
				valid.Resize(int(bitutil.BytesForBits(int64(d.Len()))))
				bitutil.CopyBitmap(c.NullBitmapBytes(), d.Offset(), d.Len(), valid.Bytes(), 0)
				defer valid.Release()
			}
			nd := array.NewData(t, d.Len(), []*memory.Buffer{valid}, []arrow.ArrayData{child}, c.NullN(), 0)
			child.Release()
			cols[i] = array.MakeFromData(nd)
			nd.Release()
			continue
		}
		c.Retain()
		cols[i] = c
	}
	out := array.NewRecordBatch(rec.Schema(), cols, rec.NumRows())
	for _, c := range cols {
		c.Release()
	}
	rec.Release()
	return out
}

// writeWithProps writes rec as one row group with the given properties.
func writeWithProps(t testing.TB, rec arrow.RecordBatch, props ...parquet.WriterProperty) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := pqarrow.NewFileWriter(rec.Schema(), &buf, parquet.NewWriterProperties(props...),
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
	return buf.Bytes()
}

// randomTable builds a table of random columns of every type.
func randomTable(rng *rand.Rand, mem memory.Allocator, rows int) arrow.RecordBatch {
	fields := allTypes(true)
	req := allTypes(false)
	for i := range req {
		req[i].Name += "_req"
	}
	fields = append(fields, req...)
	cols := make([]arrow.Array, len(fields))
	fracs := []float64{0, 0, 0.05, 0.5, 1}
	for i, f := range fields {
		frac := 0.0
		if f.Nullable {
			frac = fracs[rng.Intn(len(fracs))]
		}
		cols[i] = genColumn(rng, mem, f.Type, rows, frac, valueMode(rng.Intn(4)))
	}
	// fixed_size_list columns (embeddings), nullable or not (segments
	// write every non-key column nullable), their values nullable or not.
	for _, l := range []struct {
		name     string
		size     int32
		elem     arrow.DataType
		nullable bool
	}{
		{"fsl_f32", 4, arrow.PrimitiveTypes.Float32, true},
		{"fsl_i16", 3, arrow.PrimitiveTypes.Int16, false},
		{"fsl_dec", 2, &arrow.Decimal128Type{Precision: 15, Scale: 3}, true},
		{"fsl_ts", 1, &arrow.TimestampType{Unit: arrow.Microsecond}, false},
	} {
		frac := 0.0
		if l.nullable {
			frac = fracs[rng.Intn(len(fracs))]
		}
		vals := genColumn(rng, mem, l.elem, rows*int(l.size), frac, valueMode(rng.Intn(4)))
		typ := arrow.FixedSizeListOfField(l.size, arrow.Field{Name: "element", Type: l.elem, Nullable: l.nullable})
		// No null lists: pqarrow writes none between lists with values
		// (the engine writes such columns as lists, fslwrite.go); the
		// engine's tests read null lists.
		d := array.NewData(typ, rows, []*memory.Buffer{nil}, []arrow.ArrayData{vals.Data()}, 0, 0)
		fields = append(fields, arrow.Field{Name: l.name, Type: typ, Nullable: rng.Intn(2) == 0})
		cols = append(cols, array.MakeFromData(d))
		d.Release()
		vals.Release()
	}
	rec := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(rows))
	for _, c := range cols {
		c.Release()
	}
	return rec
}
