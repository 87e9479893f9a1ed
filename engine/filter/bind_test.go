package filter

import (
	"math"
	"reflect"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

func testSchema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String},
		{Name: "flag", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Second, TimeZone: "UTC"}},
		{Name: "d", Type: arrow.FixedWidthTypes.Date32},
		{Name: "t", Type: arrow.FixedWidthTypes.Time64us},
		{Name: "dur", Type: arrow.FixedWidthTypes.Duration_s},
		{Name: "amount", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}},
		{Name: "UserId", Type: arrow.BinaryTypes.String},
		{Name: "Ab", Type: arrow.PrimitiveTypes.Int64},
		{Name: "aB", Type: arrow.PrimitiveTypes.Int64},
		{Name: "tags", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64)},
		{Name: "st", Type: arrow.StructOf(arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Int64})},
		{Name: "my col", Type: arrow.PrimitiveTypes.Int64},
		{Name: "select", Type: arrow.PrimitiveTypes.Int64},
		{Name: "or", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
}

func TestBindErrors(t *testing.T) {
	cases := []struct{ src, msg string }{
		{"nope = 1", "filter: unknown column `nope`"},
		{"id = 1 AND nope IS NULL", "filter: unknown column `nope`"},
		{"ab = 1", "filter: column `ab` is ambiguous: it matches `Ab`, `aB`"},
		{"id = 'abc'", "filter: literal 'abc' cannot be compared with column `id` of type int64"},
		{"id = TRUE", "filter: literal TRUE cannot be compared with column `id` of type int64"},
		{"id IN (1, 'x')", "filter: literal 'x' cannot be compared with column `id` of type int64"},
		{"id BETWEEN 1 AND 'x'", "filter: literal 'x' cannot be compared with column `id` of type int64"},
		{"name = 5", "filter: literal 5 cannot be compared with column `name` of type utf8"},
		{"name = TRUE", "filter: literal TRUE cannot be compared with column `name` of type utf8"},
		{"flag = 1", "filter: literal 1 cannot be compared with column `flag` of type bool"},
		{"flag = 'true'", "filter: literal 'true' cannot be compared with column `flag` of type bool"},
		{"f = 'nan'", "filter: literal 'nan' cannot be compared with column `f` of type float64"},
		{"f = TRUE", "filter: literal TRUE cannot be compared with column `f` of type float64"},
		{"ts = 'yesterday'", "~bad timestamp literal 'yesterday' for column `ts` of type timestamp[s, tz=UTC]"},
		{"ts = '2024-05-01T25:00:00'", "~bad timestamp literal|column `ts`|hour 25 out of range"},
		{"ts = '2024-05-01T10:61'", "~column `ts`|minute 61 out of range"},
		{"ts = '2024-05-01T10:00:60'", "~column `ts`|second 60 out of range"},
		{"ts = '2024-05-01T10:00:00.1234567891'", "~column `ts`|fractional seconds need 1 to 9 digits"},
		{"ts = '2024-05-01T10:00:00.'", "~column `ts`|fractional seconds need 1 to 9 digits"},
		{"ts = '2024-05-01X10:00'", "~column `ts`|want 'T' or a space after the date"},
		{"ts = '2024-05-01T10:00:00+25:00'", "~column `ts`|bad UTC offset \"+25:00\""},
		{"ts = '2024-05-01T10:00:00 UTC'", "~column `ts`|unexpected \" UTC\" after the time"},
		{"ts = '2024-5-1'", "~bad timestamp literal '2024-5-1'|want YYYY-MM-DD"},
		{"ts = 1.5", "filter: literal 1.5 cannot be compared with column `ts` of type timestamp[s, tz=UTC]"},
		{"ts = TRUE", "filter: literal TRUE cannot be compared with column `ts` of type timestamp[s, tz=UTC]"},
		{"d = '2024-13-01'", "filter: bad date literal '2024-13-01' for column `d` of type date32: month 13 out of range"},
		{"d = '2024-02-30'", "filter: bad date literal '2024-02-30' for column `d` of type date32: day 30 out of range"},
		{"d = '2023-02-29'", "~column `d`|day 29 out of range"},
		{"d = '2024-05-01T00:00:00'", "~bad date literal|column `d`|want YYYY-MM-DD"},
		{"d = 1.5", "filter: literal 1.5 cannot be compared with column `d` of type date32"},
		{"t = '24:00:00'", "~bad time literal '24:00:00' for column `t`|hour 24 out of range"},
		{"t = '10:00:00Z'", "~bad time literal|column `t`|unexpected \"Z\" after the time"},
		{"dur = '1s'", "filter: literal '1s' cannot be compared with column `dur` of type duration[s]"},
		{"amount = 'abc'", "filter: bad decimal literal 'abc' for column `amount` of type decimal(10, 2)"},
		{"amount = '1/3'", "~bad decimal literal '1/3'|column `amount`"},
		{"amount = TRUE", "filter: literal TRUE cannot be compared with column `amount` of type decimal(10, 2)"},
		{"tags = 1", "~column `tags` of type list<|supports only IS NULL and IS NOT NULL"},
		{"tags IN (1)", "~column `tags`|supports only IS NULL and IS NOT NULL"},
		{"tags = NULL", "~column `tags`|supports only IS NULL and IS NOT NULL"},
		{"st BETWEEN 1 AND 2", "~column `st` of type struct<|supports only IS NULL"},
	}
	for _, c := range cases {
		_, err := Compile(c.src, testSchema())
		wantInvalid(t, "Compile("+c.src+")", err, c.msg)
	}
}

