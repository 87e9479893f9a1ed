package filter

import (
	"math"
	"strings"
)

// Interval is a conservative superset of the values of one column over the
// rows that can satisfy a predicate. Lo/Hi are Values of the column's type
// and are meaningful only when NonNull is set; for float columns a zero
// bound is widened to cover both -0 and +0 (Lo = -0, Hi = +0), and NaN
// counts as greater than every number, so it lies only under an unbounded
// Hi.
type Interval struct {
	Empty                    bool // no value (and no null) can satisfy
	Lo, Hi                   any  // Values; nil with LoUnbounded/HiUnbounded
	LoUnbounded, HiUnbounded bool
	LoInclusive, HiInclusive bool
	Null                     bool // rows where the column IS NULL may satisfy
	NonNull                  bool // rows with non-null values within [Lo, Hi] may satisfy
}

// Full is the interval that excludes nothing.
func Full() Interval {
	return Interval{Null: true, NonNull: true, LoUnbounded: true, HiUnbounded: true}
}

func anyValue() Interval { return Interval{NonNull: true, LoUnbounded: true, HiUnbounded: true} }

func emptyInterval() Interval { return Interval{Empty: true} }

// ColumnStats are the statistics of one column over a chunk (a segment or a
// row group). Min and Max bound the non-null values, except that NaN may lie
// above Max for float columns (Parquet writers leave NaN out of min/max).
// RowCount is read only together with NullCount (HasNullCount).
type ColumnStats struct {
	Min, Max     any
	HasMinMax    bool
	NullCount    int64
	HasNullCount bool
	RowCount     int64
	// NaNFree says Max is the true maximum of a float column: no NaN hides
	// above it. The engine's own segment statistics drop min/max when a NaN
	// is present, so they set it; Parquet statistics do not.
	NaNFree bool
}

// findCol returns the index of col among p's columns: exact name first, then
// a unique case-insensitive match; -1 when p does not reference it.
func (p *Predicate) findCol(col string) int {
	for i, c := range p.cols {
		if c.name == col {
			return i
		}
	}
	found := -1
	for i, c := range p.cols {
		if strings.EqualFold(c.name, col) {
			if found >= 0 {
				return -1
			}
			found = i
		}
	}
	return found
}

// Range returns a conservative superset of the values column col takes over
// all rows that can satisfy p (Full when p does not constrain col).
func (p *Predicate) Range(col string) Interval {
	if p == nil {
		return Full()
	}
	if c, ok := p.root.(*constNode); ok && !c.v {
		return emptyInterval() // FALSE: no row, whatever the column
	}
	ci := p.findCol(col)
	if ci < 0 {
		return Full()
	}
	c := p.cols[ci]
	if c.kind == kNullOnly {
		iv := rangeOf(p.root, ci, c.kind)
		// Values of nested columns have no order: keep only the null flags.
		if iv.NonNull {
			iv.Lo, iv.Hi, iv.LoUnbounded, iv.HiUnbounded = nil, nil, true, true
			iv.LoInclusive, iv.HiInclusive = false, false
		}
		return iv
	}
	iv := rangeOf(p.root, ci, c.kind)
	if c.kind == kFloat && iv.NonNull {
		if !iv.LoUnbounded && iv.Lo.(float64) == 0 {
			iv.Lo = math.Copysign(0, -1)
		}
		if !iv.HiUnbounded && iv.Hi.(float64) == 0 {
			iv.Hi = 0.0
		}
	}
	return iv
}

