package segment

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"math/rand"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/compress"
)

// TestOffsetIndexDisagreeingWithPages: a row-range read takes a page's
// first row from the offset index and counts on from it through the page
// headers. When an entry's first_row_index is off by one (a flipped bit;
// the index has no checksum), the pages it names hold a different number
// of rows than the index says. The read must fail as corruption — it used
// to return the column shifted by a row against the others, with no error.
func TestOffsetIndexDisagreeingWithPages(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	rec := randomTable(rng, memory.DefaultAllocator, 3000)
	defer rec.Release()
	v := writeVariant{codec: compress.Codecs.Zstd, dict: true, v2: true, rgRows: 3000, pageSize: 256, pageIndex: true}
	data := writeSegment(t, rec, v)
	f := openBytes(t, data)
	c := f.ColumnIndex("i64_req")
	cc := f.meta.rowGroups[0].columns[c]
	idx := data[cc.offsetIndexOffset : cc.offsetIndexOffset+int64(cc.offsetIndexLength)]
	locs, err := parseOffsetIndex(idx)
	if err != nil || len(locs) < 6 {
		t.Fatalf("offset index: %d pages, %v; the test needs at least 6", len(locs), err)
	}
	ctx := context.Background()
	for _, k := range []int{1, len(locs) / 2, len(locs) - 1} {
		for _, delta := range []int64{-1, 1} {
			bad := bytes.Clone(data)
			if !shiftFirstRow(bad[cc.offsetIndexOffset:cc.offsetIndexOffset+int64(cc.offsetIndexLength)], locs[k].firstRow, delta) {
				t.Fatalf("page %d: first_row_index %d not found in the offset index", k, locs[k].firstRow)
			}
			bf := openBytes(t, bad)
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			// Ranges that start in the damaged page, end in it, and span it.
			first, last := locs[k].firstRow, f.RowGroupNumRows(0)
			if k+1 < len(locs) {
				last = locs[k+1].firstRow
			}
			for _, r := range [][2]int64{{first + 1, 3}, {locs[k-1].firstRow + 1, first - locs[k-1].firstRow}, {first - 2, last - first + 4}} {
				if r[0]+r[1] > f.RowGroupNumRows(0) {
					r[1] = f.RowGroupNumRows(0) - r[0]
				}
				a, err := bf.ReadColumnRows(ctx, 0, c, r[0], r[1], mem)
				if !errors.Is(err, ErrCorrupt) {
					if a != nil {
						a.Release()
					}
					t.Fatalf("page %d first_row_index %+d, rows [%d, %d): err %v, want ErrCorrupt", k, delta, r[0], r[0]+r[1], err)
				}
			}
			mem.AssertSize(t, 0)
		}
	}
}

// shiftFirstRow adds delta to the PageLocation.first_row_index equal to
// row in a thrift-compact offset index (field 3, i64, after field 2: header
// byte 0x16, then the zigzag varint), when the new value encodes to as
// many bytes.
func shiftFirstRow(idx []byte, row, delta int64) bool {
	enc := func(v int64) []byte {
		return binary.AppendUvarint([]byte{0x16}, uint64(v<<1^v>>63))
	}
	old, nu := enc(row), enc(row+delta)
	at := bytes.Index(idx, old)
	if at < 0 || len(old) != len(nu) {
		return false
	}
	copy(idx[at:], nu)
	return true
}

// TestColumnIndexMinAboveMax: a page whose column-index minimum is above
// its maximum (a flipped bit; the index has no checksum) is corruption.
// A key-range scan prunes pages by these bounds: taken as they were, they
// left out the page's rows, and a filter on its keys found none.
func TestColumnIndexMinAboveMax(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	rec := randomTable(rng, memory.DefaultAllocator, 3000)
	defer rec.Release()
	v := writeVariant{codec: compress.Codecs.Zstd, dict: true, v2: true, rgRows: 3000, pageSize: 256, pageIndex: true}
	data := writeSegment(t, rec, v)
	f := openBytes(t, data)
	c := f.ColumnIndex("i64_req")
	if _, _, err := f.PageIndex(0, c); err != nil {
		t.Fatal(err)
	}
	cc := f.meta.rowGroups[0].columns[c]
	region := data[cc.columnIndexOffset : cc.columnIndexOffset+int64(cc.columnIndexLength)]
	ci, err := parseColumnIndex(region)
	if err != nil || len(ci.mins) < 2 {
		t.Fatalf("column index: %v", err)
	}
	page := 1
	mx := int64(binary.LittleEndian.Uint64(ci.maxs[page]))
	at := bytes.Index(region, append([]byte{8}, ci.mins[page]...))
	if at < 0 {
		t.Fatal("page 1's minimum not found in the column index")
	}
	bad := bytes.Clone(data)
	binary.LittleEndian.PutUint64(bad[cc.columnIndexOffset+int64(at)+1:], uint64(mx+1))
	bf := openBytes(t, bad)
	if pages, _, err := bf.PageIndex(0, c); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("PageIndex with page %d's minimum above its maximum: %+v, %v; want ErrCorrupt", page, pages[page], err)
	}
}

