package exec

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// flatBatch is layoutsBatch without its nested columns (every layout a
// view can cover).
func flatBatch(t *testing.T, mem memory.Allocator, n int) arrow.RecordBatch {
	full := layoutsBatch(t, mem, n)
	defer full.Release()
	var fields []arrow.Field
	var cols []arrow.Array
	for i, f := range full.Schema().Fields() {
		if f.Name == "list" || f.Name == "st" {
			continue
		}
		fields = append(fields, f)
		cols = append(cols, full.Column(i))
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, full.NumRows())
}

// sharesBuffers reports whether every column of got is a view of the
// buffers of the same column of parent (nothing was copied).
func sharesBuffers(got, parent arrow.RecordBatch) bool {
	for c := 0; c < int(got.NumCols()); c++ {
		if !sameBuffers(parent.Column(c).Data(), got.Column(c).Data()) {
			return false
		}
	}
	return true
}

func buildRuns(t *testing.T, mem memory.Allocator, parts []Run) arrow.RecordBatch {
	r := NewRuns(nil, mem)
	for _, p := range parts {
		r.Add(p.Rec, p.Start, p.End)
	}
	out, err := r.Build(true)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func concatParts(t *testing.T, mem memory.Allocator, parts []Run) arrow.RecordBatch {
	var pieces []arrow.RecordBatch
	for _, p := range parts {
		pieces = append(pieces, p.Rec.NewSlice(p.Start, p.End))
	}
	tbl := array.NewTableFromRecords(parts[0].Rec.Schema(), pieces)
	defer tbl.Release()
	for _, p := range pieces {
		p.Release()
	}
	cols := make([]arrow.Array, tbl.NumCols())
	for i := range cols {
		a, err := array.Concatenate(tbl.Column(i).Data().Chunks(), mem)
		if err != nil {
			t.Fatal(err)
		}
		cols[i] = a
		defer a.Release()
	}
	return array.NewRecordBatch(tbl.Schema(), cols, tbl.NumRows())
}

// TestRunsAdjacentPiecesAreNotCopied: runs that are adjacent windows of
// one owned batch (the pieces a segment source cuts a row group into) come
// back as one view of its buffers, nested columns included (an embedding
// column was copied whole); runs that are not adjacent, or not owned, are
// copied. Values are right either way.
func TestRunsAdjacentPiecesAreNotCopied(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	flat := layoutsBatch(t, mem, 60) // nested columns (list, struct, fixed_size_list) too
	defer flat.Release()
	parent := Owned{flat}
	piece := func(s, e int64) arrow.RecordBatch { return Owned{parent.NewSlice(s, e)} }
	p0, p1, p2 := piece(0, 20), piece(20, 45), piece(45, 60)
	defer p0.Release()
	defer p1.Release()
	defer p2.Release()
	plain := flat.NewSlice(20, 45) // the same rows, not marked owned
	defer plain.Release()

	for _, c := range []struct {
		name  string
		parts []Run
		view  bool
	}{
		{"adjacent pieces", []Run{{p0, 5, 20}, {p1, 0, 25}, {p2, 0, 10}}, true},
		{"adjacent, ending inside a piece", []Run{{p0, 19, 20}, {p1, 0, 3}}, true},
		{"a row left out", []Run{{p0, 5, 20}, {p1, 1, 25}}, false},
		{"out of order", []Run{{p1, 0, 25}, {p0, 5, 20}}, false},
		{"not owned", []Run{{p0, 5, 20}, {plain, 0, 25}}, false},
	} {
		got := buildRuns(t, mem, c.parts)
		want := concatParts(t, mem, c.parts)
		if !array.RecordEqual(got, want) {
			t.Errorf("%s: got %v, want %v", c.name, got, want)
		}
		for i := 0; i < int(got.NumCols()); i++ {
			if err := array.ValidateFull(got.Column(i)); err != nil {
				t.Errorf("%s: column %d invalid: %v", c.name, i, err)
			}
			if got.Column(i).NullN() != want.Column(i).NullN() {
				t.Errorf("%s: column %d has %d nulls, want %d", c.name, i, got.Column(i).NullN(), want.Column(i).NullN())
			}
		}
		if shares := sharesBuffers(got, flat); shares != c.view {
			t.Errorf("%s: result shares the input's buffers: %v, want %v", c.name, shares, c.view)
		}
		if !IsOwned(got) {
			t.Errorf("%s: result not owned", c.name)
		}
		got.Release()
		want.Release()
	}
}

// TestMergeLongRunsGoOutAsViews: a long sorted input merged with a few
// newer keys (a segment and its hot rows) gives every key once with the
// newer input's value, and its long runs leave as views of the input's
// buffers rather than copies.
func TestMergeLongRunsGoOutAsViews(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "v", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	const n = 5 * longRun
	mk := func(ids []int64, v int64) arrow.RecordBatch {
		b := array.NewRecordBuilder(mem, schema)
		defer b.Release()
		for _, id := range ids {
			b.Field(0).(*array.Int64Builder).Append(id)
			b.Field(1).(*array.Int64Builder).Append(v + id)
		}
		return Owned{b.NewRecordBatch()}
	}
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = int64(2 * i)
	}
	old := mk(ids, 0)
	defer old.Release()
	// Pieces of 6000 rows, as a segment source cuts a decoded row group.
	var pieces []arrow.RecordBatch
	for s := int64(0); s < n; s += 6000 {
		pieces = append(pieces, Owned{old.NewSlice(s, min(s+6000, n))})
	}
	// New keys and replaced ones (ids 2*5000 and 2*15000).
	hotIDs := []int64{1, 10000, 10001, 30000}
	hot := mk(hotIDs, 1_000_000)
	k := NewKeyer(schema, []string{"id"}, false)
	m := NewMerge([]Source{NewMem(pieces), NewMem([]arrow.RecordBatch{hot})}, k,
		MergeOptions{Work: schema, Ranks: []int{0, 1}}, 64*1024, mem)
	defer m.Close()

	want := map[int64]int64{}
	for _, id := range ids {
		want[id] = id
	}
	for _, id := range hotIDs {
		want[id] = 1_000_000 + id
	}
	var got []int64
	views := 0
	for {
		rec, err := m.Next()
		if err != nil {
			t.Fatal(err)
		}
		if rec == nil {
			break
		}
		if rec.NumRows() >= longRun && sharesBuffers(rec, old) {
			views++
		}
		idc, vc := rec.Column(0).(*array.Int64), rec.Column(1).(*array.Int64)
		// A view of batches without nulls has none (and does not count
		// them in a validity buffer that may be empty).
		if idc.NullN() != 0 || vc.NullN() != 0 {
			t.Fatalf("a batch has %d+%d nulls, want none", idc.NullN(), vc.NullN())
		}
		for i := 0; i < idc.Len(); i++ {
			id := idc.Value(i)
			if w, ok := want[id]; !ok || vc.Value(i) != w {
				t.Fatalf("row id %d v %d, want %d (present %v)", id, vc.Value(i), w, ok)
			}
			got = append(got, id)
		}
		rec.Release()
	}
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("rows out of order at %d: %d after %d", i, got[i], got[i-1])
		}
	}
	// The old input's runs between the hot keys, cut at its pieces: rows
	// [1, 5000) and [6000, 12000) are long and each goes out as one view.
	if views != 2 {
		t.Errorf("%d long batches were views of the input's buffers, want 2", views)
	}
}
