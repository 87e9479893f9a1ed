package engine

import (
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var benchSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	{Name: "category", Type: arrow.BinaryTypes.String},
	{Name: "value", Type: arrow.PrimitiveTypes.Float64},
	{Name: "n", Type: arrow.PrimitiveTypes.Int32},
}, nil)

func benchBatch(mem memory.Allocator, start, n int) arrow.RecordBatch {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = start + i
	}
	return benchBatchOf(mem, ids)
}

// benchBatchOf is benchBatch of the rows with the given ids.
func benchBatchOf(mem memory.Allocator, ids []int) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, benchSchema)
	defer b.Release()
	cats := []string{"alpha", "beta", "gamma", "delta", "epsilon"}
	for _, i := range ids {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(1714521600000000 + int64(i)*1000))
		b.Field(2).(*array.StringBuilder).Append(cats[i%5])
		b.Field(3).(*array.Float64Builder).Append(float64(i) * 0.5)
		b.Field(4).(*array.Int32Builder).Append(int32(i % 1000))
	}
	return b.NewRecordBatch()
}

// BenchmarkScanFlushed measures a full scan of one million flushed rows
// (go test -bench ScanFlushed -run ^$ ./engine/). Performance is reported,
// never asserted.
func BenchmarkScanFlushed(b *testing.B) {
	dir := b.TempDir()
	db, err := Open(dir, DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.CreateTable("b", "", benchSchema, map[string]string{"primary_key": "id"})
	const rows = 1_000_000
	t0 := time.Now()
	for s := 0; s < rows; s += 250_000 {
		rec := benchBatch(memory.DefaultAllocator, s, 250_000)
		if _, err := db.AppendRecord("b", rec); err != nil {
			b.Fatal(err)
		}
		rec.Release()
	}
	ingest := time.Since(t0)
	t0 = time.Now()
	if _, err := db.Flush("b"); err != nil {
		b.Fatal(err)
	}
	fmt.Printf("ingest %.0f rows/s, flush %v\n", rows/ingest.Seconds(), time.Since(t0))
	b.ResetTimer()
	benchScans(b, db, "b", rows)
}

// benchScans runs b.N full scans of table, each checked to return rows
// rows, and reports rows/s.
func benchScans(b *testing.B, db *DB, table string, rows int64) {
	for i := 0; i < b.N; i++ {
		s, err := db.Scan(table, ScanRequest{Limit: -1})
		if err != nil {
			b.Fatal(err)
		}
		n := int64(0)
		for {
			rec, err := s.Next()
			if err != nil {
				b.Fatal(err)
			}
			if rec == nil {
				break
			}
			n += rec.NumRows()
			rec.Release()
		}
		s.Close()
		if n != rows {
			b.Fatalf("%s: %d rows, want %d", table, n, rows)
		}
	}
	b.ReportMetric(float64(rows*int64(b.N))/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkFlush measures a flush of one million hot rows into one segment
// (go test -bench Flush -run ^$ ./engine/): each iteration appends the rows
// (untimed) and flushes them. The rows are those of BenchmarkScanFlushed, so
// the rows/s can be set against pyarrow.parquet.write_table of the segment
// (bench/bench.py, section 2). Performance is reported, never asserted.
func BenchmarkFlush(b *testing.B) {
	dir := b.TempDir()
	db, err := Open(dir, DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.CreateTable("b", "", benchSchema, map[string]string{"primary_key": "id"}); err != nil {
		b.Fatal(err)
	}
	const rows = 1_000_000
	var flushed time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for s := 0; s < rows; s += 250_000 {
			rec := benchBatch(memory.DefaultAllocator, i*rows+s, 250_000)
			if _, err := db.AppendRecord("b", rec); err != nil {
				b.Fatal(err)
			}
			rec.Release()
		}
		b.StartTimer()
		t0 := time.Now()
		id, err := db.Flush("b")
		if err != nil {
			b.Fatal(err)
		}
		if id == "" {
			b.Fatal("flush wrote no segment")
		}
		flushed += time.Since(t0)
	}
	b.ReportMetric(float64(rows*b.N)/flushed.Seconds(), "rows/s")
}

// BenchmarkScanMerged measures full scans of a flushed table of four
// one-million-row segments (go test -bench ScanMerged -run ^$ ./engine/):
// clean; with 40 scattered hot upserts of existing keys (a few hot rows
// merged into every segment); and with 10% of the keys, at random, written
// again and flushed into a fifth segment that overlaps all four (a k-way
// merge with short runs). make bench measures the same at ten million rows
// (sections 3 and 7). Reported, never asserted.
func BenchmarkScanMerged(b *testing.B) {
	dir := b.TempDir()
	db, err := Open(dir, DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const rows, segs = 4_000_000, 4
	names := []string{"clean", "hot", "overlap"}
	for _, name := range names {
		if _, err := db.CreateTable(name, "", benchSchema, map[string]string{"primary_key": "id"}); err != nil {
			b.Fatal(err)
		}
		for s := 0; s < rows; s += rows / segs {
			rec := benchBatch(memory.DefaultAllocator, s, rows/segs)
			if _, err := db.AppendRecord(name, rec); err != nil {
				b.Fatal(err)
			}
			rec.Release()
			if _, err := db.Flush(name); err != nil {
				b.Fatal(err)
			}
		}
	}
	for k := 0; k < 40; k++ {
		rec := benchBatch(memory.DefaultAllocator, 7919+k*(rows/40), 1)
		if _, err := db.AppendRecord("hot", rec); err != nil {
			b.Fatal(err)
		}
		rec.Release()
	}
	rec := benchBatchOf(memory.DefaultAllocator, rand.New(rand.NewSource(1)).Perm(rows)[:rows/10])
	if _, err := db.AppendRecord("overlap", rec); err != nil {
		b.Fatal(err)
	}
	rec.Release()
	if _, err := db.Flush("overlap"); err != nil {
		b.Fatal(err)
	}
	for _, name := range names {
		b.Run(name, func(b *testing.B) { benchScans(b, db, name, rows) })
	}
}

// BenchmarkAppend measures appends of 250,000-row batches of increasing
// keys into hot rows, flushing after every million (go test -bench
// 'Append$' -run ^$ ./engine/): the write path with the flush cache's
// copies. Reported, never asserted.
func BenchmarkAppend(b *testing.B) {
	db, err := Open(b.TempDir(), DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.CreateTable("b", "", benchSchema, map[string]string{"primary_key": "id"}); err != nil {
		b.Fatal(err)
	}
	const rows = 250_000
	var appended time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		rec := benchBatch(memory.DefaultAllocator, i*rows, rows)
		b.StartTimer()
		t0 := time.Now()
		if _, err := db.AppendRecord("b", rec); err != nil {
			b.Fatal(err)
		}
		appended += time.Since(t0)
		b.StopTimer()
		rec.Release()
		if i%4 == 3 {
			if _, err := db.Flush("b"); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(rows*b.N)/appended.Seconds(), "rows/s")
}
