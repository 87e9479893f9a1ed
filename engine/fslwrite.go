package engine

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// arrow-go's Parquet writer (pqarrow v18.8.0, path_builder.go's
// fixedSizeRangeSelector) takes the values of fixed_size_list slot i at
// i × size of the list's child, ignoring the list array's own offset. A
// fixed_size_list column of a batch sliced from a larger one — every row
// group after a segment's first is such a slice, and so is a struct's
// field of a sliced struct — was written with the values of the batch's
// first rows instead of its own: embeddings silently replaced at flush.
// Batches are therefore handed to pqarrow with every fixed_size_list at
// offset 0, its child cut to its slots instead.

// fixedSizeListsAtZero returns rec (retained) when no column holds a
// fixed_size_list, else a record of the same values in which every
// fixed_size_list array, and every struct above one, has offset 0 (value
// buffers shared; validity bitmaps that must move to another bit position
// copied into mem). The caller releases the result.
func fixedSizeListsAtZero(rec arrow.RecordBatch, mem memory.Allocator) arrow.RecordBatch {
	need := false
	for _, f := range rec.Schema().Fields() {
		if hasFixedSizeList(f.Type) {
			need = true
			break
		}
	}
	if !need {
		rec.Retain()
		return rec
	}
	cols := make([]arrow.Array, rec.NumCols())
	for i, c := range rec.Columns() {
		d := fslAtZero(c.Data(), mem)
		cols[i] = array.MakeFromData(d)
		d.Release()
	}
	out := array.NewRecordBatch(rec.Schema(), cols, rec.NumRows())
	for _, c := range cols {
		c.Release()
	}
	return out
}

// fslAtZero is fixedSizeListsAtZero for one array's data.
func fslAtZero(d arrow.ArrayData, mem memory.Allocator) arrow.ArrayData {
	if !hasFixedSizeList(d.DataType()) {
		d.Retain()
		return d
	}
	off, n, nulls := d.Offset(), d.Len(), d.NullN()
	var kids []arrow.ArrayData
	defer func() {
		for _, k := range kids {
			k.Release()
		}
	}()
	cut := func(c arrow.ArrayData, from, to int) arrow.ArrayData {
		s := array.NewSliceData(c, int64(from), int64(to))
		defer s.Release()
		return fslAtZero(s, mem)
	}
	switch t := d.DataType().(type) {
	case *arrow.FixedSizeListType:
		size := int(t.Len())
		kids = append(kids, cut(d.Children()[0], off*size, (off+n)*size))
	case *arrow.StructType:
		for _, c := range d.Children() {
			kids = append(kids, cut(c, off, off+n))
		}
	default: // list, large list, map: their offsets address the whole child
		for _, c := range d.Children() {
			kids = append(kids, fslAtZero(c, mem))
		}
		return array.NewData(d.DataType(), n, d.Buffers(), kids, nulls, off)
	}
	validity := bitmapFrom(d.Buffers()[0], off, n, nulls, mem)
	if validity != nil {
		defer validity.Release()
	}
	return array.NewData(d.DataType(), n, []*memory.Buffer{validity}, kids, nulls, 0)
}

// bitmapFrom is bits [off, off+n) of validity bitmap buf from bit 0: a
// window of buf at a whole byte, a copy into mem otherwise; nil when no
// slot is null.
func bitmapFrom(buf *memory.Buffer, off, n, nulls int, mem memory.Allocator) *memory.Buffer {
	if buf == nil || buf.Len() == 0 || nulls == 0 {
		return nil
	}
	size := int(bitutil.BytesForBits(int64(n)))
	if off%8 == 0 {
		return memory.SliceBuffer(buf, off/8, size)
	}
	out := memory.NewResizableBuffer(mem)
	out.Resize(size)
	bitutil.CopyBitmap(buf.Bytes(), off, n, out.Bytes(), 0)
	return out
}
