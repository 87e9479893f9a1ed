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

typedef struct {
	void* dst;
	size_t dst_len;
	const void* src;
	size_t src_len;
} kz_job;

// kz_decompress_all decodes jobs in order until one fails or does not
// fill its destination exactly; it returns how many succeeded and, in
// *result, libzstd's result for the one that did not.
static size_t kz_decompress_all(ZSTD_DCtx* d, const kz_job* jobs, size_t n, size_t* result) {
	for (size_t i = 0; i < n; i++) {
		size_t r = ZSTD_decompressDCtx(d, jobs[i].dst, jobs[i].dst_len, jobs[i].src, jobs[i].src_len);
		if (ZSTD_isError(r) || r != jobs[i].dst_len) {
			*result = r;
			return i;
		}
	}
	return n;
}
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

// A Job is one input of DecompressAll: the frames in Src, decoded into
// exactly Dst (as Decompress).
type Job struct {
	Dst, Src []byte
}

// DecompressAll is Decompress for each job, in one call into libzstd: a
// scan decodes a column chunk's pages together. Each call into C that
// runs longer than a scheduler tick hands the goroutine's P to another
// thread and takes one back after, and one per page kept a tenth of the
// cores of a one-column scan idle in those hand-offs. It returns the index
// of the first job that failed with its error (the jobs before it are
// decoded), or -1 and nil. Buffers are Go or C memory holding no Go
// pointers; they are pinned for the call.
func DecompressAll(jobs []Job) (int, error) {
	if len(jobs) == 0 {
		return -1, nil
	}
	for i := range jobs {
		if len(jobs[i].Src) == 0 || len(jobs[i].Dst) == 0 {
			// Empty frames or pages take Decompress's rules, between the
			// batches before and after them.
			if f, err := decompressBatch(jobs[:i]); err != nil {
				return f, err
			}
			if err := Decompress(jobs[i].Dst, jobs[i].Src); err != nil {
				return i, err
			}
			f, err := DecompressAll(jobs[i+1:])
			if err != nil {
				return i + 1 + f, err
			}
			return -1, nil
		}
	}
	return decompressBatch(jobs)
}

// decompressBatch is DecompressAll for jobs whose buffers are not empty.
func decompressBatch(jobs []Job) (int, error) {
	if len(jobs) == 0 {
		return -1, nil
	}
	var pin runtime.Pinner
	defer pin.Unpin()
	cj := make([]C.kz_job, len(jobs))
	for i, j := range jobs {
		dp, sp := unsafe.SliceData(j.Dst), unsafe.SliceData(j.Src)
		pin.Pin(dp)
		pin.Pin(sp)
		cj[i] = C.kz_job{dst: unsafe.Pointer(dp), dst_len: C.size_t(len(j.Dst)), src: unsafe.Pointer(sp), src_len: C.size_t(len(j.Src))}
	}
	dctx := getDCtx()
	if dctx == nil {
		return 0, ErrNoMemory
	}
	var r C.size_t
	done := int(C.kz_decompress_all(dctx, unsafe.SliceData(cj), C.size_t(len(cj)), &r))
	putDCtx(dctx)
	if done == len(jobs) {
		return -1, nil
	}
	if C.ZSTD_isError(r) != 0 {
		return done, fmt.Errorf("zstd: %s", C.GoString(C.ZSTD_getErrorName(r)))
	}
	return done, fmt.Errorf("zstd decoded %d bytes, %d expected", int(r), len(jobs[done].Dst))
}
