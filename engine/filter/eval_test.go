package filter

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

type evalCase struct {
	src  string
	want []int
}

// runEval builds one record of cols and checks every case against it, on
// the whole record and on a slice of it (offsets into shared buffers).
func runEval(t *testing.T, cols []col, cases []evalCase) {
	t.Helper()
	mem := newMem()
	defer mem.AssertSize(t, 0)
	rec := buildRecord(t, mem, cols)
	defer rec.Release()
	for _, c := range cases {
		got := selected(t, c.src, rec)
		if fmtInts(got) != fmtInts(c.want) {
			t.Errorf("%s: %q selected %v, want %v", cols[0].typ, c.src, got, c.want)
		}
		if rec.NumRows() < 2 {
			continue
		}
		sl := rec.NewSlice(1, rec.NumRows())
		got = selected(t, c.src, sl)
		sl.Release()
		var want []int
		for _, r := range c.want {
			if r >= 1 {
				want = append(want, r-1)
			}
		}
		if fmtInts(got) != fmtInts(append([]int{}, want...)) {
			t.Errorf("%s sliced: %q selected %v, want %v", cols[0].typ, c.src, got, want)
		}
	}
}

func i64s(v ...any) []any { return v }

func TestEvalInt64(t *testing.T) {
	runEval(t, []col{{"v", arrow.PrimitiveTypes.Int64, i64s(int64(1), int64(5), nil, int64(10), int64(-3))}}, []evalCase{
		{"v = 5", []int{1}},
		{"v <> 5", []int{0, 3, 4}},
		{"v != 5", []int{0, 3, 4}},
		{"v < 5", []int{0, 4}},
		{"v <= 5", []int{0, 1, 4}},
		{"v > 5", []int{3}},
		{"v >= 5", []int{1, 3}},
		{"5 < v", []int{3}},
		{"-3 = v", []int{4}},
		{"v IN (1, 10, 99)", []int{0, 3}},
		{"v IN (1, 10, 99, 98, 97, 96, 95, 94, 93, 92)", []int{0, 3}},
		{"v NOT IN (1, 10, 99, 98, 97, 96, 95, 94, 93, 92, NULL)", []int{}},
		{"v NOT IN (1, 10, 99, 98, 97, 96, 95, 94, 93, 92)", []int{1, 4}},
		{"v NOT IN (1, 10)", []int{1, 4}},
		{"v IS NULL", []int{2}},
		{"v IS NOT NULL", []int{0, 1, 3, 4}},
		{"v BETWEEN -3 AND 5", []int{0, 1, 4}},
		{"v BETWEEN 5 AND -3", []int{}},
		{"v > 2.5", []int{1, 3}},
		{"v >= 2.5", []int{1, 3}},
		{"v < 2.5", []int{0, 4}},
		{"v <= 2.5", []int{0, 4}},
		{"v = 5.0", []int{1}},
		{"v = 5e0", []int{1}},
		{"v = 2.5", []int{}},
		{"v <> 2.5", []int{0, 1, 3, 4}},
		{"v > -2.5", []int{0, 1, 3}},
		{"v IN (2.5, 10.0)", []int{3}},
		{"v < 99999999999999999999", []int{0, 1, 3, 4}},
		{"v > 99999999999999999999", []int{}},
		{"v > -99999999999999999999", []int{0, 1, 3, 4}},
		{"v = 99999999999999999999", []int{}},
		{"NOT (v > 5)", []int{0, 1, 4}},
		{"NOT v IN (1)", []int{1, 3, 4}},
		{"v > 1 AND v < 10", []int{1}},
		{"v <= 9223372036854775807", []int{0, 1, 3, 4}},
		{"v > 9223372036854775807", []int{}},
		{"v >= -9223372036854775808", []int{0, 1, 3, 4}},
		{"v < -9223372036854775808", []int{}},
		{"NOT (v < -9223372036854775808)", []int{0, 1, 3, 4}},
		{"v < 1 OR v >= 10", []int{3, 4}},
		// Exponents beyond what is computed exactly: the value's side of
		// every column value decides, as for any other literal.
		{"v > 1e5000", []int{}},
		{"v < 1e5000", []int{0, 1, 3, 4}},
		{"v < 123456789e1001", []int{0, 1, 3, 4}},
		{"v > -1e99999999999999999999", []int{0, 1, 3, 4}},
		{"v = 1e-5000", []int{}},
		{"v < 1e-5000", []int{4}},
		{"v > -1e-5000", []int{0, 1, 3}},
		{"v < -1e-99999999999999999999", []int{4}},
		{"v > 0e99999999999999999999", []int{0, 1, 3}},
		{"v < 0.00000000000000000001e-990", []int{4}},
		// Beyond maxExponent but inside the mantissa's reach: computed.
		{"v = 0." + strings.Repeat("0", 1004) + "5e1005", []int{1}},
		{"v = 1" + strings.Repeat("0", 1100) + "e-1100", []int{0}},
		{"v > 1000000000000000000000e-1010", []int{0, 1, 3}},
	})
}

