package engine

import (
	"os"
	"strconv"
	"strings"
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
	// The bound: freeing more than r.retain keeps no more.
	r.retain = 64 << 20
	var bufs [][]byte
	for i := 0; i < r.retain/(1<<20)+8; i++ {
		bufs = append(bufs, r.Allocate(1<<20))
	}
	for _, x := range bufs {
		r.Free(x)
	}
	if r.retained > r.retain || r.retained < r.retain-(1<<20) {
		t.Fatalf("retained %d, want the bound %d", r.retained, r.retain)
	}
	// Buffers kept unused for recycleIdle go back to the base allocator.
	before := r.retained
	r.trim(time.Now()) // nothing that old yet
	if r.retained != before {
		t.Fatalf("a trim before the idle time returned %d bytes", before-r.retained)
	}
	// Nor after a pause between two scans of an interactive user: kept
	// for a second only, the next scan faulted every buffer in afresh.
	r.trim(time.Now().Add(5 * time.Second))
	if r.retained != before {
		t.Fatalf("a trim 5 s after the frees returned %d bytes", before-r.retained)
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

// TestRecycleRetainBound: the recycler keeps up to an eighth of the
// machine's memory (between 256 MiB and 2 GiB), read here from
// /proc/meminfo, so that a scan result larger than the old fixed 256 MiB,
// freed at once by the host, is found again by the next scan.
func TestRecycleRetainBound(t *testing.T) {
	raw, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatalf("read /proc/meminfo: %v", err)
	}
	var kb int
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "MemTotal:") {
			kb, _ = strconv.Atoi(strings.Fields(line)[1])
		}
	}
	if kb == 0 {
		t.Fatal("MemTotal not found in /proc/meminfo")
	}
	want := min(max(kb<<10/8, 256<<20), 2<<30)
	r := newRecycler(memory.NewGoAllocator())
	// Sysinfo and meminfo round differently: within a MiB.
	if d := r.retain - want; d < -(1<<20) || d > 1<<20 {
		t.Fatalf("retain bound %d, want about %d (MemTotal %d kB)", r.retain, want, kb)
	}
}
