package segment

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/compress"
)

// fuzzLimits keep a damaged file from asking for more than a few MiB: the
// seeds are a few KiB, so anything near these limits is a bogus claim.
var fuzzLimits = Options{MaxFooterBytes: 1 << 20, MaxPageBytes: 1 << 20, MaxBufferBytes: 4 << 20}

// boundedAllocator fails the test on an allocation above max.
type boundedAllocator struct {
	*memory.CheckedAllocator
	max   int
	worst atomic.Int64
}

func (a *boundedAllocator) Allocate(n int) []byte {
	if n > a.max {
		panic(fmt.Sprintf("allocation of %d bytes, limit %d", n, a.max))
	}
	return a.CheckedAllocator.Allocate(n)
}

// fuzzSeeds are small valid segments covering each encoding, page version,
// codec and null pattern.
func fuzzSeeds(t testing.TB) [][]byte {
	rng := rand.New(rand.NewSource(99))
	fields := []arrow.Field{
		{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "i64", Type: arrow.PrimitiveTypes.Int64},
		{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
		{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "ls", Type: arrow.BinaryTypes.LargeString},
		{Name: "d", Type: &arrow.Decimal128Type{Precision: 20, Scale: 2}, Nullable: true},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	}
	var seeds [][]byte
	variants := []writeVariant{
		{codec: compress.Codecs.Uncompressed, dict: true, rgRows: 16},
		{codec: compress.Codecs.Uncompressed, dict: false, v2: true, rgRows: 40, pageSize: 64},
		{codec: compress.Codecs.Snappy, dict: true, v2: true, rgRows: 30, pageIndex: true},
		{codec: compress.Codecs.Zstd, dict: false, rgRows: 25, pageSize: 64, pageIndex: true},
		{codec: compress.Codecs.Lz4Raw, dict: true, rgRows: 40, decInt: true},
	}
	for i, v := range variants {
		cols := make([]arrow.Array, len(fields))
		for c, f := range fields {
			frac := []float64{0, 0.3, 1}[(i+c)%3]
			if !f.Nullable {
				frac = 0
			}
			cols[c] = genColumn(rng, memory.DefaultAllocator, f.Type, 40, frac, valueMode((i+c)%4))
		}
		// An embedding column: a fixed_size_list whose pages may cut a list.
		vals := genColumn(rng, memory.DefaultAllocator, arrow.PrimitiveTypes.Float32, 40*3, []float64{0, 0.3}[i%2], modeRandom)
		ft := arrow.FixedSizeListOfField(3, arrow.Field{Name: "element", Type: arrow.PrimitiveTypes.Float32, Nullable: true})
		fd := array.NewData(ft, 40, []*memory.Buffer{nil}, []arrow.ArrayData{vals.Data()}, 0, 0)
		vals.Release()
		fsl := array.MakeFromData(fd)
		fd.Release()
		cols = append(cols, fsl)
		all := append(append([]arrow.Field{}, fields...), arrow.Field{Name: "emb", Type: ft})
		rec := array.NewRecordBatch(arrow.NewSchema(all, nil), cols, 40)
		seeds = append(seeds, writeSegment(t, rec, v))
		rec.Release()
		for _, c := range cols {
			c.Release()
		}
	}
	return seeds
}

// fuzzExecs counts executions in this process. The fuzzer's own count is
// only updated when a worker reports back, which a coverage-guided worker
// may not do for minutes; with SEGMENT_FUZZ_COUNT=path each process writes
// its count to path.<pid> every 1000 executions.
var fuzzExecs atomic.Int64

func FuzzReadSegment(f *testing.F) {
	countFile := os.Getenv("SEGMENT_FUZZ_COUNT")
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// A hang is a failure: crash the worker so that the fuzzer keeps
		// the input.
		watchdog := time.AfterFunc(10*time.Second, func() { panic("read did not finish in 10s") })
		defer watchdog.Stop()
		if n := fuzzExecs.Add(1); countFile != "" && n%1000 == 0 {
			os.WriteFile(fmt.Sprintf("%s.%d", countFile, os.Getpid()), []byte(fmt.Sprint(n)), 0o644)
		}
		file, err := OpenWithOptions(bytes.NewReader(data), int64(len(data)), "fuzz", fuzzLimits)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("open: error wraps neither ErrCorrupt nor ErrUnsupported: %v", err)
			}
			return
		}
		mem := &boundedAllocator{CheckedAllocator: memory.NewCheckedAllocator(memory.NewGoAllocator()), max: 8 << 20}
		for c := 0; c < file.NumColumns(); c++ {
			if ok, _ := file.Supported(c); !ok {
				continue
			}
			for rg := 0; rg < file.NumRowGroups(); rg++ {
				if _, _, err := file.PageIndex(rg, c); err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
					t.Fatalf("page index: error wraps neither ErrCorrupt nor ErrUnsupported: %v", err)
				}
				if st, ok := file.Statistics(rg, c); ok && st.HasMinMax {
					if _, err := file.Column(c).StatValue(st.Min); err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
						t.Fatalf("statistics: %v", err)
					}
				}
				for _, rows := range [][2]int64{{0, file.RowGroupNumRows(rg)}, {file.RowGroupNumRows(rg) / 2, file.RowGroupNumRows(rg) / 3}} {
					a, err := file.ReadColumnRows(context.Background(), rg, c, rows[0], rows[1], mem)
					if err != nil {
						if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
							t.Fatalf("read: error wraps neither ErrCorrupt nor ErrUnsupported: %v", err)
						}
						continue
					}
					if int64(a.Len()) != rows[1] {
						t.Fatalf("read %d rows, asked for %d", a.Len(), rows[1])
					}
					if !arrow.TypeEqual(a.DataType(), file.Column(c).Type) {
						t.Fatalf("type %s, schema says %s", a.DataType(), file.Column(c).Type)
					}
					if err := array.Validate(a); err != nil {
						t.Fatalf("invalid array: %v", err)
					}
					a.Release()
				}
			}
		}
		mem.AssertSize(t, 0)
	})
}
