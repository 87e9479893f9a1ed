package filter

import (
	"errors"
	"math"
	"math/rand"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/kalamdb/libkalam/kerr"
)

// fuzzCols is the fixed schema FuzzParse compiles against: the columns of the
// randomized reference test (so its generator can seed the corpus) plus
// every other type a filter can meet, names that need quoting, keywords and
// case variants, and a nested column that supports only IS [NOT] NULL. Each
// column carries the pool its batch values are drawn from, edge values of
// its domain included.
func fuzzCols() []randCol {
	cols := randCols()
	i64 := func(v ...int64) []any {
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = x
		}
		return out
	}
	u64 := func(v ...uint64) []any {
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = x
		}
		return out
	}
	nan, inf := math.NaN(), math.Inf(1)
	ms := &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}
	extra := []randCol{
		{name: "id", typ: arrow.PrimitiveTypes.Int64, pool: i64(math.MinInt64, -1, 0, 1, 5, 10, math.MaxInt64)},
		{name: "i16", typ: arrow.PrimitiveTypes.Int16, pool: i64(math.MinInt16, -1, 0, 7, math.MaxInt16)},
		{name: "i32", typ: arrow.PrimitiveTypes.Int32, pool: i64(math.MinInt32, -2, 0, 3, math.MaxInt32)},
		{name: "u8", typ: arrow.PrimitiveTypes.Uint8, pool: u64(0, 1, 200, math.MaxUint8)},
		{name: "u32", typ: arrow.PrimitiveTypes.Uint32, pool: u64(0, 9, math.MaxUint32)},
		{name: "u64", typ: arrow.PrimitiveTypes.Uint64, pool: u64(0, 1, 1<<63, math.MaxUint64)},
		{name: "f", typ: arrow.PrimitiveTypes.Float64, pool: []any{nan, math.Copysign(0, -1), 0.0, 0.5, -1e300, inf, -inf, math.MaxFloat64, math.SmallestNonzeroFloat64}},
		{name: "h", typ: arrow.FixedWidthTypes.Float16, pool: []any{nan, 0.0, 1.5, -2.0, 65504.0, inf}},
		{name: "name", typ: arrow.BinaryTypes.String, pool: []any{"", "x", "it's", "é", "a\x00b", "\"q\""}},
		{name: "ls", typ: arrow.BinaryTypes.LargeString, pool: []any{"", "a", "b", "zz"}},
		{name: "lb", typ: arrow.BinaryTypes.LargeBinary, pool: []any{[]byte{}, []byte{0}, []byte("a"), []byte{0xff}}},
		{name: "bv", typ: arrow.BinaryTypes.BinaryView, pool: []any{[]byte{}, []byte("abc"), []byte("a longer value than twelve bytes")}},
		{name: "fsb", typ: &arrow.FixedSizeBinaryType{ByteWidth: 2}, pool: []any{[]byte{0, 0}, []byte("ab"), []byte{0xff, 0xff}}},
		{name: "flag", typ: arrow.FixedWidthTypes.Boolean, pool: []any{true, false}},
		{name: "amount", typ: &arrow.Decimal128Type{Precision: 10, Scale: 2},
			pool: []any{decimal128.FromI64(-9999999999), decimal128.FromI64(0), decimal128.FromI64(150), decimal128.FromI64(9999999999)}},
		{name: "neg_scale", typ: &arrow.Decimal128Type{Precision: 4, Scale: -2},
			pool: []any{decimal128.FromI64(-9999), decimal128.FromI64(0), decimal128.FromI64(12)}},
		{name: "d64", typ: arrow.FixedWidthTypes.Date64, pool: i64(0, 86400000, -86400000)},
		{name: "t", typ: arrow.FixedWidthTypes.Time64us, pool: i64(0, 1, 86399999999)},
		{name: "t32", typ: arrow.FixedWidthTypes.Time32s, pool: i64(0, 3600, 86399)},
		{name: "tsus", typ: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "+02:00"}, pool: i64(math.MinInt64, 0, 1714557600000000, math.MaxInt64)},
		{name: "tsns", typ: &arrow.TimestampType{Unit: arrow.Nanosecond}, pool: i64(math.MinInt64, -1, 0, 1714557600000000000, math.MaxInt64)},
		{name: "tsms", typ: ms, pool: i64(0, 1714557600000)},
		{name: "dur", typ: arrow.FixedWidthTypes.Duration_s, pool: i64(-1, 0, 60)},
		{name: "UserId", typ: arrow.BinaryTypes.String, pool: []any{"u1", "u2"}},
		{name: "Ab", typ: arrow.PrimitiveTypes.Int64, pool: i64(1, 2)},
		{name: "aB", typ: arrow.PrimitiveTypes.Int64, pool: i64(1, 2)},
		{name: "tags", typ: arrow.ListOf(arrow.PrimitiveTypes.Int64), pool: []any{[]int64{}, []int64{1, 2}}},
		{name: "my col", typ: arrow.PrimitiveTypes.Int64, pool: i64(0, 1)},
		{name: "select", typ: arrow.PrimitiveTypes.Int64, pool: i64(0, 2)},
		{name: "or", typ: arrow.PrimitiveTypes.Int64, pool: i64(0, 3)},
		{name: `q"uote`, typ: arrow.PrimitiveTypes.Int64, pool: i64(0, 4)},
	}
	return append(cols, extra...)
}

