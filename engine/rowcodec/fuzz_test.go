package rowcodec

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand"
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

// fuzzInput hands out the fuzzer's bytes; past the end it yields zeros,
// which generate NULLs and empty lists, so every input describes finite rows.
type fuzzInput struct{ b []byte }

func (in *fuzzInput) byte() byte {
	if len(in.b) == 0 {
		return 0
	}
	c := in.b[0]
	in.b = in.b[1:]
	return c
}

func (in *fuzzInput) bytes(n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = in.byte()
	}
	return out
}

func (in *fuzzInput) u16() uint16 { return binary.LittleEndian.Uint16(in.bytes(2)) }
func (in *fuzzInput) u32() uint32 { return binary.LittleEndian.Uint32(in.bytes(4)) }
func (in *fuzzInput) u64() uint64 { return binary.LittleEndian.Uint64(in.bytes(8)) }

// appendFuzz appends one value read from the input to b: a lead byte decides
// NULL (one in six, and always once the input is exhausted), the rest is raw
// bits — every float bit pattern (NaN payloads, -0, subnormals), any integer,
// strings of arbitrary bytes, and up to 5 list elements or 3 map entries.
func appendFuzz(t *testing.T, in *fuzzInput, b array.Builder, nonNull bool) {
	lead := in.byte()
	if !nonNull && lead%6 == 0 {
		b.AppendNull()
		return
	}
	switch bb := b.(type) {
	case *array.NullBuilder:
		bb.AppendNull()
	case *array.BooleanBuilder:
		bb.Append(lead&0x80 != 0)
	case *array.Int8Builder:
		bb.Append(int8(in.byte()))
	case *array.Int16Builder:
		bb.Append(int16(in.u16()))
	case *array.Int32Builder:
		bb.Append(int32(in.u32()))
	case *array.Int64Builder:
		bb.Append(int64(in.u64()))
	case *array.Uint8Builder:
		bb.Append(in.byte())
	case *array.Uint16Builder:
		bb.Append(in.u16())
	case *array.Uint32Builder:
		bb.Append(in.u32())
	case *array.Uint64Builder:
		bb.Append(in.u64())
	case *array.Float16Builder:
		bb.Append(float16.FromBits(in.u16()))
	case *array.Float32Builder:
		bb.Append(math.Float32frombits(in.u32()))
	case *array.Float64Builder:
		bb.Append(math.Float64frombits(in.u64()))
	case *array.StringBuilder:
		bb.Append(string(in.bytes(int(lead >> 3))))
	case *array.LargeStringBuilder:
		bb.Append(string(in.bytes(int(lead >> 3))))
	case *array.StringViewBuilder:
		bb.Append(string(in.bytes(int(lead >> 3))))
	case *array.BinaryBuilder:
		bb.Append(in.bytes(int(lead >> 3)))
	case *array.BinaryViewBuilder:
		bb.Append(in.bytes(int(lead >> 3)))
	case *array.FixedSizeBinaryBuilder:
		bb.Append(in.bytes(bb.Type().(*arrow.FixedSizeBinaryType).ByteWidth))
	case *array.Decimal32Builder:
		bb.Append(decimal.Decimal32(int32(in.u32())))
	case *array.Decimal64Builder:
		bb.Append(decimal.Decimal64(int64(in.u64())))
	case *array.Decimal128Builder:
		bb.Append(decimal128.New(int64(in.u64()), in.u64()))
	case *array.Decimal256Builder:
		bb.Append(decimal256.New(in.u64(), in.u64(), in.u64(), in.u64()))
	case *array.Date32Builder:
		bb.Append(arrow.Date32(int32(in.u32())))
	case *array.Date64Builder:
		bb.Append(arrow.Date64(int64(in.u64())))
	case *array.Time32Builder:
		bb.Append(arrow.Time32(int32(in.u32())))
	case *array.Time64Builder:
		bb.Append(arrow.Time64(int64(in.u64())))
	case *array.TimestampBuilder:
		bb.Append(arrow.Timestamp(int64(in.u64())))
	case *array.DurationBuilder:
		bb.Append(arrow.Duration(int64(in.u64())))
	case *array.MonthIntervalBuilder:
		bb.Append(arrow.MonthInterval(int32(in.u32())))
	case *array.DayTimeIntervalBuilder:
		bb.Append(arrow.DayTimeInterval{Days: int32(in.u32()), Milliseconds: int32(in.u32())})
	case *array.MonthDayNanoIntervalBuilder:
		bb.Append(arrow.MonthDayNanoInterval{Months: int32(in.u32()), Days: int32(in.u32()), Nanoseconds: int64(in.u64())})
	case *array.ListBuilder:
		bb.Append(true)
		for n := (lead >> 3) % 6; n > 0; n-- {
			appendFuzz(t, in, bb.ValueBuilder(), false)
		}
	case *array.LargeListBuilder:
		bb.Append(true)
		for n := (lead >> 3) % 6; n > 0; n-- {
			appendFuzz(t, in, bb.ValueBuilder(), false)
		}
	case *array.FixedSizeListBuilder:
		bb.Append(true)
		for n := bb.Type().(*arrow.FixedSizeListType).Len(); n > 0; n-- {
			appendFuzz(t, in, bb.ValueBuilder(), false)
		}
	case *array.MapBuilder:
		bb.Append(true)
		for n := (lead >> 3) % 4; n > 0; n-- {
			appendFuzz(t, in, bb.KeyBuilder(), true)
			appendFuzz(t, in, bb.ItemBuilder(), false)
		}
	case *array.StructBuilder:
		bb.Append(true)
		for k := 0; k < bb.NumField(); k++ {
			appendFuzz(t, in, bb.FieldBuilder(k), false)
		}
	default:
		t.Fatalf("appendFuzz: no case for %T", b)
	}
}

