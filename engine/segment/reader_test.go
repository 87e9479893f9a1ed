package segment

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/compress"
)

func openBytes(t testing.TB, data []byte) *File {
	t.Helper()
	f, err := Open(bytes.NewReader(data), int64(len(data)), "test.parquet")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// narrowColumns are the columns of f, written as v says, the reader takes
// (a file of V1 pages leaves its fixed_size_list columns to pqarrow).
func narrowColumns(f *File, v writeVariant) []int {
	var out []int
	for c := 0; c < f.NumColumns(); c++ {
		if _, fsl := f.Column(c).Type.(*arrow.FixedSizeListType); fsl && !v.v2 {
			continue
		}
		out = append(out, c)
	}
	return out
}

// ownAllocator remembers its live allocations so that a test can ask
// whether a buffer came from it.
type ownAllocator struct {
	*memory.CheckedAllocator
	mu   sync.Mutex
	live map[uintptr]int
}

func newOwnAllocator() *ownAllocator {
	return &ownAllocator{CheckedAllocator: memory.NewCheckedAllocator(memory.NewGoAllocator()), live: map[uintptr]int{}}
}

func ptr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

func (a *ownAllocator) Allocate(n int) []byte {
	b := a.CheckedAllocator.Allocate(n)
	a.mu.Lock()
	a.live[ptr(b)] = cap(b)
	a.mu.Unlock()
	return b
}

func (a *ownAllocator) Reallocate(n int, b []byte) []byte {
	a.mu.Lock()
	delete(a.live, ptr(b))
	a.mu.Unlock()
	nb := a.CheckedAllocator.Reallocate(n, b)
	a.mu.Lock()
	a.live[ptr(nb)] = cap(nb)
	a.mu.Unlock()
	return nb
}

func (a *ownAllocator) Free(b []byte) {
	a.mu.Lock()
	delete(a.live, ptr(b))
	a.mu.Unlock()
	a.CheckedAllocator.Free(b)
}

func (a *ownAllocator) owns(b []byte) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := ptr(b)
	for base, n := range a.live {
		if p >= base && p < base+uintptr(n) {
			return true
		}
	}
	return false
}

// TestBuffersComeFromTheAllocator: every buffer of every decoded array
// lives in the caller's allocator, is 64-byte aligned, and is freed on
// release; a validity bitmap exists only when there are nulls.
func TestBuffersComeFromTheAllocator(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	rec := randomTable(rng, memory.DefaultAllocator, 500)
	defer rec.Release()
	for _, v := range []writeVariant{
		{codec: compress.Codecs.Zstd, dict: true, rgRows: 128},
		{codec: compress.Codecs.Snappy, dict: false, v2: true, rgRows: 1000, pageSize: 1024},
	} {
		f := openBytes(t, writeSegment(t, rec, v))
		mem := newOwnAllocator()
		for rg := 0; rg < f.NumRowGroups(); rg++ {
			batch, err := f.ReadRowGroup(context.Background(), rg, narrowColumns(f, v), mem)
			if err != nil {
				t.Fatal(err)
			}
			for c, col := range batch.Columns() {
				d := col.Data()
				if d.NullN() == 0 && d.Buffers()[0] != nil {
					t.Fatalf("%s: column %s has no nulls but a validity bitmap", v, f.Column(c).Name)
				}
				for i, b := range d.Buffers() {
					if b == nil || b.Len() == 0 {
						continue
					}
					if !mem.owns(b.Bytes()) {
						t.Fatalf("%s: column %s buffer %d not from the allocator", v, f.Column(c).Name, i)
					}
					if ptr(b.Bytes())%64 != 0 {
						t.Fatalf("%s: column %s buffer %d not 64-byte aligned", v, f.Column(c).Name, i)
					}
				}
			}
			batch.Release()
		}
		mem.AssertSize(t, 0)
	}
}

// TestRowRanges: reading any row range equals slicing the whole read, with
// and without a page index, on files with many small pages.
func TestRowRanges(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	rec := randomTable(rng, memory.DefaultAllocator, 3000)
	defer rec.Release()
	for _, idx := range []bool{false, true} {
		v := writeVariant{codec: compress.Codecs.Zstd, dict: true, v2: idx, rgRows: 2000, pageSize: 256, pageIndex: idx}
		f := openBytes(t, writeSegment(t, rec, v))
		if got := f.HasPageIndex(0, 0); got != idx {
			t.Fatalf("HasPageIndex = %v, wrote %v", got, idx)
		}
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		checkPageIndex(t, f, idx, mem)
		for c := 0; c < f.NumColumns(); c++ {
			_, fsl := f.Column(c).Type.(*arrow.FixedSizeListType)
			if c%3 != 0 && !fsl || fsl && !v.v2 {
				continue // every third flat column, every fixed_size_list the reader takes
			}
			whole, err := f.ReadColumn(context.Background(), 1, c, mem)
			if err != nil {
				t.Fatal(err)
			}
			for k := 0; k < 20; k++ {
				first := rng.Int63n(int64(whole.Len()))
				n := rng.Int63n(int64(whole.Len())-first) + 1
				part, err := f.ReadColumnRows(context.Background(), 1, c, first, n, mem)
				if err != nil {
					t.Fatal(err)
				}
				exp := array.NewSlice(whole, first, first+n)
				if !array.Equal(part, exp) {
					t.Fatalf("idx=%v column %s rows [%d,%d) differ", idx, f.Column(c).Name, first, first+n)
				}
				exp.Release()
				part.Release()
			}
			whole.Release()
		}
		mem.AssertSize(t, 0)
	}
}

