package engine

/*
#cgo LDFLAGS: -lzstd
#include <zstd.h>
*/
import "C"

import (
	"io"
	"unsafe"

	"github.com/apache/arrow-go/v18/parquet/compress"
)

// Segment pages are zstd-compressed by libzstd (which RocksDB links
// already) instead of arrow-go's pure-Go encoder: in a flush that encoder
// was half of the segment writer's CPU, and libzstd compresses the
// columns of a segment (sorted keys, timestamps, _seq) 2–5× faster at the
// same level with the same output size. The frames are standard zstd, so
// nothing changes for readers; decoding stays arrow-go's. arrow-go's codec
// registry is process-wide and meant for exactly this (RegisterCodec),
// so every Parquet file this process writes with zstd uses it.
func init() {
	goZstd, err := compress.GetCodec(compress.Codecs.Zstd)
	if err != nil {
		panic(err) // arrow-go registers zstd in its own init
	}
	compress.RegisterCodec(compress.Codecs.Zstd, cZstd{goZstd})
}

// zstdDefaultLevel is the level used when the writer names none: 3, the
// level arrow-go's default (klauspost's SpeedDefault) stands for and
// libzstd's default.
const zstdDefaultLevel = 3

// cZstd compresses with libzstd and leaves everything else (decoding,
// streams) to arrow-go's codec.
type cZstd struct{ goZstd compress.Codec }

// cctxCache keeps a few libzstd compression contexts for reuse (a context
// is about a megabyte and costs as much to set up as a small page takes to
// compress). A context is either here, in use, or freed: never dropped.
var cctxCache = make(chan *C.ZSTD_CCtx, 4)

func getCCtx() *C.ZSTD_CCtx {
	select {
	case c := <-cctxCache:
		return c
	default:
		return C.ZSTD_createCCtx()
	}
}

func putCCtx(c *C.ZSTD_CCtx) {
	select {
	case cctxCache <- c:
	default:
		C.ZSTD_freeCCtx(c)
	}
}

func (z cZstd) Encode(dst, src []byte) []byte {
	return z.EncodeLevel(dst, src, compress.DefaultCompressionLevel)
}

// EncodeLevel compresses src into dst when it has room for the worst case
// (CompressBound), else into a new slice. src and dst are Go memory without
// pointers, pinned for the call.
func (z cZstd) EncodeLevel(dst, src []byte, level int) []byte {
	if level == compress.DefaultCompressionLevel {
		level = zstdDefaultLevel
	}
	bound := int(C.ZSTD_compressBound(C.size_t(len(src))))
	if cap(dst) < bound {
		dst = make([]byte, bound)
	}
	dst = dst[:cap(dst)]
	cctx := getCCtx()
	if cctx == nil { // out of memory in C: the Go encoder needs none of it
		return z.goZstd.EncodeLevel(dst[:0], src, level)
	}
	n := C.ZSTD_compressCCtx(cctx, unsafe.Pointer(unsafe.SliceData(dst)), C.size_t(len(dst)),
		unsafe.Pointer(unsafe.SliceData(src)), C.size_t(len(src)), C.int(level))
	putCCtx(cctx)
	if C.ZSTD_isError(n) != 0 {
		// Only a too small destination or a failed allocation can fail,
		// and dst has the bound: let the Go encoder do it instead.
		return z.goZstd.EncodeLevel(dst[:0], src, level)
	}
	return dst[:int(n)]
}

func (cZstd) CompressBound(n int64) int64 { return int64(C.ZSTD_compressBound(C.size_t(n))) }

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
