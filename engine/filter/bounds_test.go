package filter

import (
	"math"
	"reflect"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

func rangeSchema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64},
		{Name: "small", Type: arrow.PrimitiveTypes.Int8},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
		{Name: "tags", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64)},
	}, nil)
}

func closed(lo, hi any) Interval {
	return Interval{NonNull: true, Lo: lo, Hi: hi, LoInclusive: true, HiInclusive: true}
}

func TestRange(t *testing.T) {
	unb := Interval{NonNull: true, LoUnbounded: true, HiUnbounded: true}
	cases := []struct {
		src, col string
		want     Interval
	}{
		{"id >= 10 AND id < 20", "id", Interval{NonNull: true, Lo: int64(10), Hi: int64(20), LoInclusive: true}},
		{"id = 5 OR id = 9", "id", closed(int64(5), int64(9))},
		{"NOT (id < 3)", "id", Interval{NonNull: true, Lo: int64(3), LoInclusive: true, HiUnbounded: true}},
		{"NOT (id >= 3)", "id", Interval{NonNull: true, LoUnbounded: true, Hi: int64(3)}},
		{"id IN (7, 3, 5, 3)", "id", closed(int64(3), int64(7))},
		{"id IN (7, NULL)", "id", closed(int64(7), int64(7))},
		{"id BETWEEN 2 AND 8", "id", closed(int64(2), int64(8))},
		{"id BETWEEN 8 AND 2", "id", Interval{Empty: true}},
		{"NOT (id BETWEEN 2 AND 8)", "id", unb},
		{"NOT (id >= 10 AND id < 20)", "id", unb},
		{"id >= 10 AND name = 'x'", "id", Interval{NonNull: true, Lo: int64(10), LoInclusive: true, HiUnbounded: true}},
		{"id >= 10 AND name = 'x'", "name", closed("x", "x")},
		{"id >= 10 OR name = 'x'", "id", Full()},
		{"name = 'x'", "id", Full()},
		{"id = 1", "nope", Full()},
		{"id IS NULL", "id", Interval{Null: true}},
		{"NOT (id IS NOT NULL)", "id", Interval{Null: true}},
		{"id IS NOT NULL", "id", unb},
		{"id IS NULL OR id = 3", "id", Interval{Null: true, NonNull: true, Lo: int64(3), Hi: int64(3), LoInclusive: true, HiInclusive: true}},
		{"id IS NULL AND id = 3", "id", Interval{Empty: true}},
		{"id = 3 AND id = 4", "id", Interval{Empty: true}},
		{"id > 5 AND id <= 5", "id", Interval{Empty: true}},
		{"id >= 5 AND id <= 5", "id", closed(int64(5), int64(5))},
		{"id > 5 AND id >= 5", "id", Interval{NonNull: true, Lo: int64(5), HiUnbounded: true}},
		{"id > 5 OR id >= 5", "id", Interval{NonNull: true, Lo: int64(5), LoInclusive: true, HiUnbounded: true}},
		{"id < 5 OR id > 10", "id", unb},
		{"(id >= 1 AND id < 3) OR (id > 7 AND id <= 9)", "id", Interval{NonNull: true, Lo: int64(1), Hi: int64(9), LoInclusive: true, HiInclusive: true}},
		{"id = NULL", "id", Interval{Empty: true}},
		{"id = NULL OR id = 2", "id", closed(int64(2), int64(2))},
		{"id NOT IN (1, NULL)", "id", Interval{Empty: true}},
		{"id NOT IN (1, 2)", "id", unb},
		{"NOT (id NOT IN (4, 2))", "id", closed(int64(2), int64(4))},
		{"id <> 5", "id", unb},
		{"id > 2.5", "id", Interval{NonNull: true, Lo: int64(3), LoInclusive: true, HiUnbounded: true}},
		{"id < 2.5", "id", Interval{NonNull: true, LoUnbounded: true, Hi: int64(2), HiInclusive: true}},
		{"id = 2.5", "id", Interval{Empty: true}},
		{"small < 300", "small", unb},
		{"small = 300", "small", Interval{Empty: true}},
		{"small > -300", "small", unb},
		{"small >= -128 AND small <= 127", "small", unb},
		{"small > 127", "small", Interval{Empty: true}},
		{"small < -128 OR small > 126.5", "small", Interval{NonNull: true, Lo: int64(127), LoInclusive: true, HiUnbounded: true}},
		{"NOT (small < 300)", "small", Interval{Empty: true}},
		{"NOT (id = 5 OR name = 'x')", "id", unb},
		{"NOT (id = 5 AND name = 'x')", "id", Full()},
		{"NOT (NOT (id = 5))", "ID", closed(int64(5), int64(5))},
		{"name >= 'a' AND name < 'b'", "name", Interval{NonNull: true, Lo: "a", Hi: "b", LoInclusive: true}},
		{"ts >= '2024-05-01' AND ts < '2024-05-02T00:00:00+02:00'", "ts",
			Interval{NonNull: true, Lo: int64(1714521600000), Hi: int64(1714521600000 + 22*3600000), LoInclusive: true}},
		{"ts > '2024-05-01T00:00:00.0005'", "ts", Interval{NonNull: true, Lo: int64(1714521600001), LoInclusive: true, HiUnbounded: true}},
		{"tags IS NULL", "tags", Interval{Null: true}},
		{"tags IS NOT NULL", "tags", unb},
	}
	for _, c := range cases {
		p, err := Compile(c.src, rangeSchema())
		if err != nil {
			t.Fatalf("Compile(%q): %v", c.src, err)
		}
		if got := p.Range(c.col); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Range(%q, %s) = %+v, want %+v", c.src, c.col, got, c.want)
		}
	}
}