// checkPageIndex: the page index tiles each row group and its bounds hold
// the values of the int64 column's pages.
func checkPageIndex(t *testing.T, f *File, want bool, mem memory.Allocator) {
	t.Helper()
	c := f.ColumnIndex("i64_req")
	for rg := 0; rg < f.NumRowGroups(); rg++ {
		pages, ok, err := f.PageIndex(rg, c)
		if err != nil || ok != want {
			t.Fatalf("PageIndex: %v %v, want %v", ok, err, want)
		}
		if !ok {
			continue
		}
		if len(pages) < 2 && f.RowGroupNumRows(rg) > 1000 {
			t.Fatalf("row group %d: %d pages; small pages were asked for", rg, len(pages))
		}
		var next int64
		for _, p := range pages {
			if p.FirstRow != next || !p.HasMinMax {
				t.Fatalf("page %+v, expected first row %d with bounds", p, next)
			}
			next += p.NumRows
			a, err := f.ReadColumnRows(context.Background(), rg, c, p.FirstRow, p.NumRows, mem)
			if err != nil {
				t.Fatal(err)
			}
			lo, _ := f.Column(c).StatValue(p.Min)
			hi, _ := f.Column(c).StatValue(p.Max)
			for _, v := range a.(*array.Int64).Int64Values() {
				if v < lo.(int64) || v > hi.(int64) {
					t.Fatalf("value %d outside the page bounds [%d, %d]", v, lo, hi)
				}
			}
			a.Release()
		}
		if next != f.RowGroupNumRows(rg) {
			t.Fatalf("pages cover %d of %d rows", next, f.RowGroupNumRows(rg))
		}
	}
}

// TestReadTasks: batches arrive in task order and equal serial reads, with
// any number of workers and window; an error and a cancellation stop it
// and free everything.
func TestReadTasks(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	rec := randomTable(rng, memory.DefaultAllocator, 2000)
	defer rec.Release()
	variant := writeVariant{codec: compress.Codecs.Lz4Raw, dict: true, rgRows: 150}
	data := writeSegment(t, rec, variant)
	f := openBytes(t, data)
	var tasks []Task
	for rg := 0; rg < f.NumRowGroups(); rg++ {
		tasks = append(tasks, Task{RowGroup: rg, Columns: []int{0, 11, 5, 20}})
	}
	tasks = append(tasks, Task{RowGroup: 2, FirstRow: 10, NumRows: 30, Columns: narrowColumns(f, variant)})
	for _, o := range []ReadOptions{{Workers: 1, Window: 1}, {Workers: 2, Window: 1}, {Workers: 4, Window: 3}, {}} {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		r := f.ReadTasks(context.Background(), tasks, mem, o)
		for i, task := range tasks {
			got, err := r.Next()
			if err != nil || got == nil {
				t.Fatalf("%+v task %d: %v %v", o, i, got, err)
			}
			want, err := f.readTask(context.Background(), task, mem)
			if err != nil {
				t.Fatal(err)
			}
			if !array.RecordEqual(got, want) {
				t.Fatalf("%+v task %d differs", o, i)
			}
			got.Release()
			want.Release()
		}
		if got, err := r.Next(); got != nil || err != nil {
			t.Fatalf("after the end: %v %v", got, err)
		}
		r.Close()
		mem.AssertSize(t, 0)
	}
	// Cancellation mid-way releases what was decoded ahead.
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	ctx, cancel := context.WithCancel(context.Background())
	r := f.ReadTasks(ctx, tasks, mem, ReadOptions{Workers: 2, Window: 4})
	b, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	b.Release()
	cancel()
	for {
		b, err := r.Next()
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("after cancel: %v", err)
			}
			break
		}
		if b == nil {
			t.Fatal("stream ended without reporting the cancellation")
		}
		b.Release()
	}
	r.Close()
	mem.AssertSize(t, 0)
	// A corrupt chunk surfaces as ErrCorrupt at its task.
	bad := bytes.Clone(data)
	cc := f.chunk(3, 11)
	start, _ := cc.byteRange()
	for i := start; i < start+8; i++ {
		bad[i] ^= 0x5a
	}
	fb := openBytes(t, bad)
	r = fb.ReadTasks(context.Background(), tasks, mem, ReadOptions{Workers: 2, Window: 2})
	var got error
	for {
		b, err := r.Next()
		if err != nil {
			got = err
			break
		}
		if b == nil {
			break
		}
		b.Release()
	}
	r.Close()
	if !errors.Is(got, ErrCorrupt) {
		t.Fatalf("corrupt chunk: got %v, want ErrCorrupt", got)
	}
	mem.AssertSize(t, 0)
}

