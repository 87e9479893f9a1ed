package rowcodec

import (
	"bytes"
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/decimal256"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/kerr"
)

func st(fields ...arrow.Field) *arrow.StructType { return arrow.StructOf(fields...) }

func fld(name string, t arrow.DataType) arrow.Field {
	return arrow.Field{Name: name, Type: t, Nullable: true}
}

// allTypes is every type family the codec supports, nested ones included.
var allTypes = []arrow.DataType{
	arrow.Null,
	arrow.FixedWidthTypes.Boolean,
	arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Int16, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64,
	arrow.PrimitiveTypes.Uint8, arrow.PrimitiveTypes.Uint16, arrow.PrimitiveTypes.Uint32, arrow.PrimitiveTypes.Uint64,
	arrow.FixedWidthTypes.Float16, arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float64,
	arrow.BinaryTypes.String, arrow.BinaryTypes.LargeString, arrow.BinaryTypes.StringView,
	arrow.BinaryTypes.Binary, arrow.BinaryTypes.LargeBinary, arrow.BinaryTypes.BinaryView,
	&arrow.FixedSizeBinaryType{ByteWidth: 5},
	&arrow.Decimal32Type{Precision: 9, Scale: 2}, &arrow.Decimal64Type{Precision: 18, Scale: 3},
	&arrow.Decimal128Type{Precision: 38, Scale: 5}, &arrow.Decimal256Type{Precision: 76, Scale: 1},
	arrow.FixedWidthTypes.Date32, arrow.FixedWidthTypes.Date64,
	arrow.FixedWidthTypes.Time32s, arrow.FixedWidthTypes.Time32ms,
	arrow.FixedWidthTypes.Time64us, arrow.FixedWidthTypes.Time64ns,
	&arrow.TimestampType{Unit: arrow.Second}, &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"},
	&arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "Europe/Paris"}, &arrow.TimestampType{Unit: arrow.Nanosecond},
	arrow.FixedWidthTypes.Duration_s, arrow.FixedWidthTypes.Duration_us,
	arrow.FixedWidthTypes.MonthInterval, arrow.FixedWidthTypes.DayTimeInterval,
	arrow.FixedWidthTypes.MonthDayNanoInterval,
	arrow.ListOf(arrow.PrimitiveTypes.Int32),
	arrow.ListOf(arrow.BinaryTypes.String),
	arrow.ListOf(arrow.Null),
	arrow.ListOf(arrow.ListOf(arrow.PrimitiveTypes.Int8)),
	arrow.LargeListOf(st(fld("a", arrow.PrimitiveTypes.Int64), fld("b", arrow.ListOf(arrow.BinaryTypes.LargeString)))),
	arrow.FixedSizeListOf(3, arrow.PrimitiveTypes.Float64),
	arrow.FixedSizeListOf(2, arrow.BinaryTypes.StringView),
	st(fld("x", arrow.FixedWidthTypes.Boolean), fld("y", &arrow.Decimal128Type{Precision: 20, Scale: 2}),
		fld("z", st(fld("w", arrow.BinaryTypes.BinaryView)))),
	st(fld("n", arrow.Null), fld("s", arrow.BinaryTypes.String)),
	st(fld("f0", arrow.PrimitiveTypes.Int8), fld("f1", arrow.PrimitiveTypes.Int16), fld("f2", arrow.BinaryTypes.String),
		fld("f3", arrow.FixedWidthTypes.Boolean), fld("f4", arrow.PrimitiveTypes.Uint64), fld("f5", arrow.ListOf(arrow.PrimitiveTypes.Int8)),
		fld("f6", arrow.PrimitiveTypes.Float32), fld("f7", arrow.BinaryTypes.Binary), fld("f8", arrow.FixedWidthTypes.Date32),
		fld("f9", arrow.PrimitiveTypes.Int64)),
	st(),
	arrow.MapOf(arrow.BinaryTypes.String, arrow.ListOf(arrow.PrimitiveTypes.Int16)),
	arrow.MapOf(arrow.PrimitiveTypes.Int32, arrow.BinaryTypes.String),
}

var randStrings = []string{"", "a", "héllo", "\x00", "exactly12byt", "a string longer than twelve bytes", "\xff\xfe"}

