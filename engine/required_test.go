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

// TestRequiredNull: a null in a field declared not null below a column's
// top is found (its row and path) at every nesting, through slices, and a
// null under a null parent (no value) is not.
func TestRequiredNull(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	i32 := arrow.PrimitiveTypes.Int32
	req := func(name string, dt arrow.DataType) arrow.Field { return arrow.Field{Name: name, Type: dt} }
	opt := func(name string, dt arrow.DataType) arrow.Field {
		return arrow.Field{Name: name, Type: dt, Nullable: true}
	}
	cases := []struct {
		name string
		typ  arrow.DataType
		json string
		row  int // -1: none
		path string
	}{
		{"struct field", arrow.StructOf(req("x", i32), opt("y", i32)), `[{"x": 1, "y": null}, {"x": null, "y": 2}]`, 1, "x"},
		{"under a null struct", arrow.StructOf(req("x", i32)), `[{"x": 1}, null, {"x": 3}]`, -1, ""},
		{"nullable field", arrow.StructOf(opt("x", i32)), `[{"x": null}]`, -1, ""},
		{"list element", arrow.ListOfField(req("item", i32)), `[[1], [], [2, null, 3]]`, 2, "item"},
		{"large list element", arrow.LargeListOfField(req("item", i32)), `[[1, 2], [null]]`, 1, "item"},
		{"list of nullable", arrow.ListOf(i32), `[[null]]`, -1, ""},
		{"fixed_size_list element", arrow.FixedSizeListOfNonNullable(2, i32), `[[1, 2], [3, 4], [5, null]]`, 2, "item"},
		{"struct in a list", arrow.ListOfField(req("item", arrow.StructOf(req("a", i32)))), `[[{"a": 1}], [{"a": 2}, {"a": null}]]`, 1, "item.a"},
		{"struct in a null list slot", arrow.ListOfField(opt("item", arrow.StructOf(req("a", i32)))), `[[{"a": 1}], null, [null]]`, -1, ""},
		{"map value", arrow.MapOfWithMetadata(arrow.BinaryTypes.String, arrow.Metadata{}, i32, arrow.Metadata{}), `[[{"key": "a", "value": null}]]`, -1, ""},
		{"list in a struct", arrow.StructOf(opt("l", arrow.ListOfField(req("item", i32)))), `[{"l": [1]}, {"l": null}, {"l": [2, null]}]`, 2, "l.item"},
	}
	for _, c := range cases {
		arr, _, err := array.FromJSON(mem, c.typ, strings.NewReader(c.json))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		row, path, bad := requiredNull(arr)
		if (c.row >= 0) != bad || bad && (row != c.row || path != c.path) {
			t.Errorf("%s: requiredNull = %d %q %v, want %d %q", c.name, row, path, bad, c.row, c.path)
		}
		// The same from a slice starting at row 1: rows count from it.
		if arr.Len() > 1 {
			s := array.NewSlice(arr, 1, int64(arr.Len()))
			row, path, bad = requiredNull(s)
			want := c.row - 1
			if (want >= 0) != bad || bad && (row != want || path != c.path) {
				t.Errorf("%s, sliced: requiredNull = %d %q %v, want %d %q", c.name, row, path, bad, want, c.path)
			}
			s.Release()
		}
		arr.Release()
	}
	// A map whose values are declared not null.
	mt := arrow.MapOf(arrow.BinaryTypes.String, i32)
	mt.SetItemNullable(false)
	// (arrow-go's builder panics on such a null: the same buffers, retyped.)
	m0, _, err := array.FromJSON(mem, arrow.MapOf(arrow.BinaryTypes.String, i32), strings.NewReader(`[[{"key": "a", "value": 1}], [{"key": "b", "value": null}]]`))
	if err != nil {
		t.Fatal(err)
	}
	defer m0.Release()
	d0, e0 := m0.Data(), m0.Data().Children()[0]
	ed := array.NewData(mt.Elem(), e0.Len(), e0.Buffers(), e0.Children(), e0.NullN(), e0.Offset())
	defer ed.Release()
	md := array.NewData(mt, d0.Len(), d0.Buffers(), []arrow.ArrayData{ed}, d0.NullN(), d0.Offset())
	defer md.Release()
	m := array.MakeFromData(md)
	defer m.Release()
	if row, path, bad := requiredNull(m); !bad || row != 1 || path != "entries.value" {
		t.Errorf("map value: requiredNull = %d %q %v, want 1 \"entries.value\"", row, path, bad)
	}
}

