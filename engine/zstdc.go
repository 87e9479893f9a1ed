package engine

import (
	"io"

	"github.com/apache/arrow-go/v18/parquet/compress"

	"github.com/kalamdb/libkalam/engine/zstdc"
)

// Segment pages are zstd-compressed by libzstd (package zstdc) instead of
// arrow-go's pure-Go encoder: in a flush that encoder was half of the
// segment writer's CPU. The frames are standard zstd; arrow-go's own
// reader (the fallback for layouts the segment reader does not take)
// keeps decoding with its codec. arrow-go's codec registry is
// process-wide and meant for exactly this (RegisterCodec), so every
// Parquet file this process writes with zstd uses it.
func init() {
	goZstd, err := compress.GetCodec(compress.Codecs.Zstd)
	if err != nil {
		panic(err) // arrow-go registers zstd in its own init
	}
	compress.RegisterCodec(compress.Codecs.Zstd, cZstd{goZstd})
}

// cZstd compresses with libzstd and leaves everything else (decoding,
// streams) to arrow-go's codec.
type cZstd struct{ goZstd compress.Codec }

func (z cZstd) Encode(dst, src []byte) []byte {
	return z.EncodeLevel(dst, src, compress.DefaultCompressionLevel)
}

// EncodeLevel compresses src into dst when it has room for the worst case
// (CompressBound), else into a new slice.
func (z cZstd) EncodeLevel(dst, src []byte, level int) []byte {
	if level == compress.DefaultCompressionLevel {
		level = zstdc.DefaultLevel
	}
	out, err := zstdc.Compress(dst, src, level)
	if err != nil {
		// Only a failed allocation in C can fail (the destination has the
		// bound): the Go encoder needs none of it.
		return z.goZstd.EncodeLevel(dst[:0], src, level)
	}
	return out
}

func (cZstd) CompressBound(n int64) int64 { return int64(zstdc.CompressBound(int(n))) }

func (z cZstd) Decode(dst, src []byte) []byte { return z.goZstd.Decode(dst, src) }

// DecodeWithError keeps arrow-go's error-returning decode (compress.Decode
// looks for it).
func (z cZstd) DecodeWithError(dst, src []byte) ([]byte, error) {
	return compress.Decode(z.goZstd, dst, src)
}

// The streaming interface (compress.StreamingCodec) stays arrow-go's.

func (z cZstd) NewReader(r io.Reader) io.ReadCloser {
	return z.goZstd.(compress.StreamingCodec).NewReader(r)
}

func (z cZstd) NewWriter(w io.Writer) io.WriteCloser {
	return z.goZstd.(compress.StreamingCodec).NewWriter(w)
}

func (z cZstd) NewWriterLevel(w io.Writer, level int) (io.WriteCloser, error) {
	return z.goZstd.(compress.StreamingCodec).NewWriterLevel(w, level)
}