func TestRangeFloatZero(t *testing.T) {
	p, err := Compile("f = 0", rangeSchema())
	if err != nil {
		t.Fatal(err)
	}
	r := p.Range("f")
	lo, hi := r.Lo.(float64), r.Hi.(float64)
	if lo != 0 || !math.Signbit(lo) || hi != 0 || math.Signbit(hi) || !r.LoInclusive || !r.HiInclusive {
		t.Fatalf("Range(f = 0) = %+v, want [-0, +0]", r)
	}
	p, _ = Compile("f > 1.5", rangeSchema())
	if r := p.Range("f"); r.Lo != 1.5 || r.LoInclusive || !r.HiUnbounded {
		t.Fatalf("Range(f > 1.5) = %+v", r)
	}
	p, _ = Compile("f < 1e400", rangeSchema())
	if r := p.Range("f"); r.Hi != math.MaxFloat64 || !r.HiInclusive || !r.LoUnbounded {
		t.Fatalf("Range(f < 1e400) = %+v", r)
	}
}

type statsMap map[string]ColumnStats

func (m statsMap) get(c string) (ColumnStats, bool) { s, ok := m[c]; return s, ok }

func TestMayMatch(t *testing.T) {
	id := func(lo, hi int64, nulls int64) ColumnStats {
		return ColumnStats{Min: lo, Max: hi, HasMinMax: true, NullCount: nulls, HasNullCount: true, RowCount: 100}
	}
	base := statsMap{"id": id(10, 20, 0), "name": {Min: "b", Max: "d", HasMinMax: true, HasNullCount: true, NullCount: 5, RowCount: 100}}
	single := statsMap{"id": id(10, 10, 0)}
	allNull := statsMap{"id": {NullCount: 100, HasNullCount: true, RowCount: 100}}
	someNull := statsMap{"id": id(10, 20, 3)}
	noCount := statsMap{"id": {Min: int64(10), Max: int64(20), HasMinMax: true}}
	noMinMax := statsMap{"id": {NullCount: 0, HasNullCount: true, RowCount: 100}}
	wrongType := statsMap{"id": {Min: int32(10), Max: int32(20), HasMinMax: true}}
	none := statsMap{}
	float := statsMap{"f": {Min: 1.0, Max: 3.0, HasMinMax: true, HasNullCount: true, RowCount: 10}}
	floatOne := statsMap{"f": {Min: 2.0, Max: 2.0, HasMinMax: true, HasNullCount: true, RowCount: 10}}
	small := statsMap{"small": {Min: int64(-5), Max: int64(5), HasMinMax: true, HasNullCount: true, RowCount: 10}}

	cases := []struct {
		src   string
		stats statsMap
		want  bool
	}{
		{"id = 5", base, false},
		{"id = 15", base, true},
		{"id = 10", base, true},
		{"id = 20", base, true},
		{"id = 21", base, false},
		{"id < 10", base, false},
		{"id <= 10", base, true},
		{"id > 20", base, false},
		{"id >= 20", base, true},
		{"id > 19.5", base, true},
		{"id > 20.5", base, false},
		{"id <> 10", base, true},
		{"id <> 10", single, false},
		{"id <> 11", single, true},
		{"id IN (1, 2)", base, false},
		{"id IN (1, 12)", base, true},
		{"id IN (NULL)", base, false},
		{"id NOT IN (10)", single, false},
		{"id NOT IN (10)", base, true},
		{"id NOT IN (1, NULL)", base, false},
		{"id NOT IN (1, NULL)", none, false},
		{"id BETWEEN 21 AND 30", base, false},
		{"id BETWEEN 5 AND 10", base, true},
		{"NOT (id BETWEEN 5 AND 25)", base, false},
		{"NOT (id BETWEEN 12 AND 25)", base, true},
		{"NOT (id > 5)", base, false},
		{"NOT (id > 25)", base, true},
		{"NOT (id <> 10)", single, true},
		{"NOT (id = 10)", single, false},
		{"NOT (id IN (10, 11))", single, false},
		{"id IS NULL", base, false},
		{"id IS NULL", someNull, true},
		{"id IS NULL", noCount, true},
		{"id IS NULL", none, true},
		{"id IS NULL", allNull, true},
		{"NOT (id IS NOT NULL)", base, false},
		{"id IS NOT NULL", allNull, false},
		{"id IS NOT NULL", someNull, true},
		{"NOT (id IS NULL)", allNull, false},
		{"id IS NOT NULL", noCount, true},
		{"id = 15", allNull, false},
		{"NOT (id = 15)", allNull, false},
		{"id <> 15", allNull, false},
		{"id IN (15)", allNull, false},
		{"id NOT IN (15)", allNull, false},
		{"id = 15 OR id IS NULL", allNull, true},
		{"id = NULL", none, false},
		{"NOT (id = NULL)", base, false},
		{"id = 5", none, true},
		{"id = 5", noCount, false},
		{"id = 5", noMinMax, true},
		{"id = 5", wrongType, true},
		{"id = 5 OR name = 'x'", base, false},
		{"id = 5 OR name = 'c'", base, true},
		{"id = 5 OR name = 'x'", statsMap{"id": id(10, 20, 0)}, true},
		{"id = 15 AND name = 'x'", base, false},
		{"id = 5 AND name = 'c'", base, false},
		{"name > 'd'", base, false},
		{"name >= 'd'", base, true},
		{"name IN ('a', 'e')", base, false},
		{"name IS NULL", base, true},
		// NaN may sit above a float column's Max.
		{"f > 5", float, true},
		{"f >= 5", float, true},
		{"f < 0", float, false},
		{"f <= 1", float, true},
		{"f = 5", float, false},
		{"f IN (5, 6)", float, false},
		{"f <> 2", floatOne, true},
		{"f NOT IN (2)", floatOne, true},
		{"NOT (f <= 4)", float, true},
		{"NOT (f >= 0.5)", float, false},
		// Literals outside the column's domain.
		{"small = 300", small, false},
		{"small < 300", small, true},
		{"small > 300", none, false},
		{"small <> 300", small, true},
		{"NOT (small < 300)", none, false},
	}
	for _, c := range cases {
		p, err := Compile(c.src, rangeSchema())
		if err != nil {
			t.Fatalf("Compile(%q): %v", c.src, err)
		}
		if got := p.MayMatch(c.stats.get); got != c.want {
			t.Errorf("MayMatch(%q, %v) = %v, want %v", c.src, c.stats, got, c.want)
		}
	}
}
