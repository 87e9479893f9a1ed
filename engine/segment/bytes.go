package segment

import (
	"context"
	"encoding/binary"
	"math"

	"github.com/apache/arrow-go/v18/arrow/bitutil"
)

// Byte arrays (utf8, binary and their large variants) are decoded in two
// passes so that the data buffer is allocated once, at its exact size: the
// first pass decompresses every page, checks every length and writes the
// offsets; the second copies the bytes (PLAIN) or gathers dictionary
// entries by the indices kept from the first pass.

// bytesPage is what the second pass needs of a page.
type bytesPage struct {
	values []byte // PLAIN: the page's values; dictionary: nil
	idx    []uint32
	k      int
}

func decodeBytes[O int32 | int64](ctx context.Context, d *chunkDecoder, pages []page) error {
	offs := offsetsOf[O](d.values.Bytes(), d.n+1)
	limit := int64(math.MaxInt32)
	if d.c.plan.large {
		limit = math.MaxInt64
	}
	limit = min(limit, d.c.f.opts.MaxBufferBytes)
	// One pooled arena holds every decompressed page (PLAIN values are
	// read again in pass 2), filled by one call into the codec.
	if err := d.c.inflatePages(pagePtrs(pages)); err != nil {
		return err
	}
	var total int64
	offs[0] = 0
	pos := 0
	second := make([]bytesPage, 0, len(pages))
	// Indices of every dictionary page, kept for pass 2; at most one per row.
	allIdx := d.c.mem.uint32s(d.n)[:0]
	for i := range pages {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := &pages[i]
		pd, _, err := d.c.openPage(p, nil)
		if err != nil {
			return err
		}
		k, err := d.levels(p, &pd, pos)
		if err != nil {
			return err
		}
		rows := int(p.rows)
		bp := bytesPage{k: k}
		switch pd.encoding {
		case encPlain:
			// Lengths of the k values, written at their rows. The loop is
			// written out (no callback): it runs once per value.
			src := pd.values
			at := 0 // position in src
			for r := 0; r < rows; r++ {
				if k < rows && !bitutil.BitIsSet(d.pageValid, r) {
					offs[pos+r+1] = O(total)
					continue
				}
				if len(src)-at < 4 {
					return d.c.pageErr(p, "byte-array value runs past the page")
				}
				n := int(binary.LittleEndian.Uint32(src[at:]))
				at += 4
				if n < 0 || n > len(src)-at {
					return d.c.pageErr(p, "byte-array value of %d bytes runs past the page", n)
				}
				at += n
				total += int64(n)
				offs[pos+r+1] = O(total)
			}
			bp.values = pd.values
		case encPlainDict, encRLEDict:
			idx, err := d.dictIndices(p, pd.values, k)
			if err != nil {
				return err
			}
			// Keep the indices for pass 2 in one chunk-wide slice.
			start := len(allIdx)
			allIdx = append(allIdx, idx...)
			bp.idx = allIdx[start : start+k : start+k]
			lens := d.dict.lens
			if k == rows {
				for r, v := range idx {
					total += int64(lens[v])
					offs[pos+r+1] = O(total)
				}
			} else if k > 0 {
				// Without a branch per row (scattered nulls mispredict it
				// every other row): a null row adds the length of some
				// value times zero. min keeps j inside idx once the last
				// value has been counted.
				valid, j := d.pageValid, 0
				for r := 0; r < rows; r++ {
					bit := int(valid[r>>3]>>(r&7)) & 1
					total += int64(lens[idx[min(j, k-1)]]) * int64(bit)
					j += bit
					offs[pos+r+1] = O(total)
				}
			} else {
				for r := 0; r < rows; r++ {
					offs[pos+r+1] = O(total)
				}
			}
		default:
			return d.c.errf(ErrUnsupported, "page at byte %d: encoding %s", p.offset, nameOr(encodingNames, pd.encoding))
		}
		if total > limit {
			return d.c.errf(ErrUnsupported, "%d bytes of values in one chunk, above the limit of %d (read a row range)", total, limit)
		}
		second = append(second, bp)
		pos += rows
	}
	// Indices of earlier pages were appended to allIdx; re-slice them from
	// the final slice.
	next := 0
	for i := range second {
		if second[i].idx != nil {
			second[i].idx = allIdx[next : next+second[i].k]
			next += second[i].k
		}
	}
	dict := &d.dict
	// Short values are written as whole 16-byte words, which needs 16
	// bytes of room past the data (not part of the array).
	const slack = 16
	var err error
	if d.data, err = d.alloc(total+slack, "byte-array data"); err != nil {
		return err
	}
	data := d.data.Bytes()
	d.data.ResizeNoShrink(int(total))
	w := 0
	for _, bp := range second {
		if bp.values != nil {
			// Lengths were checked in pass 1. A value of at most 16 bytes
			// with 16 bytes of page after its start is copied as one word
			// (the bytes past it are overwritten by the next value or lie
			// in the slack): a memmove call per value was a fifth of the
			// scan of a column of short random strings.
			src := bp.values
			for j := 0; j < bp.k; j++ {
				n := int(binary.LittleEndian.Uint32(src))
				if n <= 16 && len(src) >= 20 {
					*(*[16]byte)(data[w : w+16]) = *(*[16]byte)(src[4:20])
				} else {
					copy(data[w:w+n], src[4:4+n])
				}
				w += n
				src = src[4+n:]
			}
			continue
		}
		if dict.words != nil {
			lens := dict.lens
			for _, v := range bp.idx {
				*(*[16]byte)(data[w : w+16]) = dict.words[v]
				w += int(lens[v])
			}
			continue
		}
		for _, v := range bp.idx {
			s, n := dict.starts[v], dict.lens[v]
			copy(data[w:w+int(n)], dict.bytes[s:s+n])
			w += int(n)
		}
	}
	return nil
}
