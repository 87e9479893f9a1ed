package engine

import (
	"bytes"
	"context"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/kalamdb/libkalam/engine/exec"
	"github.com/kalamdb/libkalam/kerr"
)

// hotSource reads the newest hot version of each key of one generation (or
// several, merged by hotIter) in the scan bounds.
type hotSource struct {
	ctx     context.Context
	it      *hotIter
	dec     *hotDecoder
	rb      *array.RecordBuilder
	userB   []array.Builder       // builders of the user columns, in decoder order
	seqB    *array.Int64Builder   // nil when the work schema has no _seq
	delB    *array.BooleanBuilder // nil when it has no _deleted
	batch   int
	started bool
}

// newHotSource reads the columns of work of the generations gens, for the
// keys in the read's bounds [keyLo, keyHi) and in's.
func (rc *readCtx) newHotSource(work *arrow.Schema, gens []uint64, keyLo, keyHi []byte, in *planInput) (*hotSource, error) {
	hv, ok := rc.rs.hot(rc.st)
	if !ok {
		return nil, kerr.New(kerr.Internal, "hot rows planned for a read without them")
	}
	rb := array.NewRecordBuilder(rc.st.mem, work)
	h := &hotSource{ctx: rc.ctx, rb: rb, batch: int(min(rc.batch, 64*1024))}
	var want []int
	for i, f := range work.Fields() {
		switch f.Name {
		case colSeq:
			h.seqB = rb.Field(i).(*array.Int64Builder)
		case colDeleted:
			h.delB = rb.Field(i).(*array.BooleanBuilder)
		default:
			want = append(want, rc.sv.schema.FieldIndices(f.Name)[0])
			h.userB = append(h.userB, rb.Field(i))
		}
	}
	h.dec = newHotDecoder(rc.t, rc.st.mem, rc.sv, want)
	lo, hi := keyLo, keyHi
	if in.hotLo != nil && (lo == nil || bytes.Compare(in.hotLo, lo) > 0) {
		lo = in.hotLo
	}
	if in.hotHi != nil && (hi == nil || bytes.Compare(in.hotHi, hi) < 0) {
		hi = in.hotHi
	}
	h.it = hv.iter(gens, lo, hi)
	return h, nil
}

func (h *hotSource) Next() (arrow.RecordBatch, error) {
	if h.it == nil {
		return nil, nil
	}
	if !h.started {
		h.it.First()
		h.started = true
	}
	n := 0
	for ; h.it.Valid() && n < h.batch; h.it.NextKey() {
		if n&4095 == 4095 {
			if err := h.ctx.Err(); err != nil {
				return nil, err
			}
		}
		_, seq, v, _ := h.it.Entry()
		tomb, err := h.dec.decode(v, h.userB)
		if err != nil {
			return nil, err
		}
		if h.seqB != nil {
			h.seqB.Append(seq)
		}
		if h.delB != nil {
			h.delB.Append(tomb)
		}
		n++
	}
	if err := h.it.Err(); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	return exec.Owned{RecordBatch: h.rb.NewRecordBatch()}, nil
}

func (h *hotSource) Close() {
	if h.it != nil {
		h.it.Close()
		h.dec.release()
		h.rb.Release()
		h.it = nil
	}
}