func TestEvalSmallInts(t *testing.T) {
	runEval(t, []col{{"v", arrow.PrimitiveTypes.Int8, i64s(int64(127), int64(-128), int64(0), nil)}}, []evalCase{
		{"v = 300", []int{}},
		{"v <> 300", []int{0, 1, 2}},
		{"v < 300", []int{0, 1, 2}},
		{"v > 300", []int{}},
		{"v > -200", []int{0, 1, 2}},
		{"v < -200", []int{}},
		{"v >= 127.5", []int{}},
		{"v <= 127.5", []int{0, 1, 2}},
		{"v >= 126.5", []int{0}},
		{"v < -127.5", []int{1}},
		{"v IN (300, 0)", []int{2}},
		{"v NOT IN (300)", []int{0, 1, 2}},
		{"NOT (v = 300)", []int{0, 1, 2}},
		{"NOT (v < 300)", []int{}},
		{"v = 127", []int{0}},
		{"v = -128", []int{1}},
	})
	runEval(t, []col{{"v", arrow.PrimitiveTypes.Int16, i64s(int64(-32768), int64(7), nil)}}, []evalCase{
		{"v < -32768", []int{}},
		{"v <= -32768", []int{0}},
		{"v > 40000", []int{}},
		{"v IN (7, 70000)", []int{1}},
	})
	runEval(t, []col{{"v", arrow.PrimitiveTypes.Int32, i64s(int64(math.MaxInt32), int64(-1), nil)}}, []evalCase{
		{"v = 2147483647", []int{0}},
		{"v > 2147483646.5", []int{0}},
		{"v < 2147483648", []int{0, 1}},
	})
	runEval(t, []col{{"v", arrow.PrimitiveTypes.Uint8, i64s(uint64(0), uint64(200), uint64(255), nil)}}, []evalCase{
		{"v > -1", []int{0, 1, 2}},
		{"v < 0", []int{}},
		{"v <= 0", []int{0}},
		{"v = 255", []int{2}},
		{"v >= 200", []int{1, 2}},
		{"v < 256", []int{0, 1, 2}},
		{"v > 199.5", []int{1, 2}},
		{"v = -1", []int{}},
		{"v <> -1", []int{0, 1, 2}},
		{"v IN (0, 255, 256)", []int{0, 2}},
	})
	runEval(t, []col{{"v", arrow.PrimitiveTypes.Uint16, i64s(uint64(65535), uint64(1), nil)}}, []evalCase{
		{"v >= 65535", []int{0}},
		{"v < 65536", []int{0, 1}},
	})
	runEval(t, []col{{"v", arrow.PrimitiveTypes.Uint32, i64s(uint64(math.MaxUint32), uint64(1), nil)}}, []evalCase{
		{"v = 4294967295", []int{0}},
		{"v > 4294967295", []int{}},
	})
	runEval(t, []col{{"v", arrow.PrimitiveTypes.Uint64, i64s(uint64(0), uint64(math.MaxUint64), uint64(1<<63), nil)}}, []evalCase{
		{"v > 9223372036854775807", []int{1, 2}},
		{"v = 18446744073709551615", []int{1}},
		{"v > 18446744073709551615", []int{}},
		{"v < 18446744073709551616", []int{0, 1, 2}},
		{"v IN (9223372036854775808, -5)", []int{2}},
		{"v > -0.5", []int{0, 1, 2}},
	})
}

