package segment

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/kalamdb/libkalam/engine/zstdc"
)

// page is one page of a column chunk: its header, its still-compressed
// body, and (data pages) the rows it covers.
type page struct {
	h        pageHeader
	body     []byte
	offset   int64 // file offset of the header
	firstRow int64 // data pages: first row, relative to the row group
	rows     int64
	// raw is the page's decompressed part (a V1 page's whole body, a V2
	// page's values) once preinflate has decoded it; nil: openPage does.
	raw []byte
}

// chunkReader reads and splits one column chunk.
type chunkReader struct {
	f      *File
	rg     int
	col    int
	cc     *columnChunk
	plan   *colPlan
	rgRows int64
	mem    scratchSet // returned to the pool when the read ends
}

func (c *chunkReader) errf(wrap error, format string, args ...any) error {
	return fmt.Errorf("segment %s: row group %d: column %q: %s: %w", c.f.name, c.rg, c.f.cols[c.col].Name,
		fmt.Sprintf(format, args...), wrap)
}

func (c *chunkReader) corrupt(format string, args ...any) error {
	return c.errf(ErrCorrupt, format, args...)
}

func (c *chunkReader) pageErr(p *page, format string, args ...any) error {
	return c.errf(ErrCorrupt, "page at byte %d: %s", p.offset, fmt.Sprintf(format, args...))
}

// readAt reads file bytes [off, off+n) into a new buffer.
func (c *chunkReader) readAt(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off+n > c.f.size || off+n < off {
		return nil, c.corrupt("byte range [%d, %d) outside the file", off, off+n)
	}
	if n > c.f.opts.MaxBufferBytes {
		return nil, c.errf(ErrUnsupported, "column chunk of %d bytes is above the limit of %d", n, c.f.opts.MaxBufferBytes)
	}
	b := c.mem.get(int(n))
	if _, err := c.f.r.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("segment %s: row group %d: column %q: read: %w", c.f.name, c.rg, c.f.cols[c.col].Name, err)
	}
	return b, nil
}

// splitPages parses the page headers in buf (file bytes starting at base)
// and returns the pages in order. It stops after the data pages that cover
// wantRows rows (counted from firstRow), or at the end of buf.
func (c *chunkReader) splitPages(ctx context.Context, buf []byte, base, firstRow, wantRows int64, dictOnly bool) ([]page, error) {
	var pages []page
	pos := 0
	row := firstRow
	end := firstRow + wantRows
	for pos < len(buf) && (row < end || dictOnly) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, hl, err := parsePageHeader(buf[pos:])
		if err != nil {
			return nil, c.corrupt("page header at byte %d: %v", base+int64(pos), err)
		}
		p := page{h: h, offset: base + int64(pos)}
		bodyAt := pos + hl
		if int(h.compressedSize) > len(buf)-bodyAt {
			return nil, c.pageErr(&p, "body of %d bytes runs past the column chunk", h.compressedSize)
		}
		if int64(h.uncompressedSize) > c.f.opts.MaxPageBytes {
			return nil, c.errf(ErrUnsupported, "page at byte %d: %d bytes uncompressed, above the limit of %d",
				p.offset, h.uncompressedSize, c.f.opts.MaxPageBytes)
		}
		p.body = buf[bodyAt : bodyAt+int(h.compressedSize)]
		pos = bodyAt + int(h.compressedSize)
		if (h.typ == pageDataV1 || h.typ == pageDataV2) && h.hasSub && !c.listsEncoding(h.encoding) ||
			h.typ == pageDictionary && h.hasSub && !c.listsEncoding(h.encoding) && !c.listsEncoding(encPlainDict) {
			return nil, c.pageErr(&p, "encoding %s, which the column chunk's metadata does not list", nameOr(encodingNames, h.encoding))
		}
		switch h.typ {
		case pageDictionary:
			if !h.hasSub {
				return nil, c.pageErr(&p, "dictionary page without its header")
			}
			if len(pages) > 0 {
				return nil, c.pageErr(&p, "dictionary page after data pages")
			}
			pages = append(pages, p)
			if dictOnly {
				return pages, nil
			}
		case pageDataV1, pageDataV2:
			if dictOnly {
				return pages, nil
			}
			if !h.hasSub {
				return nil, c.pageErr(&p, "data page without its header")
			}
			p.rows = int64(h.numValues)
			if c.plan.perRow > 0 {
				// Only a V2 page says how many rows (lists) it holds, and
				// starts at a row: pqarrow writes them so.
				if h.typ != pageDataV2 {
					return nil, c.errf(ErrUnsupported, "page at byte %d: a V1 page of a fixed_size_list column", p.offset)
				}
				p.rows = int64(h.numRows)
			}
			if h.typ == pageDataV2 {
				if c.plan.perRow == 0 && h.numRows != h.numValues || h.numRows < 0 || h.numRows > h.numValues {
					return nil, c.pageErr(&p, "V2 page of %d rows holds %d values", h.numRows, h.numValues)
				}
				if h.numNulls < 0 || h.numNulls > h.numValues || h.defLen < 0 || h.repLen < 0 || (c.plan.perRow == 0) != (h.repLen == 0) {
					return nil, c.pageErr(&p, "V2 page with %d nulls, %d/%d level bytes", h.numNulls, h.defLen, h.repLen)
				}
			}
			if p.rows < 0 {
				return nil, c.pageErr(&p, "data page of %d values", p.rows)
			}
			if p.rows == 0 {
				// Nothing to decode; not kept, so that the page count is
				// bounded by the row count.
				continue
			}
			p.firstRow = row
			row += p.rows
			if row > c.rgRows {
				return nil, c.pageErr(&p, "pages hold more than the row group's %d rows", c.rgRows)
			}
			pages = append(pages, p)
		default:
			// Index pages and unknown page types are skipped, as the
			// format allows.
		}
	}
	if !dictOnly && row < end {
		return nil, c.corrupt("column chunk ends after %d of %d rows", row, end)
	}
	return pages, nil
}