func randBytes(r *rand.Rand) []byte {
	if r.Intn(4) == 0 {
		return []byte{}
	}
	b := make([]byte, r.Intn(40))
	r.Read(b)
	return b
}

// appendRandom appends one random value (null with probability 1/6 unless
// nonNull) to b, recursing into nested builders so nulls occur at every level.
func appendRandom(t testing.TB, r *rand.Rand, b array.Builder, nonNull bool) {
	if !nonNull && r.Intn(6) == 0 {
		b.AppendNull()
		return
	}
	switch bb := b.(type) {
	case *array.NullBuilder:
		bb.AppendNull()
	case *array.BooleanBuilder:
		bb.Append(r.Intn(2) == 0)
	case *array.Int8Builder:
		bb.Append(int8(r.Uint32()))
	case *array.Int16Builder:
		bb.Append(int16(r.Uint32()))
	case *array.Int32Builder:
		bb.Append(int32(r.Uint32()))
	case *array.Int64Builder:
		bb.Append([]int64{math.MinInt64, math.MaxInt64, 0, -1, int64(r.Uint64())}[r.Intn(5)])
	case *array.Uint8Builder:
		bb.Append(uint8(r.Uint32()))
	case *array.Uint16Builder:
		bb.Append(uint16(r.Uint32()))
	case *array.Uint32Builder:
		bb.Append(r.Uint32())
	case *array.Uint64Builder:
		bb.Append([]uint64{math.MaxUint64, 0, r.Uint64()}[r.Intn(3)])
	case *array.Float16Builder:
		bb.Append(float16.New(float32(r.NormFloat64() * 100)))
	case *array.Float32Builder:
		bb.Append([]float32{float32(math.Inf(-1)), float32(math.Copysign(0, -1)), math.MaxFloat32, float32(r.NormFloat64())}[r.Intn(4)])
	case *array.Float64Builder:
		bb.Append([]float64{math.Inf(1), math.Copysign(0, -1), math.SmallestNonzeroFloat64, r.NormFloat64() * 1e10}[r.Intn(4)])
	case *array.StringBuilder:
		bb.Append(randStrings[r.Intn(len(randStrings))])
	case *array.LargeStringBuilder:
		bb.Append(randStrings[r.Intn(len(randStrings))])
	case *array.StringViewBuilder:
		bb.Append(randStrings[r.Intn(len(randStrings))])
	case *array.BinaryBuilder:
		bb.Append(randBytes(r))
	case *array.BinaryViewBuilder:
		bb.Append(randBytes(r))
	case *array.FixedSizeBinaryBuilder:
		v := make([]byte, bb.Type().(*arrow.FixedSizeBinaryType).ByteWidth)
		r.Read(v)
		bb.Append(v)
	case *array.Decimal32Builder:
		bb.Append(decimal.Decimal32(int32(r.Uint32()) % 999999999))
	case *array.Decimal64Builder:
		bb.Append(decimal.Decimal64(int64(r.Uint64()) % 999999999999999999))
	case *array.Decimal128Builder:
		bb.Append(decimal128.New(int64(r.Uint64())>>8, r.Uint64()))
	case *array.Decimal256Builder:
		bb.Append(decimal256.New(r.Uint64()>>4, r.Uint64(), r.Uint64(), r.Uint64()))
	case *array.Date32Builder:
		bb.Append(arrow.Date32(int32(r.Uint32())))
	case *array.Date64Builder:
		bb.Append(arrow.Date64(int64(r.Uint64())))
	case *array.Time32Builder:
		bb.Append(arrow.Time32(r.Intn(86400)))
	case *array.Time64Builder:
		bb.Append(arrow.Time64(r.Int63n(86400e9)))
	case *array.TimestampBuilder:
		bb.Append(arrow.Timestamp(int64(r.Uint64())))
	case *array.DurationBuilder:
		bb.Append(arrow.Duration(int64(r.Uint64())))
	case *array.MonthIntervalBuilder:
		bb.Append(arrow.MonthInterval(int32(r.Uint32())))
	case *array.DayTimeIntervalBuilder:
		bb.Append(arrow.DayTimeInterval{Days: int32(r.Uint32()), Milliseconds: int32(r.Uint32())})
	case *array.MonthDayNanoIntervalBuilder:
		bb.Append(arrow.MonthDayNanoInterval{Months: int32(r.Uint32()), Days: -3, Nanoseconds: int64(r.Uint64())})
	case *array.ListBuilder:
		bb.Append(true)
		for n := r.Intn(5); n > 0; n-- {
			appendRandom(t, r, bb.ValueBuilder(), false)
		}
	case *array.LargeListBuilder:
		bb.Append(true)
		for n := r.Intn(5); n > 0; n-- {
			appendRandom(t, r, bb.ValueBuilder(), false)
		}
	case *array.FixedSizeListBuilder:
		bb.Append(true)
		for n := bb.Type().(*arrow.FixedSizeListType).Len(); n > 0; n-- {
			appendRandom(t, r, bb.ValueBuilder(), false)
		}
	case *array.MapBuilder:
		bb.Append(true)
		for n := r.Intn(4); n > 0; n-- {
			appendRandom(t, r, bb.KeyBuilder(), true)
			appendRandom(t, r, bb.ItemBuilder(), false)
		}
	case *array.StructBuilder:
		bb.Append(true)
		for k := 0; k < bb.NumField(); k++ {
			appendRandom(t, r, bb.FieldBuilder(k), false)
		}
	default:
		t.Fatalf("appendRandom: no case for %T", b)
	}
}