func rangeOf(nd node, ci int, k kind) Interval {
	switch t := nd.(type) {
	case *andNode:
		iv := rangeOf(t.kids[0], ci, k)
		for _, kid := range t.kids[1:] {
			iv = intersect(k, iv, rangeOf(kid, ci, k))
		}
		return iv
	case *orNode:
		iv := rangeOf(t.kids[0], ci, k)
		for _, kid := range t.kids[1:] {
			iv = union(k, iv, rangeOf(kid, ci, k))
		}
		return iv
	case *unknownNode:
		return emptyInterval()
	case *constNode:
		if t.v {
			return Full()
		}
		return emptyInterval()
	case *nullNode:
		if t.col != ci {
			return Full()
		}
		if t.neg {
			return anyValue()
		}
		return Interval{Null: true}
	case *cmpNode:
		if t.col != ci {
			return Full()
		}
		switch t.op {
		case OpEq:
			return Interval{NonNull: true, Lo: t.v, Hi: t.v, LoInclusive: true, HiInclusive: true}
		case OpLt, OpLe:
			return Interval{NonNull: true, LoUnbounded: true, Hi: t.v, HiInclusive: t.op == OpLe}
		case OpGt, OpGe:
			return Interval{NonNull: true, HiUnbounded: true, Lo: t.v, LoInclusive: t.op == OpGe}
		case opFalseNN:
			return emptyInterval()
		}
		return anyValue() // <> and always-true leave a non-null column unbounded
	case *inNode:
		if t.col != ci {
			return Full()
		}
		switch {
		case t.neg && t.hasNull: // NOT IN with a NULL is never TRUE
			return emptyInterval()
		case t.neg:
			return anyValue()
		case len(t.vals) == 0:
			return emptyInterval()
		}
		return Interval{NonNull: true, Lo: t.vals[0], Hi: t.vals[len(t.vals)-1], LoInclusive: true, HiInclusive: true}
	}
	return Full()
}

func normalize(iv Interval) Interval {
	if !iv.NonNull {
		iv.Lo, iv.Hi = nil, nil
		iv.LoUnbounded, iv.HiUnbounded, iv.LoInclusive, iv.HiInclusive = false, false, false, false
	}
	iv.Empty = !iv.Null && !iv.NonNull
	return iv
}

func intersect(k kind, a, b Interval) Interval {
	r := Interval{Null: a.Null && b.Null, NonNull: a.NonNull && b.NonNull}
	if r.NonNull {
		// Lower bound: the larger one; on a tie, inclusive only if both are.
		switch {
		case a.LoUnbounded:
			r.Lo, r.LoUnbounded, r.LoInclusive = b.Lo, b.LoUnbounded, b.LoInclusive
		case b.LoUnbounded:
			r.Lo, r.LoInclusive = a.Lo, a.LoInclusive
		default:
			c, _ := compareKind(k, a.Lo, b.Lo)
			switch {
			case c > 0:
				r.Lo, r.LoInclusive = a.Lo, a.LoInclusive
			case c < 0:
				r.Lo, r.LoInclusive = b.Lo, b.LoInclusive
			default:
				r.Lo, r.LoInclusive = a.Lo, a.LoInclusive && b.LoInclusive
			}
		}
		switch {
		case a.HiUnbounded:
			r.Hi, r.HiUnbounded, r.HiInclusive = b.Hi, b.HiUnbounded, b.HiInclusive
		case b.HiUnbounded:
			r.Hi, r.HiInclusive = a.Hi, a.HiInclusive
		default:
			c, _ := compareKind(k, a.Hi, b.Hi)
			switch {
			case c < 0:
				r.Hi, r.HiInclusive = a.Hi, a.HiInclusive
			case c > 0:
				r.Hi, r.HiInclusive = b.Hi, b.HiInclusive
			default:
				r.Hi, r.HiInclusive = a.Hi, a.HiInclusive && b.HiInclusive
			}
		}
		if !r.LoUnbounded && !r.HiUnbounded {
			c, _ := compareKind(k, r.Lo, r.Hi)
			if c > 0 || (c == 0 && !(r.LoInclusive && r.HiInclusive)) {
				r.NonNull = false
			}
		}
	}
	return normalize(r)
}

func union(k kind, a, b Interval) Interval {
	r := Interval{Null: a.Null || b.Null, NonNull: a.NonNull || b.NonNull}
	switch {
	case !a.NonNull:
		r.Lo, r.Hi, r.LoUnbounded, r.HiUnbounded, r.LoInclusive, r.HiInclusive =
			b.Lo, b.Hi, b.LoUnbounded, b.HiUnbounded, b.LoInclusive, b.HiInclusive
	case !b.NonNull:
		r.Lo, r.Hi, r.LoUnbounded, r.HiUnbounded, r.LoInclusive, r.HiInclusive =
			a.Lo, a.Hi, a.LoUnbounded, a.HiUnbounded, a.LoInclusive, a.HiInclusive
	default:
		if a.LoUnbounded || b.LoUnbounded {
			r.LoUnbounded = true
		} else {
			c, _ := compareKind(k, a.Lo, b.Lo)
			switch {
			case c < 0:
				r.Lo, r.LoInclusive = a.Lo, a.LoInclusive
			case c > 0:
				r.Lo, r.LoInclusive = b.Lo, b.LoInclusive
			default:
				r.Lo, r.LoInclusive = a.Lo, a.LoInclusive || b.LoInclusive
			}
		}
		if a.HiUnbounded || b.HiUnbounded {
			r.HiUnbounded = true
		} else {
			c, _ := compareKind(k, a.Hi, b.Hi)
			switch {
			case c > 0:
				r.Hi, r.HiInclusive = a.Hi, a.HiInclusive
			case c < 0:
				r.Hi, r.HiInclusive = b.Hi, b.HiInclusive
			default:
				r.Hi, r.HiInclusive = a.Hi, a.HiInclusive || b.HiInclusive
			}
		}
	}
	return normalize(r)
}