// TestNullInANotNullNestedFieldIsRefused: a write holding a null in a
// nested field declared not null is refused, naming the column, the row
// and the field. Before, it was taken; the flush wrote the field as a
// Parquet required column without its nulls, and no scan could read the
// segment again ("arrow/concat: index out of range"). Rows that are hot
// already (written before the rule) make the flush fail instead, and stay
// hot and readable until rewritten.
func TestNullInANotNullNestedFieldIsRefused(t *testing.T) {
	db, mem, _ := testDB(t)
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: arrow.StructOf(arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Int32}), Nullable: true},
		{Name: "l", Type: arrow.ListOfField(arrow.Field{Name: "item", Type: arrow.PrimitiveTypes.Int32}), Nullable: true},
	}, nil)
	if _, err := db.CreateTable("n", "", sch, map[string]string{"primary_key": "k"}); err != nil {
		t.Fatal(err)
	}
	rows := func(js string) arrow.RecordBatch {
		rec, _, err := array.RecordFromJSON(mem, sch, strings.NewReader(js))
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	bad := rows(`[{"k": 1, "s": {"x": 1}, "l": [1]}, {"k": 2, "s": {"x": 2}, "l": [2, null, 3]}]`)
	defer bad.Release()
	_, err := db.AppendRecord("n", bad)
	if !kerr.Is(err, kerr.InvalidArgument) || !strings.Contains(err.Error(), `column "l": row 1: null in item`) {
		t.Fatalf("append: %v, want InvalidArgument naming column l, row 1 and its item", err)
	}
	ok := rows(`[{"k": 1, "s": null, "l": null}, {"k": 2, "s": {"x": 5}, "l": [4]}]`)
	defer ok.Release()
	if _, err := db.AppendRecord("n", ok); err != nil {
		t.Fatalf("nulls above the not-null fields are values' absence, not nulls in them: %v", err)
	}

	// Update by filter sets values through the same rule.
	one := arrow.NewSchema([]arrow.Field{sch.Field(1)}, nil)
	vals, _, err := array.RecordFromJSON(mem, one, strings.NewReader(`[{"s": {"x": null}}]`))
	if err != nil {
		t.Fatal(err)
	}
	defer vals.Release()
	if _, err := db.UpdateWhere("n", "k = 1", vals); !kerr.Is(err, kerr.InvalidArgument) || !strings.Contains(err.Error(), `column "s": row 0: null in x`) {
		t.Fatalf("update setting a null in x: %v, want InvalidArgument naming column s and x", err)
	}
	// A row an older library took: put straight into the hot store.
	tbl, err := db.st.lookupTable("n")
	if err != nil {
		t.Fatal(err)
	}
	sv := tbl.view()
	old := rows(`[{"k": 3, "s": {"x": null}, "l": [7]}]`)
	defer old.Release()
	seqs := db.st.seq.next(1, nil)
	keys, err := sv.rowKeys(old, seqs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.st.putRows(tbl, sv, old, keys, seqs, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Flush("n"); !kerr.Is(err, kerr.InvalidArgument) || !strings.Contains(err.Error(), `column "s" holds a null in x`) {
		t.Fatalf("flush of the old row: %v, want InvalidArgument naming column s and x", err)
	}
	s, err := db.Scan("n", allRows())
	if err != nil {
		t.Fatal(err)
	}
	if got := collect(t, s); len(got) != 3 {
		t.Fatalf("after the refused flush: %d rows, want 3 (hot, readable): %v", len(got), got)
	}
	fix := rows(`[{"k": 3, "s": {"x": 9}, "l": [7]}]`)
	defer fix.Release()
	if _, err := db.AppendRecord("n", fix); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Flush("n"); err != nil {
		t.Fatalf("flush after the row was rewritten: %v", err)
	}
	s, err = db.Scan("n", allRows())
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, s)
	if len(got) != 3 || got[2]["s"] != `{"x":9}` || got[1]["l"] != "[4]" {
		t.Fatalf("after the flush: %v", got)
	}
}

// TestStructAndMapInputsCastLikeLists: a struct's fields and a map's keys
// and values take the lossless casts a list's elements do (large_utf8 into
// utf8: a Polars or pandas frame's structs), and a field or map value
// declared not null takes input declared nullable when it holds no null.
// Both were refused ("cannot cast struct<name: large_utf8> to
// struct<name: utf8> losslessly"): create_table from a Polars frame with a
// struct column made the table and then failed to append its rows.
func TestStructAndMapInputsCastLikeLists(t *testing.T) {
	db, mem, _ := testDB(t)
	req := arrow.StructOf(arrow.Field{Name: "name", Type: arrow.BinaryTypes.String}, arrow.Field{Name: "n", Type: arrow.PrimitiveTypes.Int32, Nullable: true})
	mt := arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64)
	mt.SetItemNullable(false)
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: req, Nullable: true},
		{Name: "m", Type: mt, Nullable: true},
	}, nil)
	if _, err := db.CreateTable("cs", "", sch, map[string]string{"primary_key": "k"}); err != nil {
		t.Fatal(err)
	}
	loose := arrow.StructOf(arrow.Field{Name: "name", Type: arrow.BinaryTypes.LargeString, Nullable: true}, arrow.Field{Name: "n", Type: arrow.PrimitiveTypes.Int16, Nullable: true})
	in := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: loose, Nullable: true},
		{Name: "m", Type: arrow.MapOf(arrow.BinaryTypes.LargeString, arrow.PrimitiveTypes.Int32), Nullable: true},
	}, nil)
	write := func(js string) error {
		rec, _, err := array.RecordFromJSON(mem, in, strings.NewReader(js))
		if err != nil {
			t.Fatal(err)
		}
		defer rec.Release()
		s := rec.NewSlice(1, rec.NumRows()) // an offset, too
		defer s.Release()
		_, err = db.AppendRecord("cs", s)
		return err
	}
	if err := write(`[{"k": 0}, {"k": 1, "s": {"name": "a", "n": 7}, "m": [{"key": "x", "value": 1}]}, {"k": 2, "s": null, "m": null}, {"k": 3, "s": {"name": "ü", "n": null}, "m": []}]`); err != nil {
		t.Fatalf("write of castable structs and maps: %v", err)
	}
	if err := write(`[{"k": 0}, {"k": 4, "s": {"name": null, "n": 1}}]`); !kerr.Is(err, kerr.InvalidArgument) || !strings.Contains(err.Error(), `row 0: null in name`) {
		t.Fatalf("a null name: %v", err)
	}
	if err := write(`[{"k": 0}, {"k": 5, "m": [{"key": "y", "value": null}]}]`); !kerr.Is(err, kerr.InvalidArgument) || !strings.Contains(err.Error(), `null in entries.value`) {
		t.Fatalf("a null map value: %v", err)
	}
	if _, err := db.Flush("cs"); err != nil {
		t.Fatal(err)
	}
	s, err := db.Scan("cs", allRows())
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(collect(t, s)); got != `[map[k:1 m:[{"key":"x","value":1}] s:{"n":7,"name":"a"}] map[k:2 m:<nil> s:<nil>] map[k:3 m:[] s:{"n":null,"name":"ü"}]]` {
		t.Fatalf("rows: %s", got)
	}
}

