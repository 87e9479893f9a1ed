package exec

import (
	"math"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/kalamdb/libkalam/engine/keyenc"
	"github.com/kalamdb/libkalam/kerr"
)

// Keyer computes the encoded key of each row of a record.
type Keyer struct {
	keyIdx []int // indices of the key columns in the record
	seqIdx int   // index of _seq, -1 when absent
	hasSeq bool  // _seq is part of the key
}

// NewKeyer is the keyer of records of schema s, which holds the key
// columns keyNames (in key order), and _seq when the key includes it
// (keyHasSeq: a table without a primary key).
func NewKeyer(s *arrow.Schema, keyNames []string, keyHasSeq bool) *Keyer {
	k := &Keyer{seqIdx: -1, hasSeq: keyHasSeq}
	if idx := s.FieldIndices(SeqColumn); len(idx) == 1 {
		k.seqIdx = idx[0]
	}
	for _, n := range keyNames {
		k.keyIdx = append(k.keyIdx, s.FieldIndices(n)[0])
	}
	return k
}

// encoder is the encoder of rec's key columns (nil: none, a table
// without a primary key) and rec's _seq values when the key holds them.
func (k *Keyer) encoder(rec arrow.RecordBatch) (*keyenc.RowEncoder, []int64, error) {
	var enc *keyenc.RowEncoder
	if len(k.keyIdx) > 0 {
		cols := make([]arrow.Array, len(k.keyIdx))
		for i, c := range k.keyIdx {
			cols[i] = rec.Column(c)
		}
		var err error
		if enc, err = keyenc.NewRowEncoder(cols); err != nil {
			return nil, nil, err
		}
	}
	var seqs []int64
	if k.hasSeq {
		if k.seqIdx < 0 {
			return nil, nil, kerr.New(kerr.Internal, "row keys need _seq, which the record lacks")
		}
		seqs = rec.Column(k.seqIdx).(*array.Int64).Int64Values()
	}
	return enc, seqs, nil
}

// Keys encodes the key of each row of rec into buf and returns buf and the
// keys (slices of it) in out; both are reused across calls.
func (k *Keyer) Keys(rec arrow.RecordBatch, buf []byte, out [][]byte) ([]byte, [][]byte, error) {
	n := int(rec.NumRows())
	enc, seqs, err := k.encoder(rec)
	if err != nil {
		return nil, nil, err
	}
	buf, out = buf[:0], out[:0]
	if enc != nil && !k.hasSeq && enc.FixedWidth() > 0 {
		w := enc.FixedWidth()
		buf = enc.AppendAll(buf)
		for i := 0; i < n; i++ {
			out = append(out, buf[i*w:(i+1)*w:(i+1)*w])
		}
		return buf, out, nil
	}
	for i := 0; i < n; i++ {
		start := len(buf)
		if enc != nil {
			buf = enc.Append(buf, i)
		}
		if k.hasSeq {
			buf = keyenc.AppendInt64(buf, seqs[i])
		}
		// A key taken before an append moved buf stays in the array it was
		// written to, which nothing writes again: no second pass over
		// offsets (a 512 KiB slice per 64 Ki-row batch) is needed.
		out = append(out, buf[start:len(buf):len(buf)])
	}
	return buf, out, nil
}

// MergeOptions say how a cluster is merged.

// Flat gives the keys of rec's rows for a merge, in buf (reused across
// calls). With every key of one length (integer-like key columns without
// nulls) it returns a view of that width whose keys are encoded a block
// at a time when first asked for (keyView.lazy); otherwise the keys back
// to back, their offsets in offs (len rows+1, reused across calls).
func (k *Keyer) Flat(rec arrow.RecordBatch, buf []byte, offs []int32) (keyView, []byte, []int32, error) {
	n := int(rec.NumRows())
	enc, seqs, err := k.encoder(rec)
	if err != nil {
		return keyView{}, nil, nil, err
	}
	if enc != nil && !k.hasSeq && enc.FixedWidth() > 0 {
		w := enc.FixedWidth()
		buf = slices.Grow(buf[:0], n*w)[:n*w]
		blocks := (n + keyBlock - 1) / keyBlock
		v := keyView{data: buf, width: w, lazy: enc, filled: make([]uint64, (blocks+63)/64)}
		return v, buf, offs, nil
	}
	buf = buf[:0]
	offs = append(offs[:0], 0)
	for i := 0; i < n; i++ {
		if enc != nil {
			buf = enc.Append(buf, i)
		}
		if k.hasSeq {
			buf = keyenc.AppendInt64(buf, seqs[i])
		}
		if len(buf) > math.MaxInt32 {
			return keyView{}, nil, nil, kerr.New(kerr.Internal, "keys of one batch exceed 2 GiB")
		}
		offs = append(offs, int32(len(buf)))
	}
	return keyView{data: buf, off32: offs}, buf, offs, nil
}
