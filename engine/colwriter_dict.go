package engine

import (
	"bytes"
	"context"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// stringDict writes a dictionary-encoded string column of one row group
// with dictionary indices looked up here instead of by arrow-go's encoder,
// whose hash table made the dictionary column the most expensive column of
// a flush (docs/DESIGN-NOTES.md "Flush: the dictionary column").
//
// The file is the one the encoder alone writes, byte for byte
// (TestColumnWriterDictionaryMatchesPqarrow): rows go in the chunks the
// encoder's own loop would cut (the writer's batch size, counted from the
// start of each write), and for each chunk this does what the encoder
// would — add the values' raw size, update the page statistics, then the
// indices and levels — before the writer decides whether the page is full.
// A chunk holding a value the dictionary does not have yet, and every
// chunk before the writer's dictionary-cost check is settled, goes through
// the encoder itself, which adds its new values in order of first
// appearance; they are added here in the same order, so that both tables
// keep the same indices (checked against the encoder's entry count after
// every such chunk: a difference ends the fast path for the row group).
type stringDict struct {
	index map[string]int32 // value → dictionary index
	vals  [][]byte         // index → value
	off   bool             // the encoder alone writes the rest of this row group
	// costDone: the writer's dictionary-cost check is behind (or not
	// made for) this chunk (see costChecked).
	costDone bool
	// memo caches, per slot of a value's length and first and last bytes,
	// the index+1 of the value last found there (0: none): a hit costs
	// one comparison instead of the map's hash and probe, and a column
	// worth a dictionary has few values (a flush of the bench's category
	// column spent 0.23 of its 0.55 CPU-s for the column in map lookups).
	memo [memoSlots]int32
	idx  []int32 // scratch: one chunk's indices
	seen []bool  // scratch: the entries one chunk references
	// indexed counts the chunks written as indices (tests check that the
	// fast path ran).
	indexed *int
}

const memoSlots = 256

// memoSlot is v's slot in stringDict.memo.
func memoSlot(v []byte) int {
	n := len(v)
	if n == 0 {
		return 0
	}
	h := uint32(n)*0x9e3779b1 ^ uint32(v[0])<<8 ^ uint32(v[n-1])
	return int((h * 0x85ebca6b) >> 24)
}

// lookup returns v's dictionary index.
func (d *stringDict) lookup(v []byte) (int32, bool) {
	s := memoSlot(v)
	if e := d.memo[s]; e != 0 && bytes.Equal(d.vals[e-1], v) {
		return e - 1, true
	}
	k, ok := d.index[string(v)]
	if ok {
		d.memo[s] = k + 1
	}
	return k, ok
}

// dictEncoder is the part of arrow-go's dictionary encoder (an internal
// type) that stringDict uses.
type dictEncoder interface {
	Encoding() parquet.Encoding
	NumEntries() int
	AddRawSize(int64)
}

// newStringDict returns the dictionary state of a column whose chunks
// start dictionary-encoded, or nil when the column is not one stringDict
// writes (other types, no dictionary).
func newStringDict(ch file.ColumnChunkWriter, indexed *int) *stringDict {
	if _, ok := ch.(*file.ByteArrayColumnChunkWriter); !ok {
		return nil
	}
	if !isDictEncoder(ch) {
		return nil
	}
	return &stringDict{index: map[string]int32{}, indexed: indexed}
}

func isDictEncoder(ch file.ColumnChunkWriter) bool {
	enc, ok := ch.CurrentEncoder().(dictEncoder)
	if !ok {
		return false
	}
	e := enc.Encoding()
	return e == parquet.Encodings.RLEDict || e == parquet.Encodings.PlainDict
}

// write writes arr (a string or binary column; defs its definition levels,
// nil for a required column) to ch.
func (d *stringDict) write(ctx context.Context, ch file.ColumnChunkWriter, arr arrow.Array, defs []int16, nullable bool) error {
	switch arr.DataType().ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY:
	default:
		// A layout each does not read goes to the encoder. (None reaches
		// a byte-array column today: pqarrow writes no views.)
		d.off = true
	}
	n := arr.Len()
	batch := int(ch.Properties().WriteBatchSize())
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		if d.off || !isDictEncoder(ch) {
			// Fallen back to plain (the dictionary outgrew its page), or
			// off: the encoder takes the rest as one write. lo is on the
			// chunk grid of this write, so its chunks stay the same.
			return dense(ctx, ch, arr, defs, lo, n, nullable)
		}
		if !d.costChecked(ch) {
			ok, err := d.indices(ch, arr, defs, lo, hi)
			if err != nil {
				return err
			}
			if ok {
				*d.indexed++
				continue
			}
		}
		if err := dense(ctx, ch, arr, defs, lo, hi, nullable); err != nil {
			return err
		}
		d.learn(ch, arr, lo, hi)
	}
	return nil
}

// costChecked reports whether the writer still weighs the dictionary
// against plain encoding after each chunk: for an uncompressed column,
// until its first page is cut, it falls back when the dictionary saves no
// space. Those chunks go through the encoder, which makes the check.
func (d *stringDict) costChecked(ch file.ColumnChunkWriter) bool {
	if d.costDone {
		return false
	}
	if !ch.Properties().DictionaryCostFallbackEnabledFor(ch.Descr().Path()) || ch.TotalCompressedBytes() > 0 {
		d.costDone = true
		return false
	}
	return true
}

