package filter

import (
	"bytes"
	"cmp"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/kalamdb/libkalam/kerr"
)

// Truth values of three-valued logic, ordered so that AND is min, OR is max
// and NOT is 2-x.
const (
	tFalse   byte = 0
	tUnknown byte = 1
	tTrue    byte = 2
)

// opTable[op][c+1] is the truth of `x op v` when Compare(x, v) = c.
var opTable = [...][3]byte{
	OpEq:      {tFalse, tTrue, tFalse},
	OpNe:      {tTrue, tFalse, tTrue},
	OpLt:      {tTrue, tFalse, tFalse},
	OpLe:      {tTrue, tTrue, tFalse},
	OpGt:      {tFalse, tFalse, tTrue},
	OpGe:      {tFalse, tTrue, tTrue},
	opTrueNN:  {tTrue, tTrue, tTrue},
	opFalseNN: {tFalse, tFalse, tFalse},
}

// Eval evaluates p on rec, which must hold every referenced column by name
// (any order, other columns allowed). sel[i] is true iff the predicate is
// TRUE for row i; FALSE and unknown rows are not selected. A nil predicate
// selects every row.
func (p *Predicate) Eval(rec arrow.RecordBatch) ([]bool, error) {
	n := int(rec.NumRows())
	sel := make([]bool, n)
	if p == nil {
		for i := range sel {
			sel[i] = true
		}
		return sel, nil
	}
	arrs := make([]arrow.Array, len(p.cols))
	for i, c := range p.cols {
		idx := rec.Schema().FieldIndices(c.name)
		if len(idx) == 0 {
			return nil, kerr.New(kerr.InvalidArgument, "filter: record has no column `%s`", c.name)
		}
		a := rec.Column(idx[0])
		if !compatible(c, a.DataType()) {
			return nil, kerr.New(kerr.InvalidArgument,
				"filter: column `%s` has type %s in the record but the filter was bound to %s", c.name, a.DataType(), c.typ)
		}
		arrs[i] = a
	}
	if n == 0 {
		return sel, nil
	}
	t := evalNode(p.root, arrs, n)
	for i, v := range t {
		sel[i] = v == tTrue
	}
	return sel, nil
}

// compatible reports whether values of type got evaluate like those of the
// bound type: the same type, or another member of the string or binary
// family (the coerced literal does not depend on which).
func compatible(c *column, got arrow.DataType) bool {
	if c.kind == kNullOnly || arrow.TypeEqual(c.typ, got) {
		return true
	}
	k, _, _ := kindOf(got)
	return k == c.kind && (k == kString || k == kBinary)
}

func evalNode(nd node, arrs []arrow.Array, n int) []byte {
	out := make([]byte, n)
	switch t := nd.(type) {
	case *andNode:
		copy(out, evalNode(t.kids[0], arrs, n))
		for _, k := range t.kids[1:] {
			r := evalNode(k, arrs, n)
			for i, v := range r {
				out[i] = min(out[i], v)
			}
		}
	case *orNode:
		copy(out, evalNode(t.kids[0], arrs, n))
		for _, k := range t.kids[1:] {
			r := evalNode(k, arrs, n)
			for i, v := range r {
				out[i] = max(out[i], v)
			}
		}
	case *unknownNode:
		fill(out, tUnknown)
	case *constNode:
		if t.v {
			fill(out, tTrue)
		} else {
			fill(out, tFalse)
		}
	case *nullNode:
		a := arrs[t.col]
		isNull, notNull := tTrue, tFalse
		if t.neg {
			isNull, notNull = tFalse, tTrue
		}
		if a.NullN() == 0 {
			fill(out, notNull)
			break
		}
		for i := range out {
			if a.IsNull(i) {
				out[i] = isNull
			} else {
				out[i] = notNull
			}
		}
	case *cmpNode:
		evalCmp(arrs[t.col], t.op, t.v, out)
		markNulls(arrs[t.col], out)
	case *inNode:
		evalIn(arrs[t.col], t, out)
		markNulls(arrs[t.col], out)
	}
	return out
}

func fill(out []byte, v byte) {
	for i := range out {
		out[i] = v
	}
}

func markNulls(a arrow.Array, out []byte) {
	if a.NullN() == 0 {
		return
	}
	for i := range out {
		if a.IsNull(i) {
			out[i] = tUnknown
		}
	}
}

