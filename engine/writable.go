package engine

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
)

// writableAsIs reports whether pqarrow's writer takes column arr of a
// segment as it is. It takes no null slot that still spans values — a
// list, large list or map slot that is null, or under a null struct slot,
// with a non-empty range of values (valid Arrow, which hosts send: pyarrow
// builds such arrays from offsets and a mask, compute kernels return
// them), or any null fixed_size_list slot — and fails the whole flush
// ("lists with non-zero length null components are not supported"). A
// flush must not write such a column from the host's arrays; rows read
// back from the hot store are built without such slots. (A null
// fixed_size_list slot reaches pqarrow as an empty list, fslwrite.go; the
// rule stays conservative about them: the flush then reads the rows back.)
func writableAsIs(arr arrow.Array) bool {
	if _, nested := arr.DataType().(arrow.NestedType); !nested {
		return true
	}
	return !spansUnderNull(arr.Data(), 0, arr.Len(), nil)
}

// spansUnderNull reports whether logical slots [start, start+n) of d hold
// a null slot (its own null, or nullAbove(k) for slot start+k) that spans
// values, at any depth.
func spansUnderNull(d arrow.ArrayData, start, n int, nullAbove func(k int) bool) bool {
	if n == 0 {
		return false
	}
	off := d.Offset() + start
	var valid []byte
	if b := d.Buffers(); len(b) > 0 && b[0] != nil && b[0].Len() > 0 && d.NullN() != 0 {
		valid = b[0].Bytes()
	}
	null := func(k int) bool {
		return (nullAbove != nil && nullAbove(k)) || (valid != nil && !bitutil.BitIsSet(valid, off+k))
	}
	switch d.DataType().ID() {
	case arrow.LIST, arrow.MAP:
		offs := arrow.Int32Traits.CastFromBytes(d.Buffers()[1].Bytes())[off : off+n+1]
		return listSpansUnderNull(d.Children()[0], offs, null)
	case arrow.LARGE_LIST:
		offs := arrow.Int64Traits.CastFromBytes(d.Buffers()[1].Bytes())[off : off+n+1]
		return listSpansUnderNull(d.Children()[0], offs, null)
	case arrow.FIXED_SIZE_LIST:
		size := int(d.DataType().(*arrow.FixedSizeListType).Len())
		if size > 0 {
			for k := 0; k < n; k++ {
				if null(k) {
					return true
				}
			}
		}
		return spansUnderNull(d.Children()[0], off*size, n*size, nil)
	case arrow.STRUCT:
		for _, c := range d.Children() {
			// A child's slots are its struct's physical slots.
			if spansUnderNull(c, off, n, null) {
				return true
			}
		}
	}
	return false
}

// listSpansUnderNull is spansUnderNull for a list's slots, by their
// offsets (len(offs) = slots+1), and then for the values they span.
func listSpansUnderNull[T int32 | int64](values arrow.ArrayData, offs []T, null func(k int) bool) bool {
	for k := 0; k+1 < len(offs); k++ {
		if offs[k+1] > offs[k] && null(k) {
			return true
		}
	}
	return spansUnderNull(values, int(offs[0]), int(offs[len(offs)-1]-offs[0]), nil)
}

// hasFixedSizeList reports whether t is or holds a fixed_size_list.
func hasFixedSizeList(t arrow.DataType) bool {
	if t.ID() == arrow.FIXED_SIZE_LIST {
		return true
	}
	if nt, ok := t.(arrow.NestedType); ok {
		for _, f := range nt.Fields() {
			if hasFixedSizeList(f.Type) {
				return true
			}
		}
	}
	return false
}