func TestEvalFloat(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	negz := math.Copysign(0, -1)
	runEval(t, []col{{"v", arrow.PrimitiveTypes.Float64, i64s(1.5, nan, negz, nil, inf, -inf, 2.0)}}, []evalCase{
		{"v > 1", []int{0, 1, 4, 6}},
		{"v >= 2", []int{1, 4, 6}},
		{"v < 2", []int{0, 2, 5}},
		{"v <= 2", []int{0, 2, 5, 6}},
		{"v = 0", []int{2}},
		{"v = -0.0", []int{2}},
		{"v <> 1.5", []int{1, 2, 4, 5, 6}},
		{"v = 2", []int{6}},
		{"v IN (0, 2)", []int{2, 6}},
		{"v IN (0, 2, 3, 4, 5, 6, 7, 8, 9, 10)", []int{2, 6}},
		{"v NOT IN (1.5)", []int{1, 2, 4, 5, 6}},
		{"v > 1e400", []int{1, 4}},
		{"v >= 1e400", []int{1, 4}},
		{"v < 1e400", []int{0, 2, 5, 6}},
		{"v = 1e400", []int{}},
		{"v <> 1e400", []int{0, 1, 2, 4, 5, 6}},
		{"v < -1e400", []int{5}},
		{"v > -1e400", []int{0, 1, 2, 4, 6}},
		{"v BETWEEN 1 AND 2", []int{0, 6}},
		{"NOT (v < 2)", []int{1, 4, 6}},
		{"NOT (v > 2)", []int{0, 2, 5, 6}},
		{"v IS NULL", []int{3}},
	})
	runEval(t, []col{{"v", arrow.PrimitiveTypes.Float32, i64s(float64(float32(0.1)), 1.5, nan, nil)}}, []evalCase{
		{"v = 0.1", []int{}}, // float32(0.1) is not 0.1
		{"v > 0.1", []int{0, 1, 2}},
		{"v = 1.5", []int{1}},
		{"v < 1", []int{0}},
		{"v IN (1.5, 7)", []int{1}},
		{"v >= 1.5", []int{1, 2}},
	})
	runEval(t, []col{{"v", arrow.FixedWidthTypes.Float16, i64s(1.5, nil, -2.0)}}, []evalCase{
		{"v > 0", []int{0}},
		{"v = 1.5", []int{0}},
		{"v IN (-2)", []int{2}},
		{"v NOT IN (-2)", []int{0}},
	})
}

func TestEvalStrings(t *testing.T) {
	vals := i64s("apple", "Banana", nil, "cherry", "", "é")
	cases := []evalCase{
		{"v = 'apple'", []int{0}},
		{"v > 'b'", []int{3, 5}},
		{"v < 'b'", []int{0, 1, 4}},
		{"v <> ''", []int{0, 1, 3, 5}},
		{"v = ''", []int{4}},
		{"v >= ''", []int{0, 1, 3, 4, 5}},
		{"v IN ('cherry', 'x', '')", []int{3, 4}},
		{"v IN ('cherry', 'x', '', 'a', 'b', 'c', 'd', 'e', 'f', 'é')", []int{3, 4, 5}},
		{"v NOT IN ('cherry', 'x')", []int{0, 1, 4, 5}},
		{"v BETWEEN 'a' AND 'c'", []int{0}},
		{"v = 'é'", []int{5}},
		{"v IS NULL", []int{2}},
		{"NOT (v >= 'apple')", []int{1, 4}},
	}
	for _, typ := range []arrow.DataType{arrow.BinaryTypes.String, arrow.BinaryTypes.LargeString, arrow.BinaryTypes.StringView} {
		runEval(t, []col{{"v", typ, vals}}, cases)
	}
	quoted := []evalCase{{"v = 'it''s'", []int{0}}, {"v > 'it'", []int{0}}}
	runEval(t, []col{{"v", arrow.BinaryTypes.String, i64s("it's", "i")}}, quoted)
}

func TestEvalBinary(t *testing.T) {
	vals := i64s([]byte{0, 1}, []byte("abc"), nil, []byte("ab"))
	cases := []evalCase{
		{"v = 'abc'", []int{1}},
		{"v > 'ab'", []int{1}},
		{"v < 'ab'", []int{0}},
		{"v <= 'ab'", []int{0, 3}},
		{"v IN ('ab', 'zz')", []int{3}},
		{"v IN ('ab', 'zz', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'abc')", []int{1, 3}},
		{"v NOT IN ('ab')", []int{0, 1}},
	}
	for _, typ := range []arrow.DataType{arrow.BinaryTypes.Binary, arrow.BinaryTypes.LargeBinary, arrow.BinaryTypes.BinaryView} {
		runEval(t, []col{{"v", typ, vals}}, cases)
	}
	runEval(t, []col{{"v", &arrow.FixedSizeBinaryType{ByteWidth: 2}, i64s([]byte("ab"), []byte("cd"), nil)}}, []evalCase{
		{"v >= 'b'", []int{1}},
		{"v = 'ab'", []int{0}},
		{"v IN ('cd')", []int{1}},
	})
}

