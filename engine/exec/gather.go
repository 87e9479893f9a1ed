package exec

import (
	"math"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/validity"
)

// GatherRuns copies rows [start, end) of column c of every run, in order,
// into one new array allocated from mem. Merges and filters produce many
// short runs; building a slice object per run and concatenating them costs
// far more than copying the bytes, so the common layouts (fixed width,
// boolean, utf8/binary with 32- or 64-bit offsets) are copied directly and
// only nested types go through array.Concatenate.
func GatherRuns(parts []Run, c int, rows int64, mem memory.Allocator) (arrow.Array, error) {
	return gatherRunsIdx(parts, nil, nil, nil, nil, c, rows, mem)
}

// gatherRunsIdx is GatherRuns for parts whose records are numbered: part i
// is of record recs[ris[i]] (Runs keeps them so), which resolves each
// record's buffers once, up front, instead of looking them up per part.
// patches are patchRegions(parts, ris), found once for all columns, and
// ops (optional) copyOps of them.
func gatherRunsIdx(parts []Run, ris []int32, recs []arrow.RecordBatch, patches []patch, ops []copyOp, c int, rows int64, mem memory.Allocator) (arrow.Array, error) {
	vw := &views{parts: parts, ris: ris, cache: viewCache{c: c}, patches: patches}
	if ris != nil {
		vw.ops = ops
	}
	if ris != nil {
		vw.vs = make([]colView, len(recs))
		for i, rec := range recs {
			vw.cache.fill(&vw.vs[i], rec)
			vw.anyNull = vw.anyNull || vw.vs[i].valid != nil
		}
	}
	dt := parts[0].Rec.Column(c).DataType()
	switch dt.ID() {
	case arrow.BOOL:
		return gatherBits(vw, c, rows, mem), nil
	case arrow.STRING, arrow.BINARY:
		return gatherVar[int32](vw, c, rows, mem, arrow.Int32Traits.CastFromBytes, 4)
	case arrow.LARGE_STRING, arrow.LARGE_BINARY:
		return gatherVar[int64](vw, c, rows, mem, arrow.Int64Traits.CastFromBytes, 8)
	case arrow.NULL, arrow.DICTIONARY, arrow.EXTENSION:
	default:
		if fw, ok := dt.(arrow.FixedWidthDataType); ok && fw.BitWidth()%8 == 0 && len(parts[0].Rec.Column(c).Data().Children()) == 0 {
			return gatherFixed(vw, c, rows, fw.BitWidth()/8, mem), nil
		}
	}
	pieces := make([]arrow.Array, len(parts))
	for i, p := range parts {
		pieces[i] = array.NewSlice(p.Rec.Column(c), p.Start, p.End)
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

// unclearedAllocator is segment.UnclearedAllocator: an allocator (the
// store's recycler) that can hand out a buffer without zeroing it.
type unclearedAllocator interface {
	AllocateUncleared(n int) []byte
}

// newFilledBuffer is newBuffer for a buffer whose n bytes the caller
// writes every one of (values, offsets, data of gathered runs): it skips
// zeroing when mem can, which was a twentieth of a merge's CPU. The
// capacity is rounded up to 64 bytes, as newBuffer's.
func newFilledBuffer(mem memory.Allocator, n int) *memory.Buffer {
	ua, ok := mem.(unclearedAllocator)
	if !ok || n == 0 {
		return newBuffer(mem, n)
	}
	b := memory.NewBufferWithAllocator(ua.AllocateUncleared((n+63)&^63), mem)
	b.ResizeNoShrink(n)
	return b
}

// colView is column c of one record as raw buffers, resolved once per
// record instead of once per run: a merge's runs are a few rows long and
// alternate between a few records.
type colView struct {
	rec   arrow.RecordBatch
	off   int    // the array's offset
	valid []byte // validity bitmap; nil when the array has no null
	vals  []byte // values (fixed width, booleans) or offsets (var width)
	data  []byte // var-width data
}

// viewCache resolves records to colViews of one column.
type viewCache struct {
	c    int
	v    [4]colView
	next int
}

func (vc *viewCache) get(rec arrow.RecordBatch) *colView {
	for i := range vc.v {
		if vc.v[i].rec == rec {
			return &vc.v[i]
		}
	}
	v := &vc.v[vc.next]
	vc.next = (vc.next + 1) % len(vc.v)
	vc.fill(v, rec)
	return v
}

func (vc *viewCache) fill(v *colView, rec arrow.RecordBatch) {
	d := rec.Column(vc.c).Data()
	bufs := d.Buffers()
	*v = colView{rec: rec, off: d.Offset()}
	if bufs[0] != nil && d.NullN() != 0 { // a slice's count may be unknown (-1)
		v.valid = bufs[0].Bytes()
	}
	if len(bufs) > 1 && bufs[1] != nil {
		v.vals = bufs[1].Bytes()
	}
	if len(bufs) > 2 && bufs[2] != nil {
		v.data = bufs[2].Bytes()
	}
}

// views gives the colView of each part.
type views struct {
	parts []Run
	ris   []int32
	vs    []colView // with ris: every record's view
	// anyNull (with ris): some record has a validity bitmap. A record
	// whose rows were all left out (tombstones) at worst makes a bitmap
	// with no null in it.
	anyNull bool
	cache   viewCache
	patches []patch // with ris: the patch regions of parts, in order
	// ops (with ris, optional): the copies each makes, listed once per
	// batch for all its columns.
	ops []copyOp
}

// A copyOp puts n rows of record ri, from its row start, at output row pos.
type copyOp struct{ ri, start, n, pos int32 }

// copyOps lists the copies views.each makes for parts (part i of record
// ris[i]) with their patch regions, in the same order: a fixed-width
// column is then gathered by one typed loop over them, instead of a call
// per part (a merge with a tenth of its keys updated makes about one
// part per ten rows, most of them one row long).
func copyOps(parts []Run, ris []int32, patches []patch, dst []copyOp) []copyOp {
	dst = dst[:0]
	var rows int64
	for _, p := range parts {
		rows += p.End - p.Start
		if p.End > math.MaxInt32 || rows > math.MaxInt32 {
			return nil // rows past int32: gathered part by part
		}
	}
	vw := views{parts: parts, ris: ris, patches: patches}
	vw.each(func(i, n, pos int) {
		dst = append(dst, copyOp{ri: ris[i], start: int32(parts[i].Start), n: int32(n), pos: int32(pos)})
	})
	return dst
}

// gatherOps copies the values of ops from every record's values (vals[ri],
// from the record's array offset) into dst.
func gatherOps[T uint64 | uint32 | uint16 | uint8](ops []copyOp, vals [][]T, dst []T) {
	for _, op := range ops {
		src := vals[op.ri][op.start : op.start+op.n]
		d := dst[op.pos : op.pos+op.n]
		if op.n <= 8 {
			for j := range d {
				d[j] = src[j]
			}
			continue
		}
		copy(d, src)
	}
}

// castVals views every record's values of vw as []T from its array offset.
func castVals[T uint64 | uint32 | uint16 | uint8](vw *views) [][]T {
	out := make([][]T, len(vw.vs))
	for i := range vw.vs {
		v := &vw.vs[i]
		b := v.vals
		if len(b) == 0 {
			continue
		}
		var z T
		w := int(unsafe.Sizeof(z))
		out[i] = unsafe.Slice((*T)(unsafe.Pointer(&b[0])), len(b)/w)[v.off:]
	}
	return out
}

// gatherFixedOps is gatherFixed's loop over vw.ops for widths of 1, 2, 4
// and 8 bytes; false for other widths.
func gatherFixedOps(vw *views, dst []byte, width int) bool {
	if len(dst) == 0 {
		return true
	}
	switch width {
	case 8:
		gatherOps(vw.ops, castVals[uint64](vw), unsafe.Slice((*uint64)(unsafe.Pointer(&dst[0])), len(dst)/8))
	case 4:
		gatherOps(vw.ops, castVals[uint32](vw), unsafe.Slice((*uint32)(unsafe.Pointer(&dst[0])), len(dst)/4))
	case 2:
		gatherOps(vw.ops, castVals[uint16](vw), unsafe.Slice((*uint16)(unsafe.Pointer(&dst[0])), len(dst)/2))
	case 1:
		gatherOps(vw.ops, castVals[uint8](vw), dst)
	default:
		return false
	}
	return true
}

func (vw *views) at(i int) *colView {
	if vw.ris == nil {
		return vw.cache.get(vw.parts[i].Rec)
	}
	return &vw.vs[vw.ris[i]]
}

// each calls copy(i, n, pos) to put n rows of the record of part i, from
// that part's start, at output row pos, so that the output is the parts in
// order: once per part, except that a patch region is one call for its
// base record's whole span and then one per part of another record in it
// (the base's own parts are already in place).
func (vw *views) each(copy func(i, n, pos int)) {
	pos, next := 0, 0
	for i := 0; i < len(vw.parts); {
		if next < len(vw.patches) && vw.patches[next].first == i {
			pt := vw.patches[next]
			next++
			base := vw.ris[i]
			span := int(vw.parts[pt.last].End - vw.parts[i].Start)
			copy(i, span, pos)
			for k := i; k <= pt.last; k++ {
				n := int(vw.parts[k].End - vw.parts[k].Start)
				if vw.ris[k] != base {
					copy(k, n, pos)
				}
				pos += n
			}
			i = pt.last + 1
			continue
		}
		n := int(vw.parts[i].End - vw.parts[i].Start)
		copy(i, n, pos)
		pos += n
		i++
	}
}

// A patch is a stretch of a merge's output that is one record's rows with
// some of them replaced, one for one, by rows of other records: where
// newer versions of keys supersede older ones in place (updates), the rows
// between are copied as one span and the newer rows put over the
// superseded ones, instead of copying a run of a few rows at a time.
type patch struct {
	first, last int // parts[first] and parts[last] are of the base record
}

// patchScan bounds how many parts past the last part of its base record a
// patch region is looked for in.
const patchScan = 16

// patchRegions finds the patch regions of parts (part i of record ris[i]):
// parts first..last where every gap between two consecutive parts of the
// base record, parts[first]'s, holds exactly as many rows as the parts of
// other records between them.
func patchRegions(parts []Run, ris []int32, dst []patch) []patch {
	dst = dst[:0]
	for i := 0; i < len(parts); {
		base, expect, foreign, last := ris[i], parts[i].End, int64(0), i
		for k := i + 1; k < len(parts) && k-last <= patchScan; k++ {
			if ris[k] != base {
				foreign += parts[k].End - parts[k].Start
				continue
			}
			if parts[k].Start-expect != foreign {
				break
			}
			expect, foreign, last = parts[k].End, 0, k
		}
		if last > i {
			dst = append(dst, patch{first: i, last: last})
		}
		i = last + 1
	}
	return dst
}

// mayHaveNulls reports whether a part's record has a validity bitmap.
func (vw *views) mayHaveNulls() bool {
	if vw.ris != nil {
		return vw.anyNull
	}
	for i := range vw.parts {
		if vw.at(i).valid != nil {
			return true
		}
	}
	return false
}

// gatherValidity builds the validity bitmap of the gathered column, or nil
// when no row is null.
func gatherValidity(vw *views, rows int64, mem memory.Allocator) (*memory.Buffer, int) {
	parts := vw.parts
	if !vw.mayHaveNulls() {
		return nil, 0
	}
	buf := newBuffer(mem, int(bitutil.BytesForBits(rows)))
	dst := buf.Bytes()
	copyValid := func(i int, n, pos int) {
		v := vw.at(i)
		if v.valid == nil {
			bitutil.SetBitsTo(dst, int64(pos), int64(n), true)
		} else {
			validity.Copy(dst, pos, v.valid, v.off+int(parts[i].Start), n)
		}
	}
	vw.each(copyValid)
	return buf, int(rows) - bitutil.CountSetBits(dst, 0, int(rows))
}

func gatherFixed(vw *views, c int, rows int64, width int, mem memory.Allocator) arrow.Array {
	parts := vw.parts
	valid, nulls := gatherValidity(vw, rows, mem)
	vals := newFilledBuffer(mem, int(rows)*width)
	dst := vals.Bytes()
	if vw.ops != nil && gatherFixedOps(vw, dst, width) {
		return finish(parts[0].Rec.Column(c).DataType(), rows, []*memory.Buffer{valid, vals}, nulls)
	}
	copyRun := func(i, n, at int) {
		v := vw.at(i)
		lo := (v.off + int(parts[i].Start)) * width
		hi := lo + n*width
		pos := at * width
		// A merge's runs are a few values long: copied a word at a time
		// inline, they cost less than a memmove call each.
		if hi-lo <= 128 {
			switch width {
			case 8:
				for ; lo < hi; lo += 8 {
					*(*[8]byte)(dst[pos:]) = *(*[8]byte)(v.vals[lo:])
					pos += 8
				}
				return
			case 4:
				for ; lo < hi; lo += 4 {
					*(*[4]byte)(dst[pos:]) = *(*[4]byte)(v.vals[lo:])
					pos += 4
				}
				return
			}
		}
		copy(dst[pos:], v.vals[lo:hi])
	}
	vw.each(copyRun)
	return finish(parts[0].Rec.Column(c).DataType(), rows, []*memory.Buffer{valid, vals}, nulls)
}

func gatherBits(vw *views, c int, rows int64, mem memory.Allocator) arrow.Array {
	parts := vw.parts
	valid, nulls := gatherValidity(vw, rows, mem)
	vals := newBuffer(mem, int(bitutil.BytesForBits(rows)))
	pos := 0
	for i, p := range parts {
		v := vw.at(i)
		n := int(p.End - p.Start)
		validity.Copy(vals.Bytes(), pos, v.vals, v.off+int(p.Start), n)
		pos += n
	}
	return finish(parts[0].Rec.Column(c).DataType(), rows, []*memory.Buffer{valid, vals}, nulls)
}

func gatherVar[O int32 | int64](vw *views, c int, rows int64, mem memory.Allocator, cast func([]byte) []O, width int) (arrow.Array, error) {
	parts := vw.parts
	// Every record's offsets (from its array offset) and data, resolved
	// once: a merge's parts are a few rows long.
	type varView struct {
		offs []O
		data []byte
	}
	var recs []varView
	if vw.ris != nil {
		recs = make([]varView, len(vw.vs))
		for i := range vw.vs {
			v := &vw.vs[i]
			recs[i] = varView{offs: cast(v.vals)[v.off:], data: v.data}
		}
	}
	viewOf := func(i int) varView {
		if recs != nil {
			return recs[vw.ris[i]]
		}
		v := vw.at(i)
		return varView{offs: cast(v.vals)[v.off:], data: v.data}
	}
	var total int64
	for i, p := range parts {
		offs := viewOf(i).offs
		total += int64(offs[p.End] - offs[p.Start])
	}
	if width == 4 && total > 1<<31-1 {
		// Too large for 32-bit offsets: let Concatenate report it.
		return nil, kerr.New(kerr.Internal, "assembled utf8/binary column exceeds 2 GiB")
	}
	valid, nulls := gatherValidity(vw, rows, mem)
	offBuf := newFilledBuffer(mem, (int(rows)+1)*width)
	// 16 bytes of slack: short values are copied 16 bytes at a time.
	dataBuf := newFilledBuffer(mem, int(total)+16)
	dataBuf.ResizeNoShrink(int(total))
	dstOffs := cast(offBuf.Bytes())
	data := dataBuf.Buf()
	var pos int
	var at O
	for i, p := range parts {
		v := viewOf(i)
		src := v.offs[p.Start : p.End+1]
		base := src[0]
		delta := at - base
		dst := dstOffs[pos : pos+len(src)-1]
		for j := range dst {
			dst[j] = src[j] + delta
		}
		pos += len(dst)
		n := src[len(src)-1] - base
		// A merge's runs are a few short values: copied 16 bytes at a time
		// inline, they cost less than a memmove call each (the slack above
		// takes the overshoot; the source must hold the bytes read).
		if n <= 64 && int(base)+64 <= len(v.data) {
			for k := O(0); k < n; k += 16 {
				*(*[16]byte)(data[at+k:]) = *(*[16]byte)(v.data[base+k:])
			}
		} else {
			copy(data[at:at+n], v.data[base:base+n])
		}
		at += n
	}
	dstOffs[pos] = at
	return finish(parts[0].Rec.Column(c).DataType(), rows, []*memory.Buffer{valid, offBuf, dataBuf}, nulls), nil
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

// gatherCopies reports whether GatherRuns output of type t holds only new
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
