package exec

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/engine/filter"
)

// Filter keeps the rows of live versions that satisfy pred (nil: all
// live rows). It is applied to an isolated input or after a merge.
type Filter struct {
	in          Source
	pred        *filter.Predicate
	keepDeleted bool
	r           Runs
}

// NewFilter filters in, whose records are of schema work.
func NewFilter(in Source, pred *filter.Predicate, work *arrow.Schema, mem memory.Allocator) *Filter {
	return &Filter{in: in, pred: pred, r: Runs{schema: work, mem: mem}}
}

// KeepDeleted keeps tombstones, dropping only what pred rejects: a segment
// scan returns the versions as stored.
func (f *Filter) KeepDeleted() *Filter {
	f.keepDeleted = true
	return f
}

// Prefetch passes the hint on to the input (Prefetcher).
func (f *Filter) Prefetch() {
	if p, ok := f.in.(Prefetcher); ok {
		p.Prefetch()
	}
}

func (f *Filter) Next() (arrow.RecordBatch, error) {
	for {
		rec, err := f.in.Next()
		if err != nil || rec == nil {
			return nil, err
		}
		out, err := f.apply(rec)
		rec.Release()
		if err != nil {
			return nil, err
		}
		if out != nil {
			return out, nil
		}
	}
}

func (f *Filter) apply(rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	n := int(rec.NumRows())
	var sel []bool
	if f.pred != nil {
		var err error
		if sel, err = f.pred.Eval(rec); err != nil {
			return nil, err
		}
	}
	var del *array.Boolean
	if !f.keepDeleted {
		// Looked up per batch: a source may leave out _deleted when its
		// file holds no tombstone.
		if idx := rec.Schema().FieldIndices(DeletedColumn); len(idx) == 1 {
			del = rec.Column(idx[0]).(*array.Boolean)
		}
	}
	if sel == nil && (del == nil || allFalse(del)) {
		rec.Retain()
		return rec, nil
	}
	start := -1
	for i := 0; i <= n; i++ {
		keep := i < n && (del == nil || !del.Value(i)) && (sel == nil || sel[i])
		if keep && start < 0 {
			start = i
		} else if !keep && start >= 0 {
			f.r.Add(rec, int64(start), int64(i))
			start = -1
		}
	}
	return f.r.Build(false)
}

func allFalse(b *array.Boolean) bool {
	for i := 0; i < b.Len(); i++ {
		if b.Value(i) {
			return false
		}
	}
	return true
}

func (f *Filter) Close() {
	f.in.Close()
	f.r.Reset()
}