func TestEvalBool(t *testing.T) {
	runEval(t, []col{{"v", arrow.FixedWidthTypes.Boolean, i64s(true, false, nil)}}, []evalCase{
		{"v = TRUE", []int{0}},
		{"v = false", []int{1}},
		{"v <> TRUE", []int{1}},
		{"v < TRUE", []int{1}},
		{"v <= TRUE", []int{0, 1}},
		{"v > FALSE", []int{0}},
		{"v >= FALSE", []int{0, 1}},
		{"v IN (FALSE)", []int{1}},
		{"v IN (TRUE, FALSE)", []int{0, 1}},
		{"v NOT IN (TRUE)", []int{1}},
		{"NOT v = TRUE", []int{1}},
		{"v IS NULL", []int{2}},
	})
}

func TestEvalDecimal(t *testing.T) {
	typ := &arrow.Decimal128Type{Precision: 10, Scale: 2}
	d := func(v int64) any { return decimal128.FromI64(v) }
	runEval(t, []col{{"v", typ, i64s(d(1234), d(-50), nil, d(10000))}}, []evalCase{
		{"v = 12.34", []int{0}},
		{"v = '12.34'", []int{0}},
		{"v = ' 12.340 '", []int{0}},
		{"v = 1234e-2", []int{0}},
		{"v > 12.335", []int{0, 3}},
		{"v >= 12.345", []int{3}},
		{"v < 12.345", []int{0, 1}},
		{"v <= 12.339", []int{1}},
		{"v = 12.345", []int{}},
		{"v <> 12.345", []int{0, 1, 3}},
		{"v > -1", []int{0, 1, 3}},
		{"v = -0.5", []int{1}},
		{"v = 100", []int{3}},
		{"v IN (100, 12.34, 1.001)", []int{0, 3}},
		{"v < 1e9", []int{0, 1, 3}},
		{"v > 1e9", []int{}},
		{"v > -1e9", []int{0, 1, 3}},
		{"v BETWEEN 0 AND '100.00'", []int{0, 3}},
		{"NOT (v < 12.345)", []int{3}},
		{"v < 1e5000", []int{0, 1, 3}},
		{"v > 1e-5000", []int{0, 3}},
		{"v = 1e-5000", []int{}},
		{"v < -1e-5000", []int{1}},
		{"v = '1e-5000'", []int{}},
		{"v < '-1e5000'", []int{}},
	})
	// A negative scale stores multiples of 10^-scale.
	runEval(t, []col{{"v", &arrow.Decimal128Type{Precision: 5, Scale: -2}, i64s(d(12), d(3))}}, []evalCase{
		{"v = 1200", []int{0}},
		{"v > 1250", []int{}},
		{"v < 1250", []int{0, 1}},
		{"v >= 300", []int{0, 1}},
		{"v = 301", []int{}},
	})
}

func days(s string) int64 {
	tm, _ := time.Parse("2006-01-02", s)
	return tm.Unix() / 86400
}

func TestEvalDates(t *testing.T) {
	runEval(t, []col{{"v", arrow.FixedWidthTypes.Date32, i64s(days("2024-05-01"), days("2024-04-30"), nil, days("2024-12-31"), days("1969-12-31"))}}, []evalCase{
		{"v = '2024-05-01'", []int{0}},
		{"v > '2024-05-01'", []int{3}},
		{"v < '2024-05-01'", []int{1, 4}},
		{"v = 19844", []int{0}},
		{"v = -1", []int{4}},
		{"v < '1970-01-01'", []int{4}},
		{"v BETWEEN '2024-04-30' AND '2024-05-01'", []int{0, 1}},
		{"v IN ('2024-12-31', '2000-02-29')", []int{3}},
		{"v > 99999999999", []int{}},
	})
	runEval(t, []col{{"v", arrow.FixedWidthTypes.Date64, i64s(days("2024-05-01")*86400000, nil, days("2024-05-02")*86400000)}}, []evalCase{
		{"v = '2024-05-01'", []int{0}},
		{"v > '2024-05-01'", []int{2}},
		{"v = 1714521600000", []int{0}},
	})
}