// TestFooterStatisticsContradictingThemselves: row-group statistics with
// the minimum above the maximum, or more nulls than values, make the file
// corrupt at open. A scan prunes row groups by them and has no other way
// to know they were damaged.
func TestFooterStatisticsContradictingThemselves(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	rec := randomTable(rng, memory.DefaultAllocator, 300)
	defer rec.Release()
	v := writeVariant{codec: compress.Codecs.Zstd, dict: true, v2: true, rgRows: 30, pageIndex: true}
	data := writeSegment(t, rec, v)
	f := openBytes(t, data)
	c := f.ColumnIndex("i64_req")
	st, ok := f.Statistics(1, c)
	if !ok || !st.HasMinMax || !st.HasNullCount || st.NullCount != 0 {
		t.Fatalf("row group 1 of i64_req: statistics %+v; the test needs min/max and a null count of 0", st)
	}
	// The chunk's Statistics as the writer lays them out (thrift compact):
	// the legacy max and min (fields 1 and 2), null_count 0 (field 3,
	// i64), max_value (field 5, 8 bytes), min_value (field 6, 8 bytes).
	pattern := append(append(append([]byte{0x16, 0x00, 0x28, 8}, st.Max...), 0x18, 8), st.Min...)
	flen := int64(binary.LittleEndian.Uint32(data[len(data)-8:]))
	footer := int64(len(data)) - 8 - flen
	rel := bytes.Index(data[footer:], pattern)
	if rel < 0 {
		t.Fatal("row group 1's statistics not found in the footer as laid out above: update the pattern to the writer's")
	}
	at := footer + int64(rel)
	bad := bytes.Clone(data)
	binary.LittleEndian.PutUint64(bad[at+14:], binary.LittleEndian.Uint64(st.Max)+1)
	if _, err := Open(bytes.NewReader(bad), int64(len(bad)), "bad.parquet"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open with row group 1's minimum above its maximum: %v, want ErrCorrupt", err)
	}
	// 31 nulls (zigzag 62, one byte) in a chunk of 30 values.
	bad = bytes.Clone(data)
	bad[at+1] = 62
	if _, err := Open(bytes.NewReader(bad), int64(len(bad)), "bad.parquet"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open with 31 nulls counted in 30 values: %v, want ErrCorrupt", err)
	}
	// 15 nulls in 30 values: wrong, but no contradiction to see.
	bad[at+1] = 30
	if _, err := Open(bytes.NewReader(bad), int64(len(bad)), "bad.parquet"); err != nil {
		t.Fatalf("open with 15 nulls counted in 30 values: %v", err)
	}
}

// TestPageEncodingNotInChunkMetadata: a data page whose header names an
// encoding the column chunk's metadata does not list (a flipped byte: the
// header has no checksum) is corruption. It was "unsupported", which sent
// the read to pqarrow, and pqarrow decoded the page's PLAIN values as
// BYTE_STREAM_SPLIT: wrong values with no error, which a compaction then
// wrote into a new segment.
func TestPageEncodingNotInChunkMetadata(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	rec := randomTable(rng, memory.DefaultAllocator, 300)
	defer rec.Release()
	for _, codec := range []compress.Compression{compress.Codecs.Zstd, compress.Codecs.Uncompressed} {
		v := writeVariant{codec: codec, v2: true, rgRows: 300}
		data := writeSegment(t, rec, v)
		f := openBytes(t, data)
		c := f.ColumnIndex("f64_req")
		cc := f.chunk(0, c)
		at, ok := v2EncodingByte(data[cc.dataPageOffset:])
		if !ok || data[cc.dataPageOffset+int64(at)] != 0 {
			t.Fatalf("%s: no PLAIN encoding in the first V2 page header of f64_req", codec)
		}
		bad := bytes.Clone(data)
		bad[cc.dataPageOffset+int64(at)] = 9 << 1 // BYTE_STREAM_SPLIT, zigzag
		bf := openBytes(t, bad)
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		a, err := bf.ReadColumn(context.Background(), 0, c, mem)
		if a != nil {
			a.Release()
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: page encoding BYTE_STREAM_SPLIT in a chunk of PLAIN pages: %v, want ErrCorrupt", codec, err)
		}
		mem.AssertSize(t, 0)
	}
}

// v2EncodingByte finds the encoding of a V2 data page header at the start
// of b (thrift compact): PageHeader fields type, sizes, then
// data_page_header_v2 (field 8, header 0x5c) whose fields 1-3 are varints
// and field 4 the encoding. It returns the offset of the encoding's byte.
func v2EncodingByte(b []byte) (int, bool) {
	i := bytes.IndexByte(b[:min(len(b), 32)], 0x5c)
	if i < 0 {
		return 0, false
	}
	i++
	for f := 0; f < 3; f++ {
		if b[i] != 0x15 {
			return 0, false
		}
		i++
		for b[i]&0x80 != 0 {
			i++
		}
		i++
	}
	if b[i] != 0x15 {
		return 0, false
	}
	return i + 1, true
}

