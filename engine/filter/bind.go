package filter

import (
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/kalamdb/libkalam/kerr"
)

func errf(format string, args ...any) error {
	return kerr.New(kerr.InvalidArgument, "filter: "+format, args...)
}

// Two internal operators extend Op with the constant outcomes a literal
// outside a column's domain produces: TRUE (resp. FALSE) for every non-null
// row, and unknown for null rows.
const (
	opTrueNN  Op = 6
	opFalseNN Op = 7
)

func negateOp(o Op) Op {
	switch o {
	case opTrueNN:
		return opFalseNN
	case opFalseNN:
		return opTrueNN
	}
	return o.Negate()
}

// Bound nodes are in negation normal form: Bind pushes every NOT down to the
// leaves, which is exact under Kleene logic (NOT unknown = unknown and De
// Morgan holds), so evaluation, ranges and statistics never see a NOT.
type node interface{ isNode() }

type andNode struct{ kids []node }

type orNode struct{ kids []node }

// cmpNode is `col op v` with v a Value of the column (none for the constant
// ops).
type cmpNode struct {
	col int
	op  Op
	v   any
}

// inNode is `col [NOT] IN (vals..., [NULL])`: vals are the list's literals
// that are values of the column, sorted and unique.
type inNode struct {
	col     int
	neg     bool
	vals    []any
	hasNull bool
}

// nullNode is `col IS [NOT] NULL`.
type nullNode struct {
	col int
	neg bool
}

// unknownNode is unknown for every row (a comparison with a NULL literal).
type unknownNode struct{}

// constNode is TRUE or FALSE for every row.
type constNode struct{ v bool }

func (*constNode) isNode() {}

func (*andNode) isNode()     {}
func (*orNode) isNode()      {}
func (*cmpNode) isNode()     {}
func (*inNode) isNode()      {}
func (*nullNode) isNode()    {}
func (*unknownNode) isNode() {}

// Predicate is a predicate bound to a schema: identifiers resolved, literals
// coerced to the column types. It is immutable and safe for concurrent use.
// A nil *Predicate is the empty filter: it selects every row.
type Predicate struct {
	expr Expr
	root node
	cols []*column
}

// Compile parses and binds src. An empty (or all-blank) src is no filter and
// returns (nil, nil).
func Compile(src string, schema *arrow.Schema) (*Predicate, error) {
	if strings.TrimSpace(src) == "" {
		return nil, nil
	}
	e, err := Parse(src)
	if err != nil {
		return nil, err
	}
	return Bind(e, schema)
}

// Bind resolves identifiers against schema (exact name first, then a unique
// case-insensitive match) and coerces literals to each column's type. Errors
// are kerr.InvalidArgument naming the column and literal.
func Bind(e Expr, schema *arrow.Schema) (*Predicate, error) {
	if e == nil {
		return nil, errf("nil expression")
	}
	b := &binder{schema: schema, byIndex: map[int]int{}}
	root, err := b.bind(e, false)
	if err != nil {
		return nil, err
	}
	bound, err := b.rename(e)
	if err != nil {
		return nil, err
	}
	return &Predicate{expr: bound, root: root, cols: b.cols}, nil
}

type binder struct {
	schema  *arrow.Schema
	cols    []*column
	byIndex map[int]int // schema field index → index in cols
}

func (b *binder) resolve(name string) (int, error) {
	if b.schema == nil {
		return 0, errf("unknown column `%s`", name)
	}
	fi := -1
	if idx := b.schema.FieldIndices(name); len(idx) > 1 {
		return 0, errf("column `%s` is ambiguous: the schema has %d columns of that name", name, len(idx))
	} else if len(idx) == 1 {
		fi = idx[0]
	} else {
		var matches []string
		for i, f := range b.schema.Fields() {
			if strings.EqualFold(f.Name, name) {
				fi = i
				matches = append(matches, "`"+f.Name+"`")
			}
		}
		switch {
		case len(matches) == 0:
			return 0, errf("unknown column `%s`", name)
		case len(matches) > 1:
			return 0, errf("column `%s` is ambiguous: it matches %s", name, strings.Join(matches, ", "))
		}
	}
	if ci, ok := b.byIndex[fi]; ok {
		return ci, nil
	}
	f := b.schema.Field(fi)
	k, lo, hi := kindOf(f.Type)
	b.cols = append(b.cols, &column{name: f.Name, typ: f.Type, kind: k, dlo: lo, dhi: hi})
	b.byIndex[fi] = len(b.cols) - 1
	return len(b.cols) - 1, nil
}

// rename returns a copy of e with every identifier in its schema spelling.
func (b *binder) rename(e Expr) (Expr, error) {
	name := func(n string) (string, error) {
		ci, err := b.resolve(n)
		if err != nil {
			return "", err
		}
		return b.cols[ci].name, nil
	}
	var err error
	switch t := e.(type) {
	case *AndExpr:
		c := &AndExpr{Terms: make([]Expr, len(t.Terms))}
		for i, x := range t.Terms {
			if c.Terms[i], err = b.rename(x); err != nil {
				return nil, err
			}
		}
		return c, nil
	case *OrExpr:
		c := &OrExpr{Terms: make([]Expr, len(t.Terms))}
		for i, x := range t.Terms {
			if c.Terms[i], err = b.rename(x); err != nil {
				return nil, err
			}
		}
		return c, nil
	case *NotExpr:
		x, err := b.rename(t.X)
		return &NotExpr{X: x}, err
	case *CmpExpr:
		c := *t
		c.Col, err = name(t.Col)
		return &c, err
	case *InExpr:
		c := *t
		c.Col, err = name(t.Col)
		return &c, err
	case *IsNullExpr:
		c := *t
		c.Col, err = name(t.Col)
		return &c, err
	case *BetweenExpr:
		c := *t
		c.Col, err = name(t.Col)
		return &c, err
	case *ConstExpr:
		return t, nil
	}
	return nil, errf("unsupported expression %T", e)
}