func TestBindResolution(t *testing.T) {
	cases := []struct {
		src, str string
		cols     []string
	}{
		{"userid = 'u1'", "UserId = 'u1'", []string{"UserId"}},
		{"USERID = 'u1' AND ID > 3", "UserId = 'u1' AND id > 3", []string{"UserId", "id"}},
		{"Ab = 1 OR aB = 2", "Ab = 1 OR aB = 2", []string{"Ab", "aB"}},
		{`"my col" = 1 AND "select" = 2 AND "OR" = 3`, `"my col" = 1 AND select = 2 AND "or" = 3`, []string{"my col", "or", "select"}},
		{"name = 'x' OR id = 1 OR name IS NULL", "name = 'x' OR id = 1 OR name IS NULL", []string{"id", "name"}},
		{"tags IS NOT NULL AND st IS NULL", "tags IS NOT NULL AND st IS NULL", []string{"st", "tags"}},
		{"5 > id", "id < 5", []string{"id"}},
		{"id = NULL", "id = NULL", []string{"id"}},
		{"NOT (id BETWEEN 1 AND 2)", "NOT (id BETWEEN 1 AND 2)", []string{"id"}},
	}
	for _, c := range cases {
		p, err := Compile(c.src, testSchema())
		if err != nil {
			t.Fatalf("Compile(%q): %v", c.src, err)
		}
		if p.String() != c.str {
			t.Errorf("Compile(%q).String() = %q, want %q", c.src, p.String(), c.str)
		}
		if p.Expr().String() != c.str {
			t.Errorf("Compile(%q).Expr() = %q, want %q", c.src, p.Expr(), c.str)
		}
		if !reflect.DeepEqual(p.Columns(), c.cols) {
			t.Errorf("Compile(%q).Columns() = %v, want %v", c.src, p.Columns(), c.cols)
		}
	}
}

func TestCompileEmpty(t *testing.T) {
	for _, src := range []string{"", "   ", "\t\n"} {
		p, err := Compile(src, testSchema())
		if p != nil || err != nil {
			t.Fatalf("Compile(%q) = %v, %v; want nil, nil", src, p, err)
		}
	}
	var p *Predicate
	if p.String() != "" || p.Columns() != nil || !p.MayMatch(func(string) (ColumnStats, bool) { return ColumnStats{}, false }) {
		t.Fatal("nil predicate must be the empty filter")
	}
	if r := p.Range("id"); r != Full() {
		t.Fatalf("nil predicate Range = %+v", r)
	}
	if _, err := Bind(nil, testSchema()); err == nil {
		t.Fatal("Bind(nil) must fail")
	}
}

func TestBindDuplicateFieldNames(t *testing.T) {
	s := arrow.NewSchema([]arrow.Field{
		{Name: "x", Type: arrow.PrimitiveTypes.Int64},
		{Name: "x", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	_, err := Compile("x = 1", s)
	wantInvalid(t, "duplicate", err, "filter: column `x` is ambiguous: the schema has 2 columns of that name")
}

func TestCompare(t *testing.T) {
	nan := 0.0
	nan = nan / nan
	cases := []struct {
		t    arrow.DataType
		a, b any
		want int
	}{
		{arrow.PrimitiveTypes.Int64, int64(-1), int64(2), -1},
		{arrow.PrimitiveTypes.Int8, int64(5), int64(5), 0},
		{arrow.PrimitiveTypes.Uint64, uint64(1 << 63), uint64(1), 1},
		{arrow.PrimitiveTypes.Float64, nan, 1e308, 1},
		{arrow.PrimitiveTypes.Float64, 1e308, nan, -1},
		{arrow.PrimitiveTypes.Float32, nan, nan, 0},
		{arrow.PrimitiveTypes.Float64, math.Copysign(0, -1), 0.0, 0},
		{arrow.PrimitiveTypes.Float64, -1.0, 0.0, -1},
		{arrow.FixedWidthTypes.Boolean, false, true, -1},
		{arrow.FixedWidthTypes.Boolean, true, false, 1},
		{arrow.BinaryTypes.String, "b", "ab", 1},
		{arrow.BinaryTypes.Binary, []byte{0}, []byte{0, 0}, -1},
		{&arrow.TimestampType{Unit: arrow.Millisecond}, int64(10), int64(9), 1},
		{&arrow.Decimal128Type{Precision: 5, Scale: 1}, decimalOf(-5), decimalOf(3), -1},
	}
	for _, c := range cases {
		if got := Compare(c.t, c.a, c.b); got != c.want {
			t.Errorf("Compare(%s, %v, %v) = %d, want %d", c.t, c.a, c.b, got, c.want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Compare with a wrong Go type must panic")
		}
	}()
	Compare(arrow.PrimitiveTypes.Int64, int32(1), int64(1))
}