func TestEvalTimestamps(t *testing.T) {
	instants := []time.Time{
		time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC),
		time.Date(2024, 5, 1, 10, 0, 0, 123456789, time.UTC),
		{},
		time.Date(2024, 4, 30, 22, 0, 0, 0, time.UTC),
	}
	units := []arrow.TimeUnit{arrow.Second, arrow.Millisecond, arrow.Microsecond, arrow.Nanosecond}
	for _, unit := range units {
		per := unitsPerSecond[unit]
		raw := func(tm time.Time) int64 { return tm.Unix()*per + int64(tm.Nanosecond())/(1e9/per) }
		var vals []any
		for _, tm := range instants {
			if tm.IsZero() {
				vals = append(vals, nil)
			} else {
				vals = append(vals, raw(tm))
			}
		}
		// Row 2 holds sub-second digits only as far as the unit keeps them.
		after10 := []int{2}
		eqNanos := []int{}
		afterDot1 := []int{2}
		eq10 := []int{1}
		switch unit {
		case arrow.Second:
			after10, afterDot1, eq10 = []int{}, []int{}, []int{1, 2}
		case arrow.Nanosecond:
			eqNanos = []int{2}
		}
		cases := []evalCase{
			{"v = '2024-05-01'", []int{0}},
			{"v = '2024-05-01T00:00:00Z'", []int{0}},
			{"v = '2024-05-01T00:00:00+02:00'", []int{4}},
			{"v = '2024-05-01T00:00:00+0200'", []int{4}},
			{"v = '2024-04-30T20:00:00-02'", []int{4}},
			{"v = '2024-05-01 10:00:00Z'", eq10},
			{"v = '2024-05-01t10:00'", eq10},
			{"v >= '2024-05-01T10:00:00'", []int{1, 2}},
			{"v > '2024-05-01T10:00:00'", after10},
			{"v > '2024-05-01T10:00:00.5'", []int{}},
			{"v >= '2024-05-01T10:00:00.5'", []int{}},
			{"v > '2024-05-01T10:00:00.1'", afterDot1},
			{"v = '2024-05-01T10:00:00.123456789'", eqNanos},
			{"v < '2024-05-01T00:00:00.000000001'", []int{0, 4}},
			{"v <= '2024-04-30T23:59:59.999999999'", []int{4}},
			{"v BETWEEN '2024-05-01' AND '2024-05-01T23:59:59'", []int{0, 1, 2}},
			{"v IN ('2024-05-01T10:00:00Z', '2024-05-01T00:00:00.5')", eq10},
			{"v NOT IN ('2024-05-01T00:00:00.5')", []int{0, 1, 2, 4}},
			{"v = " + itoa(raw(instants[1])), eq10},
			{"v > " + itoa(raw(instants[1])), after10},
		}
		for _, tz := range []string{"", "UTC", "Asia/Tokyo"} {
			runEval(t, []col{{"v", &arrow.TimestampType{Unit: unit, TimeZone: tz}, vals}}, cases)
		}
	}
}

func itoa(v int64) string { return big64(v) }

func TestEvalTimeAndDuration(t *testing.T) {
	us := func(h, m, s, frac int64) int64 { return (h*3600+m*60+s)*1e6 + frac }
	runEval(t, []col{{"v", arrow.FixedWidthTypes.Time64us, i64s(us(10, 0, 0, 0), us(10, 0, 0, 500000), nil, us(23, 59, 59, 999999))}}, []evalCase{
		{"v = '10:00:00'", []int{0}},
		{"v = '10:00'", []int{0}},
		{"v > '10:00:00.25'", []int{1, 3}},
		{"v < '10:00:00.0000005'", []int{0}},
		{"v = '10:00:00.0000005'", []int{}},
		{"v = 36000000000", []int{0}},
		{"v >= '23:59:59.999999'", []int{3}},
	})
	runEval(t, []col{{"v", arrow.FixedWidthTypes.Time64ns, i64s(int64(1), int64(0), nil)}}, []evalCase{
		{"v = '00:00:00.000000001'", []int{0}},
		{"v < '00:00:00.000000001'", []int{1}},
	})
	runEval(t, []col{{"v", arrow.FixedWidthTypes.Time32ms, i64s(int64(36000500), int64(36000000), nil)}}, []evalCase{
		{"v >= '10:00:00.5'", []int{0}},
		{"v > '10:00:00.4999'", []int{0}},
		{"v IN ('10:00:00')", []int{1}},
	})
	runEval(t, []col{{"v", arrow.FixedWidthTypes.Time32s, i64s(int64(60), nil)}}, []evalCase{
		{"v = '00:01:00'", []int{0}},
		{"v < '00:01:00.5'", []int{0}},
	})
	runEval(t, []col{{"v", arrow.FixedWidthTypes.Duration_ms, i64s(int64(1000), nil, int64(-5))}}, []evalCase{
		{"v > 0", []int{0}},
		{"v = -5", []int{2}},
		{"v IN (1000)", []int{0}},
	})
}