func tv(b bool) byte {
	if b {
		return tTrue
	}
	return tFalse
}

// evalCmp writes the truth of `x op v` for every row, ignoring nulls.
func evalCmp(a arrow.Array, op Op, v any, out []byte) {
	switch op {
	case opTrueNN:
		fill(out, tTrue)
		return
	case opFalseNN:
		fill(out, tFalse)
		return
	}
	switch a := a.(type) {
	case *array.Int8:
		ordCmp(a.Values(), int8(v.(int64)), op, out)
	case *array.Int16:
		ordCmp(a.Values(), int16(v.(int64)), op, out)
	case *array.Int32:
		ordCmp(a.Values(), int32(v.(int64)), op, out)
	case *array.Int64:
		ordCmp(a.Values(), v.(int64), op, out)
	case *array.Uint8:
		ordCmp(a.Values(), uint8(v.(uint64)), op, out)
	case *array.Uint16:
		ordCmp(a.Values(), uint16(v.(uint64)), op, out)
	case *array.Uint32:
		ordCmp(a.Values(), uint32(v.(uint64)), op, out)
	case *array.Uint64:
		ordCmp(a.Values(), v.(uint64), op, out)
	case *array.Date32:
		ordCmp(a.Values(), arrow.Date32(v.(int64)), op, out)
	case *array.Date64:
		ordCmp(a.Values(), arrow.Date64(v.(int64)), op, out)
	case *array.Time32:
		ordCmp(a.Values(), arrow.Time32(v.(int64)), op, out)
	case *array.Time64:
		ordCmp(a.Values(), arrow.Time64(v.(int64)), op, out)
	case *array.Timestamp:
		ordCmp(a.Values(), arrow.Timestamp(v.(int64)), op, out)
	case *array.Duration:
		ordCmp(a.Values(), arrow.Duration(v.(int64)), op, out)
	case *array.Float32:
		floatCmp(a.Values(), v.(float64), op, out)
	case *array.Float64:
		floatCmp(a.Values(), v.(float64), op, out)
	case *array.Float16:
		lit, tab := v.(float64), opTable[op]
		for i, x := range a.Values() {
			out[i] = tab[cmpFloat(float64(x.Float32()), lit)+1]
		}
	case *array.Boolean:
		lit, tab := v.(bool), opTable[op]
		for i := range out {
			x := a.Value(i)
			c := 0
			if x != lit {
				c = 1
				if lit {
					c = -1
				}
			}
			out[i] = tab[c+1]
		}
	case *array.String:
		offsetCmp(a.ValueOffsets(), a.ValueBytes(), []byte(v.(string)), op, out)
	case *array.LargeString:
		offsetCmp(a.ValueOffsets(), a.ValueBytes(), []byte(v.(string)), op, out)
	case *array.StringView:
		lit, tab := v.(string), opTable[op]
		for i := range out {
			out[i] = tab[cmp.Compare(a.Value(i), lit)+1]
		}
	case *array.Binary:
		offsetCmp(a.ValueOffsets(), a.ValueBytes(), v.([]byte), op, out)
	case *array.LargeBinary:
		offsetCmp(a.ValueOffsets(), a.ValueBytes(), v.([]byte), op, out)
	case *array.BinaryView:
		lit, tab := v.([]byte), opTable[op]
		for i := range out {
			out[i] = tab[bytes.Compare(a.Value(i), lit)+1]
		}
	case *array.FixedSizeBinary:
		lit, tab := v.([]byte), opTable[op]
		for i := range out {
			out[i] = tab[bytes.Compare(a.Value(i), lit)+1]
		}
	case *array.Decimal128:
		lit, tab := v.(decimal128.Num), opTable[op]
		for i, x := range a.Values() {
			out[i] = tab[x.Cmp(lit)+1]
		}
	default:
		// Bind only lets comparisons through for the types above.
		panic("filter: comparison on unsupported array " + a.DataType().String())
	}
}

