package engine

import (
	"math/bits"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// recycler keeps large buffers of the store's allocator for reuse instead
// of handing them back to it at once. A scan allocates about its data's
// size in column buffers of 0.1-2 MiB (one per column per row group); from
// mallocator each is a fresh calloc, which glibc serves for such sizes with
// a new mmap whose pages are then faulted in and zeroed by the kernel, and
// unmapped again at the free: measured on a 10M-row scan drained batch by
// batch, a third of the scan's CPU time (system time 1.5 s of 4.5 s). A
// buffer released by the host (any thread: release callbacks of exported
// arrays) is kept, up to retain bytes in all (recycleRetainBound), and handed out again
// cleared; a buffer kept unused for recycleIdle goes back (a host that
// keeps a whole scan's result, like pyarrow's to_table, frees it all at
// once: the next scan finds it, an idle store does not hold it). Small and
// huge buffers go straight to the base allocator, and every buffer goes
// back to it when the store closes, so checked allocators in tests still
// see every byte returned.
type recycler struct {
	base   memory.Allocator
	idle   time.Duration // recycleIdle; tests that must not race the trim make it long
	retain int           // recycleRetainBound(); tests make it small

	mu       sync.Mutex
	free     map[int][]kept         // by class size, oldest first
	live     map[unsafe.Pointer]int // buffers handed out: data pointer → class size
	retained int                    // bytes kept in free
	closed   bool
	timer    *time.Timer // the next trim, while anything is kept
}

// kept is a freed buffer (full class length) and when it was freed.
type kept struct {
	b  []byte
	at time.Time
}

const (
	recycleMin = 64 << 10
	recycleMax = 32 << 20
	// recycleIdle: after a second, a scan run a few seconds after the
	// last (an analyst looking at a result) faulted all its buffers in
	// afresh: a 10 M-row, 5-column to_table() took 332-477 ms after 4 s
	// idle against 228-250 ms back to back (docs/DESIGN-NOTES.md
	// "Buffers kept for ten seconds"). jemalloc's default decay is ten
	// seconds too.
	recycleIdle = 10 * time.Second
)

// recycleRetainBound is how many freed bytes a recycler keeps: an eighth
// of the machine's memory, between 256 MiB and 2 GiB. A host that keeps a
// whole scan's result frees it all at once, and the next scan must find
// all of it to fault in no fresh pages: with 256 MiB a 2 M-row, 41-column
// table (0.66 GB of buffers) spent 0.25–0.31 s of system time per
// `to_table()` (pyarrow.parquet.read_table of the same files 0.08–0.13 s,
// its memory pool keeps what it freed), with 2 GiB 0.09 s and the same
// CPU as pyarrow (docs/DESIGN-NOTES.md "Retained buffers"). What is kept
// goes back after recycleIdle unused either way.
func recycleRetainBound() int {
	const lo, hi = 256 << 20, 2 << 30
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return lo
	}
	total := uint64(si.Totalram) * uint64(si.Unit)
	return int(min(max(total/8, lo), hi))
}

// BufferPool is a recycler that outlives the stores using it. A host that
// opens stores one after another — a worker running scan splits, each
// through a storage-only reader of its own — passes one pool in
// Options.Buffers, so that each store starts with the buffers the earlier
// ones released instead of faulting in fresh pages; a store never closes
// a pool it was given. What the pool keeps goes back to its base
// allocator after recycleIdle unused, so an idle process holds nothing.
// Safe for concurrent use.
type BufferPool struct{ r *recycler }

// NewBufferPool is a pool over base (the allocator every buffer comes
// from and returns to).
func NewBufferPool(base memory.Allocator) *BufferPool { return &BufferPool{r: newRecycler(base)} }

func newRecycler(base memory.Allocator) *recycler {
	return &recycler{base: base, idle: recycleIdle, retain: recycleRetainBound(), free: map[int][]kept{}, live: map[unsafe.Pointer]int{}}
}

// recycleClass rounds n up to a size class: quarter steps between powers
// of two, so at most a quarter of a buffer is slack.
func recycleClass(n int) int {
	p := bits.Len(uint(n - 1)) // 2^(p-1) < n <= 2^p
	step := 1 << (p - 3)
	return (n + step - 1) / step * step
}

