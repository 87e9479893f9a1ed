package ctest

/*
#include <stdlib.h>
#include <string.h>
#include "fuzzhost.h"
*/
import "C"

import (
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/cdata"
)

// Buffer placements in a guarded mapping (see fuzzhost.h).
const (
	PlaceEndAligned = int(C.CT_FZ_END_ALIGNED) // ends at the trailing guard, 8-byte aligned
	PlaceStart      = int(C.CT_FZ_START)       // starts at the leading guard
	PlaceEndExact   = int(C.CT_FZ_END_EXACT)   // last byte touches the trailing guard
)

// HostBuffer is one buffer of a HostArray: NULL, or exactly len(Data) bytes
// of guarded memory holding Data.
type HostBuffer struct {
	Null      bool
	Data      []byte
	Placement int
}

// HostArray describes a struct ArrowArray as a (possibly lying or broken)
// host would fill it. n_buffers is len(Buffers) and n_children
// len(Children); NilBuffers/NilChildren hand NULL for the pointer arrays
// instead; a nil Children entry is a NULL child pointer; Released hands the
// struct with release == NULL.
type HostArray struct {
	Length, NullCount, Offset int64
	Buffers                   []HostBuffer
	NilBuffers                bool
	Children                  []*HostArray
	NilChildren               bool
	Dictionary                *HostArray
	Released                  bool
}

// FuzzHost is a host stream over HostArray batches. Its memory stays mapped
// until Free, and it counts what the consumer does with it.
type FuzzHost struct{ h *C.struct_ct_fz_host }

// NewFuzzHost exports schema (with cdata, so it is a well-formed host
// schema) and builds every batch in guarded C memory.
func NewFuzzHost(schema *arrow.Schema, batches []*HostArray) *FuzzHost {
	h := C.ct_fz_new(C.int64_t(len(batches)))
	cdata.ExportArrowSchema(schema, (*cdata.CArrowSchema)(unsafe.Pointer(C.ct_fz_schema(h))))
	for i, b := range batches {
		C.ct_fz_set_batch(h, C.int64_t(i), build(h, b))
	}
	return &FuzzHost{h}
}

func build(h *C.struct_ct_fz_host, a *HostArray) *C.struct_ArrowArray {
	if a == nil {
		return nil
	}
	c := C.ct_fz_node(h, C.int64_t(a.Length), C.int64_t(a.NullCount), C.int64_t(a.Offset),
		C.int64_t(len(a.Buffers)), cbool(a.NilBuffers), C.int64_t(len(a.Children)), cbool(a.NilChildren), cbool(a.Released))
	for i, b := range a.Buffers {
		if b.Null {
			continue
		}
		p := C.ct_fz_alloc(h, C.size_t(len(b.Data)), C.int(b.Placement))
		if len(b.Data) > 0 {
			C.memcpy(p, unsafe.Pointer(&b.Data[0]), C.size_t(len(b.Data)))
		}
		C.ct_fz_set_buffer(c, C.int64_t(i), p)
	}
	for i, ch := range a.Children {
		C.ct_fz_set_child(c, C.int64_t(i), build(h, ch))
	}
	if a.Dictionary != nil {
		C.ct_fz_set_dictionary(c, build(h, a.Dictionary))
	}
	return c
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// Stream is the host's struct ArrowArrayStream, to hand to the importer.
func (f *FuzzHost) Stream() unsafe.Pointer { return unsafe.Pointer(C.ct_fz_stream(f.h)) }

// Delivered is how many batches get_next has handed out.
func (f *FuzzHost) Delivered() int { return int(C.ct_fz_delivered(f.h)) }

// Released is how many times batch i's release callback ran.
func (f *FuzzHost) Released(i int) int { return int(C.ct_fz_released(f.h, C.int64_t(i))) }

// StreamReleases is how many times the stream's release callback ran.
func (f *FuzzHost) StreamReleases() int { return int(C.ct_fz_stream_releases(f.h)) }

// SchemaCalls is how many times get_schema ran.
func (f *FuzzHost) SchemaCalls() int { return int(C.ct_fz_schema_calls(f.h)) }

// Free unmaps all host memory.
func (f *FuzzHost) Free() { C.ct_fz_free(f.h) }
