package segment

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/engine/zstdc"
)

func isUnsupported(err error) bool { return errors.Is(err, ErrUnsupported) }

// ReadColumn decodes column col of row group rg into an Arrow array of the
// column's stored type. Every buffer of the array is allocated from mem
// (64-byte aligned and padded) and written once, in its final layout; the
// validity bitmap exists only when the chunk holds nulls. The caller
// releases the array. Safe for concurrent use.
func (f *File) ReadColumn(ctx context.Context, rg, col int, mem memory.Allocator) (arrow.Array, error) {
	if rg < 0 || rg >= len(f.meta.rowGroups) {
		return nil, fmt.Errorf("segment %s: no row group %d", f.name, rg)
	}
	return f.ReadColumnRows(ctx, rg, col, 0, f.meta.rowGroups[rg].numRows, mem)
}

// ReadColumnRows decodes rows [first, first+n) of column col in row group
// rg. Only the pages that hold those rows are decompressed and decoded;
// with a Parquet page index (OffsetIndex) only their bytes are read. The
// result is a slice (Arrow offset) of an array spanning those whole pages.
func (f *File) ReadColumnRows(ctx context.Context, rg, col int, first, n int64, mem memory.Allocator) (arrow.Array, error) {
	if rg < 0 || rg >= len(f.meta.rowGroups) {
		return nil, fmt.Errorf("segment %s: no row group %d", f.name, rg)
	}
	if col < 0 || col >= len(f.cols) {
		return nil, fmt.Errorf("segment %s: no column %d", f.name, col)
	}
	rgRows := f.meta.rowGroups[rg].numRows
	if first < 0 || n < 0 || first+n > rgRows || first+n < first {
		return nil, fmt.Errorf("segment %s: row group %d: rows [%d, %d) outside its %d rows", f.name, rg, first, first+n, rgRows)
	}
	c := &chunkReader{f: f, rg: rg, col: col, cc: f.chunk(rg, col), plan: &f.plans[col], rgRows: rgRows}

	// Nothing returned references scratch: arrays live in mem.
	defer c.mem.release()
	if c.plan.reason != "" {
		return nil, c.errf(ErrUnsupported, "%s", c.plan.reason)
	}
	if why := chunkUnsupported(c.cc, c.plan); why != "" {
		return nil, c.errf(ErrUnsupported, "%s", why)
	}
	typ := f.cols[col].Type
	if n == 0 {
		return array.MakeArrayOfNull(mem, typ, 0), nil
	}
	pages, err := c.chunkPages(ctx, first, n)
	if err != nil {
		return nil, err
	}
	var data []page
	var dict *page
	for i := range pages {
		if pages[i].h.typ == pageDictionary {
			dict = &pages[i]
		} else {
			data = append(data, pages[i])
		}
	}
	if len(data) == 0 {
		return nil, c.corrupt("no data pages for rows [%d, %d)", first, first+n)
	}
	base := data[0].firstRow
	span := data[len(data)-1].firstRow + data[len(data)-1].rows - base
	per := int64(c.plan.slotsPerRow())
	if span > math.MaxInt32/per {
		return nil, c.errf(ErrUnsupported, "%d rows of lists of %d values", span, per)
	}
	d := &chunkDecoder{c: c, mem: mem, n: int(span * per)}
	defer d.free()
	if dict != nil {
		if err := d.loadDictionary(dict); err != nil {
			return nil, err
		}
	}
	arr, err := d.decode(ctx, data)
	if err != nil {
		return nil, err
	}
	if c.plan.perRow > 0 {
		// The values grouped into the span's lists.
		ld := array.NewData(typ, int(span), []*memory.Buffer{d.listValid}, []arrow.ArrayData{arr.Data()}, d.listNulls, 0)
		arr.Release()
		arr = array.MakeFromData(ld)
		ld.Release()
		if d.listValid != nil {
			d.listValid.Release()
			d.listValid = nil
		}
	}
	if first == base && n == span {
		return arr, nil
	}
	out := array.NewSlice(arr, first-base, first-base+n)
	arr.Release()
	return out, nil
}

// chunkDecoder decodes the data pages of one column chunk into final
// Arrow buffers.
type chunkDecoder struct {
	c   *chunkReader
	mem memory.Allocator
	n   int // rows to produce

	validity *memory.Buffer
	values   *memory.Buffer // fixed-width values, bool bits, or offsets
	data     *memory.Buffer // byte-array data
	nulls    int

	// A fixed_size_list column's own validity (one bit a row; nil while
	// no list is null) and null count: validity and nulls are its values'.
	listValid *memory.Buffer
	listNulls int
	levelsA   []uint32 // repetition levels of a page (scratch)

	dict dictionary

	pageValid []byte   // this page's validity bits, from bit 0
	indices   []uint32 // dictionary indices (scratch)
	scratch   []byte   // decompression scratch, reused across pages

	// Decompressions of direct pages waiting to run together (decodeFixed)
	// and their pages.
	jobs     []zstdc.Job
	jobPages []*page
}

