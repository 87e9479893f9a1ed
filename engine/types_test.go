package engine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/kerr"
)

// allTypesSchema holds one column of every type a table can hold (DESIGN §3).
var allTypesSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
	{Name: "i16", Type: arrow.PrimitiveTypes.Int16, Nullable: true},
	{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "u8", Type: arrow.PrimitiveTypes.Uint8, Nullable: true},
	{Name: "u16", Type: arrow.PrimitiveTypes.Uint16, Nullable: true},
	{Name: "u32", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
	{Name: "u64", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
	{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
	{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "ls", Type: arrow.BinaryTypes.LargeString, Nullable: true},
	{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "lbin", Type: arrow.BinaryTypes.LargeBinary, Nullable: true},
	{Name: "dec", Type: &arrow.Decimal128Type{Precision: 20, Scale: 4}, Nullable: true},
	{Name: "d32", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	{Name: "d64", Type: arrow.FixedWidthTypes.Date64, Nullable: true},
	{Name: "t32", Type: arrow.FixedWidthTypes.Time32ms, Nullable: true},
	{Name: "t32s", Type: arrow.FixedWidthTypes.Time32s, Nullable: true},
	{Name: "t64", Type: arrow.FixedWidthTypes.Time64us, Nullable: true},
	{Name: "ts_s", Type: &arrow.TimestampType{Unit: arrow.Second}, Nullable: true},
	{Name: "ts_ms", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, Nullable: true},
	{Name: "ts_us", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "Europe/Paris"}, Nullable: true},
	{Name: "ts_ns", Type: &arrow.TimestampType{Unit: arrow.Nanosecond}, Nullable: true},
	{Name: "dur", Type: &arrow.DurationType{Unit: arrow.Millisecond}, Nullable: true},
	{Name: "lst", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true},
	{Name: "st", Type: arrow.StructOf(
		arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		arrow.Field{Name: "y", Type: arrow.BinaryTypes.String, Nullable: true}), Nullable: true},
}, nil)

func allTypesBatch(t *testing.T, mem memory.Allocator, n int) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, allTypesSchema)
	defer b.Release()
	for i := 0; i < n; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		if i%3 == 2 {
			for c := 1; c < len(b.Fields()); c++ {
				b.Field(c).AppendNull()
			}
			continue
		}
		b.Field(1).(*array.Int8Builder).Append(int8(-i))
		b.Field(2).(*array.Int16Builder).Append(int16(i * 100))
		b.Field(3).(*array.Int32Builder).Append(int32(i * 1000))
		b.Field(4).(*array.Uint8Builder).Append(uint8(i))
		b.Field(5).(*array.Uint16Builder).Append(uint16(i))
		b.Field(6).(*array.Uint32Builder).Append(uint32(i))
		b.Field(7).(*array.Uint64Builder).Append(uint64(1<<63) + uint64(i))
		b.Field(8).(*array.Float32Builder).Append(float32(i) / 4)
		b.Field(9).(*array.Float64Builder).Append(float64(i) / 8)
		b.Field(10).(*array.BooleanBuilder).Append(i%2 == 0)
		b.Field(11).(*array.StringBuilder).Append("s" + string(rune('a'+i%26)))
		b.Field(12).(*array.LargeStringBuilder).Append("large")
		b.Field(13).(*array.BinaryBuilder).Append([]byte{0, byte(i), 255})
		b.Field(14).(*array.BinaryBuilder).Append([]byte("lb"))
		b.Field(15).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(i) * 12345))
		b.Field(16).(*array.Date32Builder).Append(arrow.Date32(19000 + i))
		b.Field(17).(*array.Date64Builder).Append(arrow.Date64((19000 + int64(i)) * 86400000))
		b.Field(18).(*array.Time32Builder).Append(arrow.Time32(i * 1000))
		b.Field(19).(*array.Time32Builder).Append(arrow.Time32(3600 + i))
		b.Field(20).(*array.Time64Builder).Append(arrow.Time64(i * 1000000))
		b.Field(21).(*array.TimestampBuilder).Append(arrow.Timestamp(1700000000 + i))
		b.Field(22).(*array.TimestampBuilder).Append(arrow.Timestamp(1700000000000 + int64(i)))
		b.Field(23).(*array.TimestampBuilder).Append(arrow.Timestamp(1700000000000000 + int64(i)))
		b.Field(24).(*array.TimestampBuilder).Append(arrow.Timestamp(1700000000000000000 + int64(i)))
		b.Field(25).(*array.DurationBuilder).Append(arrow.Duration(i))
		lb := b.Field(26).(*array.ListBuilder)
		lb.Append(true)
		for j := 0; j < i%4; j++ {
			lb.ValueBuilder().(*array.Int32Builder).Append(int32(j))
		}
		sb := b.Field(27).(*array.StructBuilder)
		sb.Append(true)
		sb.FieldBuilder(0).(*array.Int64Builder).Append(int64(i))
		if i%2 == 0 {
			sb.FieldBuilder(1).AppendNull()
		} else {
			sb.FieldBuilder(1).(*array.StringBuilder).Append("y")
		}
	}
	return b.NewRecordBatch()
}

