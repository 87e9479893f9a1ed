package exec

import (
	"bytes"
	"fmt"
	"math/rand"
	"sort"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/engine/keyenc"
)

// TestGallop: gallop, gallopBytes, gallopTuple and gallopFunc find the
// first key >= b in a sorted range (gallopBytes on the keys as strings of
// varying length that sort as the numbers do, gallopTuple on them as
// pairs of their tens and units).
func TestGallop(t *testing.T) {
	ks := []int64{1, 3, 3, 5, 8, 13, 21, 34, 55, 89}
	word := func(k int64) string { return fmt.Sprintf("%c%d", 'a'+len(fmt.Sprint(k)), k) }
	var data []byte
	offs := []int32{0}
	for _, k := range ks {
		data = append(data, word(k)...)
		offs = append(offs, int32(len(data)))
	}
	for from := 0; from <= len(ks); from++ {
		for limit := from; limit <= len(ks); limit++ {
			for b := int64(0); b <= 90; b++ {
				want := from
				for want < limit && ks[want] < b {
					want++
				}
				if got := gallop(ks, from, limit, b); got != want {
					t.Fatalf("gallop(from %d, limit %d, b %d) = %d, want %d", from, limit, b, got, want)
				}
				if got := gallopBytes(offs, data, from, limit, []byte(word(b))); got != want {
					t.Fatalf("gallopBytes(from %d, limit %d, b %q) = %d, want %d", from, limit, word(b), got, want)
				}
				// As a tuple (k/10, k%10): the first column decides
				// unless equal.
				cols := [][]int64{make([]int64, len(ks)), make([]int64, len(ks))}
				for i, k := range ks {
					cols[0][i], cols[1][i] = k/10, k%10
				}
				if got := gallopTuple(cols, from, limit, []int64{b / 10, b % 10}); got != want {
					t.Fatalf("gallopTuple(from %d, limit %d, b %d) = %d, want %d", from, limit, b, got, want)
				}
				if got := gallopFunc(from, limit, func(i int) bool { return ks[i] >= b }); got != want {
					t.Fatalf("gallopFunc(from %d, limit %d, b %d) = %d, want %d", from, limit, b, got, want)
				}
			}
		}
	}
}