// randomColumns builds n random rows of schema.
func randomColumns(t testing.TB, mem memory.Allocator, r *rand.Rand, schema *arrow.Schema, n int) []arrow.Array {
	cols := make([]arrow.Array, schema.NumFields())
	for i, f := range schema.Fields() {
		b := array.NewBuilder(mem, f.Type)
		for j := 0; j < n; j++ {
			appendRandom(t, r, b, false)
		}
		cols[i] = b.NewArray()
		b.Release()
	}
	return cols
}

func release(arrs []arrow.Array) {
	for _, a := range arrs {
		a.Release()
	}
}

func newBuilders(mem memory.Allocator, schema *arrow.Schema, want []int) []array.Builder {
	bs := make([]array.Builder, len(want))
	for k, f := range want {
		bs[k] = array.NewBuilder(mem, schema.Field(f).Type)
	}
	return bs
}

func finish(bs []array.Builder) []arrow.Array {
	out := make([]arrow.Array, len(bs))
	for k, b := range bs {
		out[k] = b.NewArray()
		b.Release()
	}
	return out
}

func encodeAll(t testing.TB, enc *Encoder, cols []arrow.Array) [][]byte {
	t.Helper()
	if err := enc.CheckColumns(cols); err != nil {
		t.Fatal(err)
	}
	rows := make([][]byte, cols[0].Len())
	for i := range rows {
		rows[i] = enc.AppendRow(nil, cols, i)
	}
	return rows
}

