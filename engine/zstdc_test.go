package engine

import (
	"bytes"
	"encoding/binary"
	"math/rand"
	"testing"

	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/klauspost/compress/zstd"
)

// The zstd codec Parquet writers get is libzstd's, and what it writes
// decodes (by arrow-go's codec and by klauspost's decoder directly) to the
// input, at the default level and others, for empty, small, incompressible
// and large inputs, into a dst too small or large enough.
func TestCZstdCodec(t *testing.T) {
	c, err := compress.GetCodec(compress.Codecs.Zstd)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(cZstd); !ok {
		t.Fatalf("registered zstd codec is %T, want cZstd", c)
	}
	rnd := rand.New(rand.NewSource(1))
	sorted := make([]byte, 0, 1<<20)
	for i := 0; len(sorted) < 1<<20; i++ {
		sorted = binary.LittleEndian.AppendUint64(sorted, uint64(1_000_000+i))
	}
	noise := make([]byte, 300_000)
	rnd.Read(noise)
	dec, _ := zstd.NewReader(nil)
	defer dec.Close()
	for _, in := range [][]byte{{}, []byte("x"), sorted, noise} {
		for _, level := range []int{compress.DefaultCompressionLevel, 1, 3, 9} {
			for _, dst := range [][]byte{nil, make([]byte, 0, c.CompressBound(int64(len(in))))} {
				out := c.EncodeLevel(dst, in, level)
				if len(in) == len(sorted) && len(out) > len(in)/4 {
					t.Fatalf("level %d: %d bytes of sorted int64s compressed to %d", level, len(in), len(out))
				}
				got, err := compress.Decode(c, nil, out)
				if err != nil || !bytes.Equal(got, in) {
					t.Fatalf("level %d, %d bytes: round trip: %v (%d bytes back)", level, len(in), err, len(got))
				}
				got, err = dec.DecodeAll(out, nil)
				if err != nil || !bytes.Equal(got, in) {
					t.Fatalf("level %d, %d bytes: klauspost decode: %v", level, len(in), err)
				}
			}
		}
	}
	if _, err := compress.Decode(c, nil, []byte("not zstd at all")); err == nil {
		t.Fatal("decoding garbage succeeded")
	}
	if _, ok := c.(compress.StreamingCodec); !ok {
		t.Fatal("the codec lost the streaming interface")
	}
}
