package engine

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/kerr"
)

// gatherRuns copies rows [start, end) of column c of every run, in order,
// into one new array allocated from mem. Merges and filters produce many
// short runs; building a slice object per run and concatenating them costs
// far more than copying the bytes, so the common layouts (fixed width,
// boolean, utf8/binary with 32- or 64-bit offsets) are copied directly and
// only nested types go through array.Concatenate.
func gatherRuns(parts []run, c int, rows int64, mem memory.Allocator) (arrow.Array, error) {
	dt := parts[0].rec.Column(c).DataType()
	switch dt.ID() {
	case arrow.BOOL:
		return gatherBits(parts, c, rows, mem), nil
	case arrow.STRING, arrow.BINARY:
		return gatherVar[int32](parts, c, rows, mem, arrow.Int32Traits.CastFromBytes, 4)
	case arrow.LARGE_STRING, arrow.LARGE_BINARY:
		return gatherVar[int64](parts, c, rows, mem, arrow.Int64Traits.CastFromBytes, 8)
	case arrow.NULL, arrow.DICTIONARY, arrow.EXTENSION:
	default:
		if fw, ok := dt.(arrow.FixedWidthDataType); ok && fw.BitWidth()%8 == 0 && len(parts[0].rec.Column(c).Data().Children()) == 0 {
			return gatherFixed(parts, c, rows, fw.BitWidth()/8, mem), nil
		}
	}
	pieces := make([]arrow.Array, len(parts))
	for i, p := range parts {
		pieces[i] = array.NewSlice(p.rec.Column(c), p.start, p.end)
	}
	out, err := array.Concatenate(pieces, mem)
	for _, pc := range pieces {
		pc.Release()
	}
	if err != nil {
		return nil, kerr.Wrap(kerr.Internal, err, "assemble column of type %s", dt)
	}
	return out, nil
}

func newBuffer(mem memory.Allocator, n int) *memory.Buffer {
	b := memory.NewResizableBuffer(mem)
	b.Resize(n)
	return b
}

// gatherValidity builds the validity bitmap of the gathered column, or nil
// when no row is null.
func gatherValidity(parts []run, c int, rows int64, mem memory.Allocator) (*memory.Buffer, int) {
	anyNull := false
	for _, p := range parts {
		if p.rec.Column(c).NullN() > 0 {
			anyNull = true
			break
		}
	}
	if !anyNull {
		return nil, 0
	}
	buf := newBuffer(mem, int(bitutil.BytesForBits(rows)))
	dst := buf.Bytes()
	pos := 0
	for _, p := range parts {
		a := p.rec.Column(c)
		n := int(p.end - p.start)
		if a.NullN() == 0 || a.Data().Buffers()[0] == nil {
			bitutil.SetBitsTo(dst, int64(pos), int64(n), true)
		} else {
			bitutil.CopyBitmap(a.Data().Buffers()[0].Bytes(), a.Data().Offset()+int(p.start), n, dst, pos)
		}
		pos += n
	}
	return buf, int(rows) - bitutil.CountSetBits(dst, 0, int(rows))
}

func gatherFixed(parts []run, c int, rows int64, width int, mem memory.Allocator) arrow.Array {
	valid, nulls := gatherValidity(parts, c, rows, mem)
	vals := newBuffer(mem, int(rows)*width)
	dst := vals.Bytes()
	pos := 0
	for _, p := range parts {
		d := p.rec.Column(c).Data()
		src := d.Buffers()[1].Bytes()
		lo := (d.Offset() + int(p.start)) * width
		hi := (d.Offset() + int(p.end)) * width
		pos += copy(dst[pos:], src[lo:hi])
	}
	return finish(parts[0].rec.Column(c).DataType(), rows, []*memory.Buffer{valid, vals}, nulls)
}

func gatherBits(parts []run, c int, rows int64, mem memory.Allocator) arrow.Array {
	valid, nulls := gatherValidity(parts, c, rows, mem)
	vals := newBuffer(mem, int(bitutil.BytesForBits(rows)))
	pos := 0
	for _, p := range parts {
		d := p.rec.Column(c).Data()
		n := int(p.end - p.start)
		bitutil.CopyBitmap(d.Buffers()[1].Bytes(), d.Offset()+int(p.start), n, vals.Bytes(), pos)
		pos += n
	}
	return finish(parts[0].rec.Column(c).DataType(), rows, []*memory.Buffer{valid, vals}, nulls)
}

func gatherVar[O int32 | int64](parts []run, c int, rows int64, mem memory.Allocator, cast func([]byte) []O, width int) (arrow.Array, error) {
	var total int64
	for _, p := range parts {
		d := p.rec.Column(c).Data()
		offs := cast(d.Buffers()[1].Bytes())[d.Offset():]
		total += int64(offs[p.end] - offs[p.start])
	}
	if width == 4 && total > 1<<31-1 {
		// Too large for 32-bit offsets: let Concatenate report it.
		return nil, kerr.New(kerr.Internal, "assembled utf8/binary column exceeds 2 GiB")
	}
	valid, nulls := gatherValidity(parts, c, rows, mem)
	offBuf := newBuffer(mem, (int(rows)+1)*width)
	dataBuf := newBuffer(mem, int(total))
	dstOffs := cast(offBuf.Bytes())
	data := dataBuf.Bytes()
	var pos int
	var at O
	for _, p := range parts {
		d := p.rec.Column(c).Data()
		offs := cast(d.Buffers()[1].Bytes())[d.Offset():]
		var src []byte
		if b := d.Buffers()[2]; b != nil {
			src = b.Bytes()
		}
		base := offs[p.start]
		for i := p.start; i < p.end; i++ {
			dstOffs[pos] = at + (offs[i] - base)
			pos++
		}
		n := offs[p.end] - base
		copy(data[at:at+n], src[base:base+n])
		at += n
	}
	dstOffs[pos] = at
	return finish(parts[0].rec.Column(c).DataType(), rows, []*memory.Buffer{valid, offBuf, dataBuf}, nulls), nil
}

func finish(dt arrow.DataType, rows int64, bufs []*memory.Buffer, nulls int) arrow.Array {
	data := array.NewData(dt, int(rows), bufs, nil, nulls, 0)
	for _, b := range bufs {
		if b != nil {
			b.Release()
		}
	}
	defer data.Release()
	return array.MakeFromData(data)
}

// gatherCopies reports whether gatherRuns output of type t holds only new
// buffers. array.Concatenate (the nested-type path) reuses the data buffers
// of view types and the dictionaries of dictionary types.
func gatherCopies(t arrow.DataType) bool {
	switch tt := t.(type) {
	case arrow.BinaryViewDataType, *arrow.DictionaryType, arrow.ExtensionType:
		return false
	case arrow.NestedType:
		for _, f := range tt.Fields() {
			if !gatherCopies(f.Type) {
				return false
			}
		}
	}
	return true
}
