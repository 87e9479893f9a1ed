package engine

import (
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestRecycler: large buffers are handed out again (zeroed), small and
// huge ones are not kept, reallocation keeps contents and zeroes what it
// exposes, the retained bytes are bounded, and close returns everything.
func TestRecycler(t *testing.T) {
	base := memory.NewCheckedAllocator(memory.NewGoAllocator())
	r := newRecycler(base)
	b := r.Allocate(100 << 10)
	if len(b) != 100<<10 || cap(b) != len(b) {
		t.Fatalf("len %d cap %d", len(b), cap(b))
	}
	for i := range b {
		b[i] = 0xff
	}
	p := unsafe.SliceData(b)
	r.Free(b)
	c := r.Allocate(110 << 10) // same class (112 KiB)
	if unsafe.SliceData(c) != p {
		t.Fatal("a freed buffer of the class was not reused")
	}
	for i, v := range c {
		if v != 0 {
			t.Fatalf("byte %d of a reused buffer is %d", i, v)
		}
	}
	for i := range c {
		c[i] = 7
	}
	c = r.Reallocate(112<<10, c) // grows within the class: in place
	if len(c) != 112<<10 || unsafe.SliceData(c) != p || c[0] != 7 || c[110<<10] != 0 {
		t.Fatalf("reallocate in place: len %d, first %d, exposed %d", len(c), c[0], c[110<<10])
	}
	c = r.Reallocate(300<<10, c) // beyond: moved, contents kept
	if len(c) != 300<<10 || c[0] != 7 || c[112<<10] != 0 {
		t.Fatal("reallocate moved: contents")
	}
	small := r.Allocate(100)
	r.Free(small)
	if r.retained != 112<<10 {
		t.Fatalf("retained %d, want only the freed 112 KiB buffer", r.retained)
	}
	// The bound: freeing more than recycleRetain keeps no more.
	var bufs [][]byte
	for i := 0; i < recycleRetain/(1<<20)+8; i++ {
		bufs = append(bufs, r.Allocate(1<<20))
	}
	for _, x := range bufs {
		r.Free(x)
	}
	if r.retained > recycleRetain {
		t.Fatalf("retained %d above %d", r.retained, recycleRetain)
	}
	// Buffers kept unused for recycleIdle go back to the base allocator.
	before := r.retained
	r.trim(time.Now()) // nothing that old yet
	if r.retained != before {
		t.Fatalf("a trim before the idle time returned %d bytes", before-r.retained)
	}
	r.trim(time.Now().Add(recycleIdle))
	if r.retained != 0 || len(r.free) != 0 {
		t.Fatalf("after the idle time %d bytes are still kept", r.retained)
	}
	// Concurrent use.
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				x := r.Allocate(64<<10 + i*1000)
				x[0] = 1
				r.Free(x)
			}
		}()
	}
	wg.Wait()
	r.Free(c)
	r.close()
	base.AssertSize(t, 0)
	// After close nothing is kept.
	d := r.Allocate(1 << 20)
	r.Free(d)
	base.AssertSize(t, 0)
}