// TestBoundsInOrder: which bounds boundsInOrder judges, and how.
func TestBoundsInOrder(t *testing.T) {
	le64 := func(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
	le32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	col := func(phys string, typ arrow.DataType) ColumnInfo {
		return ColumnInfo{Name: "c", Type: typ, PhysicalType: phys}
	}
	nan := le64(math.Float64bits(math.NaN()))
	cases := []struct {
		name     string
		ci       ColumnInfo
		min, max []byte
		bad      bool
	}{
		{"int64 ordered", col("INT64", arrow.PrimitiveTypes.Int64), le64(uint64(1<<64 - 5)), le64(3), false}, // -5 <= 3
		{"int64 reversed", col("INT64", arrow.PrimitiveTypes.Int64), le64(3), le64(uint64(1<<64 - 5)), true},
		{"uint64 ordered above int64", col("INT64", arrow.PrimitiveTypes.Uint64), le64(3), le64(1 << 63), false},
		{"uint32 reversed", col("INT32", arrow.PrimitiveTypes.Uint32), le32(1 << 31), le32(1), true},
		{"double reversed", col("DOUBLE", arrow.PrimitiveTypes.Float64), le64(math.Float64bits(2)), le64(math.Float64bits(-1)), true},
		{"-0 and +0", col("DOUBLE", arrow.PrimitiveTypes.Float64), le64(math.Float64bits(0)), le64(math.Float64bits(math.Copysign(0, -1))), false},
		{"NaN not judged", col("DOUBLE", arrow.PrimitiveTypes.Float64), nan, le64(math.Float64bits(-1)), false},
		{"bool reversed", col("BOOLEAN", arrow.FixedWidthTypes.Boolean), []byte{1}, []byte{0}, true},
		{"string reversed", col("BYTE_ARRAY", arrow.BinaryTypes.String), []byte("b"), []byte("apple"), true},
		{"string bytewise", col("BYTE_ARRAY", arrow.BinaryTypes.String), []byte("Z"), []byte("a"), false},
		{"binary reversed", col("BYTE_ARRAY", arrow.BinaryTypes.Binary), []byte{0xff}, []byte{0x01}, true},
		{"decimal as byte array not judged", col("BYTE_ARRAY", &arrow.Decimal128Type{Precision: 9, Scale: 0}), []byte{0xff}, []byte{0x01}, false},
		{"decimal flba signed", col("FIXED_LEN_BYTE_ARRAY", &arrow.Decimal128Type{Precision: 9, Scale: 0}), []byte{0xff, 0xff}, []byte{0x00, 0x01}, false},
		{"decimal flba reversed", col("FIXED_LEN_BYTE_ARRAY", &arrow.Decimal128Type{Precision: 9, Scale: 0}), []byte{0x00, 0x01}, []byte{0xff, 0xff}, true},
		{"float16 not judged", col("FIXED_LEN_BYTE_ARRAY", arrow.FixedWidthTypes.Float16), []byte{0x00, 0x3c}, []byte{0x00, 0xbc}, false},
		{"wrong width", col("INT64", arrow.PrimitiveTypes.Int64), le32(1), le64(2), true},
	}
	for _, c := range cases {
		err := boundsInOrder(c.ci, c.min, c.max)
		if (err != nil) != c.bad {
			t.Errorf("%s: %v, want an error: %v", c.name, err, c.bad)
		}
	}
}

// TestDictionaryIndexWidthChanged: the bit width in front of a page's
// dictionary indices has no checksum where the page is not compressed.
// Changed to 0 it read every value as the dictionary's first entry, with
// no error; the runs it leaves unread now make it corruption.
func TestDictionaryIndexWidthChanged(t *testing.T) {
	b := array.NewStringBuilder(memory.DefaultAllocator)
	words := []string{"alpha", "beta", "gamma", "delta", "epsilon"}
	for i := 0; i < 3000; i++ {
		b.Append(words[(i*7+i/3)%len(words)])
	}
	col := b.NewArray()
	defer col.Release()
	sch := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String}}, nil)
	rec := array.NewRecordBatch(sch, []arrow.Array{col}, 3000)
	defer rec.Release()
	data := writeSegment(t, rec, writeVariant{codec: compress.Codecs.Uncompressed, dict: true, v2: true, rgRows: 3000})
	f := openBytes(t, data)
	cc := f.chunk(0, 0)
	h, hl, err := parsePageHeader(data[cc.dataPageOffset:])
	if err != nil || h.typ != pageDataV2 || h.encoding != encRLEDict {
		t.Fatalf("first data page: %+v, %v; want a V2 dictionary-encoded page", h, err)
	}
	at := cc.dataPageOffset + int64(hl) + int64(h.defLen) + int64(h.repLen)
	if data[at] == 0 {
		t.Fatal("the page's index bit width is already 0")
	}
	bad := bytes.Clone(data)
	bad[at] = 0
	a, err := openBytes(t, bad).ReadColumn(context.Background(), 0, 0, memory.DefaultAllocator)
	if a != nil {
		a.Release()
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("index bit width 0 in a page of five values: %v, want ErrCorrupt", err)
	}
}
