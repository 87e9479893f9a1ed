package engine

import (
	"math/rand"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestGatherRunsMatchesConcatenate assembles random runs of every column of
// the all-types batch (nulls, sliced inputs, nested types) and compares the
// result with array.Concatenate of the same slices.
func TestGatherRunsMatchesConcatenate(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	full := allTypesBatch(t, mem, 60)
	defer full.Release()
	// Two records, one a slice with a non-zero offset.
	recs := []arrow.RecordBatch{full.NewSlice(0, 30), full.NewSlice(17, 60)}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	r := rand.New(rand.NewSource(3))
	for trial := 0; trial < 50; trial++ {
		var parts []run
		var rows int64
		for k := 0; k < 1+r.Intn(12); k++ {
			rec := recs[r.Intn(2)]
			start := int64(r.Intn(int(rec.NumRows())))
			end := start + int64(r.Intn(int(rec.NumRows())-int(start)+1))
			parts = append(parts, run{rec, start, end})
			rows += end - start
		}
		for c := 0; c < int(full.NumCols()); c++ {
			got, err := gatherRuns(parts, c, rows, mem)
			if err != nil {
				t.Fatal(err)
			}
			pieces := make([]arrow.Array, len(parts))
			for i, p := range parts {
				pieces[i] = array.NewSlice(p.rec.Column(c), p.start, p.end)
			}
			want, err := array.Concatenate(pieces, mem)
			if err != nil {
				t.Fatal(err)
			}
			if !array.Equal(got, want) || got.NullN() != want.NullN() {
				t.Fatalf("trial %d column %s:\n got %v (%d nulls)\nwant %v (%d nulls)", trial, full.Schema().Field(c).Name, got, got.NullN(), want, want.NullN())
			}
			if err := array.ValidateFull(got); err != nil {
				t.Fatalf("trial %d column %s: invalid array: %v", trial, full.Schema().Field(c).Name, err)
			}
			got.Release()
			want.Release()
			for _, pc := range pieces {
				pc.Release()
			}
		}
	}
}

func TestGatherCopies(t *testing.T) {
	for _, c := range []struct {
		t    arrow.DataType
		want bool
	}{
		{arrow.PrimitiveTypes.Int64, true},
		{arrow.BinaryTypes.String, true},
		{arrow.ListOf(arrow.BinaryTypes.String), true},
		{arrow.BinaryTypes.StringView, false},
		{arrow.ListOf(arrow.BinaryTypes.BinaryView), false},
		{arrow.StructOf(arrow.Field{Name: "a", Type: arrow.BinaryTypes.StringView}), false},
		{&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}, false},
	} {
		if got := gatherCopies(c.t); got != c.want {
			t.Errorf("gatherCopies(%s) = %v, want %v", c.t, got, c.want)
		}
	}
}
