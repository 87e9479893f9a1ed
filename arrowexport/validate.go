package arrowexport

/*
#include "bridge.h"
*/
import "C"

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
)

// maxNesting bounds the recursion over a host's array tree.
const maxNesting = 64

// maxSpan bounds offset+length of any array: with it, the size of every
// buffer of at most 256 bits per item (offsets and validity included, +1 and
// +7 too) is computed without overflow, by the importer as by us. No real
// array comes near it; wider fixed-size items are checked against their
// width.
const maxSpan = math.MaxInt64 / 256

// validateBatch checks the C structs of one imported record batch against
// the stream's schema before any importer reads a buffer: everything the
// importer would otherwise trust (lengths, counts, NULL pointers). Values are
// checked after the import, by array.ValidateFull. Errors name the column.
func validateBatch(a *C.struct_ArrowArray, schema *arrow.Schema) error {
	if err := checkHeader(a, "record batch"); err != nil {
		return err
	}
	if a.null_count > 0 {
		return fmt.Errorf("record batch: top-level struct array has %d nulls; a batch's rows cannot be null", int64(a.null_count))
	}
	if int64(a.n_children) != int64(schema.NumFields()) {
		return fmt.Errorf("record batch has %d columns, the stream schema %d", int64(a.n_children), schema.NumFields())
	}
	if a.n_buffers != 1 {
		return fmt.Errorf("record batch: struct array has %d buffers, want 1", int64(a.n_buffers))
	}
	if a.buffers == nil {
		return fmt.Errorf("record batch: buffers is NULL with n_buffers 1")
	}
	if a.n_children > 0 && a.children == nil {
		return fmt.Errorf("record batch: children is NULL with n_children %d", int64(a.n_children))
	}
	children := unsafe.Slice(a.children, int(a.n_children))
	for i, f := range schema.Fields() {
		path := fmt.Sprintf("column %q", f.Name)
		c := children[i]
		if err := validateArray(c, f.Type, path, 1); err != nil {
			return err
		}
		if int64(c.length) < int64(a.offset)+int64(a.length) {
			return fmt.Errorf("%s: length %d is shorter than the batch (%d rows from offset %d)",
				path, int64(c.length), int64(a.length), int64(a.offset))
		}
	}
	return nil
}

// checkHeader checks the fields every ArrowArray has.
func checkHeader(a *C.struct_ArrowArray, path string) error {
	if a == nil {
		return fmt.Errorf("%s: array is NULL", path)
	}
	if a.release == nil {
		return fmt.Errorf("%s: array is released", path)
	}
	length, offset, nulls := int64(a.length), int64(a.offset), int64(a.null_count)
	switch {
	case length < 0:
		return fmt.Errorf("%s: negative length %d", path, length)
	case offset < 0:
		return fmt.Errorf("%s: negative offset %d", path, offset)
	case offset > math.MaxInt64-length || offset+length > maxSpan:
		return fmt.Errorf("%s: offset %d + length %d is too large", path, offset, length)
	case nulls < -1 || nulls > length: // -1: unknown, allowed by the C data interface
		return fmt.Errorf("%s: null_count %d is outside [-1, length %d]", path, nulls, length)
	case a.n_buffers < 0 || a.n_buffers > 1<<16:
		return fmt.Errorf("%s: invalid n_buffers %d", path, int64(a.n_buffers))
	case a.n_children < 0 || a.n_children > 1<<16:
		return fmt.Errorf("%s: invalid n_children %d", path, int64(a.n_children))
	case a.n_buffers > 0 && a.buffers == nil:
		return fmt.Errorf("%s: buffers is NULL with n_buffers %d", path, int64(a.n_buffers))
	case a.n_children > 0 && a.children == nil:
		return fmt.Errorf("%s: children is NULL with n_children %d", path, int64(a.n_children))
	}
	return nil
}

// layout is what the C data interface expects of an array of one type.
type layout struct {
	buffers     int  // exact count; for view types the minimum
	variadic    bool // binary/string views: data buffers plus a sizes buffer follow
	children    int
	validity    bool // buffer 0 is a validity bitmap
	offsets     int  // byte width of the offsets in buffer 1 (0: none)
	fixedBits   int  // bit width of the values in buffer 1 (0: none)
	unionLegacy int  // unions: also accepted buffer count of older producers (0: none)
	// nonNull lists further buffers that must not be NULL when the array
	// spans any item (for a union in the legacy layout, each one slot later).
	nonNull []int
}