// listsEncoding reports whether the column chunk's metadata lists
// encoding e for its pages (PLAIN_DICTIONARY and RLE_DICTIONARY count as
// one: writers name the dictionary encoding either way; a dictionary page
// needs only a dictionary encoding listed). A page header
// that names another is damaged: taken as "unsupported", it sent the read
// to pqarrow, which decoded the page by the wrong encoding without an
// error. A chunk that lists no encodings is not judged.
func (c *chunkReader) listsEncoding(e int32) bool {
	encs := c.cc.encodings
	if len(encs) == 0 {
		return true
	}
	dict := func(e int32) bool { return e == encPlainDict || e == encRLEDict }
	for _, l := range encs {
		if l == e || dict(l) && dict(e) {
			return true
		}
	}
	return false
}

// chunkPages returns the dictionary page (if any) and the data pages that
// cover rows [first, first+n) of the row group. With an OffsetIndex only
// the bytes of those pages are read; otherwise the whole chunk is read and
// its page headers walked (bodies of skipped pages are not decompressed).
func (c *chunkReader) chunkPages(ctx context.Context, first, n int64) ([]page, error) {
	cc := c.cc
	start, end := cc.byteRange()
	whole := first == 0 && n == c.rgRows
	if !whole && cc.hasOffsetIndex && cc.offsetIndexLength > 0 {
		locs, err := c.offsetIndex()
		if err != nil {
			return nil, err
		}
		// Pages [a, b) cover the range.
		a, b := 0, len(locs)
		for a+1 < len(locs) && locs[a+1].firstRow <= first {
			a++
		}
		for b-1 > a && locs[b-1].firstRow >= first+n {
			b--
		}
		var pages []page
		if locs[0].offset > start {
			// Dictionary page: from the chunk start to the first data page.
			db, err := c.readAt(start, locs[0].offset-start)
			if err != nil {
				return nil, err
			}
			if pages, err = c.splitPages(ctx, db, start, 0, 0, true); err != nil {
				return nil, err
			}
		}
		lo := locs[a].offset
		hi := locs[b-1].offset + int64(locs[b-1].compressedSize)
		if lo < start || hi > end || hi < lo {
			return nil, c.corrupt("offset index pages span [%d, %d), outside the chunk [%d, %d)", lo, hi, start, end)
		}
		buf, err := c.readAt(lo, hi-lo)
		if err != nil {
			return nil, err
		}
		rowsThere := c.rgRows - locs[a].firstRow
		if b < len(locs) {
			rowsThere = locs[b].firstRow - locs[a].firstRow
		}
		data, err := c.splitPages(ctx, buf, lo, locs[a].firstRow, rowsThere, false)
		if err != nil {
			return nil, err
		}
		if err := c.matchIndex(data, locs[a:b], locs[a].firstRow+rowsThere); err != nil {
			return nil, err
		}
		return append(pages, data...), nil
	}
	buf, err := c.readAt(start, end-start)
	if err != nil {
		return nil, err
	}
	all, err := c.splitPages(ctx, buf, start, 0, first+n, false)
	if err != nil {
		return nil, err
	}
	if whole {
		return all, nil
	}
	out := all[:0]
	for _, p := range all {
		if p.h.typ == pageDictionary || (p.firstRow+p.rows > first && p.firstRow < first+n) {
			out = append(out, p)
		}
	}
	return out, nil
}