// free releases buffers not handed to an array (on error).
func (d *chunkDecoder) free() {
	for _, b := range []*memory.Buffer{d.validity, d.values, d.data, d.listValid} {
		if b != nil {
			b.Release()
		}
	}
}

func (d *chunkDecoder) alloc(n int64, what string) (*memory.Buffer, error) {
	if n < 0 || n > d.c.f.opts.MaxBufferBytes || n > math.MaxInt {
		return nil, d.c.errf(ErrUnsupported, "%s of %d bytes is above the limit of %d", what, n, d.c.f.opts.MaxBufferBytes)
	}
	if ua, ok := d.mem.(UnclearedAllocator); ok {
		// Laid out as NewResizableBuffer(mem).Resize(n) would be: capacity
		// rounded up to 64 bytes, length n.
		b := memory.NewBufferWithAllocator(ua.AllocateUncleared(int((n+63)&^63)), d.mem)
		b.ResizeNoShrink(int(n))
		return b, nil
	}
	b := memory.NewResizableBuffer(d.mem)
	b.Resize(int(n))
	return b, nil
}

// UnclearedAllocator is an allocator that can hand out a buffer without
// zeroing it. The decoder asks for its buffers this way when it can: it
// writes every byte of the values, offsets, data and validity of the rows
// it decodes (null slots included), so zeroing them first is wasted work.
type UnclearedAllocator interface {
	memory.Allocator
	AllocateUncleared(n int) []byte
}

// levels decodes a page's definition levels into d.pageValid and returns
// the number of non-null values, recording the page's validity in the
// chunk bitmap (allocated on the first null).
func (d *chunkDecoder) levels(p *page, pd *pageData, pos int) (int, error) {
	rows := d.slots(p)
	if d.c.plan.perRow > 0 {
		return d.listLevels(p, pd, pos)
	}
	if d.c.plan.maxDef == 0 {
		if d.validity != nil {
			bitutil.SetBitsTo(d.validity.Bytes(), int64(pos), int64(rows), true)
		}
		return rows, nil
	}
	need := int(bitutil.BytesForBits(int64(rows)))
	if cap(d.pageValid) < need {
		d.pageValid = d.c.mem.get(need)
	}
	d.pageValid = d.pageValid[:need]
	r, err := newRLE(pd.defLevels, 1)
	if err != nil {
		return 0, d.c.pageErr(p, "definition levels: %v", err)
	}
	k, err := r.bits(d.pageValid, 0, rows)
	if err != nil {
		return 0, d.c.pageErr(p, "definition levels: %v", err)
	}
	if p.h.typ == pageDataV2 && k != rows-int(p.h.numNulls) {
		return 0, d.c.pageErr(p, "%d non-null values, header says %d nulls of %d", k, p.h.numNulls, rows)
	}
	return k, d.recordValid(pos, rows, k)
}

// recordValid records the validity of a page's n slots from pos (the first
// n bits of d.pageValid; k of them set) in the chunk's bitmap, which is
// made on the first page with a null.
func (d *chunkDecoder) recordValid(pos, n, k int) error {
	if k < n && d.validity == nil {
		v, err := d.alloc(bitutil.BytesForBits(int64(d.n)), "validity bitmap")
		if err != nil {
			return err
		}
		d.validity = v
		bitutil.SetBitsTo(v.Bytes(), 0, int64(pos), true)
	}
	if d.validity != nil {
		bitutil.CopyBitmap(d.pageValid, 0, n, d.validity.Bytes(), pos)
	}
	d.nulls += n - k
	return nil
}

// slots is the number of value slots (present or null) of page p.
func (d *chunkDecoder) slots(p *page) int {
	return int(p.rows) * d.c.plan.slotsPerRow()
}

