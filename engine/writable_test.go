package engine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/kerr"
)

// spanningList is [[1], null, [4]] whose null slot still spans the values
// 2 and 3 — valid Arrow (pyarrow's ListArray.from_arrays with a mask makes
// it) that pqarrow's writer refuses.
func spanningList(mem memory.Allocator) arrow.Array {
	vals := array.NewInt64Builder(mem)
	defer vals.Release()
	vals.AppendValues([]int64{1, 2, 3, 4}, nil)
	v := vals.NewArray()
	defer v.Release()
	offs := memory.NewBufferBytes(arrow.Int32Traits.CastToBytes([]int32{0, 1, 3, 4}))
	valid := memory.NewBufferBytes([]byte{0b101})
	d := array.NewData(arrow.ListOf(arrow.PrimitiveTypes.Int64), 3, []*memory.Buffer{valid, offs}, []arrow.ArrayData{v.Data()}, 1, 0)
	defer d.Release()
	return array.MakeFromData(d)
}

// TestNullSlotSpanningValuesFlushes: a list whose null slot spans values
// was cached for the flush as the host sent it, and every flush of the
// table failed ("lists with non-zero length null components"): the rows
// stayed hot for good. Such a write is now flushed from the hot store.
func TestNullSlotSpanningValuesFlushes(t *testing.T) {
	db, mem, _ := testDB(t)
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64},
		{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
	}, nil)
	if _, err := db.CreateTable("s", "", sch, map[string]string{"primary_key": "k"}); err != nil {
		t.Fatal(err)
	}
	l := spanningList(mem)
	defer l.Release()
	if writableAsIs(l) {
		t.Fatal("writableAsIs takes a null slot that spans values")
	}
	if s := array.NewSlice(l, 2, 3); !writableAsIs(s) {
		t.Error("writableAsIs refuses the slice past the null slot")
	} else {
		s.Release()
	}
	kb := array.NewInt64Builder(mem)
	kb.AppendValues([]int64{1, 2, 3}, nil)
	k := kb.NewArray()
	kb.Release()
	defer k.Release()
	rec := array.NewRecordBatch(sch, []arrow.Array{k, l}, 3)
	defer rec.Release()
	if _, err := db.AppendRecord("s", rec); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Flush("s"); err != nil {
		t.Fatalf("flush: %v", err)
	}
	s, err := db.Scan("s", allRows())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rowsString(collect(t, s), "k", "l"), "1,[1];2,<nil>;3,[4]"; got != want {
		t.Fatalf("after the flush: %s, want %s", got, want)
	}
}

