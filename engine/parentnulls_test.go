package engine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestDecimalsUnderNullStructSlotsKeepTheirRows: decimal and float16
// values in a struct with a null slot keep their rows through a flush and
// a compaction. pqarrow wrote the null slot's hidden value too, and every
// later value of the column chunk moved down a row (the last one lost),
// silently — for any struct column with a decimal, decimal256 or float16
// field and a null row, as pyarrow builds them (a valid hidden value).
func TestDecimalsUnderNullStructSlotsKeepTheirRows(t *testing.T) {
	db, mem, _ := testDB(t)
	dec := &arrow.Decimal128Type{Precision: 10, Scale: 2}
	inner := arrow.StructOf(arrow.Field{Name: "d", Type: dec, Nullable: true}, arrow.Field{Name: "h", Type: arrow.FixedWidthTypes.Float16, Nullable: true})
	outer := arrow.StructOf(arrow.Field{Name: "in", Type: inner, Nullable: true}, arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Int32, Nullable: true})
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: inner, Nullable: true},
		{Name: "o", Type: outer, Nullable: true},
	}, nil)
	if _, err := db.CreateTable("pn", "", sch, map[string]string{"primary_key": "k", "row_group_rows": "4"}); err != nil {
		t.Fatal(err)
	}
	const n = 9
	// Leaves with a value in every slot; the structs null at 1, 4 and 5
	// (outer at 4, its inner at 1 and 5): hidden values under them.
	leaves := func() (arrow.Array, arrow.Array) {
		db := array.NewDecimal128Builder(mem, dec)
		hb := array.NewFloat16Builder(mem)
		defer db.Release()
		defer hb.Release()
		for i := 0; i < n+2; i++ {
			db.Append(decimal128.FromI64(int64(100 * (i + 1))))
			hb.Append(float16.New(float32(i + 1)))
		}
		return db.NewArray(), hb.NewArray()
	}
	mask := func(nulls ...int) (*memory.Buffer, int) {
		b := memory.NewResizableBuffer(mem)
		b.Resize(2)
		for i := 0; i < 16; i++ {
			b.Bytes()[i/8] |= 1 << (i % 8)
		}
		for _, i := range nulls {
			b.Bytes()[i/8] &^= 1 << (i % 8)
		}
		return b, len(nulls)
	}
	d, h := leaves()
	defer d.Release()
	defer h.Release()
	mkInner := func(nulls ...int) arrow.Array {
		bits, nn := mask(nulls...)
		defer bits.Release()
		data := array.NewData(inner, n+2, []*memory.Buffer{bits}, []arrow.ArrayData{d.Data(), h.Data()}, nn, 0)
		defer data.Release()
		return array.MakeFromData(data)
	}
	// Sliced from 1, so that offsets are not 0: slots 0..8 of the column
	// are slots 1..9 of the arrays.
	s := mkInner(2, 6)
	defer s.Release()
	inO := mkInner(2, 6)
	defer inO.Release()
	xb := array.NewInt32Builder(mem)
	for i := 0; i < n+2; i++ {
		xb.Append(int32(i))
	}
	x := xb.NewArray()
	xb.Release()
	defer x.Release()
	obits, onn := mask(5)
	od := array.NewData(outer, n+2, []*memory.Buffer{obits}, []arrow.ArrayData{inO.Data(), x.Data()}, onn, 0)
	obits.Release()
	o := array.MakeFromData(od)
	od.Release()
	defer o.Release()
	kb := array.NewInt64Builder(mem)
	for i := 0; i < n; i++ {
		kb.Append(int64(i))
	}
	k := kb.NewArray()
	kb.Release()
	defer k.Release()
	ss, os := array.NewSlice(s, 1, n+1), array.NewSlice(o, 1, n+1)
	defer ss.Release()
	defer os.Release()
	rec := array.NewRecordBatch(sch, []arrow.Array{k, ss, os}, n)
	defer rec.Release()
	want := func() string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "%v|%v\n", ss.GetOneForMarshal(i), os.GetOneForMarshal(i))
		}
		return b.String()
	}()
	got := func(step string) {
		t.Helper()
		st, err := db.Scan("pn", allRows())
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for {
			r, err := st.Next()
			if err != nil {
				t.Fatal(err)
			}
			if r == nil {
				break
			}
			for i := 0; i < int(r.NumRows()); i++ {
				fmt.Fprintf(&b, "%v|%v\n", r.Column(1).GetOneForMarshal(i), r.Column(2).GetOneForMarshal(i))
			}
			r.Release()
		}
		st.Close()
		if b.String() != want {
			t.Fatalf("%s:\n%s\nwant\n%s", step, b.String(), want)
		}
	}
	if _, err := db.AppendRecord("pn", rec); err != nil {
		t.Fatal(err)
	}
	got("hot")
	if _, err := db.Flush("pn"); err != nil {
		t.Fatal(err)
	}
	got("flushed")
	if _, err := db.AppendRecord("pn", rec); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Flush("pn"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Compact("pn", CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	got("compacted")
}

// TestDecimalStructCompactsAfterADelete: a compaction dropping a tombstone
// gathers a struct whose bitmap has no null in it and whose null count is
// unknown; the copy-down left the bitmap out but kept the unknown count,
// and arrow-go then counted the bits of a missing bitmap (a panic,
// KALAM_INTERNAL, on every compaction of the table). Found re-checking
// the fix above.
func TestDecimalStructCompactsAfterADelete(t *testing.T) {
	db, mem, _ := testDB(t)
	st := arrow.StructOf(arrow.Field{Name: "d", Type: &arrow.Decimal128Type{Precision: 5, Scale: 1}, Nullable: true})
	sch := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}, {Name: "s", Type: st, Nullable: true}}, nil)
	if _, err := db.CreateTable("c", "", sch, map[string]string{"primary_key": "k"}); err != nil {
		t.Fatal(err)
	}
	rec, _, err := array.RecordFromJSON(mem, sch, strings.NewReader(`[{"k": 1, "s": {"d": "1.5"}}, {"k": 2, "s": {"d": "2.5"}}, {"k": 3, "s": {"d": "3.5"}}]`))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	if _, err := db.AppendRecord("c", rec); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Flush("c"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeleteWhere("c", "k = 2"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Flush("c"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Compact("c", CompactOptions{}); err != nil {
		t.Fatalf("compact: %v", err)
	}
	s, err := db.Scan("c", allRows())
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(collect(t, s)); got != `[map[k:1 s:{"d":"1.5"}] map[k:3 s:{"d":"3.5"}]]` {
		t.Fatalf("rows: %s", got)
	}
}
