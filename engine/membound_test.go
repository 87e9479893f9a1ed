package engine

import (
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// peakAllocator records the high-water mark of bytes outstanding.
type peakAllocator struct {
	memory.Allocator
	mu        sync.Mutex
	cur, peak int64
}

func newPeakAllocator() *peakAllocator {
	return &peakAllocator{Allocator: memory.NewGoAllocator()}
}

func (p *peakAllocator) track(delta int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cur += delta
	if p.cur > p.peak {
		p.peak = p.cur
	}
}

func (p *peakAllocator) Allocate(n int) []byte {
	b := p.Allocator.Allocate(n)
	p.track(int64(n))
	return b
}

func (p *peakAllocator) Reallocate(n int, b []byte) []byte {
	old := len(b)
	nb := p.Allocator.Reallocate(n, b)
	p.track(int64(n - old))
	return nb
}

func (p *peakAllocator) Free(b []byte) {
	p.track(-int64(len(b)))
	p.Allocator.Free(b)
}

func (p *peakAllocator) resetPeak() {
	p.mu.Lock()
	p.peak = p.cur
	p.mu.Unlock()
}

// openPeak opens a store in a temporary directory whose Arrow memory the
// returned allocator measures.
func openPeak(t *testing.T) (*DB, *peakAllocator) {
	t.Helper()
	pa := newPeakAllocator()
	opts := DefaultOptions()
	opts.Allocator = pa
	db, err := Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return db, pa
}

// TestScanMemoryIsBounded scans tables ten times apart in size and checks
// that the peak of Arrow memory during the scan does not grow with them:
// streams hold a few batches per input, never the table.
func TestScanMemoryIsBounded(t *testing.T) {
	peaks := map[int]int64{}
	for _, rows := range []int{20_000, 200_000} {
		db, pa := openPeak(t)
		db.CreateTable("m", "", benchSchema, map[string]string{"primary_key": "id", "row_group_rows": "8192"})
		// Two overlapping flushed halves plus hot rows: concat and merge paths.
		for _, part := range [][2]int{{0, rows / 2}, {rows / 4, rows / 2}} {
			rec := benchBatch(pa, part[0], part[1])
			db.AppendRecord("m", rec)
			rec.Release()
			db.Flush("m")
		}
		rec := benchBatch(pa, rows-1000, 1000)
		db.AppendRecord("m", rec)
		rec.Release()
		pa.resetPeak()
		base := pa.cur
		s, err := db.Scan("m", ScanRequest{Limit: -1, BatchRows: 1024})
		if err != nil {
			t.Fatal(err)
		}
		n := int64(0)
		for {
			r, err := s.Next()
			if err != nil {
				t.Fatal(err)
			}
			if r == nil {
				break
			}
			n += r.NumRows()
			r.Release()
		}
		s.Close()
		// Segments [0, rows/2) and [rows/4, 3rows/4) overlap; the hot tail adds 1000.
		if want := int64(rows*3/4 + 1000); n != want {
			t.Fatalf("%d rows: scanned %d, want %d", rows, n, want)
		}
		peaks[rows] = pa.peak - base
		db.Close()
		t.Logf("%d rows: scanned %d, peak %d bytes during the scan", rows, n, peaks[rows])
	}
	if peaks[200_000] > 2*peaks[20_000]+(1<<20) {
		t.Fatalf("scan memory grows with the table: peak %d bytes at 20k rows, %d at 200k", peaks[20_000], peaks[200_000])
	}
}

// TestFlushMemoryIsBounded flushes a table of many batches and checks
// that the peak of Arrow memory during the flush stays a small multiple of
// one batch, far below the table: the reader hands the writer batches of
// flushBatchRows rows through a queue of flushQueue (so at most
// flushQueue+2 batches live at once), and the writer holds one row group.
// The bound leaves room for arrow-go's pooled page buffers, whose number
// depends on the garbage collector's timing.
func TestFlushMemoryIsBounded(t *testing.T) {
	const batches = 32
	db, pa := openPeak(t)
	defer db.Close()
	if _, err := db.CreateTable("m", "", benchSchema, map[string]string{"primary_key": "id"}); err != nil {
		t.Fatal(err)
	}
	var batchBytes int64 // Arrow bytes of one batch of user columns
	for s := 0; s < batches*flushBatchRows; s += flushBatchRows {
		rec := benchBatch(pa, s, flushBatchRows)
		if batchBytes == 0 {
			for _, c := range rec.Columns() {
				for _, b := range c.Data().Buffers() {
					if b != nil {
						batchBytes += int64(b.Len())
					}
				}
			}
		}
		_, err := db.AppendRecord("m", rec)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	pa.resetPeak()
	base := pa.cur
	if _, err := db.Flush("m"); err != nil {
		t.Fatal(err)
	}
	peak := pa.peak - base
	m, err := db.Manifest("m")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Segments) != 1 || m.Segments[0].RowCount != batches*flushBatchRows {
		t.Fatalf("manifest %+v, want one segment of %d rows", m.Segments, batches*flushBatchRows)
	}
	t.Logf("%d rows: peak %d bytes during the flush (%.1f batches of %d bytes)", batches*flushBatchRows, peak,
		float64(peak)/float64(batchBytes), batchBytes)
	if limit := 16 * batchBytes; peak > limit {
		t.Fatalf("flush memory: peak %d bytes, more than %d (16 batches; the table is %d)", peak, limit, batches*batchBytes)
	}
}

// TestCompactionMemoryDoesNotGrowWithSegments compacts 8 and then 32
// segments of the same size with disjoint keys: the merge opens each input
// as its keys come up, so the Arrow memory it holds at its peak stays that
// of a few inputs, not of every input's first batch.
func TestCompactionMemoryDoesNotGrowWithSegments(t *testing.T) {
	peaks := map[int]int64{}
	for _, segs := range []int{8, 32} {
		db, pa := openPeak(t)
		db.CreateTable("m", "", benchSchema, map[string]string{"primary_key": "id", "row_group_rows": "4096"})
		const per = 8192
		for s := 0; s < segs; s++ {
			rec := benchBatch(pa, s*per, per)
			db.AppendRecord("m", rec)
			rec.Release()
			if _, err := db.Flush("m"); err != nil {
				t.Fatal(err)
			}
		}
		pa.resetPeak()
		base := pa.cur
		rep, err := db.Compact("m", CompactOptions{TargetRows: 1 << 30})
		if err != nil {
			t.Fatal(err)
		}
		if rep.RowsWritten != uint64(segs*per) || len(rep.InputSegments) != segs {
			t.Fatalf("compaction of %d segments read %d and wrote %d rows", segs, len(rep.InputSegments), rep.RowsWritten)
		}
		peaks[segs] = pa.peak - base
		db.Close()
		t.Logf("%d segments: peak %d bytes during the compaction", segs, peaks[segs])
	}
	if peaks[32] > peaks[8]*3/2 {
		t.Fatalf("compaction memory grows with the segments: peak %d bytes for 8, %d for 32", peaks[8], peaks[32])
	}
}
