package filter

import (
	"strings"
	"testing"
)

func TestParseCanonical(t *testing.T) {
	cases := []struct{ src, want string }{
		{"id = 5", "id = 5"},
		{"ID=5", "ID = 5"},
		{"id != 5", "id <> 5"},
		{"id <> 5", "id <> 5"},
		{"id<=-3", "id <= -3"},
		{"id >= 007", "id >= 7"},
		{"id > -0", "id > 0"},
		{"x < 2.5", "x < 2.5"},
		{"x < 1e3", "x < 1e3"},
		{"x < -.5E-2", "x < -.5E-2"},
		{"x < 5.", "x < 5."},
		{"s = 'it''s'", "s = 'it''s'"},
		{"s = ''", "s = ''"},
		{"s = 'héllo'", "s = 'héllo'"},
		{"b = true", "b = TRUE"},
		{"b <> False", "b <> FALSE"},
		{"x = null", "x = NULL"},
		{"5 < id", "id > 5"},
		{"5 <= id", "id >= 5"},
		{"'a' = s", "s = 'a'"},
		{"NULL <> x", "x <> NULL"},
		{"id in (1, 2,3)", "id IN (1, 2, 3)"},
		{"id NOT IN (1, NULL)", "id NOT IN (1, NULL)"},
		{"x is null", "x IS NULL"},
		{"x IS NOT NULL", "x IS NOT NULL"},
		{"x between 1 and 10", "x BETWEEN 1 AND 10"},
		{`"my col" = 1`, `"my col" = 1`},
		{`"plain" = 1`, "plain = 1"},
		{`"and" = 1`, `"and" = 1`},
		{`"a""b" = 1`, `"a""b" = 1`},
		{`"1x" = 1`, `"1x" = 1`},
		{"a = 1 AND b = 2 OR c = 3", "a = 1 AND b = 2 OR c = 3"},
		{"a = 1 AND (b = 2 OR c = 3)", "a = 1 AND (b = 2 OR c = 3)"},
		{"(a = 1 AND b = 2) AND c = 3", "a = 1 AND b = 2 AND c = 3"},
		{"a = 1 OR (b = 2 OR c = 3)", "a = 1 OR b = 2 OR c = 3"},
		{"NOT a = 1 AND b = 2", "NOT (a = 1) AND b = 2"},
		{"NOT (a = 1 AND b = 2)", "NOT (a = 1 AND b = 2)"},
		{"not not a IS NULL", "NOT (NOT (a IS NULL))"},
		{"((a = 1))", "a = 1"},
		{"  a\t=\n1  ", "a = 1"},
		{"x BETWEEN 'a' AND 'b' AND y = 1", "x BETWEEN 'a' AND 'b' AND y = 1"},
	}
	for _, c := range cases {
		e, err := Parse(c.src)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.src, err)
		}
		if got := e.String(); got != c.want {
			t.Errorf("Parse(%q).String() = %q, want %q", c.src, got, c.want)
		}
		// The canonical form is a fixed point.
		e2, err := Parse(c.want)
		if err != nil || e2.String() != c.want {
			t.Errorf("canonical %q does not round-trip: %v %v", c.want, e2, err)
		}
	}
}

