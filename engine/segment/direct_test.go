package segment

import (
	"context"
	"math/rand"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
)

// Compressed V2 PLAIN pages of same-width values (the layout flushes write
// for float64, int64 and timestamp columns) decompress straight into the
// output buffer: decoding such a chunk, with and without nulls, never
// grows the decompression scratch nor stages a page in the chunk's arena,
// and gives the written values. V1 pages of the same column still go
// through the arena, so the check can fail.
func TestPlainV2PagesDecodeInPlace(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for _, nullFrac := range []float64{0, 0.3} {
		b := array.NewFloat64Builder(memory.DefaultAllocator)
		const n = 20000
		for i := 0; i < n; i++ {
			if rng.Float64() < nullFrac {
				b.AppendNull()
			} else {
				b.Append(rng.NormFloat64() * 100)
			}
		}
		col := b.NewArray()
		b.Release()
		schema := arrow.NewSchema([]arrow.Field{{Name: "value", Type: arrow.PrimitiveTypes.Float64, Nullable: true}}, nil)
		rec := array.NewRecordBatch(schema, []arrow.Array{col}, n)
		for _, v2 := range []bool{true, false} {
			props := []parquet.WriterProperty{parquet.WithCompression(compress.Codecs.Zstd),
				parquet.WithDictionaryDefault(false), parquet.WithDataPageSize(32 << 10), parquet.WithBatchSize(1024)}
			if v2 {
				props = append(props, parquet.WithDataPageVersion(parquet.DataPageV2))
			}
			f := openBytes(t, writeWithProps(t, rec, props...))
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			c := &chunkReader{f: f, rg: 0, col: 0, cc: f.chunk(0, 0), plan: &f.plans[0], rgRows: n}
			pages, err := c.chunkPages(context.Background(), 0, n)
			if err != nil {
				t.Fatal(err)
			}
			if len(pages) < 3 {
				t.Fatalf("want several pages, got %d", len(pages))
			}
			d := &chunkDecoder{c: c, mem: mem, n: n}
			arr, err := d.decode(context.Background(), pages)
			if err != nil {
				t.Fatal(err)
			}
			if !array.Equal(arr, col) {
				t.Fatalf("nulls %.1f, v2 %v: decoded values differ", nullFrac, v2)
			}
			staged := 0 // pages decompressed into scratch or the chunk's arena
			for i := range pages {
				if pages[i].raw != nil {
					staged++
				}
			}
			if cap(d.scratch) > 0 || (v2 && staged != 0) || (!v2 && staged != len(pages)) {
				t.Fatalf("nulls %.1f, v2 %v: scratch of %d bytes used, %d of %d pages through the arena",
					nullFrac, v2, cap(d.scratch), staged, len(pages))
			}
			arr.Release()
			c.mem.release()
			mem.AssertSize(t, 0)
		}
		rec.Release()
		col.Release()
	}
}

// Dictionary-encoded strings whose entries are all at most 16 bytes (the
// word-at-a-time copy) decode to the written values, with and without
// nulls, and the data buffer holds exactly the values' bytes (the copy's
// slack is not part of it); a dictionary with a longer entry takes the
// other path and decodes the same way.
func TestShortDictionaryStrings(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	for _, longest := range []int{16, 17} {
		for _, nullFrac := range []float64{0, 0.2} {
			words := []string{"", "a", "purchase", "sixteen-bytes-xx"[:longest-1] + "z"}
			b := array.NewStringBuilder(memory.DefaultAllocator)
			const n = 5000
			for i := 0; i < n; i++ {
				if rng.Float64() < nullFrac {
					b.AppendNull()
				} else {
					b.Append(words[rng.Intn(len(words))])
				}
			}
			col := b.NewArray()
			b.Release()
			schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
			rec := array.NewRecordBatch(schema, []arrow.Array{col}, n)
			f := openBytes(t, writeWithProps(t, rec, parquet.WithCompression(compress.Codecs.Zstd),
				parquet.WithDictionaryDefault(true), parquet.WithDataPageVersion(parquet.DataPageV2)))
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			c := &chunkReader{f: f, rg: 0, col: 0, cc: f.chunk(0, 0), plan: &f.plans[0], rgRows: n}
			pages, err := c.chunkPages(context.Background(), 0, n)
			if err != nil {
				t.Fatal(err)
			}
			d := &chunkDecoder{c: c, mem: mem, n: n}
			var data []page
			for i := range pages {
				if pages[i].h.typ == pageDictionary {
					if err := d.loadDictionary(&pages[i]); err != nil {
						t.Fatal(err)
					}
				} else {
					data = append(data, pages[i])
				}
			}
			if wide := d.dict.words != nil; wide != (longest <= 16) {
				t.Fatalf("longest entry %d bytes: word copy %v", longest, wide)
			}
			arr, err := d.decode(context.Background(), data)
			if err != nil {
				t.Fatal(err)
			}
			if !array.Equal(arr, col) {
				t.Fatalf("longest %d, nulls %.1f: decoded strings differ", longest, nullFrac)
			}
			s := arr.(*array.String)
			if got, want := s.Data().Buffers()[2].Len(), int(s.ValueOffsets()[n]); got != want {
				t.Fatalf("longest %d: data buffer of %d bytes for %d bytes of values", longest, got, want)
			}
			arr.Release()
			c.mem.release()
			mem.AssertSize(t, 0)
			rec.Release()
			col.Release()
		}
	}
}

