package filter

import (
	"bytes"
	"fmt"
	"math"
	"math/big"
	"math/rand"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// randCol describes a column of the randomized test: the Values rows are
// drawn from and the literals predicates use.
type randCol struct {
	name string
	typ  arrow.DataType
	pool []any
	lits []Literal
}

func intLit(v int64) Literal    { return Literal{Kind: LitInt, Text: strconv.FormatInt(v, 10)} }
func textLit(s string) Literal  { return Literal{Kind: LitInt, Text: s} }
func floatLit(s string) Literal { return Literal{Kind: LitFloat, Text: s} }
func strLit(s string) Literal   { return Literal{Kind: LitString, Str: s} }
func boolLit(b bool) Literal    { return Literal{Kind: LitBool, Bool: b} }
func ints(v ...int64) []Literal {
	out := make([]Literal, len(v))
	for i, x := range v {
		out[i] = intLit(x)
	}
	return out
}

func msOf(s string) int64 {
	tm, err := time.Parse("2006-01-02T15:04:05.999999999Z07:00", s)
	if err != nil {
		panic(err)
	}
	return tm.UnixNano() / 1e6
}

func randCols() []randCol {
	strs := []any{"", "a", "ab", "b", "B", "é"}
	var strLits []Literal
	for _, s := range append(strs, "aa", "abc") {
		strLits = append(strLits, strLit(s.(string)))
	}
	var bins []any
	for _, s := range strs {
		bins = append(bins, []byte(s.(string)))
	}
	nan, inf := math.NaN(), math.Inf(1)
	ts := []any{msOf("2024-05-01T00:00:00Z"), msOf("2024-05-01T10:00:00Z"), msOf("2024-05-01T10:00:00.001Z"),
		msOf("2024-04-30T22:00:00Z"), msOf("2024-04-30T23:59:59.999Z")}
	tsLits := []Literal{strLit("2024-05-01"), strLit("2024-05-01T10:00:00"), strLit("2024-05-01T10:00:00.0005"),
		strLit("2024-05-01T10:00:00.001Z"), strLit("2024-05-01T02:00:00+02:00"), strLit("2024-04-30 23:59:59.999"),
		strLit("2024-04-30T23:59:59.9995"), intLit(msOf("2024-05-01T10:00:00Z")), intLit(msOf("2024-05-01T10:00:00Z") + 1)}
	tsnLits := []Literal{strLit("2024-05-01"), strLit("2024-05-01T10:00:00.5"), strLit("2024-05-01T10:00:00"),
		strLit("2024-05-01T09:59:59.999999999"), strLit("2024-05-01T12:00:00+02:00"), intLit(1714557600)}
	return []randCol{
		{"i64", arrow.PrimitiveTypes.Int64, []any{int64(-5), int64(-1), int64(0), int64(1), int64(2), int64(3), int64(5)},
			append(ints(-6, -5, -1, 0, 1, 2, 3, 5, 6), floatLit("2.5"), floatLit("-0.5"), floatLit("1e1"), floatLit("3.0"),
				textLit("99999999999999999999"), textLit("-99999999999999999999"))},
		{"i8", arrow.PrimitiveTypes.Int8, []any{int64(-128), int64(-1), int64(0), int64(1), int64(5), int64(127)},
			append(ints(-200, -129, -128, -1, 0, 1, 5, 127, 128, 300), floatLit("0.5"), floatLit("127.5"), floatLit("-128.5"))},
		{"u16", arrow.PrimitiveTypes.Uint16, []any{uint64(0), uint64(1), uint64(5), uint64(65535)},
			append(ints(-1, 0, 1, 5, 65535, 65536), floatLit("0.5"), floatLit("70000.5"), floatLit("-0.5"))},
		{"f64", arrow.PrimitiveTypes.Float64, []any{nan, math.Copysign(0, -1), 0.0, 1.5, -2.0, inf, -inf, 3.0},
			append(ints(0, -2, 3), floatLit("1.5"), floatLit("-0.0"), floatLit("2.25"), floatLit("1e300"), floatLit("-1e300"), floatLit("3.0"))},
		{"f32", arrow.PrimitiveTypes.Float32, []any{float64(float32(0.1)), 1.5, nan, -2.0},
			append(ints(0, -2), floatLit("0.1"), floatLit("1.5"), floatLit("2.5"))},
		{"s", arrow.BinaryTypes.String, strs, strLits},
		{"sv", arrow.BinaryTypes.StringView, strs, strLits},
		{"bin", arrow.BinaryTypes.Binary, bins, strLits},
		{"b", arrow.FixedWidthTypes.Boolean, []any{true, false}, []Literal{boolLit(true), boolLit(false)}},
		{"d", &arrow.Decimal128Type{Precision: 6, Scale: 2},
			[]any{decimal128.FromI64(-150), decimal128.FromI64(0), decimal128.FromI64(1), decimal128.FromI64(1234), decimal128.FromI64(99999)},
			append(ints(-1, 0, 12, 1000, 10000000), floatLit("-1.5"), floatLit("0.01"), floatLit("0.005"), floatLit("12.34"),
				floatLit("12.345"), floatLit("999.99"), strLit("12.34"), strLit("-1.50"), strLit("999.995"))},
		{"ts", &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, ts, tsLits},
		{"tsn", &arrow.TimestampType{Unit: arrow.Second}, []any{int64(1714557600), int64(1714557601), int64(1714521600), int64(1714557599)}, tsnLits},
		{"dt", arrow.FixedWidthTypes.Date32, []any{days("2024-05-01"), days("2024-04-30"), int64(0)},
			[]Literal{strLit("2024-05-01"), strLit("2024-04-30"), strLit("1970-01-01"), intLit(days("2024-05-01")), intLit(-1)}},
	}
}

// refRat is the exact rational value of a row or literal for the ordered
// exact types of the reference interpreter.
func refRat(c randCol, v any) *big.Rat {
	switch x := v.(type) {
	case int64:
		if c.typ.ID() == arrow.TIMESTAMP {
			unit := c.typ.(*arrow.TimestampType).Unit
			return new(big.Rat).SetFrac(big.NewInt(x), big.NewInt(unitsPerSecond[unit]))
		}
		return new(big.Rat).SetInt64(x)
	case uint64:
		return new(big.Rat).SetUint64(x)
	case decimal128.Num:
		return new(big.Rat).SetFrac(x.BigInt(), big.NewInt(100))
	}
	panic(fmt.Sprintf("refRat %T", v))
}

// litRat is the exact value of a literal for column c, computed with the
// standard library's parsers rather than the package's.
func litRat(c randCol, l Literal) *big.Rat {
	switch c.typ.ID() {
	case arrow.TIMESTAMP:
		unit := c.typ.(*arrow.TimestampType).Unit
		if l.Kind == LitInt {
			r, _ := new(big.Rat).SetString(l.Text)
			return r.Quo(r, new(big.Rat).SetInt64(unitsPerSecond[unit]))
		}
		for _, layout := range []string{"2006-01-02", "2006-01-02T15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999",
			"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04:05.999999999Z07"} {
			if tm, err := time.Parse(layout, l.Str); err == nil {
				return new(big.Rat).SetFrac(new(big.Int).Add(new(big.Int).Mul(big.NewInt(tm.Unix()), big.NewInt(1e9)), big.NewInt(int64(tm.Nanosecond()))), big.NewInt(1e9))
			}
		}
		panic("reference cannot parse " + l.Str)
	case arrow.DATE32:
		if l.Kind == LitInt {
			r, _ := new(big.Rat).SetString(l.Text)
			return r
		}
		tm, err := time.Parse("2006-01-02", l.Str)
		if err != nil {
			panic(err)
		}
		return new(big.Rat).SetInt64(tm.Unix() / 86400)
	}
	text := l.Text
	if l.Kind == LitString {
		text = l.Str
	}
	r, ok := new(big.Rat).SetString(text)
	if !ok {
		panic("reference cannot parse " + text)
	}
	return r
}

// refCompare compares a non-null row value with a non-null literal.
func refCompare(c randCol, v any, l Literal) int {
	switch c.typ.ID() {
	case arrow.FLOAT64, arrow.FLOAT32:
		f, _ := strconv.ParseFloat(l.Text, 64)
		x := v.(float64)
		switch {
		case math.IsNaN(x):
			return 1
		case x < f:
			return -1
		case x > f:
			return 1
		}
		return 0
	case arrow.STRING, arrow.STRING_VIEW:
		return strings.Compare(v.(string), l.Str)
	case arrow.BINARY:
		return bytes.Compare(v.([]byte), []byte(l.Str))
	case arrow.BOOL:
		x, y := v.(bool), l.Bool
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	}
	return refRat(c, v).Cmp(litRat(c, l))
}

// refEval is a per-row reference interpreter of SQL three-valued logic:
// IN is the OR of equalities and BETWEEN the AND of two comparisons, exactly
// as SQL defines them.
func refEval(e Expr, cols map[string]randCol, row map[string]any) byte {
	cmpTruth := func(c randCol, v any, op Op, l Literal) byte {
		if v == nil || l.Kind == LitNull {
			return tUnknown
		}
		r := refCompare(c, v, l)
		var ok bool
		switch op {
		case OpEq:
			ok = r == 0
		case OpNe:
			ok = r != 0
		case OpLt:
			ok = r < 0
		case OpLe:
			ok = r <= 0
		case OpGt:
			ok = r > 0
		case OpGe:
			ok = r >= 0
		}
		return tv(ok)
	}
	switch t := e.(type) {
	case *AndExpr:
		r := tTrue
		for _, x := range t.Terms {
			r = min(r, refEval(x, cols, row))
		}
		return r
	case *OrExpr:
		r := tFalse
		for _, x := range t.Terms {
			r = max(r, refEval(x, cols, row))
		}
		return r
	case *NotExpr:
		return 2 - refEval(t.X, cols, row)
	case *CmpExpr:
		return cmpTruth(cols[t.Col], row[t.Col], t.Op, t.Lit)
	case *BetweenExpr:
		c := cols[t.Col]
		return min(cmpTruth(c, row[t.Col], OpGe, t.Lo), cmpTruth(c, row[t.Col], OpLe, t.Hi))
	case *InExpr:
		r := tFalse
		for _, l := range t.List {
			r = max(r, cmpTruth(cols[t.Col], row[t.Col], OpEq, l))
		}
		if t.Not {
			return 2 - r
		}
		return r
	case *IsNullExpr:
		return tv((row[t.Col] == nil) != t.Not)
	}
	panic("refEval")
}

func randLit(r *rand.Rand, c randCol) Literal {
	if r.Intn(12) == 0 {
		return Literal{Kind: LitNull}
	}
	return c.lits[r.Intn(len(c.lits))]
}

func randExpr(r *rand.Rand, cols []randCol, depth int) Expr {
	if depth > 0 && r.Intn(3) > 0 {
		switch r.Intn(3) {
		case 0:
			return &NotExpr{X: randExpr(r, cols, depth-1)}
		case 1:
			return &AndExpr{Terms: []Expr{randExpr(r, cols, depth-1), randExpr(r, cols, depth-1)}}
		default:
			return &OrExpr{Terms: []Expr{randExpr(r, cols, depth-1), randExpr(r, cols, depth-1)}}
		}
	}
	c := cols[r.Intn(len(cols))]
	switch r.Intn(10) {
	case 0:
		return &IsNullExpr{Col: c.name, Not: r.Intn(2) == 0}
	case 1, 2:
		n := 1 + r.Intn(4)
		if r.Intn(5) == 0 { // long lists take the hashed path
			n = smallSet + 1 + r.Intn(4)
		}
		in := &InExpr{Col: c.name, Not: r.Intn(2) == 0}
		for i := 0; i < n; i++ {
			in.List = append(in.List, randLit(r, c))
		}
		return in
	case 3:
		return &BetweenExpr{Col: c.name, Lo: randLit(r, c), Hi: randLit(r, c)}
	}
	return &CmpExpr{Col: c.name, Op: Op(r.Intn(6)), Lit: randLit(r, c)}
}

// chunkStats computes statistics the way a Parquet writer does: NaN is left
// out of a float column's min/max.
func chunkStats(c randCol, vals []any) ColumnStats {
	st := ColumnStats{HasNullCount: true, RowCount: int64(len(vals))}
	k, _, _ := kindOf(c.typ)
	for _, v := range vals {
		if v == nil {
			st.NullCount++
			continue
		}
		if f, ok := v.(float64); ok && math.IsNaN(f) {
			continue
		}
		if !st.HasMinMax {
			st.Min, st.Max, st.HasMinMax = v, v, true
			continue
		}
		if x, _ := compareKind(k, v, st.Min); x < 0 {
			st.Min = v
		}
		if x, _ := compareKind(k, v, st.Max); x > 0 {
			st.Max = v
		}
	}
	return st
}

// inInterval reports whether a row value v is inside iv.
func inInterval(k kind, iv Interval, v any) bool {
	if v == nil {
		return iv.Null
	}
	if !iv.NonNull {
		return false
	}
	if !iv.LoUnbounded {
		c, _ := compareKind(k, v, iv.Lo)
		if c < 0 || (c == 0 && !iv.LoInclusive) {
			return false
		}
	}
	if !iv.HiUnbounded {
		c, _ := compareKind(k, v, iv.Hi)
		if c > 0 || (c == 0 && !iv.HiInclusive) {
			return false
		}
	}
	return true
}

func TestRandomAgainstReference(t *testing.T) {
	const rows, exprs, chunk = 240, 1500, 12
	r := rand.New(rand.NewSource(20240501))
	cols := randCols()
	byName := map[string]randCol{}
	var tcols []col
	for _, c := range cols {
		byName[c.name] = c
		vals := make([]any, rows)
		for i := range vals {
			if r.Intn(7) > 0 {
				vals[i] = c.pool[r.Intn(len(c.pool))]
			}
		}
		tcols = append(tcols, col{c.name, c.typ, vals})
	}
	mem := newMem()
	defer mem.AssertSize(t, 0)
	rec := buildRecord(t, mem, tcols)
	defer rec.Release()
	rowVals := make([]map[string]any, rows)
	for i := range rowVals {
		rowVals[i] = map[string]any{}
		for _, c := range tcols {
			rowVals[i][c.name] = c.vals[i]
		}
	}
	stats := make([]map[string]ColumnStats, rows/chunk)
	for ch := range stats {
		stats[ch] = map[string]ColumnStats{}
		for _, c := range cols {
			var vals []any
			for i := ch * chunk; i < (ch+1)*chunk; i++ {
				vals = append(vals, rowVals[i][c.name])
			}
			stats[ch][c.name] = chunkStats(c, vals)
		}
	}

	selectedTotal, pruned := 0, 0
	for n := 0; n < exprs; n++ {
		e := randExpr(r, cols, 3)
		src := e.String()
		parsed, err := Parse(src)
		if err != nil {
			t.Fatalf("Parse(%q): %v", src, err)
		}
		if parsed.String() != src {
			t.Fatalf("round trip %q -> %q", src, parsed.String())
		}
		p, err := Bind(parsed, rec.Schema())
		if err != nil {
			t.Fatalf("Bind(%q): %v", src, err)
		}
		sel, err := p.Eval(rec)
		if err != nil {
			t.Fatalf("Eval(%q): %v", src, err)
		}
		for i := 0; i < rows; i++ {
			want := refEval(e, byName, rowVals[i]) == tTrue
			if sel[i] != want {
				t.Fatalf("%q row %d %v: Eval %v, reference %v", src, i, rowVals[i], sel[i], want)
			}
			if !want {
				continue
			}
			selectedTotal++
			for _, c := range cols {
				k, _, _ := kindOf(c.typ)
				if iv := p.Range(c.name); !inInterval(k, iv, rowVals[i][c.name]) {
					t.Fatalf("%q: selected row %d has %s = %v outside Range %+v", src, i, c.name, rowVals[i][c.name], iv)
				}
			}
		}
		for ch, st := range stats {
			if p.MayMatch(func(name string) (ColumnStats, bool) { s, ok := st[name]; return s, ok }) {
				continue
			}
			pruned++
			for i := ch * chunk; i < (ch+1)*chunk; i++ {
				if sel[i] {
					t.Fatalf("%q: MayMatch false for chunk %d holding selected row %d (stats %v)", src, ch, i, st)
				}
			}
		}
	}
	if pruned < exprs*len(stats)/20 {
		t.Fatalf("MayMatch pruned only %d of %d chunks", pruned, exprs*len(stats))
	}
	// The generator must exercise both outcomes, or the comparison proves
	// little.
	if selectedTotal < rows*exprs/20 || selectedTotal > rows*exprs*19/20 {
		t.Fatalf("selected %d of %d row-evaluations: generator is degenerate", selectedTotal, rows*exprs)
	}
}
