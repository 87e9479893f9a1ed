package zstdc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// Frames from libzstd decode with klauspost's decoder and libzstd, frames
// from klauspost's encoder decode with libzstd, and Decompress fills dst
// exactly: a frame for more or fewer bytes, a damaged frame and garbage
// are errors, never a write past dst.
func TestRoundTripAndStrictSize(t *testing.T) {
	rnd := rand.New(rand.NewSource(1))
	floats := make([]byte, 0, 256<<10)
	for len(floats) < cap(floats) {
		floats = binary.LittleEndian.AppendUint64(floats, math.Float64bits(rnd.NormFloat64()*100))
	}
	sorted := make([]byte, 0, 1<<20)
	for i := 0; len(sorted) < cap(sorted); i++ {
		sorted = binary.LittleEndian.AppendUint64(sorted, uint64(1_000_000+i))
	}
	goEnc, _ := zstd.NewWriter(nil)
	goDec, _ := zstd.NewReader(nil)
	defer goDec.Close()
	for _, in := range [][]byte{{}, []byte("x"), floats, sorted} {
		for _, level := range []int{1, DefaultLevel, 9} {
			frame, err := Compress(nil, in, level)
			if err != nil {
				t.Fatal(err)
			}
			if len(in) == len(sorted) && len(frame) > len(in)/4 {
				t.Fatalf("level %d: sorted int64s compressed to %d of %d bytes", level, len(frame), len(in))
			}
			if got, err := goDec.DecodeAll(frame, nil); err != nil || !bytes.Equal(got, in) {
				t.Fatalf("klauspost decode of a libzstd frame: %v", err)
			}
			for _, f := range [][]byte{frame, goEnc.EncodeAll(in, nil)} {
				// dst full of garbage: every byte must be overwritten.
				dst := bytes.Repeat([]byte{0xa5}, len(in)+16)
				if err := Decompress(dst[:len(in)], f); err != nil || !bytes.Equal(dst[:len(in)], in) {
					t.Fatalf("decompress %d bytes: %v", len(in), err)
				}
				if !bytes.Equal(dst[len(in):], bytes.Repeat([]byte{0xa5}, 16)) {
					t.Fatal("decompress wrote past dst")
				}
				if len(in) > 0 {
					if err := Decompress(dst[:len(in)-1], f); err == nil {
						t.Fatalf("a frame of %d bytes decoded into %d", len(in), len(in)-1)
					}
				}
				if err := Decompress(make([]byte, len(in)+1), f); err == nil || !strings.Contains(err.Error(), "expected") {
					t.Fatalf("a frame of %d bytes filled %d: %v", len(in), len(in)+1, err)
				}
			}
			if len(frame) > 8 {
				bad := bytes.Clone(frame)
				bad[len(bad)/2] ^= 0xff
				bad = bad[:len(bad)-1]
				if err := Decompress(make([]byte, len(in)), bad); err == nil {
					t.Fatalf("a truncated, damaged frame decoded (%d bytes)", len(in))
				}
			}
		}
	}
	if err := Decompress(make([]byte, 10), []byte("not zstd at all")); err == nil {
		t.Fatal("garbage decoded")
	}
	if err := Decompress(make([]byte, 10), nil); err == nil {
		t.Fatal("no frame decoded to 10 bytes")
	}
	if err := Decompress(nil, nil); err != nil {
		t.Fatalf("empty into empty: %v", err)
	}
}

// Calls from many goroutines at once share the cached contexts and still
// produce the right bytes.
func TestConcurrentCalls(t *testing.T) {
	in := bytes.Repeat([]byte("libkalam segment page "), 10000)
	frame, err := Compress(nil, in, DefaultLevel)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			dst := make([]byte, len(in))
			for i := 0; i < 200; i++ {
				if err := Decompress(dst, frame); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(dst, in) {
					errs <- errors.New("decompressed bytes differ")
					return
				}
				if _, err := Compress(nil, in, 1); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