// fuzzParseSeeds are the inputs of the parser, binder and evaluation tests
// (valid, and invalid in every way those tests know), rewritten where needed
// to the columns of fuzzCols.
var fuzzParseSeeds = []string{
	"id = 5", "ID=5", "id != 5", "id<=-3", "id >= 007", "id > -0", "f < 2.5", "f < 1e3", "f < -.5E-2", "f < 5.",
	"name = 'it''s'", "name = ''", "name = 'héllo'", "flag = true", "flag <> False", "f = null", "5 < id", "'a' = name",
	"NULL <> f", "id in (1, 2,3)", "id NOT IN (1, NULL)", "f is null", "f IS NOT NULL", "f between 1 and 10",
	`"my col" = 1`, `"plain" = 1`, `"and" = 1`, `"q""uote" = 1`, `"1x" = 1`, "i64 = 1 AND i8 = 2 OR u16 = 3",
	"i64 = 1 AND (i8 = 2 OR u16 = 3)", "NOT i64 = 1 AND i8 = 2", "not not f IS NULL", "((id = 1))", "  id\t=\n1  ",
	"name BETWEEN 'a' AND 'b' AND id = 1", "", "id = )", "id IN ()", "id IN 1", "id IN (1 2)", "id IN (1,", "(id = 1",
	"id = 1 id = 2", "id = 1)", "id", "id 5", "id IS 5", "id IS NOT 5", "id NOT BETWEEN 1 AND 2", "id BETWEEN 1 OR 2",
	"name = 'abc", `"abc = 1`, `"" = 1`, "id = 12ab", "id = 1.2.3", "id = 1e", "id = -", "id ! 1", "id = 1 AND é = 2",
	"'é' = 'x'", "5 = 6", "5 IN (1)", "AND = 1", "id = 1 AND", "NOT", "id = name", "flag = TRUEX",
	strings.Repeat("(", 40) + "id = 1" + strings.Repeat(")", 40), strings.Repeat("NOT ", 30) + "id = 1",
	"nope = 1", "ab = 1", "id = 'abc'", "id = TRUE", "id IN (1, 'x')", "name = 5", "flag = 1", "f = 'nan'",
	"ts = 'yesterday'", "ts = '2024-05-01T25:00:00'", "ts = '2024-05-01T10:00:00.1234567891'", "ts = '2024-05-01X10:00'",
	"ts = '2024-05-01T10:00:00+25:00'", "ts = '2024-05-01T10:00:00 UTC'", "ts = 1.5", "dt = '2024-02-30'",
	"dt = '2023-02-29'", "t = '24:00:00'", "t = '10:00:00Z'", "t = '23:59:59.999999'", "dur = '1s'",
	"amount = '1/3'", "amount = 1e5000", "id > 1e5000", "amount < 12.345", "neg_scale > 150", "neg_scale = '1e3'",
	"tags = 1", "tags IS NOT NULL", "userid = 'u1'", "Ab = 1 OR aB = 2", `"OR" = 3 AND "select" = 2`,
	"i8 > 127.5", "i8 < -128.5", "u16 > -1", "u64 <= 18446744073709551615", "u64 > 18446744073709551616",
	"id >= -9223372036854775808", "id < -9223372036854775809", "f32 = 0.1", "h > 65504", "h < -1e400",
	"tsns > '1677-09-21T00:12:43.145224192Z'", "tsus BETWEEN '2024-05-01' AND '2024-05-01T12:00:00-01:30'",
	"tsn = '2024-05-01T10:00:00.5'", "d64 = '1970-01-02'", "t32 < '01:00'", "fsb = 'ab'", "bv >= 'abc'",
	"lb IN ('', 'a')", "ls NOT IN ('a', NULL)", "sv < 'b'", "bin = ''",
}

