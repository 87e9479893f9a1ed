// Package ctest is the C side of arrowexport's tests (cgo is not allowed in
// _test.go files): a consumer that calls stream callbacks the way a C host
// does, with junk-filled output structs and from other threads, and a
// hand-written host producer that can emit malformed batches.
package ctest

/*
#cgo CFLAGS: -I${SRCDIR}/../.. -std=c11 -D_GNU_SOURCE
#cgo LDFLAGS: -lpthread
#include <stdlib.h>
#include "ctest.h"
*/
import "C"

import "unsafe"

// Producer modes: how the host producer corrupts its output.
const (
	OK             = int(C.CT_OK)
	NegativeLength = int(C.CT_NEGATIVE_LENGTH)
	WrongBuffers   = int(C.CT_WRONG_BUFFERS)
	NullValues     = int(C.CT_NULL_VALUES)
	NullsNoBitmap  = int(C.CT_NULLS_NO_BITMAP)
	NextError      = int(C.CT_NEXT_ERROR)
	BadOffsets     = int(C.CT_BAD_OFFSETS)
	BadFormat      = int(C.CT_BAD_FORMAT)
	SchemaError    = int(C.CT_SCHEMA_ERROR)
	TooFewColumns  = int(C.CT_TOO_FEW_COLUMNS)
	NullChild      = int(C.CT_NULL_CHILD)
	ShortColumn    = int(C.CT_SHORT_COLUMN)
	BuggyRelease   = int(C.CT_BUGGY_RELEASE)
)

// NewStreamStruct returns C memory for a struct ArrowArrayStream, filled
// with junk bytes.
func NewStreamStruct() unsafe.Pointer { return C.ct_junk_alloc(C.sizeof_struct_ArrowArrayStream) }

// NewSchemaStruct returns C memory for a struct ArrowSchema, filled with junk bytes.
func NewSchemaStruct() unsafe.Pointer { return C.ct_junk_alloc(C.sizeof_struct_ArrowSchema) }

// Free frees C memory returned by this package.
func Free(p unsafe.Pointer) { C.free(p) }

func stream(p unsafe.Pointer) *C.struct_ArrowArrayStream { return (*C.struct_ArrowArrayStream)(p) }

// GetSchema calls get_schema with a junk-filled output; the caller releases
// and frees the schema with ReleaseSchema.
func GetSchema(s unsafe.Pointer) (int, unsafe.Pointer) {
	out := C.ct_junk_alloc(C.sizeof_struct_ArrowSchema)
	rc := C.ct_get_schema(stream(s), (*C.struct_ArrowSchema)(out))
	return int(rc), out
}

// GetNext calls get_next with a junk-filled output; the caller releases and
// frees the array with ReleaseArray.
func GetNext(s unsafe.Pointer) (int, unsafe.Pointer) {
	out := C.ct_junk_alloc(C.sizeof_struct_ArrowArray)
	rc := C.ct_get_next(stream(s), (*C.struct_ArrowArray)(out))
	return int(rc), out
}

// LastError calls get_last_error; ok is false for a NULL answer.
func LastError(s unsafe.Pointer) (string, bool) {
	msg := C.ct_last_error(stream(s))
	if msg == nil {
		return "", false
	}
	return C.GoString(msg), true
}

// ReleaseStream calls release if the stream is not released.
func ReleaseStream(s unsafe.Pointer) { C.ct_release_stream(stream(s)) }

// ReleaseStreamInThread calls release from a new pthread.
func ReleaseStreamInThread(s unsafe.Pointer) int {
	return int(C.ct_release_stream_in_thread(stream(s)))
}

// StreamReleased reports release == NULL.
func StreamReleased(s unsafe.Pointer) bool { return C.ct_stream_released(stream(s)) != 0 }

// NextJob is a get_next running on its own pthread.
type NextJob struct{ j *C.struct_ct_next_job }

// StartGetNext calls get_next on a new pthread.
func StartGetNext(s unsafe.Pointer) NextJob { return NextJob{C.ct_start_get_next(stream(s))} }

// Join waits for the get_next call and returns its errno and whether its
// output was a released array (any batch it got is released).
func (j NextJob) Join() (rc int, released bool) {
	var rel C.int
	rc = int(C.ct_join_get_next(j.j, &rel))
	return rc, rel != 0
}

// ArrayReleased reports release == NULL.
func ArrayReleased(a unsafe.Pointer) bool {
	return C.ct_array_released((*C.struct_ArrowArray)(a)) != 0
}

// ArrayLength returns the length field.
func ArrayLength(a unsafe.Pointer) int64 { return int64(C.ct_array_length((*C.struct_ArrowArray)(a))) }

// ArrayChildren returns n_children.
func ArrayChildren(a unsafe.Pointer) int64 {
	return int64(C.ct_array_n_children((*C.struct_ArrowArray)(a)))
}

// ReleaseArray releases (if needed) and frees an array from GetNext.
func ReleaseArray(a unsafe.Pointer) {
	C.ct_release_array((*C.struct_ArrowArray)(a))
	C.free(a)
}

// SchemaReleased reports release == NULL.
func SchemaReleased(s unsafe.Pointer) bool {
	return C.ct_schema_released((*C.struct_ArrowSchema)(s)) != 0
}

// SchemaFields returns the top-level format and the children's names and formats.
func SchemaFields(s unsafe.Pointer) (format string, names, formats []string) {
	sc := (*C.struct_ArrowSchema)(s)
	format = C.GoString(C.ct_schema_format(sc))
	n := int64(C.ct_schema_n_children(sc))
	for i := int64(0); i < n; i++ {
		names = append(names, C.GoString(C.ct_schema_child_name(sc, C.int64_t(i))))
		formats = append(formats, C.GoString(C.ct_schema_child_format(sc, C.int64_t(i))))
	}
	return format, names, formats
}

// ReleaseSchema releases (if needed) and frees a schema from GetSchema.
func ReleaseSchema(s unsafe.Pointer) {
	C.ct_release_schema((*C.struct_ArrowSchema)(s))
	C.free(s)
}

// Live counts the host producer's allocations not yet released.
func Live() int64 { return int64(C.ct_live()) }

// NewProducer returns a host stream (C memory, free with Free once released)
// with batches batches of rows rows (at most 8) of columns id int64 and name
// utf8, corrupted as mode says. ids run 0, 1, 2, ... across batches; the name
// of id i is "r" followed by the letter 'a'+i%26.
func NewProducer(mode, batches int, rows int64) unsafe.Pointer {
	return unsafe.Pointer(C.ct_new_producer(C.int(mode), C.int(batches), C.int64_t(rows)))
}

// NewSchema returns a host schema struct<a: int32, b: list<utf8>> (C memory,
// free with Free once released); nullFormat gives field b a NULL format.
func NewSchema(nullFormat bool) unsafe.Pointer {
	f := 0
	if nullFormat {
		f = 1
	}
	return unsafe.Pointer(C.ct_new_schema(C.int(f)))
}
