package engine

import (
	"sync"
	"testing"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// trackingAllocator remembers the live allocations it made, so a test can
// ask whether a buffer came from it.
type trackingAllocator struct {
	memory.Allocator
	mu   sync.Mutex
	live map[uintptr]int
}

func newTrackingAllocator() *trackingAllocator {
	return &trackingAllocator{Allocator: memory.NewGoAllocator(), live: map[uintptr]int{}}
}

func addr(b []byte) uintptr {
	if cap(b) == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))
}

func (a *trackingAllocator) Allocate(n int) []byte {
	b := a.Allocator.Allocate(n)
	a.mu.Lock()
	a.live[addr(b)] = cap(b)
	a.mu.Unlock()
	return b
}

func (a *trackingAllocator) Reallocate(n int, b []byte) []byte {
	a.mu.Lock()
	delete(a.live, addr(b))
	a.mu.Unlock()
	nb := a.Allocator.Reallocate(n, b)
	a.mu.Lock()
	a.live[addr(nb)] = cap(nb)
	a.mu.Unlock()
	return nb
}

func (a *trackingAllocator) Free(b []byte) {
	a.mu.Lock()
	delete(a.live, addr(b))
	a.mu.Unlock()
	a.Allocator.Free(b)
}

// owns reports whether p lies inside a live allocation.
func (a *trackingAllocator) owns(p uintptr) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for base, n := range a.live {
		if p >= base && p < base+uintptr(n) {
			return true
		}
	}
	return false
}

func checkBuffers(t *testing.T, a *trackingAllocator, d arrow.ArrayData, where string) {
	t.Helper()
	for i, b := range d.Buffers() {
		if b == nil || b.Len() == 0 {
			continue
		}
		if p := addr(b.Bytes()); !a.owns(p) {
			t.Fatalf("%s: buffer %d of a %s column was not allocated by the store's allocator", where, i, d.DataType())
		}
	}
	for _, c := range d.Children() {
		checkBuffers(t, a, c, where)
	}
}

// TestStreamBuffersComeFromTheStoreAllocator: everything a stream hands out
// must live in the store's allocator (mallocator in the C library), whether
// the batch was copied or passed through as an owned record — segments,
// hot rows, merges, filters, every column type.
func TestStreamBuffersComeFromTheStoreAllocator(t *testing.T) {
	dir := t.TempDir()
	a := newTrackingAllocator()
	opts := DefaultOptions()
	opts.Allocator = a
	db, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.CreateTable("o", "", allTypesSchema, map[string]string{"primary_key": "id", "row_group_rows": "7"})
	rec := allTypesBatch(t, memory.DefaultAllocator, 40)
	db.AppendRecord("o", rec)
	rec.Release()
	db.Flush("o") // isolated segment
	rec = allTypesBatch(t, memory.DefaultAllocator, 20)
	db.AppendRecord("o", rec) // hot rows overlapping it: merged
	rec.Release()
	for _, req := range []ScanRequest{
		{Limit: -1},
		{Limit: -1, BatchRows: 3},
		{Limit: -1, Filter: "id >= 25"},
		{Limit: -1, Filter: "i32 > 2000", BatchRows: 5},
		{Limit: 7},
	} {
		s, err := db.Scan("o", req)
		if err != nil {
			t.Fatal(err)
		}
		for {
			r, err := s.Next()
			if err != nil {
				t.Fatal(err)
			}
			if r == nil {
				break
			}
			for c, col := range r.Columns() {
				checkBuffers(t, a, col.Data(), req.Filter+"/"+r.Schema().Field(c).Name)
			}
			r.Release()
		}
		s.Close()
	}
}
