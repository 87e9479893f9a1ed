package engine

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestStatsMatchReference: the statistics collected for the manifest equal
// a plain row-by-row computation, for every type they cover, with and
// without nulls, on sliced arrays (offsets into the null bitmap and the
// values), over several batches, with NaN under a null (ignored) and NaN
// as a value (no min/max recorded).
func TestStatsMatchReference(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	// Every column type of the shared test schema that statistics cover.
	var fields []arrow.Field
	for _, f := range allTypesSchema.Fields() {
		if statsSupported(f.Type) {
			fields = append(fields, f)
		}
	}
	if len(fields) < 20 {
		t.Fatalf("only %d columns of allTypesSchema have statistics", len(fields))
	}
	sch := arrow.NewSchema(fields, nil)
	type shape struct {
		name      string
		nullRate  float64
		nanRate   float64 // of the float columns' valid values
		nanInNull bool    // NaN stored under nulls
	}
	for seed, sh := range []shape{
		{"no nulls", 0, 0, false},
		{"nulls", 0.3, 0, true},
		{"all null", 1, 0, true},
		{"NaN values", 0.1, 0.01, false},
	} {
		t.Run(sh.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 7))
			sc := newStatsCollector(sch)
			ref := make([][]any, len(fields)) // every valid value, Value convention
			nulls := make([]uint64, len(fields))
			for batch := 0; batch < 4; batch++ {
				n := 50 + rng.IntN(500)
				rb := array.NewRecordBuilder(mem, sch)
				mask := make([][]bool, len(fields)) // true: null
				for c, f := range fields {
					mask[c] = make([]bool, n)
					for i := 0; i < n; i++ {
						null := rng.Float64() < sh.nullRate
						mask[c][i] = null
						v := rng.Int64N(2001) - 1000
						if null && !sh.nanInNull {
							rb.Field(c).AppendNull()
							continue
						}
						switch b := rb.Field(c).(type) {
						case *array.Int8Builder:
							b.Append(int8(v % 128))
						case *array.Int16Builder:
							b.Append(int16(v * 30))
						case *array.Int32Builder:
							b.Append(int32(v * 1e6))
						case *array.Int64Builder:
							b.Append(v * 1e12)
						case *array.Uint8Builder:
							b.Append(uint8(v & 0xff))
						case *array.Uint16Builder:
							b.Append(uint16(v + 1000))
						case *array.Uint32Builder:
							b.Append(uint32(v+1000) * 4e6)
						case *array.Uint64Builder:
							b.Append(uint64(v+1000) << 52)
						case *array.Float32Builder:
							x := float32(v) / 7
							if null || rng.Float64() < sh.nanRate {
								x = float32(math.NaN())
							}
							b.Append(x)
						case *array.Float64Builder:
							x := float64(v) / 7
							if null || rng.Float64() < sh.nanRate {
								x = math.NaN()
							}
							b.Append(x)
						case *array.BooleanBuilder:
							b.Append(v > 900)
						case *array.StringBuilder:
							// Empty strings, first bytes that differ and
							// first bytes that tie (addStrings decides by
							// the first byte where it can).
							switch {
							case v%13 == 0:
								b.Append("")
							default:
								b.Append(fmt.Sprintf("%c%x", 'a'+rune(v%26), v+1000))
							}
						case *array.LargeStringBuilder:
							b.Append(fmt.Sprintf("%d", v))
						case *array.Date32Builder:
							b.Append(arrow.Date32(v))
						case *array.Date64Builder:
							b.Append(arrow.Date64(v * 86400000))
						case *array.Time32Builder:
							b.Append(arrow.Time32(v + 1000))
						case *array.Time64Builder:
							b.Append(arrow.Time64(v + 1000))
						case *array.TimestampBuilder:
							b.Append(arrow.Timestamp(v * 1e9))
						case *array.DurationBuilder:
							b.Append(arrow.Duration(v))
						default:
							t.Fatalf("no generator for %s", f.Type)
						}
					}
				}
				full := rb.NewRecordBatch()
				rb.Release()
				if sh.nanInNull {
					full = nullOut(mem, full, mask)
				}
				// A slice: offsets into the values and the null bitmap.
				lo := int64(rng.IntN(7))
				rec := full.NewSlice(lo, full.NumRows()-int64(rng.IntN(5)))
				full.Release()
				for c := range fields {
					vals, nn := referenceValues(t, rec.Column(c))
					ref[c] = append(ref[c], vals...)
					nulls[c] += nn
				}
				// Half the batches column by column, as the column writer
				// adds them; the others whole.
				if batch%2 == 0 {
					for c := range fields {
						sc.addColumn(c, rec.Column(c))
					}
				} else {
					sc.add(rec)
				}
				rec.Release()
			}
			got := sc.result()
			for c, f := range fields {
				st, ok := got[f.Name]
				if !ok {
					t.Fatalf("%s: no statistics", f.Name)
				}
				if st.NullCount != nulls[c] {
					t.Errorf("%s: null count %d, want %d", f.Name, st.NullCount, nulls[c])
				}
				wantMin, wantMax := referenceMinMax(ref[c])
				if fmt.Sprint(st.Min) != fmt.Sprint(wantMin) || fmt.Sprint(st.Max) != fmt.Sprint(wantMax) {
					t.Errorf("%s: min %v max %v, want %v %v", f.Name, st.Min, st.Max, wantMin, wantMax)
				}
				if sh.nanRate > 0 && (f.Name == "f32" || f.Name == "f64") && st.Min != nil {
					t.Errorf("%s: min/max %v/%v recorded although NaN values were added", f.Name, st.Min, st.Max)
				}
			}
		})
	}
}

