// Package validity holds the one rule for cutting an Arrow validity bitmap
// to a window of its array, used where an array must start at offset 0
// (the C export's struct rebasing, the segment writer's lists).
package validity

import (
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