// dense writes rows [lo, hi) of arr through the encoder.
func dense(ctx context.Context, ch file.ColumnChunkWriter, arr arrow.Array, defs []int16, lo, hi int, nullable bool) error {
	part := arr
	if lo != 0 || hi != arr.Len() {
		part = array.NewSlice(arr, int64(lo), int64(hi))
		defer part.Release()
	}
	var pdefs []int16
	if defs != nil {
		pdefs = defs[lo:hi]
	}
	return pqarrow.WriteArrowToColumn(ctx, ch, part, pdefs, nil, nullable)
}

// learn adds the values of rows [lo, hi) that the dictionary lacks, in
// order of first appearance, after the encoder has taken them.
func (d *stringDict) learn(ch file.ColumnChunkWriter, arr arrow.Array, lo, hi int) {
	each(arr, lo, hi, func(_ int, v []byte) {
		if _, ok := d.index[string(v)]; !ok {
			d.index[string(v)] = int32(len(d.vals))
			d.vals = append(d.vals, bytes.Clone(v))
		}
	})
	enc, ok := ch.CurrentEncoder().(dictEncoder)
	if !ok || enc.NumEntries() != len(d.vals) {
		d.off = true
	}
}

// indices writes rows [lo, hi) as indices into the dictionary when it
// holds every value of them; false (nothing written) when it does not.
func (d *stringDict) indices(ch file.ColumnChunkWriter, arr arrow.Array, defs []int16, lo, hi int) (bool, error) {
	m := hi - lo
	if cap(d.idx) < m {
		d.idx = make([]int32, m)
	}
	idx := d.idx[:m]
	clear(idx) // 0 under nulls
	var raw int64
	valid := 0
	missing := false
	each(arr, lo, hi, func(i int, v []byte) {
		if missing {
			return
		}
		k, ok := d.lookup(v)
		if !ok {
			missing = true
			return
		}
		idx[i-lo] = k
		raw += int64(len(v)) + 4 // what the encoder counts per value
		valid++
	})
	if missing {
		return false, nil
	}
	st := ch.PageStatistics()
	var bs *metadata.ByteArrayStatistics
	if st != nil {
		var ok bool
		if bs, ok = st.(*metadata.ByteArrayStatistics); !ok {
			d.off = true
			return false, nil
		}
	}
	ch.CurrentEncoder().(dictEncoder).AddRawSize(raw)
	if bs != nil {
		// The statistics the encoder would have taken from the values:
		// the smallest and largest entry the chunk references.
		bs.IncNulls(int64(m - valid))
		bs.IncNumValues(int64(valid))
		if valid > 0 {
			if lo, hi, ok := d.minMax(arr, lo, idx); ok {
				bs.SetMinMax(lo, hi)
			}
		}
	}
	ind := indicesArray(arr, lo, idx, m-valid)
	defer ind.Release()
	var cdefs []int16
	if defs != nil {
		cdefs = defs[lo:hi]
	}
	return true, ch.WriteDictIndices(ind, cdefs, nil)
}

// minMax returns the smallest and largest of the entries that the non-null
// rows among idx (rows lo… of arr) reference, comparing each entry once.
func (d *stringDict) minMax(arr arrow.Array, lo int, idx []int32) (vmin, vmax []byte, ok bool) {
	if len(d.seen) < len(d.vals) {
		d.seen = make([]bool, len(d.vals))
	}
	nulls := arr.NullN() > 0
	for i, k := range idx {
		if d.seen[k] || (nulls && arr.IsNull(lo+i)) {
			continue
		}
		d.seen[k] = true
		v := d.vals[k]
		switch {
		case !ok:
			vmin, vmax, ok = v, v, true
		case bytes.Compare(v, vmin) < 0:
			vmin = v
		case bytes.Compare(v, vmax) > 0:
			vmax = v
		}
	}
	for _, k := range idx {
		d.seen[k] = false
	}
	return vmin, vmax, ok
}

// indicesArray is an int32 array of idx whose validity is that of rows
// [lo, lo+len(idx)) of arr (nulls of them null).
func indicesArray(arr arrow.Array, lo int, idx []int32, nulls int) arrow.Array {
	bufs := []*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(idx))}
	if nulls > 0 {
		bits := make([]byte, bitutil.BytesForBits(int64(len(idx))))
		bitutil.CopyBitmap(arr.NullBitmapBytes(), arr.Data().Offset()+lo, len(idx), bits, 0)
		bufs[0] = memory.NewBufferBytes(bits)
	}
	nd := array.NewData(arrow.PrimitiveTypes.Int32, len(idx), bufs, nil, nulls, 0)
	defer nd.Release()
	return array.NewInt32Data(nd)
}

// each calls fn with the row number and bytes of every non-null value of
// rows [lo, hi) of arr (a string or binary array, 32- or 64-bit offsets).
func each(arr arrow.Array, lo, hi int, fn func(i int, v []byte)) {
	switch a := arr.(type) {
	case *array.String:
		eachValue(a, a.ValueOffsets(), lo, hi, fn)
	case *array.LargeString:
		eachValue(a, a.ValueOffsets(), lo, hi, fn)
	case *array.Binary:
		eachValue(a, a.ValueOffsets(), lo, hi, fn)
	case *array.LargeBinary:
		eachValue(a, a.ValueOffsets(), lo, hi, fn)
	}
}

func eachValue[O int32 | int64](a arrow.Array, offs []O, lo, hi int, fn func(i int, v []byte)) {
	data := valueData(a)
	nulls := a.NullN() > 0
	for i := lo; i < hi; i++ {
		if !nulls || a.IsValid(i) {
			fn(i, data[offs[i]:offs[i+1]])
		}
	}
}
