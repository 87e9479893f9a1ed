// Package zstdc is libzstd (the system library RocksDB links already) for
// the two hot paths of segments: compressing pages when a flush or a
// compaction writes them, and decompressing pages when a scan reads them.
//
// Why not klauspost's pure-Go codec, which the rest of the module keeps:
// on the columns segments hold, libzstd 1.5 compresses 2–5× faster at the
// same level and size, and decompresses 1.5× faster where the page is
// mostly Huffman-coded literals (float64 values, random int32s) and a
// little faster elsewhere — and decompression is most of a full scan's CPU.
// The frames are standard zstd either way.
//
// Contexts are cached per kind (a context is about a megabyte and costs as
// much to set up as a small page takes to code); a context is either in its
// cache, in use by one call, or freed: never dropped.
package zstdc

/*
#cgo LDFLAGS: -lzstd
#include <zstd.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// DefaultLevel is libzstd's default level, the one arrow-go's default
// (klauspost's SpeedDefault) stands for.
const DefaultLevel = 3

// ErrNoMemory is returned when libzstd cannot allocate a context.
var ErrNoMemory = errors.New("zstd: out of memory for a context")

var (
	cctxCache = make(chan *C.ZSTD_CCtx, 4)
	dctxCache = make(chan *C.ZSTD_DCtx, 2*runtime.GOMAXPROCS(0)+2)
)

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

func getDCtx() *C.ZSTD_DCtx {
	select {
	case c := <-dctxCache:
		return c
	default:
		return C.ZSTD_createDCtx()
	}
}

func putDCtx(c *C.ZSTD_DCtx) {
	select {
	case dctxCache <- c:
	default:
		C.ZSTD_freeDCtx(c)
	}
}

// CompressBound is the largest size Compress can produce for n input bytes.
func CompressBound(n int) int { return int(C.ZSTD_compressBound(C.size_t(n))) }

// Compress compresses src at level into dst's backing array when it has
// room for CompressBound(len(src)) bytes, else into a new slice, and
// returns the frame, which carries a checksum of src. src and dst hold no
// Go pointers (cgo pins them for the call). It fails only when libzstd
// cannot allocate (or level is out of libzstd's range).
func Compress(dst, src []byte, level int) ([]byte, error) {
	bound := CompressBound(len(src))
	if cap(dst) < bound {
		dst = make([]byte, bound)
	}
	dst = dst[:cap(dst)]
	cctx := getCCtx()
	if cctx == nil {
		return nil, ErrNoMemory
	}
	// The frame carries a checksum of its content (4 bytes; XXH64, a
	// small fraction of compressing), which every zstd decoder checks: a
	// page damaged on disk fails to decode instead of giving other values.
	// Segments have no other checksum (arrow-go writes no page CRCs).
	var n C.size_t
	if n = C.ZSTD_CCtx_setParameter(cctx, C.ZSTD_c_compressionLevel, C.int(level)); C.ZSTD_isError(n) == 0 {
		if n = C.ZSTD_CCtx_setParameter(cctx, C.ZSTD_c_checksumFlag, 1); C.ZSTD_isError(n) == 0 {
			n = C.ZSTD_compress2(cctx, unsafe.Pointer(unsafe.SliceData(dst)), C.size_t(len(dst)),
				unsafe.Pointer(unsafe.SliceData(src)), C.size_t(len(src)))
		}
	}
	putCCtx(cctx)
	if C.ZSTD_isError(n) != 0 {
		return nil, fmt.Errorf("zstd: %s", C.GoString(C.ZSTD_getErrorName(n)))
	}
	return dst[:int(n)], nil
}

// Decompress decodes the zstd frames in src into dst, which must come out
// exactly full: a frame that decodes to more than len(dst) bytes (libzstd
// never writes past the capacity it is given), to fewer, or that is damaged
// is an error. dst may be Go or C memory holding no Go pointers.
func Decompress(dst, src []byte) error {
	if len(src) == 0 {
		if len(dst) == 0 {
			return nil // nothing in, nothing promised: as Go's decoders take it
		}
		return fmt.Errorf("zstd: no frame for %d bytes", len(dst))
	}
	dctx := getDCtx()
	if dctx == nil {
		return ErrNoMemory
	}
	// libzstd wants a non-null destination even when it is empty.
	var zero [1]byte
	dp := unsafe.Pointer(&zero[0])
	if len(dst) > 0 {
		dp = unsafe.Pointer(unsafe.SliceData(dst))
	}
	n := C.ZSTD_decompressDCtx(dctx, dp, C.size_t(len(dst)), unsafe.Pointer(unsafe.SliceData(src)), C.size_t(len(src)))
	putDCtx(dctx)
	if C.ZSTD_isError(n) != 0 {
		return fmt.Errorf("zstd: %s", C.GoString(C.ZSTD_getErrorName(n)))
	}
	if int(n) != len(dst) {
		return fmt.Errorf("zstd decoded %d bytes, %d expected", int(n), len(dst))
	}
	return nil
}
