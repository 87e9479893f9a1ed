package engine

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kalamdb/libkalam/engine/exec"
)

// readCtx is what a read of a table's stored rows opens its inputs in:
// the table scan (through its plan), compaction, the delete lookup,
// segment scans and dataset exports each make one, open hot and segment
// inputs through it and compose exec operators over them.
type readCtx struct {
	st *store
	t  *table
	// rs pins the snapshot read; nil for the delete lookup, which reads
	// the segments of a manifest it holds under writeMu (and no hot rows).
	rs *readState
	sv *schemaView // the schema of the version read: what columns are called
	// ctx is cancelled when a scan's stream is cancelled or released during
	// a read: inputs check it between batches (and the Parquet reader
	// inside them), so a release interrupts a get_next in progress.
	ctx   context.Context
	batch int64 // rows per batch of the read's operators
}

// newReadCtx is the one way to make a readCtx; batch <= 0 is the default.
func newReadCtx(ctx context.Context, st *store, t *table, rs *readState, sv *schemaView, batch int64) readCtx {
	if batch <= 0 {
		batch = defaultBatchRows
	}
	return readCtx{st: st, t: t, rs: rs, sv: sv, ctx: ctx, batch: batch}
}

// keyer is the keyer of records of schema s (which holds the key columns,
// and _seq when the key includes it).
func (sv *schemaView) keyer(s *arrow.Schema) *exec.Keyer {
	names := make([]string, len(sv.keyCols))
	for i, kc := range sv.keyCols {
		names[i] = sv.schema.Field(kc).Name
	}
	return exec.NewKeyer(s, names, sv.keyHasSeq)
}