// TestNullTypedInputIntoANotNullColumnIsRefused: a column of pyarrow's null
// type (what {"id": [None]} infers) written into a not-null column is
// InvalidArgument naming it. The message read the null count of the cast
// array after releasing it: a nil dereference, KALAM_INTERNAL from every
// write and delete path.
func TestNullTypedInputIntoANotNullColumnIsRefused(t *testing.T) {
	db, _, _ := testDB(t)
	sch := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "v", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	if _, err := db.CreateTable("nk", "", sch, map[string]string{"primary_key": "id"}); err != nil {
		t.Fatal(err)
	}
	in := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.Null, Nullable: true}}, nil)
	nul := array.NewNull(2)
	defer nul.Release()
	rec := array.NewRecordBatch(in, []arrow.Array{nul}, 2)
	defer rec.Release()
	for what, call := range map[string]func() error{
		"append": func() error { _, err := db.AppendRecord("nk", rec); return err },
		"delete": func() error {
			rdr := recordReader(t, rec)
			defer rdr.Release()
			_, err := db.Delete("nk", rdr)
			return err
		},
	} {
		if err := call(); !kerr.Is(err, kerr.InvalidArgument) || !strings.Contains(err.Error(), `column "id" is non-nullable but has 2 nulls`) {
			t.Errorf("%s of null-typed keys: %v, want InvalidArgument naming id", what, err)
		}
	}
}