func layoutOf(dt arrow.DataType) (layout, error) {
	switch t := dt.(type) {
	case *arrow.NullType:
		return layout{}, nil
	case *arrow.DictionaryType:
		return layoutOf(t.IndexType)
	case arrow.ExtensionType:
		return layoutOf(t.StorageType())
	case *arrow.BooleanType:
		return layout{buffers: 2, validity: true, fixedBits: 1}, nil
	case arrow.FixedWidthDataType:
		return layout{buffers: 2, validity: true, fixedBits: t.BitWidth()}, nil
	case *arrow.StringType, *arrow.BinaryType:
		return layout{buffers: 3, validity: true, offsets: 4}, nil
	case *arrow.LargeStringType, *arrow.LargeBinaryType:
		return layout{buffers: 3, validity: true, offsets: 8}, nil
	case *arrow.StringViewType, *arrow.BinaryViewType:
		return layout{buffers: 3, variadic: true, validity: true, fixedBits: 128}, nil
	case *arrow.ListType, *arrow.MapType:
		return layout{buffers: 2, children: 1, validity: true, offsets: 4}, nil
	case *arrow.LargeListType:
		return layout{buffers: 2, children: 1, validity: true, offsets: 8}, nil
	case *arrow.ListViewType:
		return layout{buffers: 3, children: 1, validity: true, nonNull: []int{1, 2}}, nil
	case *arrow.LargeListViewType:
		return layout{buffers: 3, children: 1, validity: true, nonNull: []int{1, 2}}, nil
	case *arrow.FixedSizeListType:
		return layout{buffers: 1, children: 1, validity: true}, nil
	case *arrow.StructType:
		return layout{buffers: 1, children: t.NumFields(), validity: true}, nil
	case *arrow.RunEndEncodedType:
		return layout{children: 2}, nil
	case *arrow.DenseUnionType:
		return layout{buffers: 2, children: len(t.Fields()), unionLegacy: 3, nonNull: []int{0, 1}}, nil
	case *arrow.SparseUnionType:
		return layout{buffers: 1, children: len(t.Fields()), unionLegacy: 2, nonNull: []int{0}}, nil
	}
	return layout{}, fmt.Errorf("type %s cannot be imported", dt)
}