// ordCmp is the tight loop of the integer and temporal types: one loop per
// operator so the body is a single compare.
func ordCmp[T cmp.Ordered](vals []T, lit T, op Op, out []byte) {
	out = out[:len(vals)]
	switch op {
	case OpEq:
		for i, x := range vals {
			out[i] = tv(x == lit)
		}
	case OpNe:
		for i, x := range vals {
			out[i] = tv(x != lit)
		}
	case OpLt:
		for i, x := range vals {
			out[i] = tv(x < lit)
		}
	case OpLe:
		for i, x := range vals {
			out[i] = tv(x <= lit)
		}
	case OpGt:
		for i, x := range vals {
			out[i] = tv(x > lit)
		}
	case OpGe:
		for i, x := range vals {
			out[i] = tv(x >= lit)
		}
	}
}

// floatCmp compares in float64 with NaN greater than everything. A literal
// is never NaN (coerce parses decimal text), so IEEE comparisons are right except that NaN must satisfy
// > and >=.
func floatCmp[T float32 | float64](vals []T, lit float64, op Op, out []byte) {
	out = out[:len(vals)]
	switch op {
	case OpEq:
		for i, x := range vals {
			out[i] = tv(float64(x) == lit)
		}
	case OpNe:
		for i, x := range vals {
			out[i] = tv(float64(x) != lit)
		}
	case OpLt:
		for i, x := range vals {
			out[i] = tv(float64(x) < lit)
		}
	case OpLe:
		for i, x := range vals {
			out[i] = tv(float64(x) <= lit)
		}
	case OpGt:
		for i, x := range vals {
			out[i] = tv(float64(x) > lit || x != x)
		}
	case OpGe:
		for i, x := range vals {
			out[i] = tv(float64(x) >= lit || x != x)
		}
	}
}

// offsetCmp compares the values of a variable-width array given by its
// offsets and data (data starts at offs[0]).
func offsetCmp[O int32 | int64](offs []O, data, lit []byte, op Op, out []byte) {
	base := offs[0]
	tab := opTable[op]
	if op == OpEq || op == OpNe {
		eq := tv(op == OpEq)
		ne := tv(op == OpNe)
		for i := range out {
			if bytes.Equal(data[offs[i]-base:offs[i+1]-base], lit) {
				out[i] = eq
			} else {
				out[i] = ne
			}
		}
		return
	}
	for i := range out {
		out[i] = tab[bytes.Compare(data[offs[i]-base:offs[i+1]-base], lit)+1]
	}
}