// nullOut returns rec with the rows mask marks made null, keeping the
// values stored under them (a validity bitmap laid over them).
func nullOut(mem memory.Allocator, rec arrow.RecordBatch, mask [][]bool) arrow.RecordBatch {
	defer rec.Release()
	cols := make([]arrow.Array, rec.NumCols())
	for c := range cols {
		d := rec.Column(c).Data()
		n := d.Len()
		bm := memory.NewResizableBuffer(mem)
		bm.Resize(int(bitutil.BytesForBits(int64(n))))
		bits := bm.Bytes()
		for i := range bits {
			bits[i] = 0
		}
		nulls := 0
		for i := 0; i < n; i++ {
			if !mask[c][i] {
				bits[i/8] |= 1 << (i % 8)
			} else {
				nulls++
			}
		}
		bufs := append([]*memory.Buffer{bm}, d.Buffers()[1:]...)
		nd := array.NewData(d.DataType(), n, bufs, nil, nulls, 0)
		cols[c] = array.MakeFromData(nd)
		nd.Release()
		bm.Release()
	}
	out := array.NewRecordBatch(rec.Schema(), cols, rec.NumRows())
	for _, a := range cols {
		a.Release()
	}
	return out
}

// referenceValues returns a's valid values in the filter package's Value
// convention, row by row, and its null count.
func referenceValues(t *testing.T, a arrow.Array) ([]any, uint64) {
	var out []any
	var nulls uint64
	for i := 0; i < a.Len(); i++ {
		if a.IsNull(i) {
			nulls++
			continue
		}
		var v any
		switch x := a.(type) {
		case *array.Int8:
			v = int64(x.Value(i))
		case *array.Int16:
			v = int64(x.Value(i))
		case *array.Int32:
			v = int64(x.Value(i))
		case *array.Int64:
			v = x.Value(i)
		case *array.Uint8:
			v = uint64(x.Value(i))
		case *array.Uint16:
			v = uint64(x.Value(i))
		case *array.Uint32:
			v = uint64(x.Value(i))
		case *array.Uint64:
			v = x.Value(i)
		case *array.Float32:
			v = float64(x.Value(i))
		case *array.Float64:
			v = x.Value(i)
		case *array.Boolean:
			v = x.Value(i)
		case *array.String:
			v = x.Value(i)
		case *array.LargeString:
			v = x.Value(i)
		case *array.Date32:
			v = int64(x.Value(i))
		case *array.Date64:
			v = int64(x.Value(i))
		case *array.Time32:
			v = int64(x.Value(i))
		case *array.Time64:
			v = int64(x.Value(i))
		case *array.Timestamp:
			v = int64(x.Value(i))
		case *array.Duration:
			v = int64(x.Value(i))
		default:
			t.Fatalf("no reference for %s", a.DataType())
		}
		out = append(out, v)
	}
	return out, nulls
}