// fuzzBatch builds the fixed batch FuzzParse evaluates on: rows values drawn
// from each column's pool, about one in six null. The caller releases it.
func fuzzBatch(t testing.TB, cols []randCol, rows int) (arrow.RecordBatch, []map[string]any) {
	r := rand.New(rand.NewSource(7))
	tcols := make([]col, len(cols))
	vals := make([]map[string]any, rows)
	for i := range vals {
		vals[i] = map[string]any{}
	}
	for j, c := range cols {
		v := make([]any, rows)
		for i := range v {
			if r.Intn(6) > 0 {
				v[i] = c.pool[r.Intn(len(c.pool))]
			}
			vals[i][c.name] = v[i]
		}
		tcols[j] = col{c.name, c.typ, v}
	}
	return buildRecord(t, newMem(), tcols), vals
}

var positionRE = regexp.MustCompile(`at position (\d+)`)

// identsOf returns the column names written in e.
func identsOf(e Expr, out []string) []string {
	switch t := e.(type) {
	case *AndExpr:
		for _, x := range t.Terms {
			out = identsOf(x, out)
		}
	case *OrExpr:
		for _, x := range t.Terms {
			out = identsOf(x, out)
		}
	case *NotExpr:
		out = identsOf(t.X, out)
	case *CmpExpr:
		out = append(out, t.Col)
	case *InExpr:
		out = append(out, t.Col)
	case *IsNullExpr:
		out = append(out, t.Col)
	case *BetweenExpr:
		out = append(out, t.Col)
	}
	return out
}

// hasNullLiteral reports whether e compares with a NULL literal anywhere, the
// only way a row without nulls can evaluate to unknown.
func hasNullLiteral(e Expr) bool {
	switch t := e.(type) {
	case *AndExpr:
		for _, x := range t.Terms {
			if hasNullLiteral(x) {
				return true
			}
		}
	case *OrExpr:
		for _, x := range t.Terms {
			if hasNullLiteral(x) {
				return true
			}
		}
	case *NotExpr:
		return hasNullLiteral(t.X)
	case *CmpExpr:
		return t.Lit.Kind == LitNull
	case *InExpr:
		for _, l := range t.List {
			if l.Kind == LitNull {
				return true
			}
		}
	case *BetweenExpr:
		return t.Lo.Kind == LitNull || t.Hi.Kind == LitNull
	}
	return false
}