func iota(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// roundTrip encodes cols, decodes `want` columns and checks they equal the
// originals and re-encode to the same bytes.
func roundTrip(t *testing.T, mem memory.Allocator, schema *arrow.Schema, cols []arrow.Array, want []int) {
	t.Helper()
	enc, err := NewEncoder(schema)
	if err != nil {
		t.Fatal(err)
	}
	rows := encodeAll(t, enc, cols)
	dec, err := NewDecoder(schema, want)
	if err != nil {
		t.Fatal(err)
	}
	bs := newBuilders(mem, schema, want)
	for i, row := range rows {
		if row[0] != FormatVersion {
			t.Fatalf("row %d starts with %d", i, row[0])
		}
		if err := dec.DecodeRow(row, bs); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
	}
	got := finish(bs)
	defer release(got)
	for k, f := range want {
		if !array.Equal(got[k], cols[f]) {
			t.Fatalf("column %d (%s): decoded\n%v\nwant\n%v", f, schema.Field(f).Type, got[k], cols[f])
		}
	}
	if len(want) == len(cols) && isIota(want) {
		for i, row := range rows {
			if again := enc.AppendRow(nil, got, i); !bytes.Equal(again, row) {
				t.Fatalf("row %d re-encodes to %x, was %x", i, again, row)
			}
		}
	}
}

func isIota(w []int) bool {
	for i, v := range w {
		if v != i {
			return false
		}
	}
	return true
}

func TestRoundTripEachType(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for ti, dt := range allTypes {
		t.Run(dt.String(), func(t *testing.T) {
			if !Supported(dt) {
				t.Fatalf("Supported(%s) = false", dt)
			}
			r := rand.New(rand.NewSource(int64(ti)))
			schema := arrow.NewSchema([]arrow.Field{fld("c", dt), fld("after", arrow.PrimitiveTypes.Int32)}, nil)
			cols := randomColumns(t, mem, r, schema, 400)
			defer release(cols)
			roundTrip(t, mem, schema, cols, []int{0, 1})
			// Skipping the column must land exactly on the next one.
			roundTrip(t, mem, schema, cols, []int{1})
			// Sliced inputs (non-zero offsets at every level) encode their own rows.
			sliced := []arrow.Array{array.NewSlice(cols[0], 13, 390), array.NewSlice(cols[1], 13, 390)}
			defer release(sliced)
			roundTrip(t, mem, schema, sliced, []int{0, 1})
		})
	}
}

func wideSchema() *arrow.Schema {
	fields := make([]arrow.Field, len(allTypes))
	for i, dt := range allTypes {
		fields[i] = fld(fmt.Sprintf("c%d", i), dt)
	}
	return arrow.NewSchema(fields, nil)
}

func TestRoundTripWideRowAndProjection(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := wideSchema()
	cols := randomColumns(t, mem, rand.New(rand.NewSource(42)), schema, 300)
	defer release(cols)
	n := len(allTypes)
	roundTrip(t, mem, schema, cols, iota(n))
	roundTrip(t, mem, schema, cols, []int{n - 1, 0, 13, 13, n / 2})
	roundTrip(t, mem, schema, cols, []int{})
	r := rand.New(rand.NewSource(3))
	for k := 0; k < 10; k++ {
		want := r.Perm(n)[:1+r.Intn(n)]
		roundTrip(t, mem, schema, cols, want)
	}
}

// TestManyColumns covers the decoder's heap path for schemas wider than its
// stack buffer.
func TestManyColumns(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	fields := make([]arrow.Field, 100)
	for i := range fields {
		fields[i] = fld(fmt.Sprintf("c%d", i), []arrow.DataType{arrow.PrimitiveTypes.Int64, arrow.BinaryTypes.String,
			arrow.ListOf(arrow.PrimitiveTypes.Int8)}[i%3])
	}
	schema := arrow.NewSchema(fields, nil)
	cols := randomColumns(t, mem, rand.New(rand.NewSource(8)), schema, 50)
	defer release(cols)
	roundTrip(t, mem, schema, cols, iota(100))
	roundTrip(t, mem, schema, cols, []int{99, 64, 1})
}

func TestNaNBitsPreserved(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{fld("f", arrow.PrimitiveTypes.Float64)}, nil)
	b := array.NewFloat64Builder(mem)
	nan := math.Float64frombits(0xFFF8000000000123)
	b.Append(nan)
	col := b.NewArray()
	b.Release()
	defer col.Release()
	enc, _ := NewEncoder(schema)
	row := enc.AppendRow(nil, []arrow.Array{col}, 0)
	dec, _ := NewDecoder(schema, []int{0})
	bs := newBuilders(mem, schema, []int{0})
	if err := dec.DecodeRow(row, bs); err != nil {
		t.Fatal(err)
	}
	got := finish(bs)
	defer release(got)
	if bits := math.Float64bits(got[0].(*array.Float64).Value(0)); bits != 0xFFF8000000000123 {
		t.Fatalf("NaN bits %x", bits)
	}
}