// TestAllTypesRoundTrip appends every column type, scans it from hot rows
// and from a segment, and checks types and values are exactly what went in.
func TestAllTypesRoundTrip(t *testing.T) {
	db, mem, _ := testDB(t)
	if _, err := db.CreateTable("types", "", allTypesSchema, map[string]string{"primary_key": "id"}); err != nil {
		t.Fatal(err)
	}
	in := allTypesBatch(t, mem, 20)
	defer in.Release()
	if _, err := db.AppendRecord("types", in); err != nil {
		t.Fatal(err)
	}
	check := func(stage string) {
		s, err := db.Scan("types", allRows())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if !s.Schema().Equal(allTypesSchema) {
			t.Fatalf("%s: schema\n%s\nwant\n%s", stage, s.Schema(), allTypesSchema)
		}
		rec, err := s.Next()
		if err != nil || rec == nil {
			t.Fatalf("%s: next: %v", stage, err)
		}
		defer rec.Release()
		for c := 0; c < int(in.NumCols()); c++ {
			if !arrow.TypeEqual(rec.Column(c).DataType(), in.Column(c).DataType()) {
				t.Fatalf("%s: column %s type %s, want %s", stage, allTypesSchema.Field(c).Name, rec.Column(c).DataType(), in.Column(c).DataType())
			}
			if !array.Equal(rec.Column(c), in.Column(c)) {
				t.Fatalf("%s: column %s\n got %v\nwant %v", stage, allTypesSchema.Field(c).Name, rec.Column(c), in.Column(c))
			}
		}
	}
	check("hot")
	if _, err := db.Flush("types"); err != nil {
		t.Fatal(err)
	}
	check("segment")
}