// FuzzParse compiles arbitrary text against a schema of every type and
// checks, besides not panicking:
//   - a failure is kerr.InvalidArgument whose message names a position inside
//     the input (syntax) or a column in backquotes (binding);
//   - String() of a compiled predicate is canonical: it compiles again to a
//     predicate with the same String() and the same selection on a batch
//     with nulls and edge values (also on a slice of it, at an offset);
//   - p and NOT (p) are never both TRUE, and on rows where every referenced
//     column is non-null and no NULL literal occurs, exactly one is;
//   - every selected row lies inside Range of every referenced column, and
//     MayMatch with the batch's own statistics is true when a row matches.
func FuzzParse(f *testing.F) {
	cols := fuzzCols()
	// The reference test's generator writes valid filters over its columns,
	// which fuzzCols starts with.
	r, base := rand.New(rand.NewSource(1)), randCols()
	for _, s := range fuzzParseSeeds {
		f.Add(s)
	}
	for i := 0; i < 40; i++ {
		f.Add(randExpr(r, base, 3).String())
	}
	rec, rows := fuzzBatch(f, cols, 48)
	defer rec.Release()
	schema := rec.Schema()
	byName := map[string]randCol{}
	for _, c := range cols {
		byName[c.name] = c
	}
	stats := map[string]ColumnStats{}
	for _, c := range cols {
		if k, _, _ := kindOf(c.typ); k == kNullOnly {
			continue
		}
		vals := make([]any, len(rows))
		for i := range rows {
			vals[i] = rows[i][c.name]
		}
		stats[c.name] = chunkStats(c, vals)
	}
	sub := rec.NewSlice(5, 41)
	defer sub.Release()

	f.Fuzz(func(t *testing.T, src string) {
		p, err := Compile(src, schema)
		if err != nil {
			checkFilterError(t, src, err, schema)
			return
		}
		if p == nil {
			if strings.TrimSpace(src) != "" {
				t.Fatalf("Compile(%q) = nil, nil for a non-blank filter", src)
			}
			return
		}
		canon := p.String()
		p2, err := Compile(canon, schema)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not compile: %v", canon, src, err)
		}
		if got := p2.String(); got != canon {
			t.Fatalf("canonical form is not a fixed point: %q -> %q -> %q", src, canon, got)
		}
		sel := evalOK(t, p, rec, src)
		sel2 := evalOK(t, p2, rec, canon)
		for i := range sel {
			if sel[i] != sel2[i] {
				t.Fatalf("%q and its canonical form %q differ on row %d %v: %v vs %v", src, canon, i, rows[i], sel[i], sel2[i])
			}
		}
		subSel := evalOK(t, p, sub, src)
		for i, s := range subSel {
			if s != sel[5+i] {
				t.Fatalf("%q on a slice at offset 5: row %d is %v, on the whole batch %v", src, i, s, sel[5+i])
			}
		}

		// NOT (p): its rows are exactly those where p is FALSE.
		not, err := Compile("NOT ("+canon+")", schema)
		if err != nil {
			if strings.Contains(err.Error(), "nested deeper") {
				return // p is already at the depth limit: NOT adds a level
			}
			t.Fatalf("NOT (%q) does not compile: %v", canon, err)
		}
		notSel := evalOK(t, not, rec, "NOT "+canon)
		twoValued := !hasNullLiteral(p.Expr())
		used := p.Columns()
		matched := false
		for i := range sel {
			if sel[i] && notSel[i] {
				t.Fatalf("%q and its negation are both TRUE on row %d %v", canon, i, rows[i])
			}
			noNulls := true
			for _, c := range used {
				if rows[i][c] == nil {
					noNulls = false
				}
			}
			if twoValued && noNulls && !sel[i] && !notSel[i] {
				t.Fatalf("%q is unknown on row %d %v, which has no nulls in %v", canon, i, rows[i], used)
			}
			if !sel[i] {
				continue
			}
			matched = true
			for _, c := range used {
				k, _, _ := kindOf(byName[c].typ)
				if k == kNullOnly {
					if iv := p.Range(c); (rows[i][c] == nil && !iv.Null) || (rows[i][c] != nil && !iv.NonNull) {
						t.Fatalf("%q: selected row %d has %s = %v outside Range %+v", canon, i, c, rows[i][c], iv)
					}
					continue
				}
				if iv := p.Range(c); !inInterval(k, iv, rows[i][c]) {
					t.Fatalf("%q: selected row %d has %s = %v outside Range %+v", canon, i, c, rows[i][c], iv)
				}
			}
		}
		if matched && !p.MayMatch(func(c string) (ColumnStats, bool) { s, ok := stats[c]; return s, ok }) {
			t.Fatalf("%q selects rows but MayMatch is false on the batch's statistics", canon)
		}
	})
}

func evalOK(t *testing.T, p *Predicate, rec arrow.RecordBatch, src string) []bool {
	t.Helper()
	sel, err := p.Eval(rec)
	if err != nil {
		t.Fatalf("Eval(%q): %v", src, err)
	}
	if len(sel) != int(rec.NumRows()) {
		t.Fatalf("Eval(%q): %d results for %d rows", src, len(sel), rec.NumRows())
	}
	return sel
}

// checkFilterError asserts the error contract of DESIGN §4.1.
func checkFilterError(t *testing.T, src string, err error, schema *arrow.Schema) {
	t.Helper()
	var ke *kerr.Error
	if !errors.As(err, &ke) || kerr.CodeOf(err) != kerr.InvalidArgument {
		t.Fatalf("Compile(%q): error %v has code %v, want INVALID_ARGUMENT", src, err, kerr.CodeOf(err))
	}
	msg := err.Error()
	if m := positionRE.FindStringSubmatch(msg); m != nil {
		pos, _ := strconv.Atoi(m[1])
		if n := utf8.RuneCountInString(src); pos < 1 || pos > n+1 {
			t.Fatalf("Compile(%q): position %d outside the %d-character input: %s", src, pos, n, msg)
		}
		if _, perr := Parse(src); perr == nil {
			t.Fatalf("Compile(%q) reports a syntax error but Parse accepts it: %s", src, msg)
		}
		return
	}
	e, perr := Parse(src)
	if perr != nil {
		t.Fatalf("Parse(%q) fails without naming a position: %v", src, perr)
	}
	names := identsOf(e, nil)
	for _, fld := range schema.Fields() {
		names = append(names, fld.Name)
	}
	for _, n := range names {
		if strings.Contains(msg, "`"+n+"`") {
			return
		}
	}
	t.Fatalf("Compile(%q): bind error names no column: %s", src, msg)
}
