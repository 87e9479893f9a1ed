package engine

import (
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
