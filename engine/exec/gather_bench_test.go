package exec

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// benchMergeBatch is a record of the bench table's shape (int64 key,
// timestamp, short utf8, float64, int32), n rows, no nulls.
func benchMergeBatch(mem memory.Allocator, n int, seed int64) arrow.RecordBatch {
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond}},
		{Name: "category", Type: arrow.BinaryTypes.String},
		{Name: "value", Type: arrow.PrimitiveTypes.Float64},
		{Name: "n", Type: arrow.PrimitiveTypes.Int32},
	}, nil)
	r := rand.New(rand.NewSource(seed))
	b := array.NewRecordBuilder(mem, sch)
	defer b.Release()
	for i := 0; i < n; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(i * 1000))
		b.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("cat%d", r.Intn(10)))
		b.Field(3).(*array.Float64Builder).Append(r.NormFloat64())
		b.Field(4).(*array.Int32Builder).Append(int32(r.Intn(1 << 20)))
	}
	return b.NewRecordBatch()
}

// BenchmarkBuildUpdatedRows assembles output batches the way a merge of a
// segment with a tenth of its keys updated does: runs of the older
// record with single newer rows put over the rows they supersede.
func BenchmarkBuildUpdatedRows(b *testing.B) {
	mem := memory.NewGoAllocator()
	const rows = 64 * 1024
	older := benchMergeBatch(mem, rows, 1)
	defer older.Release()
	newer := benchMergeBatch(mem, rows/8, 2)
	defer newer.Release()
	r := rand.New(rand.NewSource(3))
	var parts []Run
	at, nw := int64(0), int64(0)
	for at < rows {
		n := min(int64(rows)-at, int64(1+r.Intn(18)))
		parts = append(parts, Run{older, at, at + n})
		at += n
		if at < rows && nw < newer.NumRows() {
			parts = append(parts, Run{newer, nw, nw + 1})
			nw++
			at++
		}
	}
	rr := NewRuns(nil, mem)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for _, p := range parts {
			rr.Add(p.Rec, p.Start, p.End)
		}
		b.StartTimer()
		out, err := rr.Build(true)
		if err != nil {
			b.Fatal(err)
		}
		out.Release()
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds()/1e6, "Mrows/s")
}
