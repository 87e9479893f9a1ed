package segment

import (
	"math/bits"
	"sync"
	"unsafe"
)

// Scratch memory (compressed chunk bytes, decompressed pages, dictionary
// indices) lives only while one column chunk is decoded. It is pooled by
// power-of-two size class: allocating it fresh costs a zeroing pass and GC
// work per chunk, which showed in the profile. It is never exported and
// always fully written before it is read.

const minClass = 12 // 4 KiB

var scratchPools [48]sync.Pool

// Large buffers (1 MiB and up) are kept on bounded free lists instead:
// sync.Pool drops its contents at every GC, and with the decoded arrays in
// C memory the Go heap is small, so GCs are frequent and a pooled 8 MiB
// buffer would be re-allocated (and re-zeroed) nearly every time. At most
// largeKeep buffers per class stay alive, which bounds the memory held.
const (
	largeClass = 20
	largeKeep  = 8
)

var largeFree [48]chan []byte

func init() {
	for k := largeClass; k < len(largeFree); k++ {
		largeFree[k] = make(chan []byte, largeKeep)
	}
}

func sizeClass(n int) int {
	if n <= 1<<minClass {
		return minClass
	}
	return bits.Len(uint(n - 1))
}

func getScratch(n int) []byte {
	k := sizeClass(n)
	if k >= len(scratchPools) {
		return make([]byte, n)
	}
	if k >= largeClass {
		select {
		case b := <-largeFree[k]:
			return b[:n]
		default:
			return make([]byte, n, 1<<k)
		}
	}
	if v, ok := scratchPools[k].Get().(*[]byte); ok {
		return (*v)[:n]
	}
	return make([]byte, n, 1<<k)
}

func putScratch(b []byte) {
	k := sizeClass(cap(b))
	if k >= len(scratchPools) || cap(b) != 1<<k {
		return
	}
	if k >= largeClass {
		select {
		case largeFree[k] <- b:
		default: // enough kept; let the GC have it
		}
		return
	}
	scratchPools[k].Put(&b)
}

// scratchSet tracks the scratch buffers of one chunk read.
type scratchSet struct{ bufs [][]byte }

func (s *scratchSet) get(n int) []byte {
	b := getScratch(n)
	s.bufs = append(s.bufs, b)
	return b
}

// uint32s returns scratch for n uint32 values.
func (s *scratchSet) uint32s(n int) []uint32 {
	b := s.get(4 * max(n, 1))
	return unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

func (s *scratchSet) release() {
	for _, b := range s.bufs {
		putScratch(b)
	}
	s.bufs = nil
}
