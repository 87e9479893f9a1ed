// Package validity holds the rules for Arrow validity bitmaps (and the
// bits of boolean arrays, laid out the same way): cutting one to a window
// of its array, used where an array must start at offset 0 (the C export's
// struct rebasing, the segment writer's lists), and copying runs of bits up
// to 56 at a time. Runs are copied a few rows at a time when pages are
// decoded with scattered nulls and when a merge assembles its output from
// short runs of its inputs; a loop per bit, branching on each, cost more
// than the rest of such a copy.
package validity

import (
	"encoding/binary"
	"math/bits"

	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Window returns bits [off, off+n) of validity bitmap buf as a bitmap
// starting at bit 0: a window of buf (sharing it) when off is a whole
// byte, a copy into mem otherwise; nil when no slot is null (nulls == 0)
// or there is no bitmap. The caller releases a non-nil result.
func Window(buf *memory.Buffer, off, n, nulls int, mem memory.Allocator) *memory.Buffer {
	if buf == nil || buf.Len() == 0 || nulls == 0 {
		return nil
	}
	size := int(bitutil.BytesForBits(int64(n)))
	if off%8 == 0 {
		return memory.SliceBuffer(buf, off/8, size)
	}
	out := memory.NewResizableBuffer(mem)
	out.Resize(size)
	bitutil.CopyBitmap(buf.Bytes(), off, n, out.Bytes(), 0)
	return out
}

// Copy copies n bits of src from bit soff to dst from bit doff and returns
// how many of them are set. It writes only the bytes that hold the
// destination bits, and keeps their other bits. src and dst may overlap
// only when dst starts at or before src (or, copying backwards in chunks,
// when each chunk's source lies below what it writes).
func Copy(dst []byte, doff int, src []byte, soff int, n int) int {
	set := 0
	for n > 0 {
		c := min(n, 56)
		v := Load(src, soff, c)
		set += bits.OnesCount64(v)
		Store(dst, doff, c, v)
		soff += c
		doff += c
		n -= c
	}
	return set
}

// Load returns bits [off, off+c) of b, c <= 56, in the low bits.
func Load(b []byte, off, c int) uint64 {
	i := off >> 3
	var v uint64
	if i+8 <= len(b) {
		v = binary.LittleEndian.Uint64(b[i:])
	} else {
		for k := len(b) - 1; k >= i; k-- {
			v = v<<8 | uint64(b[k])
		}
	}
	return (v >> (off & 7)) & (1<<c - 1)
}

// Store writes the low c bits of v (c <= 56, no higher bit set) to b from
// bit off, leaving the other bits of the bytes it touches as they are.
func Store(b []byte, off, c int, v uint64) {
	sh := off & 7
	m := (uint64(1)<<c - 1) << sh
	v <<= sh
	last := (off + c - 1) >> 3
	for i := off >> 3; i <= last; i++ {
		b[i] = b[i]&^byte(m) | byte(v)
		m >>= 8
		v >>= 8
	}
}
