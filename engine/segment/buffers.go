package segment

import "unsafe"

// offsetsOf views an offsets buffer (from the allocator, 64-byte aligned)
// as n offsets of type O.
func offsetsOf[O int32 | int64](b []byte, n int) []O {
	var z O
	if len(b) < n*int(unsafe.Sizeof(z)) {
		panic("segment: offsets buffer too small") // sized by the caller; a bug, not bad input
	}
	return unsafe.Slice((*O)(unsafe.Pointer(unsafe.SliceData(b))), n)
}