// matchIndex checks the data pages read for a row range against the
// offset index entries that chose them: the same pages, each starting at
// the row its entry gives, the last ending where the next entry (or the
// row group) starts. The index decides which rows of the chunk a range
// reads and has no checksum: an entry off by a row would otherwise shift
// the column against the others without an error.
func (c *chunkReader) matchIndex(data []page, locs []pageLocation, end int64) error {
	row := int64(-1)
	for i := range data {
		p := &data[i]
		if i >= len(locs) || p.offset != locs[i].offset || p.firstRow != locs[i].firstRow {
			return c.pageErr(p, "page %d of the offset index's range does not start at the byte and row the index gives", i)
		}
		row = p.firstRow + p.rows
	}
	if len(data) != len(locs) || row != end {
		return c.corrupt("offset index names %d pages ending at row %d; the page headers give %d pages ending at row %d",
			len(locs), end, len(data), row)
	}
	return nil
}

func (c *chunkReader) offsetIndex() ([]pageLocation, error) {
	b, err := c.readAt(c.cc.offsetIndexOffset, int64(c.cc.offsetIndexLength))
	if err != nil {
		return nil, err
	}
	locs, err := parseOffsetIndex(b)
	if err != nil {
		return nil, c.corrupt("offset index: %v", err)
	}
	if len(locs) == 0 || locs[0].firstRow != 0 {
		return nil, c.corrupt("offset index without a page at row 0")
	}
	for i := 1; i < len(locs); i++ {
		if locs[i].firstRow <= locs[i-1].firstRow || locs[i].firstRow >= c.rgRows || locs[i].offset <= locs[i-1].offset {
			return nil, c.corrupt("offset index entries out of order at %d", i)
		}
	}
	return locs, nil
}

// pageData is a data page split into its parts, decompressed.
type pageData struct {
	repLevels []byte // RLE-encoded repetition levels (fixed_size_list only)
	defLevels []byte // RLE-encoded definition levels (no length prefix)
	values    []byte
	encoding  int32
}

// compressed returns the part of data page p that its codec compressed
// (a V1 page's whole body, a V2 page's values) and its size decompressed;
// ok is false when nothing of the page is compressed.
func (c *chunkReader) compressed(p *page) (src []byte, size int, ok bool, err error) {
	if c.cc.codec == codecUncompressed {
		return nil, 0, false, nil
	}
	if p.h.typ == pageDataV1 {
		return p.body, int(p.h.uncompressedSize), true, nil
	}
	if !p.h.isCompressed {
		return nil, 0, false, nil
	}
	rep, def, body, err := c.v2Parts(p)
	if err != nil {
		return nil, 0, false, err
	}
	return body, int(p.h.uncompressedSize) - len(rep) - len(def), true, nil
}

// inflatePages decompresses the compressed parts of pages together, into
// one pooled arena, so that openPage finds them decoded: one call into
// libzstd per chunk instead of one per page (see zstdc.DecompressAll).
func (c *chunkReader) inflatePages(pages []*page) error {
	if c.cc.codec == codecUncompressed || len(pages) == 0 {
		return nil
	}
	var size int64
	for _, p := range pages {
		size += int64(p.h.uncompressedSize)
	}
	// Each page's claim is bounded, but not their number (pages of no
	// rows cost a few bytes each): bound the sum too.
	if size > c.f.opts.MaxBufferBytes {
		return c.errf(ErrUnsupported, "pages of %d bytes uncompressed, above the limit of %d", size, c.f.opts.MaxBufferBytes)
	}
	return c.preinflate(pages, c.mem.get(int(size) + 64)[:size])
}

// preinflate is inflatePages into arena, which has room for all of them.
func (c *chunkReader) preinflate(pages []*page, arena []byte) error {
	jobs := make([]zstdc.Job, 0, len(pages))
	withJob := make([]*page, 0, len(pages)) // for inflateAll to name a failed one
	at := 0
	for _, p := range pages {
		src, size, ok, err := c.compressed(p)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if size < 0 || size > len(arena)-at {
			return c.pageErr(p, "page of %d bytes decompressed, past its chunk's %d", size, len(arena))
		}
		p.raw = arena[at : at+size : at+size]
		jobs = append(jobs, zstdc.Job{Dst: p.raw, Src: src})
		withJob = append(withJob, p)
		at += size
	}
	return c.inflateAll(withJob, jobs)
}

// pagePtrs points at each of pages.
func pagePtrs(pages []page) []*page {
	ps := make([]*page, len(pages))
	for i := range pages {
		ps[i] = &pages[i]
	}
	return ps
}