// bind converts e (negated when neg) to a node in negation normal form.
func (b *binder) bind(e Expr, neg bool) (node, error) {
	switch t := e.(type) {
	case *AndExpr, *OrExpr:
		terms := subTerms(t)
		_, isAnd := t.(*AndExpr)
		kids := make([]node, len(terms))
		for i, x := range terms {
			k, err := b.bind(x, neg)
			if err != nil {
				return nil, err
			}
			kids[i] = k
		}
		if isAnd != neg {
			return &andNode{kids: kids}, nil
		}
		return &orNode{kids: kids}, nil
	case *NotExpr:
		return b.bind(t.X, !neg)
	case *CmpExpr:
		ci, err := b.resolve(t.Col)
		if err != nil {
			return nil, err
		}
		c, err := coerce(b.cols[ci], t.Lit)
		if err != nil {
			return nil, err
		}
		return cmpFor(ci, t.Op, c, neg), nil
	case *BetweenExpr:
		return b.bind(&AndExpr{Terms: []Expr{
			&CmpExpr{Col: t.Col, Op: OpGe, Lit: t.Lo},
			&CmpExpr{Col: t.Col, Op: OpLe, Lit: t.Hi},
		}}, neg)
	case *InExpr:
		ci, err := b.resolve(t.Col)
		if err != nil {
			return nil, err
		}
		col := b.cols[ci]
		n := &inNode{col: ci, neg: neg != t.Not}
		for _, l := range t.List {
			c, err := coerce(col, l)
			if err != nil {
				return nil, err
			}
			switch {
			case c.null:
				n.hasNull = true
			case c.exact:
				n.vals = append(n.vals, c.v)
			}
		}
		n.vals = sortUnique(col.kind, n.vals)
		return n, nil
	case *IsNullExpr:
		ci, err := b.resolve(t.Col)
		if err != nil {
			return nil, err
		}
		return &nullNode{col: ci, neg: neg != t.Not}, nil
	case *ConstExpr:
		return &constNode{v: t.Value != neg}, nil
	}
	return nil, errf("unsupported expression %T", e)
}

// cmpFor builds `col op lit` from a coerced literal. A literal between two
// domain values d1 < L < d2 (or beyond the domain) is exact via:
// x < L ≡ x <= d1, x > L ≡ x >= d2, x = L never, x <> L always.
func cmpFor(ci int, op Op, c coerced, neg bool) node {
	if c.null {
		return &unknownNode{}
	}
	n := &cmpNode{col: ci, op: op, v: c.v}
	isMin, isMax := c.vIsMin, c.vIsMax
	if !c.exact {
		isMin, isMax = false, false
		switch op {
		case OpEq:
			n = &cmpNode{col: ci, op: opFalseNN}
		case OpNe:
			n = &cmpNode{col: ci, op: opTrueNN}
		case OpLt, OpLe:
			if c.hasBelow {
				n = &cmpNode{col: ci, op: OpLe, v: c.below}
				isMax = c.belowIsMax
			} else {
				n = &cmpNode{col: ci, op: opFalseNN}
			}
		default:
			if c.hasAbove {
				n = &cmpNode{col: ci, op: OpGe, v: c.above}
				isMin = c.aboveIsMin
			} else {
				n = &cmpNode{col: ci, op: opFalseNN}
			}
		}
	}
	// At the ends of an integer domain an ordered comparison is constant for
	// non-null rows; folding it keeps ranges and statistics checks tight.
	switch {
	case isMax && n.op == OpLe, isMin && n.op == OpGe:
		n = &cmpNode{col: ci, op: opTrueNN}
	case isMax && n.op == OpGt, isMin && n.op == OpLt:
		n = &cmpNode{col: ci, op: opFalseNN}
	}
	if neg {
		n.op = negateOp(n.op)
	}
	return n
}

func subTerms(e Expr) []Expr {
	switch t := e.(type) {
	case *AndExpr:
		return t.Terms
	case *OrExpr:
		return t.Terms
	}
	return []Expr{e}
}

func sortUnique(k kind, vals []any) []any {
	sort.SliceStable(vals, func(i, j int) bool {
		c, _ := compareKind(k, vals[i], vals[j])
		return c < 0
	})
	out := vals[:0]
	for i, v := range vals {
		if i > 0 {
			if c, _ := compareKind(k, out[len(out)-1], v); c == 0 {
				continue
			}
		}
		out = append(out, v)
	}
	return out
}

// String renders the predicate as canonical SQL with the schema's spelling
// of each column.
func (p *Predicate) String() string {
	if p == nil {
		return ""
	}
	return p.expr.String()
}

// Expr returns the bound expression tree (identifiers in schema spelling).
func (p *Predicate) Expr() Expr {
	if p == nil {
		return nil
	}
	return p.expr
}

// Columns returns the referenced column names in schema spelling, sorted and
// unique.
func (p *Predicate) Columns() []string {
	if p == nil {
		return nil
	}
	names := make([]string, len(p.cols))
	for i, c := range p.cols {
		names[i] = c.name
	}
	sort.Strings(names)
	return names
}
