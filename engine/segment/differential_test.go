package segment

import (
	"bytes"
	"context"
	"errors"
	"math/rand"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// readAllNarrow reads every column of every row group with the narrow
// reader; result[col][rg].
func readAllNarrow(t testing.TB, f *File, mem memory.Allocator) [][]arrow.Array {
	t.Helper()
	out := make([][]arrow.Array, f.NumColumns())
	for c := range out {
		if ok, why := f.Supported(c); !ok {
			t.Fatalf("column %q unsupported: %s", f.Column(c).Name, why)
		}
		for rg := 0; rg < f.NumRowGroups(); rg++ {
			a, err := f.ReadColumn(context.Background(), rg, c, mem)
			if err != nil && strings.Contains(err.Error(), "a V1 page of a fixed_size_list column") && errors.Is(err, ErrUnsupported) {
				// Left to pqarrow by design: out[c] stays nil.
				for _, p := range out[c] {
					p.Release()
				}
				out[c] = nil
				break
			}
			if err != nil {
				t.Fatalf("rg %d col %q: %v", rg, f.Column(c).Name, err)
			}
			out[c] = append(out[c], a)
		}
	}
	return out
}

func readPqarrow(t testing.TB, data []byte) arrow.Table {
	t.Helper()
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 1 << 20}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

// compareColumn checks that the narrow reader's row-group arrays equal
// want (the written values) and got (pqarrow's read), value by value.
func compareColumn(t testing.TB, what string, parts []arrow.Array, want arrow.Array, pq *arrow.Chunked) {
	t.Helper()
	var off int64
	for rg, a := range parts {
		if !arrow.TypeEqual(a.DataType(), want.DataType()) {
			t.Fatalf("%s: type %s, wrote %s", what, a.DataType(), want.DataType())
		}
		if err := array.ValidateFull(a); err != nil {
			t.Fatalf("%s: row group %d: invalid array: %v", what, rg, err)
		}
		exp := array.NewSlice(want, off, off+int64(a.Len()))
		if !array.Equal(a, exp) {
			t.Fatalf("%s: row group %d differs from the written values\n got %v\nwant %v", what, rg, trunc(a), trunc(exp))
		}
		exp.Release()
		off += int64(a.Len())
	}
	if off != int64(want.Len()) {
		t.Fatalf("%s: read %d rows, wrote %d", what, off, want.Len())
	}
	if pq != nil {
		if !arrow.TypeEqual(pq.DataType(), want.DataType()) {
			t.Fatalf("%s: pqarrow type %s, narrow %s", what, pq.DataType(), want.DataType())
		}
		ch := arrow.NewChunked(want.DataType(), parts)
		defer ch.Release()
		if !array.ChunkedEqual(ch, pq) {
			t.Fatalf("%s: narrow reader and pqarrow differ", what)
		}
	}
}

func trunc(a arrow.Array) string {
	s := a.String()
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func TestDifferentialRandom(t *testing.T) {
	seeds := 24
	if testing.Short() {
		seeds = 10
	}
	for seed := 0; seed < seeds; seed++ {
		rng := rand.New(rand.NewSource(int64(seed)))
		rowsChoice := []int{0, 1, 2, 17, 300, 2500}
		rows := rowsChoice[rng.Intn(len(rowsChoice))]
		rec := randomTable(rng, memory.DefaultAllocator, rows)
		v := randomVariant(rng)
		data := writeSegment(t, rec, v)
		f, err := Open(bytes.NewReader(data), int64(len(data)), "mem")
		if err != nil {
			t.Fatalf("seed %d %s: open: %v", seed, v, err)
		}
		// Every other seed decodes into buffers full of garbage, as the
		// store's recycler hands them out (UnclearedAllocator): the
		// decoder must write every byte it exposes.
		var mem interface {
			memory.Allocator
			AssertSize(memory.TestingT, int)
		} = memory.NewCheckedAllocator(memory.NewGoAllocator())
		if seed%2 == 1 {
			mem = &dirtyAllocator{memory.NewCheckedAllocator(memory.NewGoAllocator())}
		}
		parts := readAllNarrow(t, f, mem)
		pq := readPqarrow(t, data)
		for c := range parts {
			name := f.Column(c).Name
			if parts[c] == nil {
				continue
			}
			compareColumn(t, name+" seed "+itoa(int64(seed))+" "+v.String(), parts[c], rec.Column(c), pq.Column(c).Data())
			for _, a := range parts[c] {
				a.Release()
			}
		}
		pq.Release()
		rec.Release()
		mem.AssertSize(t, 0)
	}
}

// dirtyAllocator hands out uncleared buffers filled with garbage.
type dirtyAllocator struct{ *memory.CheckedAllocator }

func (d *dirtyAllocator) AllocateUncleared(n int) []byte {
	b := d.Allocate(n)
	for i := range b {
		b[i] = 0xA5
	}
	return b
}
