package segment

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/bitutil"
)

// randomBits is a bitmap of n bits in runs of random lengths (short and
// long, as definition levels with scattered or clustered nulls have).
func randomBits(r *rand.Rand, n int) []byte {
	b := make([]byte, int(bitutil.BytesForBits(int64(n)))+r.IntN(3))
	v := r.IntN(2) == 1
	for i := 0; i < n; {
		run := 1 + r.IntN([]int{3, 12, 70, 300}[r.IntN(4)])
		for k := 0; k < run && i < n; k++ {
			bitutil.SetBitTo(b, i, v)
			i++
		}
		v = !v
	}
	return b
}

func TestSpreadMatchesValueByValue(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for iter := 0; iter < 2000; iter++ {
		rows := 1 + r.IntN(400)
		pos := r.IntN(9)
		valid := randomBits(r, rows)
		k := bitutil.CountSetBits(valid, 0, rows)
		for _, w := range []int{1, 4, 8, 16} {
			out := make([]byte, (pos+rows)*w)
			for i := range out {
				out[i] = byte(r.Uint32())
			}
			want := bytes.Clone(out)
			j := k - 1
			for i := rows - 1; i >= 0; i-- {
				dst := want[(pos+i)*w : (pos+i+1)*w]
				if bitutil.BitIsSet(valid, i) {
					copy(dst, out[(pos+j)*w:(pos+j+1)*w])
					j--
				} else {
					clear(dst)
				}
			}
			spreadFixed(out, w, pos, rows, k, valid)
			if !bytes.Equal(out, want) {
				t.Fatalf("rows=%d k=%d w=%d pos=%d: spreadFixed differs", rows, k, w, pos)
			}
		}
		bm := randomBits(r, pos+rows)
		want := bytes.Clone(bm)
		j := k - 1
		for i := rows - 1; i >= 0; i-- {
			if bitutil.BitIsSet(valid, i) {
				bitutil.SetBitTo(want, pos+i, bitutil.BitIsSet(bm, pos+j))
				j--
			} else {
				bitutil.ClearBit(want, pos+i)
			}
		}
		spreadBits(bm, pos, rows, k, valid)
		if !bytes.Equal(bm, want) {
			t.Fatalf("rows=%d k=%d pos=%d: spreadBits %x want %x", rows, k, pos, bm, want)
		}
	}
}

// BenchmarkSpreadScatteredNulls spreads 8-byte values over rows whose
// nulls are scattered at random (30 %), the case of a nullable measure.
func BenchmarkSpreadScatteredNulls(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	const rows = 32768
	valid := make([]byte, rows/8)
	for i := 0; i < rows; i++ {
		bitutil.SetBitTo(valid, i, r.Float64() >= 0.3)
	}
	k := bitutil.CountSetBits(valid, 0, rows)
	out := make([]byte, rows*8)
	b.SetBytes(rows * 8)
	for b.Loop() {
		spreadFixed(out, 8, 0, rows, k, valid)
	}
}