func TestParseTree(t *testing.T) {
	e, err := Parse("a = 1 OR b IN (2, 'x') AND NOT c IS NOT NULL")
	if err != nil {
		t.Fatal(err)
	}
	or, ok := e.(*OrExpr)
	if !ok || len(or.Terms) != 2 {
		t.Fatalf("top is %T %v, want a 2-term OR", e, e)
	}
	cmp := or.Terms[0].(*CmpExpr)
	if cmp.Col != "a" || cmp.Op != OpEq || cmp.Lit.Kind != LitInt || cmp.Lit.Text != "1" {
		t.Fatalf("first term %+v", cmp)
	}
	and := or.Terms[1].(*AndExpr)
	in := and.Terms[0].(*InExpr)
	if in.Col != "b" || in.Not || len(in.List) != 2 || in.List[1].Kind != LitString || in.List[1].Str != "x" {
		t.Fatalf("IN term %+v", in)
	}
	not := and.Terms[1].(*NotExpr)
	if isn := not.X.(*IsNullExpr); isn.Col != "c" || !isn.Not {
		t.Fatalf("NOT term %+v", isn)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ src, msg string }{
		{"", "at position 1: expected expression, found end of input"},
		{"id = )", `at position 6: expected literal, found ")"`},
		{"id IN ()", `at position 8: expected literal, found ")"`},
		{"id IN 1", `at position 7: expected "(", found "1"`},
		{"id IN (1 2)", `at position 10: expected "," or ")", found "2"`},
		{"id IN (1,", `at position 10: expected literal, found end of input`},
		{"(a = 1", `at position 7: expected AND, OR or ")", found end of input`},
		{"a = 1 b = 2", `at position 7: expected AND, OR or end of input, found "b"`},
		{"a = 1)", `at position 6: expected AND, OR or end of input, found ")"`},
		{"a", `at position 2: expected comparison operator, IN, NOT IN, IS or BETWEEN, found end of input`},
		{"a 5", `at position 3: expected comparison operator, IN, NOT IN, IS or BETWEEN, found "5"`},
		{"a IS 5", `at position 6: expected NULL or NOT NULL, found "5"`},
		{"a IS NOT 5", `at position 10: expected NULL, found "5"`},
		{"a NOT BETWEEN 1 AND 2", `at position 7: expected IN, found "BETWEEN"`},
		{"a BETWEEN 1 OR 2", `at position 13: expected AND, found "OR"`},
		{"a = 'abc", `at position 5: unterminated string literal`},
		{`"abc = 1`, `at position 1: unterminated quoted identifier`},
		{`"" = 1`, `at position 1: empty quoted identifier`},
		{"a = 12ab", `at position 5: invalid number "12ab"`},
		{"a = 1.2.3", `at position 5: invalid number "1.2.3"`},
		{"a = 1e", `at position 5: invalid number "1e"`},
		{"a = -", `at position 5: unexpected character "-"`},
		{"a ! 1", `at position 3: unexpected character "!"`},
		{"a = 1 AND é = 2", `at position 11: unexpected character "é"`},
		{"é = 1 AND a = ", `at position 1: unexpected character "é"`},
		{"'é' = 'x'", `at position 7: expected identifier, found "'x'"`},
		{"5 = 6", `at position 5: expected identifier, found "6"`},
		{"5 IN (1)", `at position 3: expected comparison operator, found "IN"`},
		{"AND = 1", `at position 1: expected expression, found "AND"`},
		{"a = 1 AND", `at position 10: expected expression, found end of input`},
		{"NOT", `at position 4: expected expression, found end of input`},
		{"a = b", `at position 5: expected literal, found "b"`},
		{"a = TRUEX", `at position 5: expected literal, found "TRUEX"`},
	}
	for _, c := range cases {
		_, err := Parse(c.src)
		wantInvalid(t, "Parse("+c.src+")", err, "filter: syntax error "+c.msg)
	}
}

func TestParseDepthLimit(t *testing.T) {
	deep := strings.Repeat("(", maxDepth) + "a = 1" + strings.Repeat(")", maxDepth)
	if _, err := Parse(deep); err == nil || !strings.Contains(err.Error(), "at position 1001: expression nested deeper than 1000 levels") {
		t.Fatalf("Parse(%d parentheses): %v", maxDepth, err)
	}
	ok := strings.Repeat("NOT ", maxDepth-1) + "a = 1"
	if _, err := Parse(ok); err != nil {
		t.Fatalf("Parse(%d NOTs): %v", maxDepth-1, err)
	}
}

func TestParseErrorsAtPosition(t *testing.T) {
	// The first error in reading order is reported, even when the lexer
	// would trip over something later.
	_, err := Parse("a = ) 'unterminated")
	wantInvalid(t, "lazy lexing", err, `filter: syntax error at position 5: expected literal, found ")"`)
}