// listLevels is levels for a fixed_size_list column: from the page's
// repetition and definition levels it records which of the value slots
// of its rows (pos counts slots) hold a value, which a null value, and
// which rows are null lists (one level entry, no values), checking that
// every other row has exactly perRow entries. It returns the number of
// values.
func (d *chunkDecoder) listLevels(p *page, pd *pageData, pos int) (int, error) {
	plan := d.c.plan
	per, rows, entries := plan.perRow, int(p.rows), int(p.h.numValues)
	slots := rows * per
	if cap(d.levelsA) < entries {
		d.levelsA = d.c.mem.uint32s(entries)
	}
	if cap(d.indices) < entries {
		d.indices = d.c.mem.uint32s(entries)
	}
	reps, defs := d.levelsA[:entries], d.indices[:entries]
	r, err := newRLE(pd.repLevels, 1)
	if err == nil {
		err = r.indices(reps, 2)
	}
	if err != nil {
		return 0, d.c.pageErr(p, "repetition levels: %v", err)
	}
	top := uint32(plan.maxDef)
	// Slot validity first, then one bit a row for the lists.
	need := int(bitutil.BytesForBits(int64(slots)))
	rowBytes := int(bitutil.BytesForBits(int64(rows)))
	if cap(d.pageValid) < need+rowBytes {
		d.pageValid = d.c.mem.get(need + rowBytes)
	}
	d.pageValid = d.pageValid[:need+rowBytes]
	listsValid := d.pageValid[need:]
	r, err = newRLE(pd.defLevels, bits.Len(uint(plan.maxDef)))
	if err != nil {
		return 0, d.c.pageErr(p, "definition levels: %v", err)
	}
	if entries == slots && r.onlyValue(top, entries) {
		// Every list whole and every value present (the usual page):
		// check the lists' shape and set the bits in bulk.
		for base := 0; base < entries; base += per {
			bad := reps[base] // 0 opens a list, 1 continues it
			for _, l := range reps[base+1 : base+per] {
				bad |= l ^ 1
			}
			if bad != 0 {
				return 0, d.c.pageErr(p, "repetition levels of row %d do not make a list of %d values", base/per, per)
			}
		}
		bitutil.SetBitsTo(d.pageValid, 0, int64(slots), true)
		bitutil.SetBitsTo(listsValid, 0, int64(rows), true)
		return d.settleListLevels(p, pos, slots, slots, rows, 0)
	}
	if err := r.indices(defs, uint32(plan.maxDef+1)); err != nil {
		return 0, d.c.pageErr(p, "definition levels: %v", err)
	}
	clear(d.pageValid)
	k, row, j, nullLists := 0, -1, per, 0
	for e := 0; e < entries; e++ {
		switch {
		case reps[e] == 0:
			if j != per {
				return 0, d.c.pageErr(p, "row %d has a list of %d values, not %d", row, j, per)
			}
			row, j = row+1, 0
			if row >= rows {
				return 0, d.c.pageErr(p, "more than the page's %d rows", rows)
			}
		case row < 0 || j >= per:
			return 0, d.c.pageErr(p, "a list longer than %d values", per)
		}
		switch lvl := defs[e]; {
		case lvl == top:
			bitutil.SetBit(d.pageValid, row*per+j)
			k++
			j++
		case plan.leafOpt && lvl == top-1:
			j++
		case plan.listOpt && lvl == 0 && j == 0:
			nullLists++
			j = per // the row's slots stay null
			continue
		default:
			return 0, d.c.pageErr(p, "definition level %d in a fixed_size_list column", lvl)
		}
		if j == per {
			bitutil.SetBit(listsValid, row)
		}
	}
	if row != rows-1 || j != per {
		return 0, d.c.pageErr(p, "%d rows, the page says %d", row+1, rows)
	}
	if k != entries-int(p.h.numNulls) {
		return 0, d.c.pageErr(p, "%d non-null values, header says %d nulls of %d", k, p.h.numNulls, entries)
	}
	return d.settleListLevels(p, pos, slots, k, rows, nullLists)
}

// settleListLevels records a fixed_size_list page's bits (d.pageValid:
// slot validity, then list validity) in the chunk's bitmaps and returns k,
// its number of values.
func (d *chunkDecoder) settleListLevels(p *page, pos, slots, k, rows, nullLists int) (int, error) {
	per := d.c.plan.perRow
	if p.h.numNulls != 0 && k == slots && nullLists == 0 {
		return 0, d.c.pageErr(p, "no null values, header says %d nulls", p.h.numNulls)
	}
	listsValid := d.pageValid[int(bitutil.BytesForBits(int64(slots))):]
	if err := d.recordValid(pos, slots, k); err != nil {
		return 0, err
	}
	at := pos / per
	if nullLists > 0 && d.listValid == nil {
		v, err := d.alloc(bitutil.BytesForBits(int64(d.n/per)), "list validity bitmap")
		if err != nil {
			return 0, err
		}
		d.listValid = v
		bitutil.SetBitsTo(v.Bytes(), 0, int64(at), true)
	}
	if d.listValid != nil {
		bitutil.CopyBitmap(listsValid, 0, rows, d.listValid.Bytes(), at)
	}
	d.listNulls += nullLists
	return k, nil
}

