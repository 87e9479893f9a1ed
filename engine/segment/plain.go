package segment

import (
	"encoding/binary"
)

// convertFixed converts k dense PLAIN values of the column's physical type
// (src) into k Arrow values (dst, k*outWidth bytes). The caller has checked
// that src holds k values.
func convertFixed(p *colPlan, dst, src []byte, k int) {
	switch p.kind {
	case kindCopy, kindFLBA:
		copy(dst, src[:k*p.outWidth])
	case kindNarrow:
		if p.outWidth == 1 {
			for i := 0; i < k; i++ {
				dst[i] = src[4*i]
			}
			return
		}
		for i := 0; i < k; i++ {
			dst[2*i] = src[4*i]
			dst[2*i+1] = src[4*i+1]
		}
	case kindDecFromInt:
		for i := 0; i < k; i++ {
			var v int64
			if p.physWidth == 4 {
				v = int64(int32(binary.LittleEndian.Uint32(src[4*i:])))
			} else {
				v = int64(binary.LittleEndian.Uint64(src[8*i:]))
			}
			binary.LittleEndian.PutUint64(dst[16*i:], uint64(v))
			binary.LittleEndian.PutUint64(dst[16*i+8:], uint64(v>>63))
		}
	case kindDecFromFLBA:
		w := p.physWidth
		for i := 0; i < k; i++ {
			decimalFromBE(dst[16*i:16*i+16], src[w*i:w*i+w])
		}
	}
}

// plainLengths walks k PLAIN byte-array values (4-byte length, bytes) and
// calls emit with each value's length; it returns the bytes consumed, or -1
// when a value runs past src.
func plainLengths(src []byte, k int, emit func(n int)) int {
	pos := 0
	for i := 0; i < k; i++ {
		if len(src)-pos < 4 {
			return -1
		}
		n := int(binary.LittleEndian.Uint32(src[pos:]))
		pos += 4
		if n < 0 || n > len(src)-pos {
			return -1
		}
		emit(n)
		pos += n
	}
	return pos
}