// sameValues reports whether a and b hold the same values: equal as Arrow
// values (NaN equal to NaN, no tolerance) and bit for bit, which the
// one-column encoding of every row shows (it copies float bits verbatim).
func sameValues(a, b arrow.Array) error {
	if !arrow.TypeEqual(a.DataType(), b.DataType()) || a.Len() != b.Len() {
		return fmt.Errorf("type/length %s/%d vs %s/%d", a.DataType(), a.Len(), b.DataType(), b.Len())
	}
	if !array.ApproxEqual(a, b, array.WithNaNsEqual(true), array.WithAbsTolerance(0)) {
		return fmt.Errorf("values differ:\n%v\n%v", a, b)
	}
	enc, err := NewEncoder(arrow.NewSchema([]arrow.Field{fld("c", a.DataType())}, nil))
	if err != nil {
		return err
	}
	for i := 0; i < a.Len(); i++ {
		if x, y := enc.AppendRow(nil, []arrow.Array{a}, i), enc.AppendRow(nil, []arrow.Array{b}, i); !bytes.Equal(x, y) {
			return fmt.Errorf("row %d encodes as %x vs %x", i, x, y)
		}
	}
	return nil
}

// FuzzRowRoundTrip builds 1–4 rows of a schema of 1–12 columns drawn from
// every supported type (nested ones included) with values read from the
// input, then checks that every row decodes back to the same values — in
// full, and through a projection that skips, reorders and repeats columns —
// and that a decoded row re-encodes to the same bytes.
func FuzzRowRoundTrip(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 1, 0xff})
	r := rand.New(rand.NewSource(3))
	for i := 0; i < 2*len(allTypes); i++ {
		seed := make([]byte, 16+r.Intn(200))
		r.Read(seed)
		seed[0], seed[1], seed[2] = byte(r.Intn(4)), byte(r.Intn(12)), byte(i%len(allTypes))
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &fuzzInput{b: data}
		nrows := 1 + int(in.byte()%4)
		ncols := 1 + int(in.byte()%12)
		fields := make([]arrow.Field, ncols)
		for i := range fields {
			fields[i] = fld(fmt.Sprintf("c%d", i), allTypes[int(in.byte())%len(allTypes)])
		}
		schema := arrow.NewSchema(fields, nil)
		var want []int
		for n := int(in.byte() % 8); n > 0; n-- {
			want = append(want, int(in.byte())%ncols)
		}
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		cols := make([]arrow.Array, ncols)
		for c, fd := range fields {
			b := array.NewBuilder(mem, fd.Type)
			for i := 0; i < nrows; i++ {
				appendFuzz(t, in, b, false)
			}
			cols[c] = b.NewArray()
			b.Release()
		}
		defer release(cols)

		enc, err := NewEncoder(schema)
		if err != nil {
			t.Fatal(err)
		}
		rows := encodeAll(t, enc, cols)
		for _, proj := range [][]int{iota(ncols), want} {
			dec, err := NewDecoder(schema, proj)
			if err != nil {
				t.Fatal(err)
			}
			bs := newBuilders(mem, schema, proj)
			for i, row := range rows {
				if err := dec.DecodeRow(row, bs); err != nil {
					release(finish(bs))
					t.Fatalf("row %d (%x) of %v: %v", i, row, schema, err)
				}
			}
			got := finish(bs)
			for k, fi := range proj {
				if err := sameValues(got[k], cols[fi]); err != nil {
					release(got)
					t.Fatalf("column %d (%s) through projection %v: %v", fi, fields[fi].Type, proj, err)
				}
			}
			if len(proj) == ncols && isIota(proj) {
				for i, row := range rows {
					if again := enc.AppendRow(nil, got, i); !bytes.Equal(again, row) {
						release(got)
						t.Fatalf("row %d re-encodes to %x, was %x", i, again, row)
					}
				}
			}
			release(got)
		}
	})
}

