package validity

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestWindow: every window of a bitmap, at whole bytes and not, holds the
// window's bits from bit 0; no nulls gives no bitmap; nothing leaks.
func TestWindow(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	src := memory.NewResizableBuffer(mem)
	src.Resize(8)
	defer src.Release()
	for i := 0; i < 64; i++ {
		if i%3 != 0 {
			bitutil.SetBit(src.Bytes(), i)
		}
	}
	for off := 0; off < 40; off++ {
		for _, n := range []int{1, 7, 8, 9, 24} {
			w := Window(src, off, n, 1, mem)
			for i := 0; i < n; i++ {
				if bitutil.BitIsSet(w.Bytes(), i) != bitutil.BitIsSet(src.Bytes(), off+i) {
					t.Fatalf("window [%d, %d): bit %d differs", off, off+n, i)
				}
			}
			w.Release()
		}
	}
	if Window(src, 3, 10, 0, mem) != nil || Window(nil, 0, 4, 2, mem) != nil {
		t.Fatal("a window without nulls or without a bitmap is not nil")
	}
}