// TestRowLayout pins the format so that it cannot change silently.
func TestRowLayout(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		fld("i", arrow.PrimitiveTypes.Int32), fld("s", arrow.BinaryTypes.String),
		fld("n", arrow.PrimitiveTypes.Int64), fld("l", arrow.ListOf(arrow.PrimitiveTypes.Int16)),
	}, nil)
	ib := array.NewInt32Builder(mem)
	ib.Append(-2)
	sb := array.NewStringBuilder(mem)
	sb.Append("hi")
	nb := array.NewInt64Builder(mem)
	nb.AppendNull()
	lb := array.NewListBuilder(mem, arrow.PrimitiveTypes.Int16)
	lb.Append(true)
	vb := lb.ValueBuilder().(*array.Int16Builder)
	vb.Append(7)
	vb.AppendNull()
	vb.Append(-1)
	cols := []arrow.Array{ib.NewArray(), sb.NewArray(), nb.NewArray(), lb.NewArray()}
	defer release(cols)
	for _, b := range []array.Builder{ib, sb, nb, lb} {
		b.Release()
	}
	enc, _ := NewEncoder(schema)
	got := enc.AppendRow([]byte{0xEE}, cols, 0)
	want := []byte{0xEE, 1, 0b1011, 0xFE, 0xFF, 0xFF, 0xFF, 2, 'h', 'i', 3, 0b101, 7, 0, 0xFF, 0xFF}
	if !bytes.Equal(got, want) {
		t.Fatalf("row = %x, want %x", got, want)
	}
}

func TestErrors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	bad := []arrow.DataType{
		&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String},
		arrow.DenseUnionOf([]arrow.Field{fld("a", arrow.PrimitiveTypes.Int8)}, []arrow.UnionTypeCode{0}),
		arrow.RunEndEncodedOf(arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int8),
		arrow.ListViewOf(arrow.PrimitiveTypes.Int8),
	}
	for _, dt := range bad {
		if Supported(dt) {
			t.Errorf("Supported(%s) = true", dt)
		}
		_, err := NewEncoder(arrow.NewSchema([]arrow.Field{fld("ok", arrow.PrimitiveTypes.Int8), fld("bad_col", dt)}, nil))
		if !kerr.Is(err, kerr.InvalidArgument) || !strings.Contains(err.Error(), `column 1 "bad_col"`) {
			t.Errorf("NewEncoder with %s: %v", dt, err)
		}
	}
	nested := arrow.NewSchema([]arrow.Field{fld("deep", arrow.ListOf(st(fld("u", bad[1]))))}, nil)
	if _, err := NewDecoder(nested, []int{0}); !kerr.Is(err, kerr.InvalidArgument) ||
		!strings.Contains(err.Error(), `"deep"`) || !strings.Contains(err.Error(), `struct field "u"`) {
		t.Errorf("nested unsupported: %v", err)
	}
	if _, err := NewEncoder(nil); !kerr.Is(err, kerr.InvalidArgument) {
		t.Errorf("nil schema: %v", err)
	}

	schema := arrow.NewSchema([]arrow.Field{fld("a", arrow.PrimitiveTypes.Int64), fld("b", arrow.BinaryTypes.String)}, nil)
	if _, err := NewDecoder(schema, []int{2}); !kerr.Is(err, kerr.InvalidArgument) {
		t.Errorf("want out of range: %v", err)
	}
	enc, _ := NewEncoder(schema)
	cols := randomColumns(t, mem, rand.New(rand.NewSource(1)), schema, 4)
	defer release(cols)
	if err := enc.CheckColumns(cols[:1]); !kerr.Is(err, kerr.InvalidArgument) {
		t.Errorf("CheckColumns short: %v", err)
	}
	if err := enc.CheckColumns([]arrow.Array{cols[1], cols[0]}); !kerr.Is(err, kerr.InvalidArgument) ||
		!strings.Contains(err.Error(), `"a"`) {
		t.Errorf("CheckColumns swapped: %v", err)
	}
	row := enc.AppendRow(nil, cols, 0)
	dec, _ := NewDecoder(schema, []int{0, 1})
	if err := dec.DecodeRow(row, nil); !kerr.Is(err, kerr.InvalidArgument) {
		t.Errorf("no builders: %v", err)
	}
	wrong := []array.Builder{array.NewInt64Builder(mem), array.NewInt64Builder(mem)}
	err := dec.DecodeRow(enc.AppendRow(nil, []arrow.Array{cols[0], cols[1]}, 1), wrong)
	if cols[1].IsValid(1) && (!kerr.Is(err, kerr.InvalidArgument) || !strings.Contains(err.Error(), `"b"`)) {
		t.Errorf("wrong builder type: %v", err)
	}
	release(finish(wrong))
	bs := newBuilders(mem, schema, []int{0, 1})
	defer func() { release(finish(bs)) }()
	badVersion := append([]byte{2}, row[1:]...)
	if err := dec.DecodeRow(badVersion, bs); !kerr.Is(err, kerr.Corruption) {
		t.Errorf("version 2: %v", err)
	}
	if err := dec.DecodeRow(append(row, 0), bs); !kerr.Is(err, kerr.Corruption) {
		t.Errorf("trailing byte: %v", err)
	}
	for _, b := range bs {
		if b.Len() != 0 {
			t.Errorf("builder appended to on error: len %d", b.Len())
		}
	}
}