func TestEvalNested(t *testing.T) {
	lt := arrow.ListOf(arrow.PrimitiveTypes.Int64)
	runEval(t, []col{{"tags", lt, i64s([]int64{1, 2}, nil, []int64{})}}, []evalCase{
		{"tags IS NULL", []int{1}},
		{"tags IS NOT NULL", []int{0, 2}},
		{"NOT (tags IS NULL)", []int{0, 2}},
	})
}

func TestThreeValuedLogic(t *testing.T) {
	a := i64s(int64(1), int64(1), int64(1), int64(0), int64(0), int64(0), nil, nil, nil)
	b := i64s(int64(1), int64(0), nil, int64(1), int64(0), nil, int64(1), int64(0), nil)
	runEval(t, []col{{"a", arrow.PrimitiveTypes.Int64, a}, {"b", arrow.PrimitiveTypes.Int64, b}}, []evalCase{
		{"a = 1", []int{0, 1, 2}},
		{"a = 1 AND b = 1", []int{0}},
		{"a = 1 OR b = 1", []int{0, 1, 2, 3, 6}},
		{"NOT (a = 1 AND b = 1)", []int{1, 3, 4, 5, 7}},
		{"NOT (a = 1 OR b = 1)", []int{4}},
		{"NOT (a = 1)", []int{3, 4, 5}},
		{"NOT (NOT (a = 1))", []int{0, 1, 2}},
		{"a = NULL", []int{}},
		{"NOT (a = NULL)", []int{}},
		{"a <> NULL", []int{}},
		{"a = NULL OR b = 1", []int{0, 3, 6}},
		{"NOT (a = NULL AND b = 1)", []int{1, 4, 7}},
		{"a IN (1, NULL)", []int{0, 1, 2}},
		{"a NOT IN (1, NULL)", []int{}},
		{"NOT (a NOT IN (1, NULL))", []int{0, 1, 2}},
		{"NOT (a IN (1, NULL))", []int{}},
		{"a NOT IN (0)", []int{0, 1, 2}},
		{"a IN (NULL)", []int{}},
		{"a NOT IN (NULL)", []int{}},
		{"a BETWEEN NULL AND 5", []int{}},
		{"NOT (a BETWEEN NULL AND 0)", []int{0, 1, 2}},
		{"NOT (a BETWEEN 1 AND NULL)", []int{3, 4, 5}},
		{"a IS NULL OR b IS NULL", []int{2, 5, 6, 7, 8}},
		{"NOT (a IS NULL)", []int{0, 1, 2, 3, 4, 5}},
		{"a IS NULL AND b = 1", []int{6}},
		{"a = 1 AND NOT (b = 1) OR a IS NULL AND b IS NULL", []int{1, 8}},
	})
}

func TestEvalErrors(t *testing.T) {
	mem := newMem()
	defer mem.AssertSize(t, 0)
	rec := buildRecord(t, mem, []col{{"a", arrow.PrimitiveTypes.Int64, i64s(int64(1))}, {"b", arrow.BinaryTypes.String, i64s("x")}})
	defer rec.Release()

	p, err := Compile("c = 1", arrow.NewSchema([]arrow.Field{{Name: "c", Type: arrow.PrimitiveTypes.Int64}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Eval(rec)
	wantInvalid(t, "missing column", err, "filter: record has no column `c`")

	p, err = Compile("b = 1", arrow.NewSchema([]arrow.Field{{Name: "b", Type: arrow.PrimitiveTypes.Int64}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Eval(rec)
	wantInvalid(t, "type mismatch", err, "~column `b` has type utf8|bound to int64")

	// Another member of the string family evaluates the same way.
	p, err = Compile("b = 'x'", arrow.NewSchema([]arrow.Field{{Name: "b", Type: arrow.BinaryTypes.LargeString}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	sel, err := p.Eval(rec)
	if err != nil || len(sel) != 1 || !sel[0] {
		t.Fatalf("large_utf8-bound predicate on utf8: %v %v", sel, err)
	}

	// A nil predicate selects everything.
	var none *Predicate
	sel, err = none.Eval(rec)
	if err != nil || len(sel) != 1 || !sel[0] {
		t.Fatalf("nil predicate: %v %v", sel, err)
	}
}