// TestFlatKeysMatchEncoding: the keys a merge reads (Keyer.Flat: lazily
// encoded blocks for integer keys without nulls, offsets otherwise), asked
// for in random order across several blocks, are the bytes Keyer.Keys
// encodes row by row.
func TestFlatKeysMatchEncoding(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "a", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "b", Type: arrow.PrimitiveTypes.Int64},
		{Name: "v", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	r := rand.New(rand.NewSource(9))
	for _, withNull := range []bool{false, true} {
		const n = 5*keyBlock + 17
		b := array.NewRecordBuilder(mem, schema)
		for i := 0; i < n; i++ {
			if withNull && i == 300 {
				b.Field(0).AppendNull()
			} else {
				b.Field(0).(*array.Int32Builder).Append(int32(r.Intn(7) - 3))
			}
			b.Field(1).(*array.Int64Builder).Append(r.Int63() - r.Int63())
			b.Field(2).(*array.Float64Builder).Append(r.Float64())
		}
		rec := b.NewRecordBatch()
		b.Release()
		k := NewKeyer(schema, []string{"a", "b"}, false)
		_, want, err := k.Keys(rec, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		v, _, _, err := k.Flat(rec, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if (v.lazy != nil) == withNull {
			t.Fatalf("with a null %v: lazy view %v", withNull, v.lazy != nil)
		}
		for _, i := range r.Perm(n) {
			got, null := v.at(i)
			if null || !bytes.Equal(got, want[i]) {
				t.Fatalf("with a null %v, row %d: flat key %x (null %v), encoded %x", withNull, i, got, null, want[i])
			}
		}
		rec.Release()
	}
}

// TestMergeTupleKeysMatchEncodedKeys: a merge on a key of several 64-bit
// integer-like columns (an int64 and a timestamp here) compares the values
// as they are (Merge.tuple), falling back to encoded keys for batches
// with a null key value and for placeholders of unopened inputs; it must
// output exactly what the same merge over encoded keys outputs, in every
// mode (by _seq or rank, tombstones dropped or kept, lazy inputs, batch
// sizes from 1 row).
func TestMergeTupleKeysMatchEncodedKeys(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ts := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	r := rand.New(rand.NewSource(5))
	rows := 0
	for trial := 0; trial < 300; trial++ {
		bySeq := trial%2 == 0
		fields := []arrow.Field{
			{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
			{Name: "b", Type: ts, Nullable: true},
			{Name: "v", Type: arrow.PrimitiveTypes.Int64},
		}
		if bySeq {
			fields = append(fields, arrow.Field{Name: SeqColumn, Type: arrow.PrimitiveTypes.Int64})
		}
		fields = append(fields, arrow.Field{Name: DeletedColumn, Type: arrow.FixedWidthTypes.Boolean})
		schema := arrow.NewSchema(fields, nil)
		keyer := NewKeyer(schema, []string{"a", "b"}, false)
		n := 2 + r.Intn(5)
		withNulls := trial%3 == 0
		seed := r.Int63()
		type input struct {
			recs   []arrow.RecordBatch
			minKey []byte
		}
		gen := func() []input {
			rr := rand.New(rand.NewSource(seed))
			var ins []input
			for j := 0; j < n; j++ {
				type row struct {
					a, b       int64
					aNil, bNil bool
					key        []byte
				}
				var rs []row
				seen := map[string]bool{}
				lo := rr.Int63n(20) - 10
				for k := 0; k < 20+rr.Intn(200); k++ {
					x := row{a: lo + rr.Int63n(12), b: rr.Int63n(30) - 15}
					if withNulls {
						x.aNil = rr.Intn(15) == 0
						x.bNil = rr.Intn(10) == 0
					}
					if x.aNil {
						x.a = 0
					}
					if x.bNil {
						x.b = 0
					}
					if x.aNil {
						x.key = keyenc.AppendNull(x.key)
					} else {
						x.key = keyenc.AppendInt64(x.key, x.a)
					}
					if x.bNil {
						x.key = keyenc.AppendNull(x.key)
					} else {
						x.key = keyenc.AppendInt64(x.key, x.b)
					}
					if !seen[string(x.key)] {
						seen[string(x.key)] = true
						rs = append(rs, x)
					}
				}
				sort.Slice(rs, func(p, q int) bool { return bytes.Compare(rs[p].key, rs[q].key) < 0 })
				b := array.NewRecordBuilder(mem, schema)
				var recs []arrow.RecordBatch
				per := 1 + rr.Intn(30)
				for k, x := range rs {
					if x.aNil {
						b.Field(0).AppendNull()
					} else {
						b.Field(0).(*array.Int64Builder).Append(x.a)
					}
					if x.bNil {
						b.Field(1).AppendNull()
					} else {
						b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(x.b))
					}
					b.Field(2).(*array.Int64Builder).Append(int64(j*1000 + k))
					if bySeq {
						b.Field(3).(*array.Int64Builder).Append(1 + rr.Int63n(1<<40))
					}
					b.Field(len(fields) - 1).(*array.BooleanBuilder).Append(rr.Intn(8) == 0)
					if (k+1)%per == 0 || k == len(rs)-1 {
						recs = append(recs, b.NewRecordBatch())
					}
				}
				b.Release()
				var minKey []byte
				if len(rs) > 0 && rr.Intn(4) != 0 {
					minKey = rs[0].key
				}
				ins = append(ins, input{recs, minKey})
			}
			return ins
		}
		run := func(tuple bool) []string {
			var srcs []Source
			var mks [][]byte
			for _, in := range gen() {
				srcs = append(srcs, NewMem(in.recs))
				mks = append(mks, in.minKey)
			}
			mo := MergeOptions{Work: schema, BySeq: bySeq, DropTombstones: trial%4 < 2}
			if !bySeq {
				mo.Ranks = rand.New(rand.NewSource(seed)).Perm(n) // the same in both runs
			}
			if trial%5 != 0 {
				mo.MinKeys = mks
			}
			m := NewMerge(srcs, keyer, mo, int64(1+trial%40), mem)
			if m.tuple == nil {
				t.Fatalf("trial %d: a key of int64 and timestamp columns is not merged as tuples", trial)
			}
			if !tuple {
				m.tuple = nil
			}
			return mergeAll(t, m)
		}
		got, want := run(true), run(false)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("trial %d (by _seq %v, nulls %v): tuple-key merge differs from the encoded-key merge:\n got  %v\n want %v", trial, bySeq, withNulls, got, want)
		}
		rows += len(got)
	}
	if rows < 10000 {
		t.Fatalf("only %d rows merged in all: the inputs are too thin", rows)
	}
}