// TestMetadata: schema, row counts, statistics and field ids.
func TestMetadata(t *testing.T) {
	mem := memory.DefaultAllocator
	md := func(id string) arrow.Metadata { return arrow.NewMetadata([]string{"PARQUET:field_id"}, []string{id}) }
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Metadata: md("7")},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true, Metadata: md("9")},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, sch)
	defer b.Release()
	for i := 0; i < 10; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(100 - i))
		if i == 3 {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.StringBuilder).Append(string(rune('a' + i)))
		}
		b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(i * 1000))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	f := openBytes(t, writeSegment(t, rec, writeVariant{codec: compress.Codecs.Zstd, rgRows: 6}))
	if f.NumRows() != 10 || f.NumRowGroups() != 2 || f.RowGroupNumRows(0) != 6 || f.RowGroupNumRows(1) != 4 {
		t.Fatalf("rows %d groups %d", f.NumRows(), f.NumRowGroups())
	}
	if !f.HasStoredSchema() || !arrow.TypeEqual(f.Schema().Field(2).Type, sch.Field(2).Type) {
		t.Fatalf("schema %s", f.Schema())
	}
	if c := f.ColumnByFieldID(9); c != 1 || f.Column(1).Name != "name" {
		t.Fatalf("field id 9 -> %d", c)
	}
	if f.Column(2).HasFieldID || f.ColumnByFieldID(8) != -1 {
		t.Fatalf("field ids: %+v", f.Column(2))
	}
	st, ok := f.Statistics(0, 0)
	if !ok || !st.HasMinMax {
		t.Fatal("no statistics")
	}
	lo, _ := f.Column(0).StatValue(st.Min)
	hi, _ := f.Column(0).StatValue(st.Max)
	if lo != int64(95) || hi != int64(100) || st.NullCount != 0 {
		t.Fatalf("id stats %v..%v nulls %d", lo, hi, st.NullCount)
	}
	st, _ = f.Statistics(0, 1)
	lo, _ = f.Column(1).StatValue(st.Min)
	hi, _ = f.Column(1).StatValue(st.Max)
	if lo != "a" || hi != "f" || st.NullCount != 1 {
		t.Fatalf("name stats %v..%v nulls %d", lo, hi, st.NullCount)
	}
	if ok, why := f.Supported(2); !ok {
		t.Fatal(why)
	}
	ci := f.Chunk(0, 0)
	if ci.Codec != "ZSTD" || ci.NumValues != 6 {
		t.Fatalf("chunk %+v", ci)
	}
}

// gatedReader blocks ReadAt calls, once armed, until open is closed.
type gatedReader struct {
	r     io.ReaderAt
	armed atomic.Bool
	open  chan struct{}
}

func (g *gatedReader) ReadAt(p []byte, off int64) (int, error) {
	if g.armed.Load() {
		<-g.open
	}
	return g.r.ReadAt(p, off)
}

// signalReader closes read at its first ReadAt once armed.
type signalReader struct {
	r     io.ReaderAt
	armed atomic.Bool
	once  sync.Once
	read  chan struct{}
}

func (s *signalReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := s.r.ReadAt(p, off)
	if s.armed.Load() {
		s.once.Do(func() { close(s.read) })
	}
	return n, err
}

// TestReadTasksErrorAtItsTask: a task that fails while an earlier one is
// still being decoded neither fails nor cancels the earlier one: batches
// arrive intact up to the failing task, whose error comes at its turn.
func TestReadTasksErrorAtItsTask(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	rec := randomTable(rng, memory.DefaultAllocator, 500)
	defer rec.Release()
	data := writeSegment(t, rec, writeVariant{codec: compress.Codecs.Zstd, rgRows: 500})
	slow := &gatedReader{r: bytes.NewReader(data), open: make(chan struct{})}
	fa, err := Open(slow, int64(len(data)), "slow.parquet")
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(data)
	cc := fa.chunk(0, 0)
	start, _ := cc.byteRange()
	for i := start; i < start+8; i++ {
		bad[i] ^= 0x5a
	}
	sig := &signalReader{r: bytes.NewReader(bad), read: make(chan struct{})}
	fb, err := Open(sig, int64(len(bad)), "bad.parquet")
	if err != nil {
		t.Fatal(err)
	}
	slow.armed.Store(true)
	sig.armed.Store(true)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	tasks := []Task{{File: fa, RowGroup: 0, Columns: []int{0}}, {File: fb, RowGroup: 0, Columns: []int{0}}}
	r := ReadTasks(context.Background(), tasks, mem, ReadOptions{Workers: 2, Window: 2})
	// Task 1 fails while task 0 waits for its bytes; then task 0 proceeds.
	<-sig.read
	time.Sleep(50 * time.Millisecond) // lets the failure land first (ordering only, nothing is timed)
	close(slow.open)
	b, err := r.Next()
	if err != nil || b == nil {
		t.Fatalf("task 0: %v, want its batch (the failure is task 1's)", err)
	}
	b.Release()
	if _, err := r.Next(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("task 1: %v, want ErrCorrupt", err)
	}
	r.Close()
	mem.AssertSize(t, 0)
}
