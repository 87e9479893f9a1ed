package engine

/*
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
static void kx_heap_trim(void) { malloc_trim(0); }
#else
static void kx_heap_trim(void) {}
#endif
*/
import "C"

import (
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/memory/mallocator"
)

// heapTrimAfter is how many bytes freed to the C heap make the recycler's
// next trim ask glibc to give free memory back to the system.
//
// glibc serves a freed block of the size of a scan's column buffers (64 KiB
// to 32 MiB) by mmap only until the first such block is freed: it then
// raises its mmap threshold to that size, and later blocks come from its
// arenas, whose free pages it keeps unless they end an arena. A host that
// read a 40 M-row table into memory and dropped it kept about 1 GB
// resident, with 2-40 MiB of it in use (found by a check of a long-running
// host, 2026-12-05). malloc_trim(0) returns the free pages of every arena.
const heapTrimAfter = 16 << 20

// trimsCHeap reports whether buffers freed to base go to the C heap.
func trimsCHeap(base memory.Allocator) bool {
	_, ok := base.(*mallocator.Mallocator)
	return ok
}

// trimCHeap returns the C heap's free pages to the system.
func trimCHeap() { C.kx_heap_trim() }