// MayMatch reports whether any row of a chunk with these per-column
// statistics can satisfy p. stats is asked for columns by their schema
// spelling and returns ok=false for a column without statistics. It never returns false when a row could match: an AND may
// match only if every term may, an OR if any term may, and a comparison
// needs a non-null value inside [Min, Max] (or a NaN above Max for float
// columns) that satisfies it.
func (p *Predicate) MayMatch(stats func(col string) (ColumnStats, bool)) bool {
	if p == nil {
		return true
	}
	return p.mayMatch(p.root, stats)
}

func (p *Predicate) mayMatch(nd node, stats func(string) (ColumnStats, bool)) bool {
	switch t := nd.(type) {
	case *andNode:
		for _, k := range t.kids {
			if !p.mayMatch(k, stats) {
				return false
			}
		}
		return true
	case *orNode:
		for _, k := range t.kids {
			if p.mayMatch(k, stats) {
				return true
			}
		}
		return false
	case *unknownNode:
		return false
	case *constNode:
		return t.v
	case *nullNode:
		st, ok := stats(p.cols[t.col].name)
		if !ok || !st.HasNullCount {
			return true
		}
		if t.neg {
			return st.NullCount < st.RowCount
		}
		return st.NullCount > 0
	case *cmpNode:
		c := p.cols[t.col]
		st, ok := stats(c.name)
		switch {
		case t.op == opFalseNN:
			return false
		case !ok:
			return true
		case st.HasNullCount && st.NullCount >= st.RowCount:
			return false // every row is null: the comparison is unknown
		case t.op == opTrueNN:
			return true
		case c.kind == kFloat && !st.NaNFree && (t.op == OpNe || t.op == OpGt || t.op == OpGe):
			return true // a NaN above Max satisfies these
		}
		lo, hi, ok := minMax(c.kind, st)
		if !ok {
			return true
		}
		cl, _ := compareKind(c.kind, lo, t.v)
		ch, _ := compareKind(c.kind, hi, t.v)
		switch t.op {
		case OpEq:
			return cl <= 0 && ch >= 0
		case OpNe:
			return !(cl == 0 && ch == 0)
		case OpLt:
			return cl < 0
		case OpLe:
			return cl <= 0
		case OpGt:
			return ch > 0
		default:
			return ch >= 0
		}
	case *inNode:
		c := p.cols[t.col]
		st, ok := stats(c.name)
		switch {
		case t.neg && t.hasNull: // NOT IN with a NULL is never TRUE
			return false
		case !t.neg && len(t.vals) == 0:
			return false
		case !ok:
			return true
		case st.HasNullCount && st.NullCount >= st.RowCount:
			return false
		case t.neg && c.kind == kFloat && !st.NaNFree:
			return true // NaN is in no list
		}
		lo, hi, ok := minMax(c.kind, st)
		if !ok {
			return true
		}
		if t.neg {
			if same, _ := compareKind(c.kind, lo, hi); same != 0 {
				return true
			}
			for _, v := range t.vals {
				if x, _ := compareKind(c.kind, lo, v); x == 0 {
					return false
				}
			}
			return true
		}
		for _, v := range t.vals {
			cl, _ := compareKind(c.kind, lo, v)
			ch, _ := compareKind(c.kind, hi, v)
			if cl <= 0 && ch >= 0 {
				return true
			}
		}
		return false
	}
	return true
}

// minMax returns the chunk's bounds when they are present and are Values of
// kind k; statistics of any other shape are ignored, which is conservative.
func minMax(k kind, st ColumnStats) (lo, hi any, ok bool) {
	if !st.HasMinMax || st.Min == nil || st.Max == nil {
		return nil, nil, false
	}
	if _, ok := compareKind(k, st.Min, st.Max); !ok {
		return nil, nil, false
	}
	return st.Min, st.Max, true
}