func (r *recycler) Allocate(n int) []byte { return r.allocate(n, true) }

// AllocateUncleared is Allocate for a caller that overwrites every byte it
// uses (the segment decoder: segment.UnclearedAllocator): a kept buffer is
// handed out as it was left, saving the clear that costs a scan about 7%
// of its CPU. Padding and bytes past what the caller writes keep old data
// of this process's earlier reads.
func (r *recycler) AllocateUncleared(n int) []byte { return r.allocate(n, false) }

func (r *recycler) allocate(n int, zero bool) []byte {
	if n < recycleMin || n > recycleMax {
		return r.base.Allocate(n)
	}
	c := recycleClass(n)
	r.mu.Lock()
	if l := r.free[c]; len(l) > 0 {
		b := l[len(l)-1].b // the most recently freed: likely still in cache
		r.free[c] = l[:len(l)-1]
		r.retained -= c
		r.live[unsafe.Pointer(unsafe.SliceData(b))] = c
		r.mu.Unlock()
		if zero {
			clear(b[:n]) // the Allocator contract: zeroed, as calloc
		}
		return b[:n:n]
	}
	r.mu.Unlock()
	b := r.base.Allocate(c)
	r.mu.Lock()
	r.live[unsafe.Pointer(unsafe.SliceData(b))] = c
	r.mu.Unlock()
	return b[:n:n]
}

// take removes b from the live set and returns its full buffer and class
// (0 when b is not one of the recycler's).
func (r *recycler) take(b []byte) ([]byte, int) {
	p := unsafe.SliceData(b)
	r.mu.Lock()
	c, ok := r.live[unsafe.Pointer(p)]
	if ok {
		delete(r.live, unsafe.Pointer(p))
	}
	r.mu.Unlock()
	if !ok {
		return nil, 0
	}
	return unsafe.Slice(p, c), c
}

func (r *recycler) Free(b []byte) {
	full, c := r.take(b)
	if c == 0 {
		r.base.Free(b)
		return
	}
	r.mu.Lock()
	if !r.closed && r.retained+c <= r.retain {
		r.free[c] = append(r.free[c], kept{full, time.Now()})
		r.retained += c
		if r.timer == nil {
			r.timer = time.AfterFunc(r.idle, func() { r.trim(time.Now()) })
		}
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	r.base.Free(full)
}

// trim returns the buffers kept since before now-r.idle, and
// schedules the next trim while any remain.
func (r *recycler) trim(now time.Time) {
	var out [][]byte
	r.mu.Lock()
	r.timer = nil
	for c, l := range r.free {
		n := 0
		for n < len(l) && now.Sub(l[n].at) >= r.idle {
			out = append(out, l[n].b)
			n++
		}
		r.retained -= n * c
		if n == len(l) {
			delete(r.free, c)
		} else if n > 0 {
			r.free[c] = append(l[:0], l[n:]...)
		}
	}
	if r.retained > 0 && !r.closed {
		r.timer = time.AfterFunc(r.idle, func() { r.trim(time.Now()) })
	}
	r.mu.Unlock()
	for _, b := range out {
		r.base.Free(b)
	}
}

func (r *recycler) Reallocate(n int, b []byte) []byte {
	r.mu.Lock()
	c, ok := r.live[unsafe.Pointer(unsafe.SliceData(b))]
	r.mu.Unlock()
	if !ok && (n < recycleMin || n > recycleMax) {
		return r.base.Reallocate(n, b)
	}
	if ok && n <= c {
		// Fits the class: bytes past the old length may hold an earlier
		// user's data, and the contract says they are zero.
		full := unsafe.Slice(unsafe.SliceData(b), c)
		if n > len(b) {
			clear(full[len(b):n])
		}
		return full[:n:n]
	}
	nb := r.Allocate(n)
	copy(nb, b)
	r.Free(b)
	return nb
}

// close returns the kept buffers to the base allocator; buffers still out
// go back to it when they are freed.
func (r *recycler) close() {
	r.mu.Lock()
	free := r.free
	r.free = map[int][]kept{}
	r.retained = 0
	r.closed = true
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	r.mu.Unlock()
	for _, l := range free {
		for _, k := range l {
			r.base.Free(k.b)
		}
	}
}