// decodeTarget is one schema FuzzDecodeRow decodes against, with an
// encoder and decoders for a full, a reordered-with-repeats and an empty
// projection.
type decodeTarget struct {
	schema   *arrow.Schema
	enc      *Encoder
	projs    [][]int
	decoders []*Decoder
}

func newDecodeTarget(t testing.TB, schema *arrow.Schema) *decodeTarget {
	n := schema.NumFields()
	d := &decodeTarget{schema: schema, projs: [][]int{iota(n), {n - 1, 0, n / 2, 0}, {}}}
	var err error
	if d.enc, err = NewEncoder(schema); err != nil {
		t.Fatal(err)
	}
	for _, p := range d.projs {
		dec, err := NewDecoder(schema, p)
		if err != nil {
			t.Fatal(err)
		}
		d.decoders = append(d.decoders, dec)
	}
	return d
}

// FuzzDecodeRow feeds arbitrary bytes to the row decoder. The first byte
// picks the schema — a row of every type, or one type followed by an int32
// column, so the fuzzer can work on each type's body alone — and the rest is
// the row. Besides not panicking:
//   - an error is kerr.Corruption and leaves every builder untouched; a
//     success appends exactly one row to each (for every projection);
//   - allocation stays proportional to the input: no corrupt length prefix
//     may drive a huge allocation;
//   - a row that decodes re-encodes to a canonical row that decodes to the
//     same values and re-encodes to itself.
func FuzzDecodeRow(f *testing.F) {
	targets := []*decodeTarget{newDecodeTarget(f, wideSchema())}
	for _, dt := range allTypes {
		targets = append(targets, newDecodeTarget(f, arrow.NewSchema(
			[]arrow.Field{fld("c", dt), fld("after", arrow.PrimitiveTypes.Int32)}, nil)))
	}
	r := rand.New(rand.NewSource(5))
	for ti, tg := range targets {
		cols := randomColumns(f, memory.NewGoAllocator(), r, tg.schema, 4)
		for i := 0; i < cols[0].Len(); i++ {
			row := append([]byte{byte(ti)}, tg.enc.AppendRow(nil, cols, i)...)
			f.Add(row)
			f.Add(row[:1+len(row)/2])
		}
		release(cols)
	}
	f.Add([]byte{})
	f.Add([]byte{0, 1})
	f.Add([]byte{0, 2, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		tg := targets[0]
		src := data
		if len(data) > 0 {
			tg, src = targets[int(data[0])%len(targets)], data[1:]
		}
		cm := memory.NewCheckedAllocator(memory.NewGoAllocator())
		var got []arrow.Array
		for d, dec := range tg.decoders {
			before := cm.CurrentAlloc()
			bs := newBuilders(cm, tg.schema, tg.projs[d])
			err := dec.DecodeRow(src, bs)
			// Builders start with small fixed capacities; beyond that a row
			// may cost a few hundred bytes per input byte (8 list elements
			// per byte, 32-byte decimal256 slots). The builders are where a
			// corrupt count would allocate.
			if held := cm.CurrentAlloc() - before; held > 1<<20+512*len(src) {
				release(finish(bs))
				t.Fatalf("decoder %d: decoding %d bytes holds %d bytes of builder memory", d, len(src), held)
			}
			wantLen := 1
			if err != nil {
				wantLen = 0
				if !kerr.Is(err, kerr.Corruption) {
					release(finish(bs))
					t.Fatalf("decoder %d: error %v is not Corruption", d, err)
				}
			}
			for k, b := range bs {
				if b.Len() != wantLen {
					release(finish(bs))
					t.Fatalf("decoder %d builder %d has %d rows, want %d (err %v)", d, k, b.Len(), wantLen, err)
				}
			}
			out := finish(bs)
			if d == 0 && err == nil {
				got = out
				continue
			}
			release(out)
		}
		if got == nil {
			cm.AssertSize(t, 0)
			return
		}
		defer func() { release(got); cm.AssertSize(t, 0) }()
		canon := tg.enc.AppendRow(nil, got, 0)
		bs := newBuilders(cm, tg.schema, tg.projs[0])
		if err := tg.decoders[0].DecodeRow(canon, bs); err != nil {
			release(finish(bs))
			t.Fatalf("canonical re-encoding %x of %x does not decode: %v", canon, src, err)
		}
		again := finish(bs)
		defer release(again)
		for k := range got {
			if err := sameValues(again[k], got[k]); err != nil {
				t.Fatalf("column %d (%s): canonical row decodes differently: %v", k, tg.schema.Field(k).Type, err)
			}
		}
		if fixed := tg.enc.AppendRow(nil, again, 0); !bytes.Equal(fixed, canon) {
			t.Fatalf("canonical row is not a fixed point: %x then %x", canon, fixed)
		}
	})
}
