package segment

import (
	"encoding/binary"
	"math/bits"
	"unsafe"

	"github.com/kalamdb/libkalam/validity"
)

// Nullable columns: a page's definition levels become a validity bitmap,
// and its dense values are spread out to the rows that are not null. With
// nulls scattered through the data, the writer's RLE/bit-packed levels come
// in short runs and the valid rows in runs of a few values, so both are
// done a run (or up to 56 bits) at a time rather than a bit or a value at a
// time: per value, they were a third of the decoding of such a column.

// runBack is the length of the run of bits equal to set that ends at bit
// i-1 of bm (i > 0); at most i. It reads eight bytes at a time, ending
// with the byte that holds the run's last bit.
func runBack(bm []byte, i int, set bool) int {
	n := 0
	for b := i - 1; b >= 0; {
		var x uint64
		var have int // bits of x at or below bit b, moved to the top
		if by := b >> 3; by >= 7 {
			x = binary.LittleEndian.Uint64(bm[by-7:])
			x <<= 7 - b&7
			have = 57 + b&7
		} else {
			x = uint64(bm[by]) << 56 << (7 - b&7)
			have = b&7 + 1
		}
		if !set {
			x = ^x
		}
		r := min(bits.LeadingZeros64(^x), have)
		n += r
		if r < have {
			break
		}
		b -= r
	}
	return n
}

// spreadFixed moves the k dense values at [pos, pos+k) to their rows in
// [pos, pos+rows) by the page's validity bits, zeroing null slots. It
// works backwards in place, a run of valid rows (one copy) or of nulls
// (one clear) at a time: a value never moves left.
func spreadFixed(out []byte, w, pos, rows, k int, valid []byte) {
	switch {
	case k == rows:
		return
	case w == 8 || w == 4:
		_ = out[(pos+rows)*w-1] // the unchecked slices below stay inside out
	}
	switch w {
	case 8:
		spreadWords(unsafe.Slice((*uint64)(unsafe.Pointer(&out[pos*8])), rows), rows, k, valid)
		return
	case 4:
		spreadWords(unsafe.Slice((*uint32)(unsafe.Pointer(&out[pos*4])), rows), rows, k, valid)
		return
	}
	i, j := rows, k // rows [0, i) and values [0, j) are left to place
	for j < i {
		if r := min(runBack(valid, i, true), j); r > 0 {
			moveRight(out, w, pos+j-r, pos+i-r, r)
			i -= r
			j -= r
			continue
		}
		r := runBack(valid, i, false)
		clear(out[(pos+i-r)*w : (pos+i)*w])
		i -= r
	}
}

// spreadWords is spreadFixed for 4- and 8-byte values, a validity byte
// (eight rows) at a time: whole bytes of valid rows or of nulls, and runs
// of them, are one copy or one clear, and mixed bytes are placed row by
// row. With a third or half of the rows null at random, the runs are a row
// or two long, and finding each run (runBack) cost more than placing its
// values: spreading was 29 % of the CPU of a scan of such a table. vals[:k]
// holds the values; on return vals[:rows] holds the rows. The invariant:
// j is the number of valid rows in [0, i), so the rows left once j == i
// are valid and already in place.
func spreadWords[T uint32 | uint64](vals []T, rows, k int, valid []byte) {
	i, j := rows, k
	for i&7 != 0 && j < i {
		i--
		if valid[i>>3]>>(i&7)&1 != 0 {
			j--
			vals[i] = vals[j]
		} else {
			vals[i] = 0
		}
	}
	for j < i { // i is a multiple of 8, and at least 8
		switch b := valid[i>>3-1]; b {
		case 0xff:
			n := 8
			for i-n >= 8 && valid[(i-n)>>3-1] == 0xff {
				n += 8
			}
			copy(vals[i-n:i], vals[j-n:j])
			i -= n
			j -= n
		case 0:
			n := 8
			for i-n >= 8 && valid[(i-n)>>3-1] == 0 {
				n += 8
			}
			clear(vals[i-n : i])
			i -= n
		default:
			// Without a branch per row: with nulls scattered at random the
			// branch was mispredicted every other row, and this loop was a
			// seventh of a merge of such columns. When row i is null, j
			// stays at most i and vals[j] is read only to be masked off.
			for x := 7; x >= 0; x-- {
				i--
				bit := int(b>>x) & 1
				j -= bit
				vals[i] = vals[j] & T(-bit)
			}
		}
	}
}

// moveRight moves the n values of w bytes at value index from to index
// to >= from. Runs are a few values long with scattered nulls, and a
// memmove call each cost more than the copy: 4- and 8-byte values of short
// runs are moved inline, last first, which is safe for overlapping ranges
// moving right.
func moveRight(out []byte, w, from, to, n int) {
	if n <= 16 {
		switch w {
		case 8:
			for x := n - 1; x >= 0; x-- {
				*(*[8]byte)(out[(to+x)*8:]) = *(*[8]byte)(out[(from+x)*8:])
			}
			return
		case 4:
			for x := n - 1; x >= 0; x-- {
				*(*[4]byte)(out[(to+x)*4:]) = *(*[4]byte)(out[(from+x)*4:])
			}
			return
		}
	}
	copy(out[to*w:(to+n)*w], out[from*w:(from+n)*w])
}

// spreadBits is spreadFixed for a bitmap.
func spreadBits(out []byte, pos, rows, k int, valid []byte) {
	i, j := rows, k
	for j < i {
		if r := min(runBack(valid, i, true), j); r > 0 {
			// Backwards in chunks: every chunk's source lies below the
			// bits it writes, so nothing is read after being overwritten.
			for r > 0 {
				c := min(r, 56)
				validity.Store(out, pos+i-c, c, validity.Load(out, pos+j-c, c))
				i -= c
				j -= c
				r -= c
			}
			continue
		}
		r := runBack(valid, i, false)
		for r > 0 {
			c := min(r, 56)
			validity.Store(out, pos+i-c, c, 0)
			i -= c
			r -= c
		}
	}
}