// TestTruncationsAndGarbage decodes every truncation and many corruptions of
// valid rows of the wide schema: always an error for truncations, never a
// panic, and builders are untouched on error and grow by one row on success.
func TestTruncationsAndGarbage(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := wideSchema()
	cols := randomColumns(t, mem, rand.New(rand.NewSource(11)), schema, 40)
	defer release(cols)
	enc, _ := NewEncoder(schema)
	rows := encodeAll(t, enc, cols)
	dec, _ := NewDecoder(schema, iota(schema.NumFields()))
	bs := newBuilders(mem, schema, iota(schema.NumFields()))
	defer func() { release(finish(bs)) }()
	r := rand.New(rand.NewSource(12))
	expectLen := 0
	check := func(src []byte, mustFail bool) {
		t.Helper()
		err := dec.DecodeRow(src, bs)
		if err != nil {
			if !kerr.Is(err, kerr.Corruption) {
				t.Fatalf("decode %x: %v, want Corruption", src, err)
			}
		} else {
			if mustFail {
				t.Fatalf("decode of truncated row %x succeeded", src)
			}
			expectLen++
		}
		for k, b := range bs {
			if b.Len() != expectLen {
				t.Fatalf("builder %d has %d rows, want %d", k, b.Len(), expectLen)
			}
		}
	}
	for _, row := range rows {
		for cut := 0; cut < len(row); cut++ {
			check(row[:cut], true)
		}
		for k := 0; k < 50; k++ {
			g := append([]byte(nil), row...)
			for m := 1 + r.Intn(3); m > 0; m-- {
				g[r.Intn(len(g))] = byte(r.Intn(256))
			}
			check(g, false)
		}
	}
	for k := 0; k < 2000; k++ {
		g := make([]byte, r.Intn(64))
		r.Read(g)
		if len(g) > 0 {
			g[0] = FormatVersion
		}
		check(g, false)
	}
	got := finish(bs)
	bs = nil
	release(got)
}

func narrowSchema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		fld("id", arrow.PrimitiveTypes.Int64),
		fld("ts", &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}),
		fld("name", arrow.BinaryTypes.String),
		fld("score", arrow.PrimitiveTypes.Float64),
		fld("n", arrow.PrimitiveTypes.Int32),
	}, nil)
}

func BenchmarkEncodeNarrowRow(b *testing.B) {
	mem := memory.NewGoAllocator()
	schema := narrowSchema()
	cols := randomColumns(b, mem, rand.New(rand.NewSource(1)), schema, 1024)
	defer release(cols)
	enc, _ := NewEncoder(schema)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf = enc.AppendRow(buf[:0], cols, i&1023)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/row")
}

func BenchmarkDecodeNarrowRow(b *testing.B) {
	mem := memory.NewGoAllocator()
	schema := narrowSchema()
	cols := randomColumns(b, mem, rand.New(rand.NewSource(1)), schema, 1024)
	defer release(cols)
	enc, _ := NewEncoder(schema)
	rows := encodeAll(b, enc, cols)
	dec, _ := NewDecoder(schema, iota(5))
	bs := newBuilders(mem, schema, iota(5))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i&1023 == 0 && i > 0 {
			release(finish(bs))
			bs = newBuilders(mem, schema, iota(5))
		}
		if err := dec.DecodeRow(rows[i&1023], bs); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	release(finish(bs))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/row")
}
