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

// normalFloats is n bytes of float64 values, normally distributed: pages
// of mostly literals, as a float column's.
func normalFloats(rnd *rand.Rand, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < cap(out) {
		out = binary.LittleEndian.AppendUint64(out, math.Float64bits(rnd.NormFloat64()*100))
	}
	return out
}

// Frames from libzstd decode with klauspost's decoder and libzstd, frames
// from klauspost's encoder decode with libzstd, and Decompress fills dst
// exactly: a frame for more or fewer bytes, a damaged frame and garbage
// are errors, never a write past dst.
func TestRoundTripAndStrictSize(t *testing.T) {
	floats := normalFloats(rand.New(rand.NewSource(1)), 256<<10)
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

// TestDamagedFrameNeverDecodesToOtherBytes: a frame damaged anywhere (one
// bit, at every position of frames of float64 values and of sorted
// integers) either fails to decode or decodes to exactly its content;
// without the frame's checksum a flip inside the literals decoded to other
// values, silently (a segment damaged on disk read as different numbers).
func TestDamagedFrameNeverDecodesToOtherBytes(t *testing.T) {
	rnd := rand.New(rand.NewSource(2))
	floats := normalFloats(rnd, 8<<10)
	ints := make([]byte, 0, 8<<10)
	for i := 0; len(ints) < cap(ints); i++ {
		ints = binary.LittleEndian.AppendUint64(ints, uint64(7*i+rnd.Intn(5)))
	}
	goDec, _ := zstd.NewReader(nil)
	defer goDec.Close()
	for _, in := range [][]byte{floats, ints} {
		frame, err := Compress(nil, in, DefaultLevel)
		if err != nil {
			t.Fatal(err)
		}
		caught, total := 0, 0
		for i := range frame {
			for _, bit := range []byte{0x01, 0x80} {
				bad := bytes.Clone(frame)
				bad[i] ^= bit
				total++
				out := make([]byte, len(in))
				if err := Decompress(out, bad); err != nil {
					caught++
					continue
				}
				if !bytes.Equal(out, in) {
					t.Fatalf("byte %d of a %d-byte frame flipped (%#x): libzstd decoded other bytes without an error", i, len(frame), bit)
				}
				if got, err := goDec.DecodeAll(bad, nil); err == nil && !bytes.Equal(got, in) {
					t.Fatalf("byte %d of a %d-byte frame flipped (%#x): klauspost decoded other bytes without an error", i, len(frame), bit)
				}
			}
		}
		if caught < total*9/10 {
			t.Fatalf("only %d of %d damaged frames failed to decode", caught, total)
		}
	}
}

// DecompressAll decodes every job as Decompress would, and on a failure
// names the first job that failed (the jobs before it decoded, in any mix
// with empty ones): a wrong index would blame another page of a chunk.
func TestDecompressAllNamesTheFailedJob(t *testing.T) {
	rnd := rand.New(rand.NewSource(7))
	var ins, frames [][]byte
	for i := 0; i < 9; i++ {
		in := normalFloats(rnd, []int{0, 8, 4096, 64 << 10}[i%4])
		f, err := Compress(nil, in, DefaultLevel)
		if err != nil {
			t.Fatal(err)
		}
		if len(in) == 0 && i%2 == 0 {
			f = nil // no frame at all for an empty page
		}
		ins, frames = append(ins, in), append(frames, f)
	}
	jobs := func() ([]Job, [][]byte) {
		js := make([]Job, len(ins))
		outs := make([][]byte, len(ins))
		for i := range ins {
			outs[i] = bytes.Repeat([]byte{0xa5}, len(ins[i]))
			js[i] = Job{Dst: outs[i], Src: frames[i]}
		}
		return js, outs
	}
	js, outs := jobs()
	if i, err := DecompressAll(js); err != nil || i != -1 {
		t.Fatalf("DecompressAll = %d, %v", i, err)
	}
	for i := range ins {
		if !bytes.Equal(outs[i], ins[i]) {
			t.Fatalf("job %d decoded to other bytes", i)
		}
	}
	for bad := range ins {
		for _, how := range []string{"damaged", "short", "long"} {
			js, outs := jobs()
			switch how {
			case "damaged":
				if len(frames[bad]) == 0 {
					js[bad].Src = []byte("not zstd")
				} else {
					d := bytes.Clone(frames[bad])
					d[len(d)/2] ^= 0x40
					js[bad].Src = d
				}
			case "short":
				if len(ins[bad]) == 0 {
					continue
				}
				js[bad].Dst = outs[bad][:len(ins[bad])-1]
			case "long":
				js[bad].Dst = make([]byte, len(ins[bad])+1)
			}
			i, err := DecompressAll(js)
			if err == nil || i != bad {
				t.Fatalf("job %d %s: DecompressAll = %d, %v", bad, how, i, err)
			}
			for j := 0; j < bad; j++ {
				if !bytes.Equal(outs[j], ins[j]) {
					t.Fatalf("job %d %s: job %d before it not decoded", bad, how, j)
				}
			}
		}
	}
}
