package engine

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// pqarrow's writer (arrow-go v18.8.0, encode_arrow.go) writes a decimal128,
// decimal256 or float16 leaf that has no null of its own value by value,
// ignoring the nulls of the structs above it: below a null struct slot it
// wrote the slot's hidden value as well, and every later value of the
// column chunk moved down one row — silently, the rows of a struct with a
// null slot after a flush. The other leaf types follow the definition
// levels. Such leaves are handed to it with their parents' nulls copied
// down (nullsDown): the same values wherever one is visible, and the
// writer's other path, which reads the levels.

// needsNullsDown reports whether t holds a decimal128, decimal256 or
// float16 below a struct.
func needsNullsDown(t arrow.DataType) bool {
	return holdsAffectedLeaf(t, false)
}

func holdsAffectedLeaf(t arrow.DataType, underStruct bool) bool {
	switch t.ID() {
	case arrow.DECIMAL128, arrow.DECIMAL256, arrow.FLOAT16:
		return underStruct
	case arrow.STRUCT:
		for _, f := range t.(*arrow.StructType).Fields() {
			if holdsAffectedLeaf(f.Type, true) {
				return true
			}
		}
	case arrow.LIST, arrow.LARGE_LIST, arrow.FIXED_SIZE_LIST, arrow.MAP:
		// A list's elements start afresh: a null list slot has no values.
		return holdsAffectedLeaf(t.(arrow.ListLikeType).Elem(), false)
	}
	return false
}

// nullsDown returns d with every struct's nulls copied into its children
// (and theirs), so that no value below a null struct slot is valid; d
// itself (retained) when it has nothing to change. The caller releases
// the result.
func nullsDown(d arrow.ArrayData, mem memory.Allocator) arrow.ArrayData {
	if !needsNullsDown(d.DataType()) {
		d.Retain()
		return d
	}
	switch t := d.DataType().(type) {
	case *arrow.StructType:
		off, n := d.Offset(), d.Len()
		parent := validityBits(d, mem) // nil: no null slot
		if parent != nil {
			defer parent.Release()
		}
		kids := make([]arrow.ArrayData, len(d.Children()))
		defer func() {
			for _, k := range kids {
				if k != nil {
					k.Release()
				}
			}
		}()
		for i, c := range d.Children() {
			s := array.NewSliceData(c, int64(off), int64(off+n))
			// Into the affected leaves and the structs holding them; a list's
			// elements start afresh (and a list slot under a null struct
			// slot is empty in what the writer is given: writableAsIs).
			if id := t.Field(i).Type.ID(); parent != nil && id != arrow.LIST && id != arrow.LARGE_LIST &&
				id != arrow.FIXED_SIZE_LIST && id != arrow.MAP && holdsAffectedLeaf(t.Field(i).Type, true) {
				masked := withParentNulls(s, parent, mem)
				s.Release()
				s = masked
			}
			kids[i] = nullsDown(s, mem)
			s.Release()
		}
		// The count goes with the bitmap given: a bitmap with no null in
		// it (an unknown count of a gathered batch) is left out, and a nil
		// bitmap with an unknown count makes arrow-go count bits it lacks.
		if parent == nil {
			return array.NewData(t, n, []*memory.Buffer{nil}, kids, 0, 0)
		}
		return array.NewData(t, n, []*memory.Buffer{parent}, kids, n-bitutil.CountSetBits(parent.Bytes(), 0, n), 0)
	default: // list, large list, fixed_size_list, map: their child as a whole
		kids := make([]arrow.ArrayData, len(d.Children()))
		for i, c := range d.Children() {
			kids[i] = nullsDown(c, mem)
		}
		out := array.NewData(d.DataType(), d.Len(), d.Buffers(), kids, d.NullN(), d.Offset())
		for _, k := range kids {
			k.Release()
		}
		return out
	}
}

// validityBits returns d's validity bitmap from bit 0 for its d.Len()
// slots, or nil when no slot is null. The caller releases it.
func validityBits(d arrow.ArrayData, mem memory.Allocator) *memory.Buffer {
	b := d.Buffers()
	if len(b) == 0 || b[0] == nil || b[0].Len() == 0 || d.NullN() == 0 {
		return nil
	}
	n := d.Len()
	out := memory.NewResizableBuffer(mem)
	out.Resize(int(bitutil.BytesForBits(int64(n))))
	bitutil.CopyBitmap(b[0].Bytes(), d.Offset(), n, out.Bytes(), 0)
	if bitutil.CountSetBits(out.Bytes(), 0, n) == n {
		out.Release()
		return nil
	}
	return out
}

// withParentNulls returns c (its n slots aligned with parent's bits from 0)
// with a slot null wherever parent's is, as well as where c's own is. The
// bitmap keeps c's offset, so that its other buffers and children stay.
func withParentNulls(c arrow.ArrayData, parent *memory.Buffer, mem memory.Allocator) arrow.ArrayData {
	off, n := c.Offset(), c.Len()
	bits := memory.NewResizableBuffer(mem)
	bits.Resize(int(bitutil.BytesForBits(int64(off + n))))
	defer bits.Release()
	dst := bits.Bytes()
	if own := c.Buffers(); len(own) > 0 && own[0] != nil && own[0].Len() > 0 && c.NullN() != 0 {
		bitutil.CopyBitmap(own[0].Bytes(), off, n, dst, off)
	} else {
		bitutil.SetBitsTo(dst, int64(off), int64(n), true)
	}
	bitutil.BitmapAnd(dst, parent.Bytes(), int64(off), 0, dst, int64(off), int64(n))
	nulls := n - bitutil.CountSetBits(dst, off, n)
	bufs := append([]*memory.Buffer{bits}, c.Buffers()[1:]...)
	return array.NewData(c.DataType(), n, bufs, c.Children(), nulls, off)
}
