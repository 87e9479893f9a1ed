package exec

import (
	"bytes"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kalamdb/libkalam/engine/keyenc"

	"github.com/kalamdb/libkalam/kerr"
)

// keyView is the keys of a merge cursor's batch in flat buffers, with no
// slice per row: a [][]byte of 64 Ki keys per batch cost a merge on a
// composite key its write barriers and the garbage collector's scanning
// of the slices (with 100 hot rows over 2 M, more than encoding the keys).
// Row i's key is data[i*width:(i+1)*width] when width > 0, else
// data[off[i]:off[i+1]] (off32 or off64). Encoded keys (keyenc) are never
// null; raw keys (the values of a single string or binary key column,
// keyenc.RawOrdered) are null where nulls says so.
type keyView struct {
	data  []byte
	width int
	off32 []int32
	off64 []int64
	nulls arrow.Array // raw keys with a null in the batch; nil otherwise
	// lazy (keys of one width): data is filled a block of keyBlock rows
	// at a time, when a key of the block is first asked for; filled marks
	// the blocks done. A merge passing a long run of a batch (a segment
	// under a few hot rows) asks for a few keys of it, not all.
	lazy   *keyenc.RowEncoder
	filled []uint64
}

// keyBlock is how many keys a lazy keyView encodes at once.
const keyBlock = 256

// at returns row i's key and whether it is a null (raw keys only).
func (v *keyView) at(i int) ([]byte, bool) {
	if v.nulls != nil && v.nulls.IsNull(i) {
		return nil, true
	}
	switch {
	case v.width > 0:
		if v.lazy != nil {
			if b := i / keyBlock; v.filled[b>>6]&(1<<(b&63)) == 0 {
				v.fill(b)
			}
		}
		return v.data[i*v.width : (i+1)*v.width], false
	case v.off32 != nil:
		return v.data[v.off32[i]:v.off32[i+1]], false
	}
	return v.data[v.off64[i]:v.off64[i+1]], false
}

// fill encodes block b of a lazy view.
func (v *keyView) fill(b int) {
	from := b * keyBlock
	to := min(from+keyBlock, v.lazy.Len())
	v.lazy.FillRows(v.data[from*v.width:to*v.width], from, to)
	v.filled[b>>6] |= 1 << (b & 63)
}

// compareKeyAt compares row i of a with row j of b: nulls first, as
// encoded, then bytewise.
func compareKeyAt(a *keyView, i int, b *keyView, j int) int {
	ka, an := a.at(i)
	kb, bn := b.at(j)
	if an || bn {
		switch {
		case an && bn:
			return 0
		case an:
			return -1
		}
		return 1
	}
	return bytes.Compare(ka, kb)
}

// rawKeyView is the view of the values of a, a string or binary column
// (keyenc.RawOrdered), as the keys of a merge on that column alone: read
// in place, without encoding them.
func rawKeyView(a arrow.Array) (keyView, error) {
	d := a.Data()
	bufs := d.Buffers()
	var v keyView
	if a.NullN() > 0 {
		v.nulls = a
	}
	if len(bufs) > 2 && bufs[2] != nil {
		v.data = bufs[2].Bytes()
	}
	if len(bufs) < 2 || bufs[1] == nil {
		if d.Len() == 0 {
			v.off32 = []int32{0}
			return v, nil
		}
		return keyView{}, kerr.New(kerr.Internal, "merge key column of type %s has no offsets", d.DataType())
	}
	switch d.DataType().ID() {
	case arrow.STRING, arrow.BINARY:
		v.off32 = arrow.Int32Traits.CastFromBytes(bufs[1].Bytes())[d.Offset():]
	case arrow.LARGE_STRING, arrow.LARGE_BINARY:
		v.off64 = arrow.Int64Traits.CastFromBytes(bufs[1].Bytes())[d.Offset():]
	default:
		return keyView{}, kerr.New(kerr.Internal, "merge key column is %s, not a string or binary", d.DataType())
	}
	return v, nil
}