// decode runs over the data pages and builds the array.
func (d *chunkDecoder) decode(ctx context.Context, pages []page) (arrow.Array, error) {
	plan := d.c.plan
	var err error
	switch plan.kind {
	case kindBool:
		d.values, err = d.alloc(bitutil.BytesForBits(int64(d.n)), "boolean values")
	case kindBytes:
		w := int64(4)
		if plan.large {
			w = 8
		}
		d.values, err = d.alloc((int64(d.n)+1)*w, "offsets")
	default:
		d.values, err = d.alloc(int64(d.n)*int64(plan.outWidth), "values")
	}
	if err != nil {
		return nil, err
	}
	if plan.kind == kindBytes {
		if plan.large {
			err = decodeBytes[int64](ctx, d, pages)
		} else {
			err = decodeBytes[int32](ctx, d, pages)
		}
	} else {
		err = d.decodeFixed(ctx, pages)
	}
	if err != nil {
		return nil, err
	}
	bufs := []*memory.Buffer{d.validity, d.values}
	if plan.kind == kindBytes {
		bufs = append(bufs, d.data)
	}
	typ := d.c.f.cols[d.c.col].Type
	if plan.perRow > 0 {
		typ = plan.elem
	}
	ad := array.NewData(typ, d.n, bufs, nil, d.nulls, 0)
	arr := array.MakeFromData(ad)
	ad.Release()
	for _, b := range bufs {
		if b != nil {
			b.Release()
		}
	}
	d.validity, d.values, d.data = nil, nil, nil
	return arr, nil
}

// decodeFixed decodes fixed-width and boolean pages.
func (d *chunkDecoder) decodeFixed(ctx context.Context, pages []page) error {
	plan := d.c.plan
	out := d.values.Bytes()
	pos := 0
	// Direct pages without nulls are decompressed together, in one call
	// at the end (see zstdc.DecompressAll): each writes only its own rows.
	// A direct page with nulls goes on its own, as its values are spread
	// right after; the other pages are decompressed together, up front.
	d.jobs, d.jobPages = d.jobs[:0], d.jobPages[:0]
	var others []*page
	for i := range pages {
		if !d.direct(&pages[i]) {
			others = append(others, &pages[i])
		}
	}
	if err := d.c.inflatePages(others); err != nil {
		return err
	}
	for i := range pages {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := &pages[i]
		rows := d.slots(p)
		if d.direct(p) {
			k, job, err := d.directJob(p, out, pos)
			if err != nil {
				return err
			}
			if job != nil && k == rows {
				d.jobs = append(d.jobs, *job)
				d.jobPages = append(d.jobPages, p)
				pos += rows
				continue
			}
			if job != nil {
				if err := d.c.inflateInto(p, job.Dst, job.Src); err != nil {
					return err
				}
			}
			if k < rows {
				spreadFixed(out, plan.outWidth, pos, rows, k, d.pageValid)
			}
			pos += rows
			continue
		}
		pd, scratch, err := d.c.openPage(p, d.scratch)
		d.scratch = scratch
		if err != nil {
			return err
		}
		k, err := d.levels(p, &pd, pos)
		if err != nil {
			return err
		}
		switch pd.encoding {
		case encPlain:
			if plan.kind == kindBool {
				if int64(len(pd.values))*8 < int64(k) {
					return d.c.pageErr(p, "%d booleans in %d bytes", k, len(pd.values))
				}
				bitutil.CopyBitmap(pd.values, 0, k, out, pos)
			} else {
				if int64(len(pd.values)) < int64(k)*int64(plan.physWidth) {
					return d.c.pageErr(p, "%d values of %d bytes in %d bytes", k, plan.physWidth, len(pd.values))
				}
				convertFixed(plan, out[pos*plan.outWidth:(pos+k)*plan.outWidth], pd.values, k)
			}
		case encRLE:
			if plan.kind != kindBool {
				return d.c.errf(ErrUnsupported, "page at byte %d: RLE-encoded %s values", p.offset, nameOr(physicalNames, plan.phys))
			}
			if err := rleBools(pd.values, out, pos, k); err != nil {
				return d.c.pageErr(p, "%v", err)
			}
		case encPlainDict, encRLEDict:
			if err := d.gatherFixed(p, pd.values, out, pos, k); err != nil {
				return err
			}
		default:
			return d.c.errf(ErrUnsupported, "page at byte %d: encoding %s", p.offset, nameOr(encodingNames, pd.encoding))
		}
		if k < rows {
			if plan.kind == kindBool {
				spreadBits(out, pos, rows, k, d.pageValid)
			} else {
				spreadFixed(out, plan.outWidth, pos, rows, k, d.pageValid)
			}
		}
		pos += rows
	}
	if len(d.jobs) == 0 {
		return nil
	}
	err := d.c.inflateAll(d.jobPages, d.jobs)
	clear(d.jobs) // no buffer outlives the chunk through them
	d.jobs, d.jobPages = d.jobs[:0], d.jobPages[:0]
	return err
}