func validateArray(a *C.struct_ArrowArray, dt arrow.DataType, path string, depth int) error {
	if depth > maxNesting {
		return fmt.Errorf("%s: nested deeper than %d levels", path, maxNesting)
	}
	if err := checkHeader(a, path); err != nil {
		return err
	}
	lay, err := layoutOf(dt)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	nbuf := int(a.n_buffers)
	switch {
	case lay.variadic:
		if nbuf < lay.buffers {
			return fmt.Errorf("%s: %s array has %d buffers, want at least %d", path, dt, nbuf, lay.buffers)
		}
	case lay.unionLegacy != 0:
		if nbuf != lay.buffers && nbuf != lay.unionLegacy {
			return fmt.Errorf("%s: %s array has %d buffers, want %d", path, dt, nbuf, lay.buffers)
		}
	default:
		if nbuf != lay.buffers {
			return fmt.Errorf("%s: %s array has %d buffers, want %d", path, dt, nbuf, lay.buffers)
		}
	}
	if int(a.n_children) != lay.children {
		return fmt.Errorf("%s: %s array has %d children, want %d", path, dt, int64(a.n_children), lay.children)
	}
	var bufs []unsafe.Pointer
	if nbuf > 0 {
		bufs = unsafe.Slice((*unsafe.Pointer)(unsafe.Pointer(a.buffers)), nbuf)
	}
	span := int64(a.offset) + int64(a.length)
	if lay.validity && bufs[0] == nil && a.null_count != 0 {
		return fmt.Errorf("%s: validity buffer is NULL but null_count is %d", path, int64(a.null_count))
	}
	if lay.unionLegacy != 0 && a.null_count != 0 {
		return fmt.Errorf("%s: union arrays have no nulls of their own, null_count is %d", path, int64(a.null_count))
	}
	if lay.offsets != 0 && bufs[1] == nil {
		return fmt.Errorf("%s: offsets buffer is NULL", path)
	}
	if lay.fixedBits > 256 && span > math.MaxInt64/int64(lay.fixedBits) {
		return fmt.Errorf("%s: offset %d + length %d items of %d bits is too large", path,
			int64(a.offset), int64(a.length), lay.fixedBits)
	}
	if lay.fixedBits != 0 && bufs[1] == nil && span > 0 {
		return fmt.Errorf("%s: values buffer is NULL with %d values", path, span)
	}
	if span > 0 {
		shift := 0
		if lay.unionLegacy != 0 && nbuf == lay.unionLegacy {
			shift = 1
		}
		for _, i := range lay.nonNull {
			if bufs[i+shift] == nil {
				return fmt.Errorf("%s: buffer %d of the %s array is NULL with %d values", path, i+shift, dt, span)
			}
		}
	}
	if lay.offsets != 0 && lay.children == 0 {
		// The last offset is the size of the data buffer (the importer takes
		// it as such); the offsets buffer holds offset+length+1 entries.
		var end int64
		if lay.offsets == 4 {
			end = int64(*(*int32)(unsafe.Add(bufs[1], span*4)))
		} else {
			end = *(*int64)(unsafe.Add(bufs[1], span*8))
		}
		switch {
		case end < 0:
			return fmt.Errorf("%s: the offsets end at %d, a negative data size", path, end)
		case bufs[2] == nil && end != 0:
			return fmt.Errorf("%s: data buffer is NULL but the offsets end at %d", path, end)
		}
	}
	if lay.offsets != 0 && a.length > 0 {
		// Monotonic offsets, checked before any importer sees them: arrow-go
		// slices a column to the batch's rows when it builds the record,
		// and its binary arrays panic there when an offset inside the slice
		// lies beyond the data (whose size is the last offset).
		at := func(i int64) int64 {
			if lay.offsets == 4 {
				return int64(*(*int32)(unsafe.Add(bufs[1], i*4)))
			}
			return *(*int64)(unsafe.Add(bufs[1], i*8))
		}
		prev := at(int64(a.offset))
		if prev < 0 {
			return fmt.Errorf("%s: offset %d is negative (%d)", path, int64(a.offset), prev)
		}
		for i := int64(a.offset) + 1; i <= span; i++ {
			v := at(i)
			if v < prev {
				return fmt.Errorf("%s: offsets decrease at %d (%d after %d)", path, i, v, prev)
			}
			prev = v
		}
	}
	if lay.variadic {
		ndata := nbuf - 3
		sizes := bufs[nbuf-1]
		if ndata > 0 && sizes == nil {
			return fmt.Errorf("%s: variadic buffer sizes are NULL with %d data buffers", path, ndata)
		}
		for i := 0; i < ndata; i++ {
			size := *(*int64)(unsafe.Add(sizes, i*8))
			if size < 0 {
				return fmt.Errorf("%s: data buffer %d has negative size %d", path, i, size)
			}
			if bufs[2+i] == nil && size != 0 {
				return fmt.Errorf("%s: data buffer %d is NULL with size %d", path, i, size)
			}
		}
	}
	if lay.children > 0 {
		children := unsafe.Slice(a.children, int(a.n_children))
		for i, c := range children {
			childType, childPath := childOf(dt, i, path)
			if err := validateArray(c, childType, childPath, depth+1); err != nil {
				return err
			}
			if err := checkChildLength(dt, a, c, childPath); err != nil {
				return err
			}
		}
	}
	switch t := storageOf(dt).(type) {
	case *arrow.MapType:
		if err := checkMapEntries(a, t, path); err != nil {
			return err
		}
	case *arrow.RunEndEncodedType:
		// arrow-go panics on run ends with nulls too.
		if err := settleNoNulls(unsafe.Slice(a.children, 1)[0], t.RunEnds(), path+" > run_ends", "run ends"); err != nil {
			return err
		}
	}
	if d, ok := dt.(*arrow.DictionaryType); ok {
		if a.dictionary == nil {
			return fmt.Errorf("%s: dictionary-encoded array has no dictionary", path)
		}
		if err := validateArray(a.dictionary, d.ValueType, path+" > dictionary", depth+1); err != nil {
			return err
		}
	}
	return nil
}

