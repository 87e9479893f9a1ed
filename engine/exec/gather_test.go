package exec

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// layoutsBatch has a column of each layout GatherRuns treats apart (fixed
// widths of 1, 4, 8 and 16 bytes, bits, 32- and 64-bit offsets, nested),
// every third row null.
func layoutsBatch(t *testing.T, mem memory.Allocator, n int) arrow.RecordBatch {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "dec", Type: &arrow.Decimal128Type{Precision: 20, Scale: 2}, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "ls", Type: arrow.BinaryTypes.LargeString, Nullable: true},
		{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "list", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true},
		{Name: "st", Type: arrow.StructOf(arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
			arrow.Field{Name: "y", Type: arrow.BinaryTypes.String, Nullable: true}), Nullable: true},
	}, nil)
	var rows []string
	for i := 0; i < n; i++ {
		if i%3 == 2 {
			rows = append(rows, "{}") // every column null
			continue
		}
		list := make([]int, i%4)
		for j := range list {
			list[j] = j
		}
		y := `"y"`
		if i%2 == 0 {
			y = "null"
		}
		l, _ := json.Marshal(list)
		rows = append(rows, fmt.Sprintf(`{"i64": %d, "i8": %d, "f32": %g, "dec": "%d.%02d", "b": %v, "s": "s%c", "ls": "large",`+
			` "bin": "%s", "list": %s, "st": {"x": %d, "y": %s}}`,
			i, -i, float32(i)/4, i*123, i%100, i%2 == 0, 'a'+i%26,
			base64.StdEncoding.EncodeToString([]byte{0, byte(i), 255}), l, i, y))
	}
	rec, _, err := array.RecordFromJSON(mem, schema, strings.NewReader("["+strings.Join(rows, ",")+"]"))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// dirtyAllocator hands out uncleared buffers filled with garbage, as the
// store's recycler may, and counts them.
type dirtyAllocator struct {
	*memory.CheckedAllocator
	uncleared int
}

func (d *dirtyAllocator) AllocateUncleared(n int) []byte {
	d.uncleared++
	b := d.Allocate(n)
	for i := range b {
		b[i] = 0xa5
	}
	return b
}

// TestGatherRunsMatchesConcatenate assembles random runs of every column of
// a batch of every layout gather copies (nulls, sliced inputs, nested types) and compares the
// result with array.Concatenate of the same slices. The gathered values,
// offsets and data buffers come uncleared and full of garbage: every byte
// of them must be written.
func TestGatherRunsMatchesConcatenate(t *testing.T) {
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer checked.AssertSize(t, 0)
	mem := &dirtyAllocator{CheckedAllocator: checked}
	defer func() {
		if mem.uncleared == 0 {
			t.Error("no gathered buffer was allocated uncleared")
		}
	}()
	full := layoutsBatch(t, mem, 60)
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
		var parts []Run
		var rows int64
		for k := 0; k < 1+r.Intn(12); k++ {
			rec := recs[r.Intn(2)]
			start := int64(r.Intn(int(rec.NumRows())))
			end := start + int64(r.Intn(int(rec.NumRows())-int(start)+1))
			parts = append(parts, Run{rec, start, end})
			rows += end - start
		}
		for c := 0; c < int(full.NumCols()); c++ {
			got, err := GatherRuns(parts, c, rows, mem)
			if err != nil {
				t.Fatal(err)
			}
			pieces := make([]arrow.Array, len(parts))
			for i, p := range parts {
				pieces[i] = array.NewSlice(p.Rec.Column(c), p.Start, p.End)
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

// TestGatherPatchesMatchConcatenate assembles the runs of merges of
// updates (one record's rows with some replaced, one for one, by rows of
// others: patch regions), mixed with runs that break the pattern, for
// every layout and through Runs, as a merge does, and compares the result
// with array.Concatenate of the same slices.
func TestGatherPatchesMatchConcatenate(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	full := flatBatch(t, mem, 120)
	defer full.Release()
	base, other, third := full.NewSlice(0, 90), full.NewSlice(50, 120), full.NewSlice(3, 40)
	defer base.Release()
	defer other.Release()
	defer third.Release()
	r := rand.New(rand.NewSource(5))
	regions := 0
	for trial := 0; trial < 200; trial++ {
		var parts []Run
		at := int64(r.Intn(20))
		for at < base.NumRows() {
			n := min(base.NumRows()-at, int64(1+r.Intn(12)))
			parts = append(parts, Run{base, at, at + n})
			at += n
			// Replace the next g rows of base by g rows of the others, in
			// one or more runs; now and then skip a different number.
			g := int64(r.Intn(4))
			for left := g; left > 0; {
				src := other
				if r.Intn(3) == 0 {
					src = third
				}
				k := 1 + r.Int63n(left)
				s := r.Int63n(src.NumRows() - k)
				parts = append(parts, Run{src, s, s + k})
				left -= k
			}
			skip := g // one for one
			if r.Intn(12) == 0 {
				skip = int64(r.Intn(4))
			}
			at += skip
		}
		rr := NewRuns(nil, mem)
		for _, p := range parts {
			rr.Add(p.Rec, p.Start, p.End)
		}
		regions += len(patchRegions(rr.parts, rr.ris, nil))
		got, err := rr.Build(true)
		if err != nil {
			t.Fatal(err)
		}
		want := concatParts(t, mem, parts)
		for c := 0; c < int(want.NumCols()); c++ {
			if !array.Equal(got.Column(c), want.Column(c)) || got.Column(c).NullN() != want.Column(c).NullN() {
				t.Fatalf("trial %d column %s:\n got %v\nwant %v", trial, want.Schema().Field(c).Name, got.Column(c), want.Column(c))
			}
			if err := array.ValidateFull(got.Column(c)); err != nil {
				t.Fatalf("trial %d column %s: %v", trial, want.Schema().Field(c).Name, err)
			}
		}
		got.Release()
		want.Release()
	}
	if regions < 200 {
		t.Errorf("only %d patch regions in 200 trials: the test no longer exercises them", regions)
	}
}