// TestUnstorableColumnsRejected: a column of a type hot rows hold but
// segments cannot (view types, intervals, a struct without fields, the
// null type) is refused where it would be created — create_table, adding
// columns, a write that merges its schema — naming the column, so that no
// table takes rows in that it can never flush or read back after a flush.
// A NUL in a column name is refused there too (scans truncated it).
func TestUnstorableColumnsRejected(t *testing.T) {
	db, mem, _ := testDB(t)
	id := arrow.Field{Name: "id", Type: arrow.PrimitiveTypes.Int64}
	if _, err := db.CreateTable("ok", "", arrow.NewSchema([]arrow.Field{id}, nil), map[string]string{"primary_key": "id"}); err != nil {
		t.Fatal(err)
	}
	bad := []arrow.Field{
		{Name: "nul", Type: arrow.Null, Nullable: true},
		{Name: "sv", Type: arrow.BinaryTypes.StringView, Nullable: true},
		{Name: "bv", Type: arrow.BinaryTypes.BinaryView, Nullable: true},
		{Name: "mdn", Type: arrow.FixedWidthTypes.MonthDayNanoInterval, Nullable: true},
		{Name: "months", Type: arrow.FixedWidthTypes.MonthInterval, Nullable: true},
		{Name: "empty", Type: arrow.StructOf(), Nullable: true},
		{Name: "nested", Type: arrow.ListOf(arrow.StructOf(arrow.Field{Name: "x", Type: arrow.BinaryTypes.StringView, Nullable: true})), Nullable: true},
		{Name: "a\x00b", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	}
	for _, f := range bad {
		_, err := db.CreateTable("t_bad", "", arrow.NewSchema([]arrow.Field{id, f}, nil), map[string]string{"primary_key": "id"})
		if kerr.CodeOf(err) != kerr.InvalidArgument || !strings.Contains(err.Error(), fmt.Sprintf("%q", f.Name)) {
			t.Errorf("create_table with %s %s: %v, want InvalidArgument naming it", f.Name, f.Type, err)
		}
		if err := db.AddColumns("ok", []arrow.Field{f}); kerr.CodeOf(err) != kerr.InvalidArgument || !strings.Contains(err.Error(), fmt.Sprintf("%q", f.Name)) {
			t.Errorf("add column %s %s: %v, want InvalidArgument naming it", f.Name, f.Type, err)
		}
	}
	// A write that would add a null-typed column (what an all-None column
	// of a dataframe is) by merging its schema.
	s := arrow.NewSchema([]arrow.Field{id, {Name: "note", Type: arrow.Null, Nullable: true}}, nil)
	b := array.NewRecordBuilder(mem, s)
	b.Field(0).(*array.Int64Builder).AppendValues([]int64{1, 2}, nil)
	b.Field(1).AppendNulls(2)
	rec := b.NewRecordBatch()
	b.Release()
	defer rec.Release()
	rdr := recordReader(t, rec)
	defer rdr.Release()
	if _, err := db.Write("ok", rdr, WriteOptions{SchemaMode: SchemaMerge}); kerr.CodeOf(err) != kerr.InvalidArgument || !strings.Contains(err.Error(), `"note"`) {
		t.Errorf("merge write of a null column: %v, want InvalidArgument naming it", err)
	}
	info, err := db.Table("ok")
	if err != nil {
		t.Fatal(err)
	}
	if info.Schema.NumFields() != 1 {
		t.Errorf("schema after the refused changes: %s", info.Schema)
	}
}

// TestLargeListSurvivesFlush: a large_list column reads back after a flush
// and a compaction (pqarrow names its elements "element", and large_list's
// type equality, unlike list's, compares the name: every scan after the
// first flush failed with Corruption).
func TestLargeListSurvivesFlush(t *testing.T) {
	db, mem, _ := testDB(t)
	s := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "tags", Type: arrow.LargeListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
	}, nil)
	if _, err := db.CreateTable("ll", "", s, map[string]string{"primary_key": "id"}); err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(mem, s)
	defer b.Release()
	lb := b.Field(1).(*array.LargeListBuilder)
	vb := lb.ValueBuilder().(*array.Int64Builder)
	for i := int64(0); i < 50; i++ {
		b.Field(0).(*array.Int64Builder).Append(i)
		switch i % 3 {
		case 0:
			lb.AppendNull()
		case 1:
			lb.Append(true)
		default:
			lb.Append(true)
			vb.AppendValues([]int64{i, -i, 7}, nil)
		}
	}
	in := b.NewRecordBatch()
	defer in.Release()
	if _, err := db.AppendRecord("ll", in); err != nil {
		t.Fatal(err)
	}
	check := func(stage string) {
		t.Helper()
		st, err := db.Scan("ll", allRows())
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		rec, err := st.Next()
		if err != nil || rec == nil {
			t.Fatalf("%s: next: %v", stage, err)
		}
		defer rec.Release()
		if !arrow.TypeEqual(rec.Column(1).DataType(), s.Field(1).Type) || !array.Equal(rec.Column(1), in.Column(1)) {
			t.Fatalf("%s: tags %s %v\nwant %v", stage, rec.Column(1).DataType(), rec.Column(1), in.Column(1))
		}
	}
	check("hot")
	if _, err := db.Flush("ll"); err != nil {
		t.Fatal(err)
	}
	check("segment")
	if _, err := db.Compact("ll", CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	check("compacted")
}
