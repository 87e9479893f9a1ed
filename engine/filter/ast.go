// Package filter implements the scan filter language of DESIGN §4.1: it
// parses a SQL-style predicate, binds it to an Arrow schema, evaluates it
// exactly on record batches with SQL three-valued logic, and derives
// conservative value ranges and statistics checks for pruning.
//
// Values follow the shared convention of engine/keyenc: nil for NULL, int64
// for signed ints and every temporal type (raw value in the column's unit),
// uint64 for unsigned ints, float64 for floats, bool, string for utf8
// types, []byte for binary types and decimal128.Num for decimal128.
//
// Choices where DESIGN §4.1 is silent:
//   - Floats compare in a total order: NaN equals NaN and is greater than
//     every number (as in keyenc and arrow-rs), so `x > 5` holds for NaN;
//     -0 equals +0. A number literal against a float column is rounded to
//     the nearest float64 (so float32 `x = 0.1` matches nothing, as in SQL
//     engines that widen the column); one beyond float64 range stays exact.
//   - Integer, decimal and temporal comparisons are exact: a literal that is
//     not a value of the column (2.5 vs int, 300 vs int8, a timestamp with
//     sub-unit digits) is rewritten to an equivalent comparison with its
//     neighbours in the column's domain.
//   - A timestamp literal with an offset is converted to UTC for naive
//     columns too; without one it is read as UTC (for naive columns that is
//     the wall-clock value as written).
//   - A literal may be written left of a comparison (`5 < id`); it is
//     normalised to `id > 5`. String() renders `<>` for both `!=` and `<>`.
package filter

import (
	"strings"
)

// Expr is a parsed, unbound predicate. Its String method renders canonical
// SQL that parses back to the same tree.
type Expr interface {
	String() string
	isExpr()
}

// Op is a comparison operator.
type Op int

// The comparison operators of the grammar. "!=" and "<>" both parse to OpNe.
const (
	OpEq Op = iota
	OpNe
	OpLt
	OpLe
	OpGt
	OpGe
)

var opText = [...]string{"=", "<>", "<", "<=", ">", ">="}

// String returns the SQL spelling of the operator.
func (o Op) String() string {
	if o >= 0 && int(o) < len(opText) {
		return opText[o]
	}
	return "?"
}

// Negate returns the operator o' with NOT (a o b) ≡ a o' b under a total
// order.
func (o Op) Negate() Op {
	switch o {
	case OpEq:
		return OpNe
	case OpNe:
		return OpEq
	case OpLt:
		return OpGe
	case OpLe:
		return OpGt
	case OpGt:
		return OpLe
	default:
		return OpLt
	}
}

// Flip returns the operator o' with (a o b) ≡ (b o' a); it normalises a
// literal written on the left.
func (o Op) Flip() Op {
	switch o {
	case OpLt:
		return OpGt
	case OpLe:
		return OpGe
	case OpGt:
		return OpLt
	case OpGe:
		return OpLe
	default:
		return o
	}
}

// LiteralKind says which literal production a Literal came from.
type LiteralKind int

// Literal kinds.
const (
	LitInt LiteralKind = iota
	LitFloat
	LitString
	LitBool
	LitNull
)

// Literal is a constant as written in the predicate. Numbers keep their
// source text so that binding can coerce them exactly.
type Literal struct {
	Kind LiteralKind
	Text string // LitInt/LitFloat: the number as written
	Str  string // LitString: the unescaped value
	Bool bool   // LitBool
}

// String renders the literal in canonical SQL.
func (l Literal) String() string {
	switch l.Kind {
	case LitInt, LitFloat:
		return l.Text
	case LitString:
		return "'" + strings.ReplaceAll(l.Str, "'", "''") + "'"
	case LitBool:
		if l.Bool {
			return "TRUE"
		}
		return "FALSE"
	default:
		return "NULL"
	}
}

// AndExpr is the conjunction of two or more terms.
type AndExpr struct{ Terms []Expr }

