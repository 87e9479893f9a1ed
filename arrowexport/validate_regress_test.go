package arrowexport_test

import (
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/kalamdb/libkalam/arrowexport/internal/ctest"
	"github.com/kalamdb/libkalam/kerr"
)

// mapHost is map<utf8, int64> with one row {"k": 7}; entries and keys get
// the given null counts and validity bits.
func mapHost(entriesNulls, keysNulls int64, entriesValid, keysValid byte) *ctest.HostArray {
	keys := &ctest.HostArray{Length: 1, NullCount: keysNulls,
		Buffers: []ctest.HostBuffer{{Data: []byte{keysValid}}, {Data: []byte{0, 0, 0, 0, 1, 0, 0, 0}}, {Data: []byte("k")}}}
	items := &ctest.HostArray{Length: 1, Buffers: []ctest.HostBuffer{{Null: true}, {Data: []byte{7, 0, 0, 0, 0, 0, 0, 0}}}}
	entries := &ctest.HostArray{Length: 1, NullCount: entriesNulls,
		Buffers: []ctest.HostBuffer{{Data: []byte{entriesValid}}}, Children: []*ctest.HostArray{keys, items}}
	return &ctest.HostArray{Length: 1, Buffers: []ctest.HostBuffer{{Null: true}, {Data: []byte{0, 0, 0, 0, 1, 0, 0, 0}}},
		Children: []*ctest.HostArray{entries}}
}

// arrow-go's map constructor panics when the entries or keys report any
// null count but 0 — also -1, which the C data interface allows ("not
// computed") — so a map with an uncomputed null count came back as
// INTERNAL ("panic: map array child array should have no nulls"), and one
// with null keys too. Found by FuzzImport.
func TestImportMapNullCounts(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "m", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64), Nullable: true}}, nil)
	rec, err := importOne(t, schema, 1, []*ctest.HostArray{mapHost(-1, -1, 1, 1)})
	if err != nil {
		t.Fatalf("map whose entries and keys have null_count -1 and no nulls refused: %v", err)
	}
	m := rec.Column(0).(*array.Map)
	if m.Keys().(*array.String).Value(0) != "k" || m.Items().(*array.Int64).Value(0) != 7 {
		t.Fatalf("map imported as %v", m)
	}
	for _, c := range []struct {
		name           string
		en, kn         int64
		eValid, kValid byte
		wantInMessage  string
	}{
		{"null entry", 1, 0, 0, 1, "map entries"},
		{"null entry, count not computed", -1, 0, 0, 1, "map entries"},
		{"null key", 0, 1, 1, 0, "map keys"},
		{"null key, count not computed", 0, -1, 1, 0, "map keys"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := importOne(t, schema, 1, []*ctest.HostArray{mapHost(c.en, c.kn, c.eValid, c.kValid)})
			if kerr.CodeOf(err) != kerr.InvalidArgument || !strings.Contains(err.Error(), `column "m"`) ||
				!strings.Contains(err.Error(), c.wantInMessage) {
				t.Fatalf("got %v (code %v), want INVALID_ARGUMENT naming column \"m\" and %q", err, kerr.CodeOf(err), c.wantInMessage)
			}
		})
	}
}

