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

// TestFixedSizeListNullsRefused: a fixed_size_list slot that is null (or
// under a null struct slot) cannot be written to a segment, so a column
// that allows one is refused when it is made, and a write that holds one
// where the type allows none is refused — not taken and then failing
// every flush. Under a list, a null parent has no values: that is stored.
func TestFixedSizeListNullsRefused(t *testing.T) {
	db, mem, _ := testDB(t)
	fsl := arrow.FixedSizeListOf(2, arrow.PrimitiveTypes.Float64)
	for _, f := range []arrow.Field{
		{Name: "v", Type: fsl, Nullable: true},
		{Name: "v", Type: arrow.StructOf(arrow.Field{Name: "e", Type: fsl}), Nullable: true},
		{Name: "v", Type: arrow.ListOf(arrow.StructOf(arrow.Field{Name: "e", Type: fsl, Nullable: true}))},
	} {
		sch := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}, f}, nil)
		_, err := db.CreateTable("r", "", sch, map[string]string{"primary_key": "k"})
		if !kerr.Is(err, kerr.InvalidArgument) || !strings.Contains(err.Error(), `"v"`) {
			t.Errorf("create with %s: %v, want InvalidArgument naming the column", f.Type, err)
		}
	}
	// Allowed: not null, and under a list.
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: arrow.StructOf(arrow.Field{Name: "e", Type: fsl})},
		{Name: "l", Type: arrow.ListOfNonNullable(fsl), Nullable: true},
	}, nil)
	if _, err := db.CreateTable("ok", "", sch, map[string]string{"primary_key": "k"}); err != nil {
		t.Fatal(err)
	}
	good, _, err := array.RecordFromJSON(mem, sch, strings.NewReader(`[
		{"k": 1, "s": {"e": [1, 2]}, "l": [[1, 2], [3, 4]]},
		{"k": 2, "s": {"e": [3, 4]}, "l": null},
		{"k": 3, "s": {"e": [5, 6]}, "l": [[5, 6]]}]`))
	if err != nil {
		t.Fatal(err)
	}
	defer good.Release()
	if _, err := db.AppendRecord("ok", good); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Flush("ok"); err != nil {
		t.Fatalf("flush: %v", err)
	}
	s, err := db.Scan("ok", allRows())
	if err != nil {
		t.Fatal(err)
	}
	if got := collect(t, s); len(got) != 3 || got[1]["l"] != nil {
		t.Fatalf("after the flush: %v", got)
	}
	// A null where the type allows none, inside the struct: refused.
	bad, _, err := array.RecordFromJSON(mem, sch, strings.NewReader(`[
		{"k": 4, "s": {"e": [1, 2]}, "l": null},
		{"k": 5, "s": {"e": null}, "l": null},
		{"k": 6, "s": {"e": [5, 6]}, "l": null}]`))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Release()
	if _, err := db.AppendRecord("ok", bad); !kerr.Is(err, kerr.InvalidArgument) || !strings.Contains(err.Error(), `"s"`) {
		t.Fatalf("append of a null fixed_size_list value: %v, want InvalidArgument naming the column", err)
	}
	if _, err := db.Flush("ok"); err != nil {
		t.Fatalf("flush after the refused write: %v", err)
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