// A chunk whose pages differ in kind decodes to the written values: the
// writer's dictionary fills up and it falls back to PLAIN pages part way
// through, and runs of rows with and without nulls alternate, so the
// decoder batches some direct pages, decompresses others on their own
// (nulls to spread) and stages dictionary pages in the chunk's arena, in
// one chunk and in every order those come in.
func TestPagesOfMixedKindsInOneChunk(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	const n = 60000
	for _, v2 := range []bool{true, false} {
		fb := array.NewFloat64Builder(memory.DefaultAllocator)
		ib := array.NewInt64Builder(memory.DefaultAllocator)
		for i := 0; i < n; i++ {
			// Nulls only in some stretches of 5,000 rows; few distinct
			// values early (dictionary), many later (fallback to PLAIN).
			nulls := (i/5000)%3 == 1
			distinct := 50
			if i > n/3 {
				distinct = 1 << 30
			}
			if nulls && rng.Intn(4) == 0 {
				fb.AppendNull()
				ib.AppendNull()
				continue
			}
			v := rng.Intn(distinct)
			fb.Append(float64(v) / 7)
			ib.Append(int64(v) - 1<<20)
		}
		fcol, icol := fb.NewArray(), ib.NewArray()
		fb.Release()
		ib.Release()
		schema := arrow.NewSchema([]arrow.Field{
			{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
			{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		}, nil)
		rec := array.NewRecordBatch(schema, []arrow.Array{fcol, icol}, n)
		props := []parquet.WriterProperty{parquet.WithCompression(compress.Codecs.Zstd),
			parquet.WithDictionaryDefault(true), parquet.WithDictionaryPageSizeLimit(4 << 10),
			parquet.WithDataPageSize(16 << 10), parquet.WithBatchSize(1024)}
		if v2 {
			props = append(props, parquet.WithDataPageVersion(parquet.DataPageV2))
		}
		f := openBytes(t, writeWithProps(t, rec, props...))
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		for c, want := range []arrow.Array{fcol, icol} {
			cc := f.chunk(0, c)
			r := &chunkReader{f: f, rg: 0, col: c, cc: cc, plan: &f.plans[c], rgRows: n}
			pages, err := r.chunkPages(context.Background(), 0, n)
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[int32]int{}
			for i := range pages {
				kinds[pages[i].h.encoding]++
			}
			if kinds[encPlain] == 0 || kinds[encPlainDict]+kinds[encRLEDict] == 0 {
				t.Fatalf("v2 %v column %d: want dictionary and plain pages, got %v", v2, c, kinds)
			}
			r.mem.release()
			got, err := f.ReadColumn(context.Background(), 0, c, mem)
			if err != nil {
				t.Fatal(err)
			}
			if !array.Equal(got, want) {
				t.Fatalf("v2 %v column %d: decoded values differ", v2, c)
			}
			got.Release()
		}
		mem.AssertSize(t, 0)
		rec.Release()
		fcol.Release()
		icol.Release()
	}
}