// OrExpr is the disjunction of two or more terms.
type OrExpr struct{ Terms []Expr }

// NotExpr is NOT X.
type NotExpr struct{ X Expr }

// CmpExpr is `Col Op Lit`.
type CmpExpr struct {
	Col string
	Op  Op
	Lit Literal
}

// InExpr is `Col [NOT] IN (List...)`.
type InExpr struct {
	Col  string
	Not  bool
	List []Literal
}

// IsNullExpr is `Col IS [NOT] NULL`.
type IsNullExpr struct {
	Col string
	Not bool
}

// BetweenExpr is `Col BETWEEN Lo AND Hi` (inclusive on both ends).
type BetweenExpr struct {
	Col    string
	Lo, Hi Literal
}

// ConstExpr is TRUE (every row) or FALSE (no row).
type ConstExpr struct{ Value bool }

func (*AndExpr) isExpr()     {}
func (*OrExpr) isExpr()      {}
func (*NotExpr) isExpr()     {}
func (*CmpExpr) isExpr()     {}
func (*InExpr) isExpr()      {}
func (*IsNullExpr) isExpr()  {}
func (*BetweenExpr) isExpr() {}
func (*ConstExpr) isExpr()   {}

// String renders the conjunction; OR terms are parenthesised because AND
// binds tighter.
func (e *AndExpr) String() string {
	parts := make([]string, len(e.Terms))
	for i, t := range e.Terms {
		if _, ok := t.(*OrExpr); ok {
			parts[i] = "(" + t.String() + ")"
		} else {
			parts[i] = t.String()
		}
	}
	return strings.Join(parts, " AND ")
}

// String renders the disjunction.
func (e *OrExpr) String() string {
	parts := make([]string, len(e.Terms))
	for i, t := range e.Terms {
		parts[i] = t.String()
	}
	return strings.Join(parts, " OR ")
}

// String renders NOT with its operand always parenthesised, which keeps the
// scope obvious to a reader (NOT binds tighter than AND).
func (e *NotExpr) String() string { return "NOT (" + e.X.String() + ")" }

func (e *ConstExpr) String() string {
	if e.Value {
		return "TRUE"
	}
	return "FALSE"
}

// String renders `col op literal`.
func (e *CmpExpr) String() string {
	return QuoteIdent(e.Col) + " " + e.Op.String() + " " + e.Lit.String()
}

// String renders `col [NOT] IN (...)`.
func (e *InExpr) String() string {
	var b strings.Builder
	b.WriteString(QuoteIdent(e.Col))
	if e.Not {
		b.WriteString(" NOT IN (")
	} else {
		b.WriteString(" IN (")
	}
	for i, l := range e.List {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(l.String())
	}
	b.WriteString(")")
	return b.String()
}

// String renders `col IS [NOT] NULL`.
func (e *IsNullExpr) String() string {
	if e.Not {
		return QuoteIdent(e.Col) + " IS NOT NULL"
	}
	return QuoteIdent(e.Col) + " IS NULL"
}

// String renders `col BETWEEN lo AND hi`.
func (e *BetweenExpr) String() string {
	return QuoteIdent(e.Col) + " BETWEEN " + e.Lo.String() + " AND " + e.Hi.String()
}

var keywords = map[string]bool{
	"AND": true, "OR": true, "NOT": true, "IN": true, "IS": true, "NULL": true,
	"BETWEEN": true, "TRUE": true, "FALSE": true,
}

// QuoteIdent renders a column name as an identifier of the grammar: bare when
// it is a plain identifier that is not a keyword, double-quoted otherwise
// (a double quote inside is doubled).
func QuoteIdent(name string) string {
	if isPlainIdent(name) && !keywords[strings.ToUpper(name)] {
		return name
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

func isPlainIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (i > 0 && c >= '0' && c <= '9') {
			continue
		}
		return false
	}
	return true
}
