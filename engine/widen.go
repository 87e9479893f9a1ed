package engine

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/kerr"
)

// The widenings an alter allows (DESIGN §3.2): every value of the narrow
// type is a value of the wide one, so data written before stays readable.
var widenings = map[arrow.Type][]arrow.Type{
	arrow.INT8:    {arrow.INT16, arrow.INT32, arrow.INT64},
	arrow.INT16:   {arrow.INT32, arrow.INT64},
	arrow.INT32:   {arrow.INT64},
	arrow.UINT8:   {arrow.UINT16, arrow.UINT32, arrow.UINT64},
	arrow.UINT16:  {arrow.UINT32, arrow.UINT64},
	arrow.UINT32:  {arrow.UINT64},
	arrow.FLOAT32: {arrow.FLOAT64},
	arrow.STRING:  {arrow.LARGE_STRING},
	arrow.BINARY:  {arrow.LARGE_BINARY},
}

// canWiden reports whether from widens to to.
func canWiden(from, to arrow.DataType) bool {
	for _, t := range widenings[from.ID()] {
		if t == to.ID() {
			return true
		}
	}
	return false
}

// appendWidened appends value i of arr (a narrower type) to b.
func appendWidened(b array.Builder, arr arrow.Array, i int) error {
	if arr.IsNull(i) {
		b.AppendNull()
		return nil
	}
	switch bb := b.(type) {
	case *array.Int16Builder:
		bb.Append(int16(intValue(arr, i)))
	case *array.Int32Builder:
		bb.Append(int32(intValue(arr, i)))
	case *array.Int64Builder:
		bb.Append(intValue(arr, i))
	case *array.Uint16Builder:
		bb.Append(uint16(uintValue(arr, i)))
	case *array.Uint32Builder:
		bb.Append(uint32(uintValue(arr, i)))
	case *array.Uint64Builder:
		bb.Append(uintValue(arr, i))
	case *array.Float64Builder:
		bb.Append(float64(arr.(*array.Float32).Value(i)))
	case *array.LargeStringBuilder:
		bb.Append(arr.(*array.String).Value(i))
	case *array.BinaryBuilder:
		if arr.DataType().ID() != arrow.BINARY {
			return kerr.New(kerr.Internal, "widen %s into %s", arr.DataType(), b.Type())
		}
		bb.Append(arr.(*array.Binary).Value(i))
	default:
		return kerr.New(kerr.Internal, "widen %s into %s", arr.DataType(), b.Type())
	}
	return nil
}

func intValue(arr arrow.Array, i int) int64 {
	switch a := arr.(type) {
	case *array.Int8:
		return int64(a.Value(i))
	case *array.Int16:
		return int64(a.Value(i))
	case *array.Int32:
		return int64(a.Value(i))
	case *array.Int64:
		return a.Value(i)
	}
	return 0
}

func uintValue(arr arrow.Array, i int) uint64 {
	switch a := arr.(type) {
	case *array.Uint8:
		return uint64(a.Value(i))
	case *array.Uint16:
		return uint64(a.Value(i))
	case *array.Uint32:
		return uint64(a.Value(i))
	case *array.Uint64:
		return a.Value(i)
	}
	return 0
}

// widenArray returns arr as type to (a widening of its type), in fresh
// buffers from mem.
func widenArray(arr arrow.Array, to arrow.DataType, mem memory.Allocator) (arrow.Array, error) {
	b := array.NewBuilder(mem, to)
	defer b.Release()
	b.Reserve(arr.Len())
	for i := 0; i < arr.Len(); i++ {
		if err := appendWidened(b, arr, i); err != nil {
			return nil, err
		}
	}
	return b.NewArray(), nil
}
