// Package exec holds the operators of a read over Arrow record batches:
// filtering, key ranges, concatenation, merging by key, projection and
// re-chunking, and the assembly of row ranges they share. They know
// nothing of where the batches come from (hot rows, segment files,
// computed tables): the engine opens those inputs and composes these
// operators over them.
package exec

import "github.com/apache/arrow-go/v18/arrow"

// The stored columns every version carries besides the user's: the
// operators find them by these names (filters drop tombstones, merges
// compare _seq).
const (
	SeqColumn     = "_seq"
	DeletedColumn = "_deleted"
)

// Source is one stage of a read pipeline: Next returns a batch the caller
// owns, or nil at the end; Close releases everything and may be called at
// any point.
type Source interface {
	Next() (arrow.RecordBatch, error)
	Close()
}

// Owned marks a record whose buffers were all allocated from the store's
// allocator by this read (gathered runs, hot rows built by builders), and
// slices and projections of one. It can be exported without a copy;
// anything else (Parquet reader output, whose narrow types pqarrow builds
// on the Go heap) is copied before it leaves the engine.
type Owned struct{ arrow.RecordBatch }

// IsOwned reports whether rec is an Owned record.
func IsOwned(rec arrow.RecordBatch) bool {
	_, ok := rec.(Owned)
	return ok
}

// WithoutField is s without the field called name.
func WithoutField(s *arrow.Schema, name string) *arrow.Schema {
	var fields []arrow.Field
	for _, f := range s.Fields() {
		if f.Name != name {
			fields = append(fields, f)
		}
	}
	return arrow.NewSchema(fields, nil)
}