// direct reports whether page p decodes straight into the output buffer:
// a compressed V2 PLAIN page of values that keep their width. Its values
// section then decompresses into the (exported) buffer itself instead of
// into scratch and then a copy — a tenth of a full scan's CPU.
func (d *chunkDecoder) direct(p *page) bool {
	return p.h.typ == pageDataV2 && p.h.encoding == encPlain && p.h.isCompressed &&
		d.c.plan.kind == kindCopy && d.c.cc.codec != codecUncompressed
}

// directJob decodes the levels of a page for which direct holds and
// returns its number k of non-null values and the decompression that puts
// them, packed, into out from row pos; the caller runs it (alone or with
// other pages'). A page with bytes past its values (no writer leaves them,
// none is forbidden) is decoded here, through scratch, and has no job.
func (d *chunkDecoder) directJob(p *page, out []byte, pos int) (int, *zstdc.Job, error) {
	repLevels, defLevels, body, err := d.c.v2Parts(p)
	if err != nil {
		return 0, nil, err
	}
	pd := pageData{repLevels: repLevels, defLevels: defLevels, encoding: encPlain}
	k, err := d.levels(p, &pd, pos)
	if err != nil {
		return 0, nil, err
	}
	w := d.c.plan.outWidth
	size := int(p.h.uncompressedSize) - len(repLevels) - len(defLevels)
	if int64(size) < int64(k)*int64(w) {
		return 0, nil, d.c.pageErr(p, "%d values of %d bytes in %d bytes", k, w, size)
	}
	if size == k*w {
		return k, &zstdc.Job{Dst: out[pos*w : (pos+k)*w], Src: body}, nil
	}
	raw, scratch, err := d.c.inflate(p, body, size, d.scratch)
	d.scratch = scratch
	if err != nil {
		return 0, nil, err
	}
	copy(out[pos*w:(pos+k)*w], raw[:k*w])
	return k, nil, nil
}

// rleBools decodes k V2 booleans (4-byte length, then RLE with width 1).
func rleBools(src []byte, out []byte, pos, k int) error {
	if len(src) < 4 {
		return fmt.Errorf("%w: no length prefix", errRLE)
	}
	n := int(uint32(src[0]) | uint32(src[1])<<8 | uint32(src[2])<<16 | uint32(src[3])<<24)
	if n < 0 || n > len(src)-4 {
		return fmt.Errorf("%w: %d bytes claimed, %d present", errRLE, n, len(src)-4)
	}
	r, _ := newRLE(src[4:4+n], 1)
	_, err := r.bits(out, pos, k)
	return err
}

// dictIndices decodes k dictionary indices of a data page into d.indices.
func (d *chunkDecoder) dictIndices(p *page, src []byte, k int) ([]uint32, error) {
	if !d.dict.loaded {
		return nil, d.c.pageErr(p, "dictionary-encoded page without a dictionary page")
	}
	if cap(d.indices) < k {
		d.indices = d.c.mem.uint32s(k)
	}
	idx := d.indices[:k]
	if k == 0 {
		return idx, nil
	}
	if len(src) < 1 {
		return nil, d.c.pageErr(p, "no index bit width")
	}
	r, err := newRLE(src[1:], int(src[0]))
	if err != nil {
		return nil, d.c.pageErr(p, "dictionary indices: %v", err)
	}
	if err := r.indices(idx, uint32(d.dict.n)); err != nil {
		return nil, d.c.pageErr(p, "dictionary indices: %v", err)
	}
	if r.pos != len(r.data) {
		// Runs that hold more than the page's values: writers end the
		// indices with the run of the last value. A changed bit width (the
		// byte before them, which no checksum covers where the page is
		// not compressed) reads the runs as others and leaves bytes over.
		return nil, d.c.pageErr(p, "dictionary indices: %d bytes after the runs of the page's %d values", len(r.data)-r.pos, k)
	}
	return idx, nil
}