// Buffers the validator did not look at reached arrow-go's importer, whose
// errors name no column ("input batch 0: invalid: invalid buffer"): NULL
// type ids or offsets of a union, NULL offsets or sizes of a list view, a
// negative last offset of a string array with a data buffer. Found by
// FuzzImport.
func TestImportErrorsNameTheColumn(t *testing.T) {
	i32 := func(v ...int32) []byte {
		var b []byte
		for _, x := range v {
			b = append(b, byte(x), byte(x>>8), byte(x>>16), byte(x>>24))
		}
		return b
	}
	dense := arrow.DenseUnionOf([]arrow.Field{{Name: "i", Type: arrow.PrimitiveTypes.Int32, Nullable: true}}, []arrow.UnionTypeCode{0})
	sparse := arrow.SparseUnionOf([]arrow.Field{{Name: "i", Type: arrow.PrimitiveTypes.Int32, Nullable: true}}, []arrow.UnionTypeCode{0})
	child := func() *ctest.HostArray {
		return &ctest.HostArray{Length: 2, Buffers: []ctest.HostBuffer{{Null: true}, {Data: i32(5, 6)}}}
	}
	cases := []struct {
		name string
		typ  arrow.DataType
		col  *ctest.HostArray
	}{
		{"dense union, NULL type ids", dense, &ctest.HostArray{Length: 2,
			Buffers: []ctest.HostBuffer{{Null: true}, {Data: i32(0, 1)}}, Children: []*ctest.HostArray{child()}}},
		{"dense union, NULL offsets", dense, &ctest.HostArray{Length: 2,
			Buffers: []ctest.HostBuffer{{Data: []byte{0, 0}}, {Null: true}}, Children: []*ctest.HostArray{child()}}},
		{"legacy dense union, NULL offsets", dense, &ctest.HostArray{Length: 2,
			Buffers: []ctest.HostBuffer{{Null: true}, {Data: []byte{0, 0}}, {Null: true}}, Children: []*ctest.HostArray{child()}}},
		{"sparse union, NULL type ids", sparse, &ctest.HostArray{Length: 2,
			Buffers: []ctest.HostBuffer{{Null: true}}, Children: []*ctest.HostArray{child()}}},
		{"list view, NULL offsets", arrow.ListViewOf(arrow.PrimitiveTypes.Int32), &ctest.HostArray{Length: 2,
			Buffers: []ctest.HostBuffer{{Null: true}, {Null: true}, {Data: i32(1, 1)}}, Children: []*ctest.HostArray{child()}}},
		{"list view, NULL sizes", arrow.ListViewOf(arrow.PrimitiveTypes.Int32), &ctest.HostArray{Length: 2,
			Buffers: []ctest.HostBuffer{{Null: true}, {Data: i32(0, 1)}, {Null: true}}, Children: []*ctest.HostArray{child()}}},
		{"utf8, negative last offset", arrow.BinaryTypes.String, &ctest.HostArray{Length: 2,
			Buffers: []ctest.HostBuffer{{Null: true}, {Data: i32(0, 0, -1)}, {Data: []byte{}}}}},
		{"large utf8, negative last offset", arrow.BinaryTypes.LargeString, &ctest.HostArray{Length: 1,
			Buffers: []ctest.HostBuffer{{Null: true}, {Data: append(make([]byte, 8), 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)}, {Data: []byte{}}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			schema := arrow.NewSchema([]arrow.Field{{Name: "u", Type: c.typ, Nullable: true}}, nil)
			_, err := importOne(t, schema, c.col.Length, []*ctest.HostArray{c.col})
			if kerr.CodeOf(err) != kerr.InvalidArgument || !strings.Contains(err.Error(), `column "u"`) {
				t.Fatalf("got %v (code %v), want INVALID_ARGUMENT naming column \"u\"", err, kerr.CodeOf(err))
			}
		})
	}
}

// An offset so large that offset+length+1 offsets cannot exist: the
// validator computed where the last offset is with a multiplication that
// wrapped, and read 4 bytes before the offsets buffer (a fault when the
// buffer starts a page); the importer's own overflow errors named no
// column. Found by FuzzImport.
func TestImportHugeOffsets(t *testing.T) {
	for _, c := range []struct {
		name string
		typ  arrow.DataType
		col  *ctest.HostArray
	}{
		{"utf8", arrow.BinaryTypes.String, &ctest.HostArray{Offset: math.MaxInt64,
			Buffers: []ctest.HostBuffer{{Null: true}, {Data: make([]byte, 4), Placement: ctest.PlaceStart}, {Null: true}}}},
		{"large binary", arrow.BinaryTypes.LargeBinary, &ctest.HostArray{Offset: math.MaxInt64 / 8,
			Buffers: []ctest.HostBuffer{{Null: true}, {Data: make([]byte, 8), Placement: ctest.PlaceStart}, {Null: true}}}},
		{"binary view", arrow.BinaryTypes.BinaryView, &ctest.HostArray{Offset: math.MaxInt64,
			Buffers: []ctest.HostBuffer{{Null: true}, {Data: make([]byte, 16)}, {Data: []byte{}}}}},
		{"list", arrow.ListOf(arrow.PrimitiveTypes.Int8), &ctest.HostArray{Offset: math.MaxInt64 - 1,
			Buffers:  []ctest.HostBuffer{{Null: true}, {Data: make([]byte, 4)}},
			Children: []*ctest.HostArray{{Buffers: []ctest.HostBuffer{{Null: true}, {Data: []byte{}}}}}}},
		{"wide fixed_size_binary", &arrow.FixedSizeBinaryType{ByteWidth: 1 << 20}, &ctest.HostArray{Offset: 1 << 44,
			Buffers: []ctest.HostBuffer{{Null: true}, {Data: []byte{}}}}},
		{"fixed_size_list", arrow.FixedSizeListOf(1<<20, arrow.PrimitiveTypes.Int8), &ctest.HostArray{Offset: 1 << 44,
			Buffers:  []ctest.HostBuffer{{Null: true}},
			Children: []*ctest.HostArray{{Length: 1, Buffers: []ctest.HostBuffer{{Null: true}, {Data: []byte{1}}}}}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			schema := arrow.NewSchema([]arrow.Field{{Name: "u", Type: c.typ, Nullable: true}}, nil)
			_, err := importOne(t, schema, 0, []*ctest.HostArray{c.col})
			if kerr.CodeOf(err) != kerr.InvalidArgument || !strings.Contains(err.Error(), `column "u"`) {
				t.Fatalf("got %v (code %v), want INVALID_ARGUMENT naming column \"u\"", err, kerr.CodeOf(err))
			}
		})
	}
}

// Offsets that go up and come back down: the data buffer's size is the last
// offset (0 here), and arrow-go panicked ("binary offsets out of bounds of
// data buffer", so INTERNAL) when it sliced the column to the batch's one
// row, whose end offset is 15. Found by FuzzImport.
func TestImportNonMonotonicOffsets(t *testing.T) {
	offsets := make([]byte, 9*4)
	offsets[4] = 15
	for _, c := range []struct {
		name string
		typ  arrow.DataType
		col  *ctest.HostArray
	}{
		{"utf8", arrow.BinaryTypes.String, &ctest.HostArray{Length: 8, NullCount: -1,
			Buffers: []ctest.HostBuffer{{Data: []byte{1}}, {Data: offsets}, {Data: []byte{}}}}},
		{"list", arrow.ListOf(arrow.PrimitiveTypes.Int8), &ctest.HostArray{Length: 8,
			Buffers:  []ctest.HostBuffer{{Null: true}, {Data: offsets}},
			Children: []*ctest.HostArray{{Length: 15, Buffers: []ctest.HostBuffer{{Null: true}, {Data: make([]byte, 15)}}}}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			schema := arrow.NewSchema([]arrow.Field{{Name: "u", Type: c.typ, Nullable: true}}, nil)
			_, err := importOne(t, schema, 1, []*ctest.HostArray{c.col})
			if kerr.CodeOf(err) != kerr.InvalidArgument || !strings.Contains(err.Error(), `column "u"`) {
				t.Fatalf("got %v (code %v), want INVALID_ARGUMENT naming column \"u\"", err, kerr.CodeOf(err))
			}
		})
	}
}

// A sparse union whose child is shorter than the union: arrow-go slices the
// children to the union's rows and panicked ("index out of range", so
// INTERNAL). Found by FuzzImport.
func TestImportShortSparseUnionChild(t *testing.T) {
	typ := arrow.SparseUnionOf([]arrow.Field{{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true}}, []arrow.UnionTypeCode{3, 1})
	col := &ctest.HostArray{Length: 6, Buffers: []ctest.HostBuffer{{Data: []byte{3, 3, 3, 3, 3, 3}}},
		Children: []*ctest.HostArray{
			{Buffers: []ctest.HostBuffer{{Null: true}, {Data: []byte{}}}},
			{Length: 6, Buffers: []ctest.HostBuffer{{Null: true}, {Data: []byte{0x3f}}}},
		}}
	schema := arrow.NewSchema([]arrow.Field{{Name: "u", Type: typ, Nullable: true}}, nil)
	_, err := importOne(t, schema, 6, []*ctest.HostArray{col})
	if kerr.CodeOf(err) != kerr.InvalidArgument || !strings.Contains(err.Error(), `column "u" > "i": length 0 is shorter`) {
		t.Fatalf("got %v (code %v), want INVALID_ARGUMENT naming column \"u\" > \"i\"", err, kerr.CodeOf(err))
	}
}

// Run ends with a null: arrow-go's run-end encoded constructor panicked
// ("run ends array cannot contain nulls", so INTERNAL). Found by FuzzImport.
func TestImportRunEndsWithNulls(t *testing.T) {
	typ := arrow.RunEndEncodedOf(arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int8)
	for _, nulls := range []int64{1, -1} {
		col := &ctest.HostArray{Length: 2, Children: []*ctest.HostArray{
			{Length: 2, NullCount: nulls, Buffers: []ctest.HostBuffer{{Data: []byte{0b01}}, {Data: []byte{1, 0, 0, 0, 2, 0, 0, 0}}}},
			{Length: 2, Buffers: []ctest.HostBuffer{{Null: true}, {Data: []byte{7, 8}}}},
		}}
		schema := arrow.NewSchema([]arrow.Field{{Name: "u", Type: typ, Nullable: true}}, nil)
		_, err := importOne(t, schema, 2, []*ctest.HostArray{col})
		if kerr.CodeOf(err) != kerr.InvalidArgument || !strings.Contains(err.Error(), `column "u" > run_ends: run ends must not be null`) {
			t.Fatalf("null_count %d: got %v (code %v), want INVALID_ARGUMENT naming column \"u\" > run_ends", nulls, err, kerr.CodeOf(err))
		}
	}
}
