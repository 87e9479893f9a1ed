package exec

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Runs collects row ranges of records and assembles them into one record.
type Runs struct {
	schema *arrow.Schema
	mem    memory.Allocator
	parts  []Run
	ris    []int32             // per part: its record's index in recs
	recs   []arrow.RecordBatch // the parts' records, each retained once
	rows   int64
	gen    int // counts resets (Merge caches record indices per gen)
	// patches are the patch regions of parts, found by Build and Column.
	patches []patch
	ops     []copyOp // copyOps of parts and patches, found by Build
	// proj, when set, assembles only these columns of the parts (their
	// indices in every part), as schema.
	proj []int
}

// Run is rows [Start, End) of Rec.
type Run struct {
	Rec        arrow.RecordBatch
	Start, End int64
}

// NewRuns collects rows for records of schema (nil when only Column
// assembles them), gathered into buffers from mem.
func NewRuns(schema *arrow.Schema, mem memory.Allocator) *Runs {
	return &Runs{schema: schema, mem: mem}
}

// Rows is the number of rows collected.
func (r *Runs) Rows() int64 { return r.rows }

// Column assembles column c of the collected rows into a new array from
// the allocator, leaving them collected.
func (r *Runs) Column(c int) (arrow.Array, error) {
	r.patches = patchRegions(r.parts, r.ris, r.patches)
	return gatherRunsIdx(r.parts, r.ris, r.recs, r.patches, nil, c, r.rows, r.mem)
}

// index returns rec's index in r.recs, adding (and retaining) it unless it
// is one of the last few added.
func (r *Runs) index(rec arrow.RecordBatch) int {
	for i := len(r.recs) - 1; i >= 0 && i >= len(r.recs)-4; i-- {
		if r.recs[i] == rec {
			return i
		}
	}
	rec.Retain()
	r.recs = append(r.recs, rec)
	return len(r.recs) - 1
}

// Add collects rows [start, end) of rec.
func (r *Runs) Add(rec arrow.RecordBatch, start, end int64) {
	r.addAt(r.index(rec), start, end)
}

// addAt adds rows [start, end) of record r.recs[ri].
func (r *Runs) addAt(ri int, start, end int64) {
	if n := len(r.parts); n > 0 && r.ris[n-1] == int32(ri) && r.parts[n-1].End == start {
		r.parts[n-1].End = end
	} else {
		r.parts = append(r.parts, Run{r.recs[ri], start, end})
		r.ris = append(r.ris, int32(ri))
	}
	r.rows += end - start
}

// Build returns the assembled record (nil when empty) and resets r. With
// copy set the result always lives in fresh buffers from r.mem.
func (r *Runs) Build(copyAlways bool) (arrow.RecordBatch, error) {
	defer r.Reset()
	if r.rows == 0 {
		return nil, nil
	}
	if len(r.parts) == 1 && (IsOwned(r.parts[0].Rec) || !copyAlways) {
		p := r.parts[0]
		out := p.Rec.NewSlice(p.Start, p.End)
		if r.proj != nil {
			cols := make([]arrow.Array, len(r.proj))
			for i, c := range r.proj {
				cols[i] = out.Column(c)
			}
			sliced := out
			out = array.NewRecordBatch(r.schema, cols, sliced.NumRows())
			sliced.Release()
		}
		if IsOwned(p.Rec) {
			return Owned{out}, nil
		}
		return out, nil
	}
	schema := r.parts[0].Rec.Schema()
	if r.proj != nil {
		schema = r.schema
	}
	if rec := r.adjacentView(schema); rec != nil {
		return rec, nil
	}
	r.patches = patchRegions(r.parts, r.ris, r.patches)
	r.ops = copyOps(r.parts, r.ris, r.patches, r.ops)
	cols := make([]arrow.Array, schema.NumFields())
	for c := range cols {
		src := c
		if r.proj != nil {
			src = r.proj[c]
		}
		out, err := gatherRunsIdx(r.parts, r.ris, r.recs, r.patches, r.ops, src, r.rows, r.mem)
		if err != nil {
			for _, done := range cols[:c] {
				done.Release()
			}
			return nil, fmt.Errorf("column %q: %w", schema.Field(c).Name, err)
		}
		cols[c] = out
	}
	rec := array.NewRecordBatch(schema, cols, r.rows)
	for _, col := range cols {
		col.Release()
	}
	for _, f := range schema.Fields() {
		if !gatherCopies(f.Type) {
			return rec, nil // may share input buffers: not owned
		}
	}
	return Owned{rec}, nil
}

// Reset drops the collected rows, releasing their records.
func (r *Runs) Reset() {
	for _, rec := range r.recs {
		rec.Release()
	}
	clear(r.recs)
	r.recs = r.recs[:0]
	clear(r.parts)
	r.parts = r.parts[:0]
	r.ris = r.ris[:0]
	r.rows = 0
	r.gen++
}

// adjacentView returns the collected rows as one view of their buffers
// when every part is owned and, column by column, the parts are adjacent
// windows of the same buffers (slices of one decoded row group, cut into
// pieces upstream and put back together here), so nothing is copied; nil
// otherwise.
func (r *Runs) adjacentView(schema *arrow.Schema) arrow.RecordBatch {
	for _, p := range r.parts {
		if !IsOwned(p.Rec) {
			return nil
		}
	}
	cols := make([]arrow.Array, schema.NumFields())
	release := func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}
	for c := range cols {
		src := c
		if r.proj != nil {
			src = r.proj[c]
		}
		first := r.parts[0].Rec.Column(src).Data()
		if first.DataType().ID() == arrow.DICTIONARY {
			release()
			return nil
		}
		for i := 1; i < len(r.parts); i++ {
			prev, cur := r.parts[i-1], r.parts[i]
			a, b := prev.Rec.Column(src).Data(), cur.Rec.Column(src).Data()
			if int64(a.Offset())+prev.End != int64(b.Offset())+cur.Start || !sameBuffers(first, b) {
				release()
				return nil
			}
		}
		// Zero when no part's batch has a null: a validity buffer may then
		// be empty, and counting its bits would read past it.
		nulls := 0
		for _, p := range r.parts {
			if p.Rec.Column(src).NullN() > 0 {
				nulls = array.UnknownNullCount
				break
			}
		}
		d := array.NewData(first.DataType(), int(r.rows), first.Buffers(), first.Children(), nulls,
			first.Offset()+int(r.parts[0].Start))
		cols[c] = array.MakeFromData(d)
		d.Release()
	}
	rec := array.NewRecordBatch(schema, cols, r.rows)
	release()
	return Owned{rec}
}

// sameBuffers reports whether a and b are views of the same buffers, and
// of the same child arrays (a slice of a nested array, e.g. a
// fixed_size_list of embeddings, keeps its parent's children and carries
// the offset itself).
func sameBuffers(a, b arrow.ArrayData) bool {
	ab, bb := a.Buffers(), b.Buffers()
	ac, bc := a.Children(), b.Children()
	if len(ab) != len(bb) || len(ac) != len(bc) || b.DataType().ID() == arrow.DICTIONARY {
		return false
	}
	for i := range ab {
		if ab[i] != bb[i] {
			return false
		}
	}
	for i := range ac {
		if ac[i] != bc[i] {
			return false
		}
	}
	return true
}