func childOf(dt arrow.DataType, i int, path string) (arrow.DataType, string) {
	if ext, ok := dt.(arrow.ExtensionType); ok {
		dt = ext.StorageType()
	}
	switch t := dt.(type) {
	case arrow.ListLikeType:
		return t.Elem(), path + " > item"
	case *arrow.StructType:
		return t.Field(i).Type, fmt.Sprintf("%s > %q", path, t.Field(i).Name)
	case *arrow.RunEndEncodedType:
		if i == 0 {
			return t.RunEnds(), path + " > run_ends"
		}
		return t.Encoded(), path + " > values"
	case arrow.UnionType:
		return t.Fields()[i].Type, fmt.Sprintf("%s > %q", path, t.Fields()[i].Name)
	}
	return arrow.Null, path
}

// checkChildLength enforces the child lengths the importer slices by without
// checking: struct fields and sparse union children span the parent,
// fixed-size lists hold size values per slot. Variable lists are checked by ValidateFull against the offsets.
func checkChildLength(dt arrow.DataType, parent, child *C.struct_ArrowArray, path string) error {
	if ext, ok := dt.(arrow.ExtensionType); ok {
		dt = ext.StorageType()
	}
	span := int64(parent.offset) + int64(parent.length)
	switch t := dt.(type) {
	case *arrow.StructType:
		if int64(child.length) < span {
			return fmt.Errorf("%s: length %d is shorter than its struct (%d)", path, int64(child.length), span)
		}
	case *arrow.SparseUnionType:
		if int64(child.length) < span {
			return fmt.Errorf("%s: length %d is shorter than its sparse union (%d)", path, int64(child.length), span)
		}
	case *arrow.FixedSizeListType:
		if t.Len() > 0 && span > math.MaxInt64/int64(t.Len()) {
			return fmt.Errorf("%s: %d list slots of size %d are too many", path, span, t.Len())
		}
		need := span * int64(t.Len())
		if int64(child.length) < need {
			return fmt.Errorf("%s: length %d is shorter than %d list slots of size %d need (%d)",
				path, int64(child.length), span, t.Len(), need)
		}
	}
	return nil
}

func storageOf(dt arrow.DataType) arrow.DataType {
	if ext, ok := dt.(arrow.ExtensionType); ok {
		return ext.StorageType()
	}
	return dt
}

// checkMapEntries enforces what arrow-go's map constructor asserts with a
// panic (which would surface as INTERNAL): the entries struct and its keys
// hold no nulls. The C data interface lets a producer leave a null count
// uncomputed (-1), which arrow-go also takes for "has nulls"; for these two
// arrays the count is taken from the validity bitmap (whose size follows
// from the length and offset checked above) and written into the struct,
// which is ours: the producer moved the array to us. Called after the
// children were validated.
func checkMapEntries(a *C.struct_ArrowArray, mt *arrow.MapType, path string) error {
	entries := unsafe.Slice(a.children, 1)[0]
	if err := settleNoNulls(entries, mt.Elem(), path+" > entries", "map entries"); err != nil {
		return err
	}
	keys := unsafe.Slice(entries.children, 1)[0]
	return settleNoNulls(keys, mt.KeyType(), path+" > entries > key", "map keys")
}

// settleNoNulls resolves an uncomputed null count of x (of type dt) and
// fails unless it is 0.
func settleNoNulls(x *C.struct_ArrowArray, dt arrow.DataType, path, what string) error {
	n := int64(x.null_count)
	if n == -1 {
		lay, _ := layoutOf(dt)
		switch {
		case dt.ID() == arrow.NULL:
			n = int64(x.length)
		case !lay.validity:
			n = 0 // unions and run-end encoded arrays have no nulls of their own
		default:
			// validateArray refused -1 with a NULL bitmap: the bitmap is there.
			bitmap := *(*unsafe.Pointer)(unsafe.Pointer(x.buffers))
			bits := unsafe.Slice((*byte)(bitmap), (int64(x.offset)+int64(x.length)+7)/8)
			n = int64(x.length) - int64(bitutil.CountSetBits(bits, int(x.offset), int(x.length)))
		}
		x.null_count = C.int64_t(n)
	}
	if n != 0 {
		return fmt.Errorf("%s: %s must not be null, null_count is %d", path, what, n)
	}
	return nil
}
