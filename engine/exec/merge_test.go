package exec

import (
	"bytes"
	"math/rand"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestGallop: gallop and gallopFunc find the first key >= b in a sorted
// range.
func TestGallop(t *testing.T) {
	ks := []int64{1, 3, 3, 5, 8, 13, 21, 34, 55, 89}
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
