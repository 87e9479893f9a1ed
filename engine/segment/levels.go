package segment

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/bitutil"

	"github.com/kalamdb/libkalam/validity"
)

// The RLE / bit-packed hybrid encoding (Parquet's "RLE"), used for
// definition levels, dictionary indices and V2 booleans. Every run header
// is checked against the bytes that remain; a bit-packed run that is cut
// short by the end of the data yields only the values whose bits are
// there.

var errRLE = errors.New("bad RLE/bit-packed data")

type rleDecoder struct {
	data  []byte
	pos   int // next header byte
	width uint
	// current run
	rle    bool
	left   int    // values left in the run
	val    uint32 // RLE value
	bitPos int    // bit-packed: absolute bit offset of the next value
}

func newRLE(data []byte, width int) (*rleDecoder, error) {
	if width < 0 || width > 32 {
		return nil, fmt.Errorf("%w: bit width %d", errRLE, width)
	}
	return &rleDecoder{data: data, width: uint(width)}, nil
}

func (d *rleDecoder) nextRun() error {
	var h uint64
	var shift uint
	for {
		if d.pos >= len(d.data) {
			return fmt.Errorf("%w: data ends before all values", errRLE)
		}
		c := d.data[d.pos]
		d.pos++
		if shift >= 35 {
			return fmt.Errorf("%w: run header too long", errRLE)
		}
		h |= uint64(c&0x7f) << shift
		if c < 0x80 {
			break
		}
		shift += 7
	}
	if h&1 == 1 {
		groups := h >> 1
		nbytes := groups * uint64(d.width)
		rem := uint64(len(d.data) - d.pos)
		count := groups * 8
		if nbytes > rem {
			// A final run may be cut short: keep the values that are there.
			if d.width == 0 {
				return fmt.Errorf("%w: bit-packed run", errRLE)
			}
			count = rem * 8 / uint64(d.width)
			nbytes = rem
		}
		if count > 1<<31 {
			return fmt.Errorf("%w: bit-packed run of %d values", errRLE, count)
		}
		d.rle = false
		d.left = int(count)
		d.bitPos = d.pos * 8
		d.pos += int(nbytes)
		return nil
	}
	count := h >> 1
	if count > 1<<31 {
		return fmt.Errorf("%w: run of %d values", errRLE, count)
	}
	nb := int(d.width+7) / 8
	if nb > len(d.data)-d.pos {
		return fmt.Errorf("%w: run value past the end", errRLE)
	}
	var v uint32
	for i := 0; i < nb; i++ {
		v |= uint32(d.data[d.pos+i]) << (8 * i)
	}
	d.pos += nb
	if d.width < 32 && v>>d.width != 0 {
		return fmt.Errorf("%w: run value %d wider than %d bits", errRLE, v, d.width)
	}
	d.rle = true
	d.left = int(count)
	d.val = v
	return nil
}

// onlyValue reports whether the first n values are all v in one RLE run
// (a page of levels that all say "present"), without decoding them. It
// consumes the run; on false, the decoder is left as it was.
func (d *rleDecoder) onlyValue(v uint32, n int) bool {
	save := *d
	if d.left == 0 && d.nextRun() != nil {
		*d = save
		return false
	}
	if d.rle && d.val == v && d.left >= n {
		d.left -= n
		return true
	}
	*d = save
	return false
}

// unpack reads n values of the current bit-packed run into dst.
func (d *rleDecoder) unpack(dst []uint32) {
	w := d.width
	mask := uint64(1)<<w - 1
	bit := d.bitPos
	data := d.data
	i := 0
	// Fast path while a whole 8-byte word can be loaded.
	for ; i < len(dst); i++ {
		byteAt := bit >> 3
		if byteAt+8 > len(data) {
			break
		}
		dst[i] = uint32(binary.LittleEndian.Uint64(data[byteAt:]) >> (bit & 7) & mask)
		bit += int(w)
	}
	for ; i < len(dst); i++ {
		var word uint64
		byteAt := bit >> 3
		for k := 0; k < 8 && byteAt+k < len(data); k++ {
			word |= uint64(data[byteAt+k]) << (8 * k)
		}
		dst[i] = uint32(word >> (bit & 7) & mask)
		bit += int(w)
	}
	d.bitPos = bit
	d.left -= len(dst)
}

// indices decodes len(dst) values, each of which must be < limit.
func (d *rleDecoder) indices(dst []uint32, limit uint32) error {
	for len(dst) > 0 {
		if d.left == 0 {
			if err := d.nextRun(); err != nil {
				return err
			}
			continue
		}
		n := min(d.left, len(dst))
		if d.rle {
			if d.val >= limit {
				return fmt.Errorf("%w: dictionary index %d, dictionary has %d entries", errRLE, d.val, limit)
			}
			v := d.val
			for i := range dst[:n] {
				dst[i] = v
			}
			d.left -= n
		} else {
			d.unpack(dst[:n])
			for _, v := range dst[:n] {
				if v >= limit {
					return fmt.Errorf("%w: dictionary index %d, dictionary has %d entries", errRLE, v, limit)
				}
			}
		}
		dst = dst[n:]
	}
	return nil
}

// bits decodes n values of bit width 1 into the bitmap dst at bit offset
// off (definition levels of a flat optional column, V2 booleans) and
// returns how many were 1.
func (d *rleDecoder) bits(dst []byte, off, n int) (int, error) {
	if d.width != 1 {
		return 0, fmt.Errorf("%w: bit width %d where 1 is expected", errRLE, d.width)
	}
	set := 0
	for n > 0 {
		if d.left == 0 {
			if err := d.nextRun(); err != nil {
				return 0, err
			}
			continue
		}
		k := min(d.left, n)
		if d.rle {
			bitutil.SetBitsTo(dst, int64(off), int64(k), d.val == 1)
			if d.val == 1 {
				set += k
			}
		} else {
			set += validity.Copy(dst, off, d.data, d.bitPos, k)
			d.bitPos += k
		}
		d.left -= k
		off += k
		n -= k
	}
	return set, nil
}
