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
)

// maxNesting bounds the recursion over a host's array tree.
const maxNesting = 64

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
	case offset > math.MaxInt64-length:
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
		return layout{buffers: 3, children: 1, validity: true}, nil
	case *arrow.LargeListViewType:
		return layout{buffers: 3, children: 1, validity: true}, nil
	case *arrow.FixedSizeListType:
		return layout{buffers: 1, children: 1, validity: true}, nil
	case *arrow.StructType:
		return layout{buffers: 1, children: t.NumFields(), validity: true}, nil
	case *arrow.RunEndEncodedType:
		return layout{children: 2}, nil
	case *arrow.DenseUnionType:
		return layout{buffers: 2, children: len(t.Fields()), unionLegacy: 3}, nil
	case *arrow.SparseUnionType:
		return layout{buffers: 1, children: len(t.Fields()), unionLegacy: 2}, nil
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
	if lay.fixedBits != 0 && bufs[1] == nil && span > 0 {
		return fmt.Errorf("%s: values buffer is NULL with %d values", path, span)
	}
	if lay.offsets != 0 && lay.children == 0 && bufs[2] == nil {
		var end int64
		if lay.offsets == 4 {
			end = int64(*(*int32)(unsafe.Add(bufs[1], span*4)))
		} else {
			end = *(*int64)(unsafe.Add(bufs[1], span*8))
		}
		if end != 0 {
			return fmt.Errorf("%s: data buffer is NULL but the offsets end at %d", path, end)
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
// checking: struct fields span the parent, fixed-size lists hold size values
// per slot. Variable lists are checked by ValidateFull against the offsets.
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
	case *arrow.FixedSizeListType:
		need := span * int64(t.Len())
		if int64(child.length) < need {
			return fmt.Errorf("%s: length %d is shorter than %d list slots of size %d need (%d)",
				path, int64(child.length), span, t.Len(), need)
		}
	}
	return nil
}