// referenceMinMax: nil, nil without values or with a NaN among them.
func referenceMinMax(vals []any) (any, any) {
	if len(vals) == 0 {
		return nil, nil
	}
	lo, hi := vals[0], vals[0]
	for _, v := range vals {
		if f, ok := v.(float64); ok && math.IsNaN(f) {
			return nil, nil
		}
		if less(v, lo) {
			lo = v
		}
		if less(hi, v) {
			hi = v
		}
	}
	return lo, hi
}

func less(a, b any) bool {
	switch x := a.(type) {
	case int64:
		return cmp.Less(x, b.(int64))
	case uint64:
		return x < b.(uint64)
	case float64:
		return x < b.(float64)
	case string:
		return x < b.(string)
	case bool:
		return !x && b.(bool)
	}
	panic(fmt.Sprintf("less: %T", a))
}

// TestNestedNullStatsDoNotPrune: a nested column's Parquet statistics are
// those of a leaf, whose null count counts every missing leaf value — an
// empty list, a null list item, a struct whose fields are all null — not
// null rows. Taken as the column's, they pruned row groups of rows that
// are not null: `l IS NOT NULL` found nothing after a flush, and deletes
// and counts by such a filter missed those rows.
func TestNestedNullStatsDoNotPrune(t *testing.T) {
	db, mem, _ := testDB(t)
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64},
		{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true},
		{Name: "s", Type: arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int32, Nullable: true}), Nullable: true},
		{Name: "m", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64), Nullable: true},
	}, nil)
	if _, err := db.CreateTable("n", "", sch, map[string]string{"primary_key": "k"}); err != nil {
		t.Fatal(err)
	}
	rec, _, err := array.RecordFromJSON(mem, sch, strings.NewReader(`[
		{"k": 1, "l": [1, null], "s": {"a": null}, "m": []},
		{"k": 2, "l": [], "s": {"a": null}, "m": []},
		{"k": 3, "l": [null, 5], "s": {"a": null}, "m": []}]`))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	if _, err := db.AppendRecord("n", rec); err != nil {
		t.Fatal(err)
	}
	for _, phase := range []string{"hot", "flushed"} {
		if phase == "flushed" {
			if _, err := db.Flush("n"); err != nil {
				t.Fatal(err)
			}
		}
		for _, f := range []string{"l IS NOT NULL", "s IS NOT NULL", "m IS NOT NULL", "NOT (l IS NULL)"} {
			s, err := db.Scan("n", ScanRequest{Limit: -1, Filter: f})
			if err != nil {
				t.Fatal(err)
			}
			if got := collect(t, s); len(got) != 3 {
				t.Errorf("%s: %s found %d rows, want 3", phase, f, len(got))
			}
		}
		for _, f := range []string{"l IS NULL", "s IS NULL", "m IS NULL"} {
			s, err := db.Scan("n", ScanRequest{Limit: -1, Filter: f})
			if err != nil {
				t.Fatal(err)
			}
			if got := collect(t, s); len(got) != 0 {
				t.Errorf("%s: %s found %d rows, want 0", phase, f, len(got))
			}
		}
	}
	if n, err := db.DeleteWhere("n", "s IS NOT NULL"); err != nil || n != 3 {
		t.Fatalf("delete where s IS NOT NULL: %d, %v; want 3", n, err)
	}
}