// openPage decompresses a data page (unless preinflate has) and splits it
// into levels and values.
func (c *chunkReader) openPage(p *page, scratch []byte) (pageData, []byte, error) {
	h := &p.h
	var pd pageData
	pd.encoding = h.encoding
	size := int(h.uncompressedSize)
	if p.h.typ == pageDataV1 {
		raw := p.raw
		if raw == nil {
			var scratch2 []byte
			var err error
			raw, scratch2, err = c.inflate(p, p.body, size, scratch)
			if err != nil {
				return pd, scratch, err
			}
			scratch = scratch2
		}
		// No repetition levels: a V1 page of a fixed_size_list column is
		// left to pqarrow (splitPages).
		if c.plan.maxDef > 0 {
			if h.defEncoding != encRLE {
				return pd, scratch, c.errf(ErrUnsupported, "page at byte %d: definition levels encoded %s",
					p.offset, nameOr(encodingNames, h.defEncoding))
			}
			if len(raw) < 4 {
				return pd, scratch, c.pageErr(p, "no room for definition levels")
			}
			n := binary.LittleEndian.Uint32(raw)
			if uint64(n) > uint64(len(raw)-4) {
				return pd, scratch, c.pageErr(p, "definition levels of %d bytes in a page of %d", n, len(raw))
			}
			pd.defLevels = raw[4 : 4+n]
			raw = raw[4+n:]
		}
		pd.values = raw
		return pd, scratch, nil
	}
	repLevels, defLevels, body, err := c.v2Parts(p)
	if err != nil {
		return pd, scratch, err
	}
	pd.repLevels, pd.defLevels = repLevels, defLevels
	dl := len(repLevels) + len(defLevels)
	if p.raw != nil {
		pd.values = p.raw
		return pd, scratch, nil
	}
	if h.isCompressed && c.cc.codec != codecUncompressed {
		raw, scratch2, err := c.inflate(p, body, size-dl, scratch)
		if err != nil {
			return pd, scratch, err
		}
		pd.values = raw
		return pd, scratch2, nil
	}
	if len(body) != size-dl {
		return pd, scratch, c.pageErr(p, "uncompressed V2 values of %d bytes, header says %d", len(body), size-dl)
	}
	pd.values = body
	return pd, scratch, nil
}

// v2Parts splits a V2 data page's body into its repetition and definition
// levels, which are never compressed and come first, and the (maybe
// compressed) values.
func (c *chunkReader) v2Parts(p *page) (repLevels, defLevels, values []byte, err error) {
	rl, dl := int64(p.h.repLen), int64(p.h.defLen)
	if rl+dl > int64(len(p.body)) || rl+dl > int64(p.h.uncompressedSize) {
		return nil, nil, nil, c.pageErr(p, "levels of %d+%d bytes in a page of %d", rl, dl, len(p.body))
	}
	if c.plan.maxDef == 0 && dl != 0 {
		return nil, nil, nil, c.pageErr(p, "definition levels in a required column")
	}
	return p.body[:rl], p.body[rl : rl+dl], p.body[rl+dl:], nil
}

// inflate decompresses src into (a grown) scratch of exactly size bytes.
// Uncompressed chunks are used in place.
func (c *chunkReader) inflate(p *page, src []byte, size int, scratch []byte) ([]byte, []byte, error) {
	if c.cc.codec == codecUncompressed {
		if len(src) != size {
			return nil, scratch, c.pageErr(p, "uncompressed page of %d bytes, header says %d", len(src), size)
		}
		return src, scratch, nil
	}
	if cap(scratch) < size {
		scratch = c.mem.get(size)
	}
	dst := scratch[:size]
	if err := c.inflateInto(p, dst, src); err != nil {
		return nil, scratch, err
	}
	return dst, scratch, nil
}

// inflateAll is inflateInto for the pages of a chunk whose values
// decompress straight into their place (jobs[i] is pages[i]'s).
func (c *chunkReader) inflateAll(pages []*page, jobs []zstdc.Job) error {
	if i, err := decompressAll(c.cc.codec, jobs); err != nil {
		if isUnsupported(err) {
			return c.errf(ErrUnsupported, "page at byte %d: %v", pages[i].offset, err)
		}
		return c.pageErr(pages[i], "%v", err)
	}
	return nil
}

// inflateInto decompresses src into exactly dst (of the chunk's codec,
// which is not "uncompressed").
func (c *chunkReader) inflateInto(p *page, dst, src []byte) error {
	if err := decompress(c.cc.codec, dst, src); err != nil {
		if isUnsupported(err) {
			return c.errf(ErrUnsupported, "page at byte %d: %v", p.offset, err)
		}
		return c.pageErr(p, "%v", err)
	}
	return nil
}
