package exec

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Output projects work records onto the output schema, applies the
// limit and re-chunks to exactly batch rows (the last batch may be short).
// Every batch it returns lives in buffers of the store's allocator (owned
// records as they are, anything else copied), so exported buffers are always
// C memory when that allocator is mallocator.
type Output struct {
	in      Source
	out     *arrow.Schema
	idx     []int         // input index of each output column, for inSch
	inSch   *arrow.Schema // the input schema idx was computed for
	limit   int64         // < 0: none
	batch   int64
	emitted int64
	r       Runs
	done    bool
}

// NewOutput emits in's rows as out, at most limit of them (< 0: no limit)
// in batches of batch rows.
func NewOutput(in Source, out *arrow.Schema, limit, batch int64, mem memory.Allocator) *Output {
	return &Output{in: in, out: out, limit: limit, batch: batch, r: Runs{schema: out, mem: mem}}
}

// project picks the output columns of rec by name (inputs of one scan may
// carry different column sets).
func (o *Output) project(rec arrow.RecordBatch) arrow.RecordBatch {
	if sch := rec.Schema(); sch != o.inSch {
		o.inSch = sch
		o.idx = o.idx[:0]
		for _, f := range o.out.Fields() {
			o.idx = append(o.idx, sch.FieldIndices(f.Name)[0])
		}
	}
	cols := make([]arrow.Array, len(o.idx))
	for i, j := range o.idx {
		cols[i] = rec.Column(j)
	}
	out := array.NewRecordBatch(o.out, cols, rec.NumRows())
	if IsOwned(rec) {
		return Owned{out}
	}
	return out
}

func (o *Output) Next() (arrow.RecordBatch, error) {
	for !o.done && o.r.rows < o.batch {
		if o.limit >= 0 && o.emitted+o.r.rows >= o.limit {
			o.done = true
			break
		}
		rec, err := o.in.Next()
		if err != nil {
			return nil, err
		}
		if rec == nil {
			o.done = true
			break
		}
		proj := o.project(rec)
		rec.Release()
		n := proj.NumRows()
		if o.limit >= 0 {
			n = min(n, o.limit-o.emitted-o.r.rows)
		}
		o.r.Add(proj, 0, n)
		proj.Release()
	}
	if o.r.rows == 0 {
		return nil, nil
	}
	if o.r.rows <= o.batch {
		out, err := o.assemble()
		return out, err
	}
	// More than a batch is buffered: emit exactly batch rows, keep the rest.
	var head Runs = Runs{schema: o.out, mem: o.r.mem}
	var tail Runs = Runs{schema: o.out, mem: o.r.mem}
	need := o.batch
	for _, p := range o.r.parts {
		n := p.End - p.Start
		switch {
		case need >= n:
			head.Add(p.Rec, p.Start, p.End)
			need -= n
		case need > 0:
			head.Add(p.Rec, p.Start, p.Start+need)
			tail.Add(p.Rec, p.Start+need, p.End)
			need = 0
		default:
			tail.Add(p.Rec, p.Start, p.End)
		}
	}
	o.r.Reset()
	o.r = tail
	out, err := head.Build(true)
	if out != nil {
		o.emitted += out.NumRows()
	}
	return out, err
}

func (o *Output) assemble() (arrow.RecordBatch, error) {
	if o.out.NumFields() == 0 {
		n := o.r.rows
		o.r.Reset()
		o.emitted += n
		return array.NewRecordBatch(o.out, nil, n), nil
	}
	out, err := o.r.Build(true)
	if out != nil {
		o.emitted += out.NumRows()
	}
	return out, err
}

func (o *Output) Close() {
	o.in.Close()
	o.r.Reset()
}