// TestNullableFixedSizeLists: a fixed_size_list column may be null, and
// sit in a struct that may be (an embedding added to an existing table,
// an optional vector): null slots — with values hidden under them, as
// hosts send them — and null struct slots around one are stored and read
// back as null through a flush and a compaction, and the older segments
// of a table that gains such a column read it as null. They were refused
// at create (pqarrow refuses a null slot spanning values; segments now get
// lists, fslwrite.go). A null where the type declares none is still
// refused (required.go).
func TestNullableFixedSizeLists(t *testing.T) {
	db, mem, _ := testDB(t)
	fsl := arrow.FixedSizeListOfNonNullable(2, arrow.PrimitiveTypes.Float32)
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64},
		{Name: "x", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	}, nil)
	if _, err := db.CreateTable("nf", "", sch, map[string]string{"primary_key": "k", "row_group_rows": "3"}); err != nil {
		t.Fatal(err)
	}
	old, _, err := array.RecordFromJSON(mem, sch, strings.NewReader(`[{"k": 0, "x": 0}, {"k": 9, "x": 9}]`))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Release()
	if _, err := db.AppendRecord("nf", old); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Flush("nf"); err != nil {
		t.Fatal(err)
	}
	// Added to a table with a segment: both may be null.
	st := arrow.StructOf(arrow.Field{Name: "e", Type: fsl, Nullable: true}, arrow.Field{Name: "n", Type: arrow.PrimitiveTypes.Int32, Nullable: true})
	if err := db.AddColumns("nf", []arrow.Field{{Name: "v", Type: fsl, Nullable: true}, {Name: "s", Type: st, Nullable: true}}); err != nil {
		t.Fatalf("adding nullable embedding columns: %v", err)
	}
	full := arrow.NewSchema([]arrow.Field{sch.Field(0), sch.Field(1), {Name: "v", Type: fsl, Nullable: true}, {Name: "s", Type: st, Nullable: true}}, nil)
	// Values under every slot; v null at rows 1 and 3, s null at 2, s.e
	// null at 4.
	const n = 6
	vb := array.NewFloat32Builder(mem)
	for i := 0; i < 2*n; i++ {
		vb.Append(float32(i))
	}
	vals := vb.NewArray()
	vb.Release()
	defer vals.Release()
	bitmap := func(nulls ...int) *memory.Buffer {
		b := memory.NewResizableBuffer(mem)
		b.Resize(1)
		b.Bytes()[0] = 0xff
		for _, i := range nulls {
			b.Bytes()[0] &^= 1 << i
		}
		return b
	}
	vbits := bitmap(1, 3)
	vd := array.NewData(fsl, n, []*memory.Buffer{vbits}, []arrow.ArrayData{vals.Data()}, 2, 0)
	vbits.Release()
	v := array.MakeFromData(vd)
	vd.Release()
	defer v.Release()
	ebits := bitmap(4)
	ed := array.NewData(fsl, n, []*memory.Buffer{ebits}, []arrow.ArrayData{vals.Data()}, 1, 0)
	ebits.Release()
	nb := array.NewInt32Builder(mem)
	for i := 0; i < n; i++ {
		nb.Append(int32(i))
	}
	nn := nb.NewArray()
	nb.Release()
	defer nn.Release()
	sbits := bitmap(2)
	sd := array.NewData(st, n, []*memory.Buffer{sbits}, []arrow.ArrayData{ed, nn.Data()}, 1, 0)
	sbits.Release()
	ed.Release()
	s := array.MakeFromData(sd)
	sd.Release()
	defer s.Release()
	kb := array.NewInt64Builder(mem)
	xb := array.NewInt32Builder(mem)
	for i := 0; i < n; i++ {
		kb.Append(int64(i + 1))
		xb.Append(int32(i + 1))
	}
	k, x := kb.NewArray(), xb.NewArray()
	kb.Release()
	xb.Release()
	defer k.Release()
	defer x.Release()
	rec := array.NewRecordBatch(full, []arrow.Array{k, x, v, s}, n)
	defer rec.Release()
	if _, err := db.AppendRecord("nf", rec); err != nil {
		t.Fatalf("append with null embeddings: %v", err)
	}
	want := `[map[k:0 s:<nil> v:<nil> x:0] map[k:1 s:{"e":[0,1],"n":0} v:[0,1] x:1] map[k:2 s:{"e":[2,3],"n":1} v:<nil> x:2] ` +
		`map[k:3 s:<nil> v:[4,5] x:3] map[k:4 s:{"e":[6,7],"n":3} v:<nil> x:4] map[k:5 s:{"e":null,"n":4} v:[8,9] x:5] ` +
		`map[k:6 s:{"e":[10,11],"n":5} v:[10,11] x:6] map[k:9 s:<nil> v:<nil> x:9]]`
	check := func(step string) {
		t.Helper()
		sc, err := db.Scan("nf", allRows())
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(collect(t, sc)); got != want {
			t.Fatalf("%s:\n%s\nwant\n%s", step, got, want)
		}
	}
	check("hot")
	if _, err := db.Flush("nf"); err != nil {
		t.Fatalf("flush: %v", err)
	}
	check("flushed")
	if _, err := db.Compact("nf", CompactOptions{}); err != nil {
		t.Fatalf("compact: %v", err)
	}
	check("compacted")
	// A null where the type allows none, inside the struct: refused.
	strict := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: arrow.StructOf(arrow.Field{Name: "e", Type: fsl})},
	}, nil)
	if _, err := db.CreateTable("strict", "", strict, map[string]string{"primary_key": "k"}); err != nil {
		t.Fatal(err)
	}
	bad, _, err := array.RecordFromJSON(mem, strict, strings.NewReader(`[{"k": 4, "s": {"e": [1, 2]}}, {"k": 5, "s": {"e": null}}]`))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Release()
	if _, err := db.AppendRecord("strict", bad); !kerr.Is(err, kerr.InvalidArgument) || !strings.Contains(err.Error(), `"s": row 1: null in e`) {
		t.Fatalf("append of a null fixed_size_list value where none is allowed: %v", err)
	}
}