// evalIn writes the truth of `x [NOT] IN (...)` for every row, ignoring
// nulls: members get `in`; non-members get `out`, which is unknown when the
// list holds a NULL.
func evalIn(a arrow.Array, nd *inNode, res []byte) {
	in, notIn := tTrue, tFalse
	if nd.neg {
		in, notIn = tFalse, tTrue
	}
	if nd.hasNull {
		notIn = tUnknown
	}
	if len(nd.vals) == 0 {
		fill(res, notIn)
		return
	}
	switch a := a.(type) {
	case *array.Int8:
		inLoop(a.Values(), setOf(nd.vals, func(v any) int8 { return int8(v.(int64)) }), in, notIn, res)
	case *array.Int16:
		inLoop(a.Values(), setOf(nd.vals, func(v any) int16 { return int16(v.(int64)) }), in, notIn, res)
	case *array.Int32:
		inLoop(a.Values(), setOf(nd.vals, func(v any) int32 { return int32(v.(int64)) }), in, notIn, res)
	case *array.Int64:
		inLoop(a.Values(), setOf(nd.vals, func(v any) int64 { return v.(int64) }), in, notIn, res)
	case *array.Uint8:
		inLoop(a.Values(), setOf(nd.vals, func(v any) uint8 { return uint8(v.(uint64)) }), in, notIn, res)
	case *array.Uint16:
		inLoop(a.Values(), setOf(nd.vals, func(v any) uint16 { return uint16(v.(uint64)) }), in, notIn, res)
	case *array.Uint32:
		inLoop(a.Values(), setOf(nd.vals, func(v any) uint32 { return uint32(v.(uint64)) }), in, notIn, res)
	case *array.Uint64:
		inLoop(a.Values(), setOf(nd.vals, func(v any) uint64 { return v.(uint64) }), in, notIn, res)
	case *array.Date32:
		inLoop(a.Values(), setOf(nd.vals, func(v any) arrow.Date32 { return arrow.Date32(v.(int64)) }), in, notIn, res)
	case *array.Date64:
		inLoop(a.Values(), setOf(nd.vals, func(v any) arrow.Date64 { return arrow.Date64(v.(int64)) }), in, notIn, res)
	case *array.Time32:
		inLoop(a.Values(), setOf(nd.vals, func(v any) arrow.Time32 { return arrow.Time32(v.(int64)) }), in, notIn, res)
	case *array.Time64:
		inLoop(a.Values(), setOf(nd.vals, func(v any) arrow.Time64 { return arrow.Time64(v.(int64)) }), in, notIn, res)
	case *array.Timestamp:
		inLoop(a.Values(), setOf(nd.vals, func(v any) arrow.Timestamp { return arrow.Timestamp(v.(int64)) }), in, notIn, res)
	case *array.Duration:
		inLoop(a.Values(), setOf(nd.vals, func(v any) arrow.Duration { return arrow.Duration(v.(int64)) }), in, notIn, res)
	case *array.Decimal128:
		inLoop(a.Values(), setOf(nd.vals, func(v any) decimal128.Num { return v.(decimal128.Num) }), in, notIn, res)
	case *array.Float16:
		set := setOf(nd.vals, func(v any) float64 { return v.(float64) })
		for i, x := range a.Values() {
			res[i] = member(set, float64(x.Float32()), in, notIn)
		}
	case *array.Float32:
		// float64 equality (and map keys) treat -0 and +0 as one value and
		// never match NaN, as Compare does for the non-NaN literals a list
		// can hold.
		set := setOf(nd.vals, func(v any) float64 { return v.(float64) })
		for i, x := range a.Values() {
			res[i] = member(set, float64(x), in, notIn)
		}
	case *array.Float64:
		inLoop(a.Values(), setOf(nd.vals, func(v any) float64 { return v.(float64) }), in, notIn, res)
	case *array.Boolean:
		set := setOf(nd.vals, func(v any) bool { return v.(bool) })
		for i := range res {
			res[i] = member(set, a.Value(i), in, notIn)
		}
	case *array.String:
		set := setOf(nd.vals, func(v any) string { return v.(string) })
		for i := range res {
			res[i] = member(set, a.Value(i), in, notIn)
		}
	case *array.LargeString:
		set := setOf(nd.vals, func(v any) string { return v.(string) })
		for i := range res {
			res[i] = member(set, a.Value(i), in, notIn)
		}
	case *array.StringView:
		set := setOf(nd.vals, func(v any) string { return v.(string) })
		for i := range res {
			res[i] = member(set, a.Value(i), in, notIn)
		}
	case interface{ Value(int) []byte }:
		// Binary, LargeBinary, BinaryView and FixedSizeBinary; comparing or
		// indexing a map with string(b) does not allocate.
		set := setOf(nd.vals, func(v any) string { return string(v.([]byte)) })
		for i := range res {
			res[i] = member(set, string(a.Value(i)), in, notIn)
		}
	default:
		// Bind only lets IN through for the types above.
		panic("filter: IN on unsupported array " + a.DataType().String())
	}
}

func member[T comparable](set *valueSet[T], x T, in, notIn byte) byte {
	if set.has(x) {
		return in
	}
	return notIn
}

// smallSet is the size up to which a linear scan beats hashing.
const smallSet = 8

// valueSet is the IN list in the column's native type: a slice scanned
// linearly when short, a map otherwise.
type valueSet[T comparable] struct {
	list []T
	m    map[T]struct{}
}

func setOf[T comparable](vals []any, conv func(any) T) *valueSet[T] {
	s := &valueSet[T]{}
	if len(vals) <= smallSet {
		for _, v := range vals {
			s.list = append(s.list, conv(v))
		}
		return s
	}
	s.m = make(map[T]struct{}, len(vals))
	for _, v := range vals {
		s.m[conv(v)] = struct{}{}
	}
	return s
}

func (s *valueSet[T]) has(x T) bool {
	if s.m == nil {
		for _, v := range s.list {
			if v == x {
				return true
			}
		}
		return false
	}
	_, ok := s.m[x]
	return ok
}

func inLoop[T comparable](vals []T, set *valueSet[T], in, notIn byte, out []byte) {
	for i, x := range vals {
		if set.has(x) {
			out[i] = in
		} else {
			out[i] = notIn
		}
	}
}
