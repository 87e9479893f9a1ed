package engine

import (
	"bytes"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// A flush cache keeps, in memory, copies of the rows written to a table's
// current hot generation for as long as they arrive in key order (every
// key above all before it: appends of increasing keys, and every table
// without a primary key, whose key is the fresh _seq). A flush of exactly
// that generation then writes its segment from the copies instead of
// reading every row back out of RocksDB and decoding it, which was more
// than half of a flush's time (bench section 2, docs/DESIGN-NOTES.md
// "Flush from memory").
//
// It is an optimisation only: RocksDB stays the truth, and the cache ends
// (its memory freed, the generation flushed by reading back as before) as
// soon as it cannot vouch for every version in the generation: a write it
// does not hold (a delete, an update, an insert that skipped rows), a
// batch out of key order, a change of schema, versions the generation
// held before the store was opened, or the store's memory limit. Keys in
// strictly increasing order mean no key has two versions, so every cached
// row is its key's newest version, as a flush needs.
//
// A table's cache belongs to its writeMu: writes add to it and a flush
// takes it in the same critical section that freezes the generation.

// defaultFlushCacheLimit bounds the bytes all flush caches of a store hold
// (store.flushCacheLimit; tests lower it); a write that would pass it ends
// its table's cache.
const defaultFlushCacheLimit = 256 << 20

// cachedRowOverhead is what one cached batch costs besides its buffers
// (its arrays and slices), counted so that many tiny appends also reach
// the limit.
const cachedRowOverhead = 1024

// flushCache is the cache of one hot generation.
type flushCache struct {
	bytes *atomic.Int64 // the store's total (store.flushCacheBytes)
	gen   uint64
	ok    bool        // false: the generation has versions the cache does not hold
	sv    *schemaView // the schema every cached row is in
	recs  []cachedBatch
	rows  int64
	size  int64  // bytes counted against the store's limit
	last  []byte // the largest key held
}

// cachedBatch is one written batch: copies of its user columns (the view's
// schema), its _seq values, and the encoded keys of its first and last
// rows.
type cachedBatch struct {
	cols        []arrow.Array
	seqs        []int64
	first, last []byte
}

// startFlushCache gives the table an empty cache for generation gen, which
// must hold no versions yet (a generation a flush just opened, or the
// first of a new table or of a table without hot rows).
func (st *store) startFlushCache(t *table, gen uint64) {
	t.endFlushCache()
	t.fcache = &flushCache{bytes: &st.flushCacheBytes, gen: gen, ok: true}
}

// endFlushCache frees the table's cache and marks its generation as
// holding versions the cache lacks. The caller holds t.writeMu.
func (t *table) endFlushCache() {
	fc := t.fcache
	if fc == nil {
		return
	}
	fc.release()
	fc.ok = false
}

// release frees the cached rows (the cache keeps its generation and state).
func (fc *flushCache) release() {
	for _, r := range fc.recs {
		for _, c := range r.cols {
			c.Release()
		}
	}
	fc.bytes.Add(-fc.size)
	fc.recs, fc.rows, fc.size, fc.last = nil, 0, 0, nil
}

// cacheRows adds a committed write of rows (rec in view sv, keys and seqs
// per row, keep: nil or the rows written) to the cache of generation gen,
// or ends the cache when it cannot hold them. The caller holds t.writeMu.
func (st *store) cacheRows(t *table, gen uint64, sv *schemaView, rec arrow.RecordBatch, keys [][]byte, seqs []int64, keep []bool) {
	fc := t.fcache
	if fc == nil || !fc.ok {
		return
	}
	if fc.gen != gen || (fc.sv != nil && fc.sv != sv) || !cacheable(sv, rec, keys, keep, fc.last) {
		t.endFlushCache()
		return
	}
	limit := st.flushCacheLimit
	if limit == 0 {
		limit = defaultFlushCacheLimit
	}
	// Reserved before copying, from the input's buffers (at least what the
	// copies take: a sliced input's buffers are larger), so that a batch
	// beyond the limit is never copied.
	size := int64(cachedRowOverhead + 8*len(seqs) + len(keys[0]) + len(keys[len(keys)-1]))
	reserved := size
	for _, c := range rec.Columns() {
		reserved += bufferBytes(c.Data())
	}
	if st.flushCacheBytes.Add(reserved) > limit {
		st.flushCacheBytes.Add(-reserved)
		t.endFlushCache()
		return
	}
	// Copies: the input's buffers may belong to the host (an imported C
	// stream), which must get them back when the write returns.
	cols := make([]arrow.Array, len(rec.Columns()))
	for i, c := range rec.Columns() {
		cp, err := array.Concatenate([]arrow.Array{c}, memory.DefaultAllocator)
		if err != nil {
			for _, done := range cols[:i] {
				done.Release()
			}
			st.flushCacheBytes.Add(-reserved)
			t.endFlushCache()
			return
		}
		cols[i] = cp
		size += bufferBytes(cp.Data())
	}
	st.flushCacheBytes.Add(size - reserved)
	fc.sv = sv
	fc.recs = append(fc.recs, cachedBatch{cols: cols, seqs: append([]int64(nil), seqs...),
		first: bytes.Clone(keys[0]), last: bytes.Clone(keys[len(keys)-1])})
	fc.rows += int64(len(keys))
	fc.size += size
	fc.last = fc.recs[len(fc.recs)-1].last
}

// cacheable reports whether the cache can hold a write of rec: every row
// written (keep nil or all true), columns of the view's types that a
// segment takes as they are (writableAsIs; the flush rebuilds other rows
// from the hot store), and keys strictly increasing from above last.
func cacheable(sv *schemaView, rec arrow.RecordBatch, keys [][]byte, keep []bool, last []byte) bool {
	if len(keys) == 0 || int(rec.NumRows()) != len(keys) || int(rec.NumCols()) != sv.schema.NumFields() {
		return false
	}
	for _, k := range keep {
		if !k {
			return false
		}
	}
	for i, f := range sv.schema.Fields() {
		if !arrow.TypeEqual(rec.Column(i).DataType(), f.Type) || !writableAsIs(rec.Column(i)) {
			return false
		}
	}
	prev := last
	for _, k := range keys {
		if prev != nil && bytes.Compare(k, prev) <= 0 {
			return false
		}
		prev = k
	}
	return true
}

// bufferBytes is the size of an array's buffers, children included.
func bufferBytes(d arrow.ArrayData) int64 {
	var n int64
	for _, b := range d.Buffers() {
		if b != nil {
			n += int64(b.Len())
		}
	}
	for _, c := range d.Children() {
		n += bufferBytes(c)
	}
	if d.DataType().ID() == arrow.DICTIONARY {
		n += bufferBytes(d.Dictionary())
	}
	return n
}

// takeFlushCache hands a flush that froze generation gen (and opened
// gen+1) the cache of gen when it holds every version of it (nil
// otherwise), and starts an empty cache for gen+1. The caller holds
// t.writeMu.
func (st *store) takeFlushCache(t *table, gen uint64) *flushCache {
	fc := t.fcache
	t.fcache = nil
	st.startFlushCache(t, gen+1)
	if fc == nil || !fc.ok || fc.gen != gen {
		if fc != nil {
			fc.release()
		}
		return nil
	}
	return fc
}

// usable reports whether a flush of generations gens, reading rows in
// view sv, can write them from the cache: gens is exactly the cached
// generation and the cache's largest key is the one the table recorded
// for it (a cheap cross-check with what every write notes).
func (fc *flushCache) usable(t *table, gens []uint64, sv *schemaView) bool {
	if fc == nil || len(gens) != 1 || gens[0] != fc.gen || fc.rows == 0 || fc.sv != sv {
		return false
	}
	return bytes.Equal(t.hotMaxKey(gens), fc.last)
}

// send hands the cached rows to a flush's segment writer as the reading
// side of the flush does (flushRead): batches of flushBatchRows rows in
// the segment schema (except the last), with the encoded keys of their
// first and last rows, until the end or stop is closed. Columns are
// sliced from the cached copies, or concatenated where a batch spans
// several writes.
func (fc *flushCache) send(st *store, out chan<- flushBatch, stop <-chan struct{}) error {
	sv := fc.sv
	segSchema := sv.segmentSchema()
	ncols := sv.schema.NumFields()
	var zeros []byte // the _deleted bitmap: every row is live
	r, off := 0, 0   // the next cached row: batch r, row off
	for r < len(fc.recs) {
		n := 0
		parts := make([][]arrow.Array, ncols)
		var seqs []int64
		var first, last []byte
		for n < flushBatchRows && r < len(fc.recs) {
			rec := fc.recs[r]
			rows := len(rec.seqs)
			take := min(flushBatchRows-n, rows-off)
			for c := range parts {
				parts[c] = append(parts[c], array.NewSlice(rec.cols[c], int64(off), int64(off+take)))
			}
			seqs = append(seqs, rec.seqs[off:off+take]...)
			k, err := keyOfRow(sv, rec, off, off == 0)
			if err != nil {
				releaseParts(parts)
				return err
			}
			if first == nil {
				first = k
			}
			if last, err = keyOfRow(sv, rec, off+take-1, off+take == rows); err != nil {
				releaseParts(parts)
				return err
			}
			n += take
			if off += take; off == rows {
				r, off = r+1, 0
			}
		}
		cols := make([]arrow.Array, ncols+2)
		for c, p := range parts {
			if len(p) == 1 {
				cols[c] = p[0]
				continue
			}
			cat, err := array.Concatenate(p, st.mem)
			for _, a := range p {
				a.Release()
			}
			if err != nil {
				releaseParts(parts[c+1:])
				for _, done := range cols[:c] {
					done.Release()
				}
				return err
			}
			cols[c] = cat
		}
		cols[ncols] = array.NewInt64Data(array.NewData(arrow.PrimitiveTypes.Int64, n,
			[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int64Traits.CastToBytes(seqs))}, nil, 0, 0))
		if need := int(bitutil.BytesForBits(int64(n))); len(zeros) < need {
			zeros = make([]byte, need)
		}
		cols[ncols+1] = array.NewBooleanData(array.NewData(arrow.FixedWidthTypes.Boolean, n,
			[]*memory.Buffer{nil, memory.NewBufferBytes(zeros)}, nil, 0, 0))
		b := flushBatch{rec: array.NewRecordBatch(segSchema, cols, int64(n)), first: first, last: last}
		for _, c := range cols {
			c.Release()
		}
		if err := st.hit("flush_cached_batch"); err != nil {
			b.rec.Release()
			return err
		}
		select {
		case out <- b:
		case <-stop:
			b.rec.Release()
			return errFlushStopped
		}
	}
	return nil
}

// keyOfRow is the encoded key of row i of a cached batch; the batch's
// first and last keys are kept (edge), others are encoded again.
func keyOfRow(sv *schemaView, rec cachedBatch, i int, edge bool) ([]byte, error) {
	switch {
	case edge && i == 0:
		return rec.first, nil
	case edge:
		return rec.last, nil
	}
	cols := make([]arrow.Array, len(rec.cols))
	for c, a := range rec.cols {
		cols[c] = array.NewSlice(a, int64(i), int64(i+1))
	}
	one := array.NewRecordBatch(sv.schema, cols, 1)
	for _, a := range cols {
		a.Release()
	}
	defer one.Release()
	keys, err := sv.rowKeys(one, rec.seqs[i:i+1])
	if err != nil {
		return nil, err
	}
	return keys[0], nil
}

func releaseParts(parts [][]arrow.Array) {
	for _, p := range parts {
		for _, a := range p {
			a.Release()
		}
	}
}