// TestFixedSizeListRowGroupsKeepTheirValues: fixed_size_list columns —
// at the top, in a struct, under a list, with null values inside — keep
// their own values in every row group of a segment, through a flush, a
// compaction and the merged files of a dataset. pqarrow's writer took the
// values of a sliced fixed_size_list from its child's start, so every row
// group after a segment's first held the first rows' embeddings.
func TestFixedSizeListRowGroupsKeepTheirValues(t *testing.T) {
	db, mem, _ := testDB(t)
	elem := arrow.Field{Name: "item", Type: arrow.PrimitiveTypes.Float32, Nullable: true}
	fsl := arrow.FixedSizeListOfField(2, elem)
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64},
		{Name: "v", Type: fsl},
		{Name: "s", Type: arrow.StructOf(arrow.Field{Name: "e", Type: fsl}, arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Int32, Nullable: true})},
		{Name: "l", Type: arrow.ListOfNonNullable(fsl), Nullable: true},
	}, nil)
	if _, err := db.CreateTable("emb", "", sch, map[string]string{"primary_key": "k", "row_group_rows": "10"}); err != nil {
		t.Fatal(err)
	}
	var rows []string
	val := func(k, i int) string {
		if (k+i)%9 == 4 {
			return "null"
		}
		return fmt.Sprint(k*10 + i)
	}
	for k := 0; k < 35; k++ {
		l := "null"
		if k%4 != 0 {
			l = fmt.Sprintf("[[%s, %s], [%d, %d]]", val(k, 5), val(k, 6), -k, k)
		}
		rows = append(rows, fmt.Sprintf(`{"k": %d, "v": [%s, %s], "s": {"e": [%s, %s], "x": %d}, "l": %s}`,
			k, val(k, 0), val(k, 1), val(k, 2), val(k, 3), k, l))
	}
	want, _, err := array.RecordFromJSON(mem, sch, strings.NewReader("["+strings.Join(rows, ",")+"]"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { want.Release() }()
	if _, err := db.AppendRecord("emb", want); err != nil {
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		s, err := db.Scan("emb", allRows())
		if err != nil {
			t.Fatal(err)
		}
		got := concatStream(t, mem, s)
		defer got.Release()
		for c, f := range sch.Fields() {
			if !array.Equal(got.Column(c), want.Column(c)) {
				t.Fatalf("%s: column %s:\n got %v\nwant %v", what, f.Name, got.Column(c), want.Column(c))
			}
		}
	}
	if _, err := db.Flush("emb"); err != nil {
		t.Fatal(err)
	}
	check("after a flush")
	// A second segment overlapping the first, then both compacted into one.
	part := want.NewSlice(12, 27)
	if _, err := db.AppendRecord("emb", part); err != nil {
		t.Fatal(err)
	}
	part.Release()
	if _, err := db.Flush("emb"); err != nil {
		t.Fatal(err)
	}
	check("over overlapping segments")
	if _, err := db.Compact("emb", CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	check("after a compaction")

	// Tombstones between live rows in one flush: segments hold the
	// columns nullable, and pqarrow refused a null fixed_size_list among
	// lists with values — the flush failed every time.
	keys := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}}, nil)
	del, _, err := array.RecordFromJSON(mem, keys, strings.NewReader(`[{"k": 5}, {"k": 9}, {"k": 20}]`))
	if err != nil {
		t.Fatal(err)
	}
	defer del.Release()
	rdr := recordReader(t, del)
	defer rdr.Release()
	if _, err := db.Delete("emb", rdr); err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]int64{{4, 5}, {6, 8}, {10, 12}} { // live rows between the tombstones
		again := want.NewSlice(r[0], r[1])
		if _, err := db.AppendRecord("emb", again); err != nil {
			t.Fatal(err)
		}
		again.Release()
	}
	// The rows left: want without keys 5, 9 and 20.
	var cols []arrow.Array
	for c := range sch.Fields() {
		var parts []arrow.Array
		for _, r := range [][2]int64{{0, 5}, {6, 9}, {10, 20}, {21, 35}} {
			parts = append(parts, array.NewSlice(want.Column(c), r[0], r[1]))
		}
		col, err := array.Concatenate(parts, mem)
		for _, p := range parts {
			p.Release()
		}
		if err != nil {
			t.Fatal(err)
		}
		cols = append(cols, col)
	}
	want.Release()
	want = array.NewRecordBatch(sch, cols, 32)
	for _, c := range cols {
		c.Release()
	}
	id, err := db.Flush("emb")
	if err != nil {
		t.Fatalf("flush of tombstones among live rows: %v", err)
	}
	check("after tombstones")
	defer func(v bool) { narrowReads = v }(narrowReads)
	narrowReads = false
	check("after tombstones, through pqarrow")
	narrowReads = true
	// The segment holds the tombstones as they are: null values.
	ss, err := db.ScanSegment("emb", id, ScanRequest{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	stored := collect(t, ss)
	nulls := 0
	for _, r := range stored {
		if r["_deleted"] == true {
			if r["v"] != nil || r["s"] != nil {
				t.Fatalf("tombstone stored with values: %v", r)
			}
			nulls++
		}
	}
	if nulls != 3 || len(stored) != 8 {
		t.Fatalf("segment rows: %v", stored)
	}
}

// TestListsOfOneLengthWriteToAFixedSizeList: an embedding column arrives
// as a list or large_list from hosts that have no fixed-size type in hand
// (a Polars List column, pandas lists); it was refused as a cast that is
// not lossless. Lists that all hold the column's size of values are now
// taken (null lists as null slots), and read back as the fixed_size_list;
// a list of another length is refused naming the column, row and length,
// and a null value where the type declares none naming the field.
func TestListsOfOneLengthWriteToAFixedSizeList(t *testing.T) {
	db, mem, _ := testDB(t)
	fsl := arrow.FixedSizeListOfNonNullable(3, arrow.PrimitiveTypes.Float32)
	sch := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}, {Name: "v", Type: fsl, Nullable: true}}, nil)
	if _, err := db.CreateTable("emb", "", sch, map[string]string{"primary_key": "k"}); err != nil {
		t.Fatal(err)
	}
	write := func(elem arrow.DataType, large bool, rows string) error {
		t.Helper()
		lt := arrow.DataType(arrow.ListOf(elem))
		if large {
			lt = arrow.LargeListOf(elem)
		}
		in := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}, {Name: "v", Type: lt, Nullable: true}}, nil)
		rec, _, err := array.RecordFromJSON(mem, in, strings.NewReader(rows))
		if err != nil {
			t.Fatal(err)
		}
		defer rec.Release()
		_, err = db.AppendRecord("emb", rec)
		return err
	}
	if err := write(arrow.PrimitiveTypes.Float32, false, `[{"k": 1, "v": [1, 2, 3]}, {"k": 2, "v": null}, {"k": 3, "v": [4, 5, 6]}]`); err != nil {
		t.Fatalf("lists of 3 float32s into fixed_size_list<float32>[3]: %v", err)
	}
	if err := write(arrow.PrimitiveTypes.Float32, true, `[{"k": 4, "v": [7, 8, 9]}]`); err != nil {
		t.Fatalf("a large_list: %v", err)
	}
	for _, bad := range []struct {
		elem arrow.DataType
		rows string
		says string
	}{
		{arrow.PrimitiveTypes.Float32, `[{"k": 5, "v": [1, 2, 3]}, {"k": 6, "v": [1, 2]}]`, `column "v": row 1: value [2 values] does not fit`},
		{arrow.PrimitiveTypes.Float32, `[{"k": 5, "v": [1, null, 3]}]`, `column "v": row 0: null in item`},
		{arrow.PrimitiveTypes.Float64, `[{"k": 5, "v": [1, 2, 3]}]`, `cannot cast list<item: float64, nullable> to fixed_size_list`},
	} {
		if err := write(bad.elem, false, bad.rows); !kerr.Is(err, kerr.InvalidArgument) || !strings.Contains(err.Error(), bad.says) {
			t.Fatalf("%s: %v; want InvalidArgument saying %q", bad.rows, err, bad.says)
		}
	}
	want := `[map[k:1 v:[1,2,3]] map[k:2 v:<nil>] map[k:3 v:[4,5,6]] map[k:4 v:[7,8,9]]]`
	for _, step := range []string{"hot", "flushed"} {
		if step == "flushed" {
			if _, err := db.Flush("emb"); err != nil {
				t.Fatal(err)
			}
		}
		sc, err := db.Scan("emb", allRows())
		if err != nil {
			t.Fatal(err)
		}
		if !arrow.TypeEqual(sc.Schema().Field(1).Type, fsl) {
			t.Fatalf("%s: read as %s, want %s", step, sc.Schema().Field(1).Type, fsl)
		}
		if got := fmt.Sprint(collect(t, sc)); got != want {
			t.Fatalf("%s:\n%s\nwant\n%s", step, got, want)
		}
	}
}
