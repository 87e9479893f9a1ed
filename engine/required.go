package engine

import (
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
)

// Fields below a column's top level (struct fields, list, large list and
// fixed_size_list elements, map keys and values) keep the nullability they
// are declared with in segments, where a not-null field is a Parquet
// required column. pqarrow writes a required column's values without
// looking at their validity, so a null there became whatever value its
// slot held, or, in a list, shifted every value after it: a flush of such
// a row wrote a segment that no scan could read again. Arrow arrays carry
// nulls wherever their bitmaps say, whatever the field's flag, and hosts
// build them (pyarrow's StructArray.from_arrays and ListArray.from_arrays
// take fields declared not null and values with nulls): a write holding
// one is refused, naming the column, the row and the field, and a segment
// writer meeting one (rows written before that rule) fails instead of
// writing it.

// requiredNull returns the first row of arr whose value holds a null in a
// field below the top that its type declares not null, with that field's
// path ("s.x", "tags.item"); ok is false when there is none. A slot under
// a null parent is no value, and is not looked at. The column's own top
// level is the caller's rule (its field's nullability).
func requiredNull(arr arrow.Array) (row int, path string, ok bool) {
	if _, nested := arr.DataType().(arrow.NestedType); !nested {
		return 0, "", false
	}
	d := arr.Data()
	return requiredNullIn(d, 0, d.Len(), func(int) bool { return false })
}

// isNullSlot reports whether physical slot i of d is null. A negative
// (unknown) null count is not "no nulls".
func isNullSlot(d arrow.ArrayData, i int) bool {
	b := d.Buffers()
	return len(b) > 0 && b[0] != nil && b[0].Len() > 0 && d.NullN() != 0 && !bitutil.BitIsSet(b[0].Bytes(), i)
}

// requiredNullIn looks at logical slots [start, start+n) of d (physical
// d.Offset()+start+k), slot start+k being no value when gone(k) (a null
// above it): it returns the first k whose value holds a null in a not-null
// field below d, and that field's path.
func requiredNullIn(d arrow.ArrayData, start, n int, gone func(k int) bool) (int, string, bool) {
	if n == 0 {
		return 0, "", false
	}
	phys := d.Offset() + start
	switch t := d.DataType().(type) {
	case *arrow.StructType:
		// Slot k's field values are the children's logical slots phys+k.
		cgone := func(k int) bool { return gone(k) || isNullSlot(d, phys+k) }
		for fi, f := range t.Fields() {
			if k, p, ok := childRequiredNull(d.Children()[fi], f, phys, n, cgone); ok {
				return k, p, true
			}
		}
	case *arrow.FixedSizeListType:
		size := int(t.Len())
		if size == 0 {
			return 0, "", false
		}
		cgone := func(j int) bool { k := j / size; return gone(k) || isNullSlot(d, phys+k) }
		if j, p, ok := childRequiredNull(d.Children()[0], t.ElemField(), phys*size, n*size, cgone); ok {
			return j / size, p, true
		}
	case *arrow.ListType:
		return listRequiredNull(d, arrow.Int32Traits.CastFromBytes(d.Buffers()[1].Bytes())[phys:phys+n+1], t.ElemField(), phys, gone)
	case *arrow.LargeListType:
		return listRequiredNull(d, arrow.Int64Traits.CastFromBytes(d.Buffers()[1].Bytes())[phys:phys+n+1], t.ElemField(), phys, gone)
	case *arrow.MapType:
		return listRequiredNull(d, arrow.Int32Traits.CastFromBytes(d.Buffers()[1].Bytes())[phys:phys+n+1], t.ElemField(), phys, gone)
	}
	return 0, "", false
}

// listRequiredNull is requiredNullIn for list (or map) slots whose
// offsets are offs (len(offs) = slots+1; slot k is physical phys+k).
func listRequiredNull[T int32 | int64](d arrow.ArrayData, offs []T, elem arrow.Field, phys int, gone func(k int) bool) (int, string, bool) {
	lo, hi := int(offs[0]), int(offs[len(offs)-1])
	// The slot holding value lo+j: the first k whose end is past it.
	slotOf := func(j int) int {
		return sort.Search(len(offs)-1, func(k int) bool { return int(offs[k+1]) > lo+j })
	}
	cgone := func(j int) bool { k := slotOf(j); return gone(k) || isNullSlot(d, phys+k) }
	if j, p, ok := childRequiredNull(d.Children()[0], elem, lo, hi-lo, cgone); ok {
		return slotOf(j), p, true
	}
	return 0, "", false
}

// childRequiredNull looks at logical slots [start, start+n) of child c,
// the values of field f: a null in one that is not gone when f is not
// null, then deeper. It returns the slot's index from start and the path.
func childRequiredNull(c arrow.ArrayData, f arrow.Field, start, n int, gone func(k int) bool) (int, string, bool) {
	if k, ok := firstRequiredNull(c, f, start, n, gone); ok {
		return k, f.Name, true
	}
	if k, p, ok := requiredNullIn(c, start, n, gone); ok {
		return k, f.Name + "." + p, true
	}
	return 0, "", false
}

// firstRequiredNull returns the first k in [0, n) whose logical slot
// start+k of c is null and not gone, when c's field f is declared not null.
func firstRequiredNull(c arrow.ArrayData, f arrow.Field, start, n int, gone func(k int) bool) (int, bool) {
	if f.Nullable || n == 0 || c.NullN() == 0 {
		return 0, false
	}
	if c.DataType().ID() == arrow.NULL {
		for k := 0; k < n; k++ {
			if !gone(k) {
				return k, true
			}
		}
		return 0, false
	}
	b := c.Buffers()
	if len(b) == 0 || b[0] == nil || b[0].Len() == 0 {
		return 0, false
	}
	bits, phys := b[0].Bytes(), c.Offset()+start
	if bitutil.CountSetBits(bits, phys, n) == n {
		return 0, false
	}
	for k := 0; k < n; k++ {
		if !bitutil.BitIsSet(bits, phys+k) && !gone(k) {
			return k, true
		}
	}
	return 0, false
}
