package validity

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/bitutil"
)

// Copy matches a bit-by-bit copy at every offset and length, on bitmaps
// whose bits come both scattered and in long runs, writes no byte outside
// the destination bits, and counts the set bits it copied.
func TestCopyMatchesBitByBit(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	bitmapOf := func(n int) []byte {
		b := make([]byte, (n+7)/8+r.IntN(3))
		density := []float64{0, 0.1, 0.5, 0.9, 1}[r.IntN(5)]
		for i := 0; i < n; i++ {
			if r.Float64() < density {
				bitutil.SetBit(b, i)
			}
		}
		return b
	}
	for iter := 0; iter < 5000; iter++ {
		n := r.IntN(300)
		soff, doff := r.IntN(20), r.IntN(20)
		src := bitmapOf(soff + n)
		dst := bitmapOf(doff + n + r.IntN(20))
		want := bytes.Clone(dst)
		wantSet := 0
		for i := 0; i < n; i++ {
			v := bitutil.BitIsSet(src, soff+i)
			bitutil.SetBitTo(want, doff+i, v)
			if v {
				wantSet++
			}
		}
		got := Copy(dst, doff, src, soff, n)
		if got != wantSet || !bytes.Equal(dst, want) {
			t.Fatalf("n=%d soff=%d doff=%d: set %d want %d; bytes %x want %x", n, soff, doff, got, wantSet, dst, want)
		}
	}
}
