package engine

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/kerr"
)

// Converting values between a table's types and what segments hold (the
// rules are storagetype.go's): the writers' toStorage and the readers'
// fromStorage.

// storageLimit is the largest magnitude a top-level value of type t may
// have so that storageScale(t) times it fits its storage type (0: any).
func storageLimit(t arrow.DataType) int64 {
	switch storageScale(t) {
	case 1:
		return 0
	case 1000:
		if t.ID() == arrow.TIME32 {
			return math.MaxInt32 / 1000
		}
		return math.MaxInt64 / 1000
	}
	return 0
}

// checkStorageRange refuses a value of column name (arr, of the column's
// table type) that segments cannot hold (kerr.InvalidArgument naming the
// column, the row base+i and the value): a timestamp[s] beyond about
// 292 million years from 1970, a time32[s] beyond about 24 days. Writes
// are checked, so that a flush never meets one.
func checkStorageRange(what, name string, arr arrow.Array, base int64) error {
	limit := storageLimit(arr.DataType())
	if limit == 0 {
		return nil
	}
	for i := 0; i < arr.Len(); i++ {
		if arr.IsNull(i) {
			continue
		}
		v := storedInt(arr, i)
		if v > limit || v < -limit {
			return kerr.New(kerr.InvalidArgument, "%s: column %q: row %d: value %d is beyond what segments store for %s (at most %d in magnitude)",
				what, name, base+int64(i), v, arr.DataType(), limit)
		}
	}
	return nil
}

// storedInt is value i of an int32- or int64-backed array.
func storedInt(arr arrow.Array, i int) int64 {
	switch a := arr.(type) {
	case *array.Timestamp:
		return int64(a.Value(i))
	case *array.Time32:
		return int64(a.Value(i))
	}
	panic(fmt.Sprintf("storedInt of %s", arr.DataType()))
}

// toStorage returns rec (columns of the table's types) as a segment writer
// of schema to (storageSchema) takes it: re-typed, and scaled where the
// storage type counts in a finer unit. rec itself (retained) when nothing
// changes.
func toStorage(rec arrow.RecordBatch, to *arrow.Schema, mem memory.Allocator) (arrow.RecordBatch, error) {
	same := true
	for i, f := range to.Fields() {
		if !arrow.TypeEqual(rec.Column(i).DataType(), f.Type) {
			same = false
			break
		}
	}
	if same {
		rec.Retain()
		return rec, nil
	}
	cols := make([]arrow.Array, rec.NumCols())
	release := func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}
	defer release()
	for i, f := range to.Fields() {
		c := rec.Column(i)
		kind, factor, ok := storedForm(f.Type, c.DataType())
		switch {
		case !ok:
			return nil, kerr.New(kerr.Internal, "column %q of type %s cannot be written as %s", f.Name, c.DataType(), f.Type)
		case kind == formSame:
			c.Retain()
			cols[i] = c
		case kind == formRetype:
			d := retype(c.Data(), f.Type)
			cols[i] = array.MakeFromData(d)
			d.Release()
		case kind == formScaled:
			if err := checkStorageRange("write segment", f.Name, c, 0); err != nil {
				return nil, err
			}
			s, err := scaleValues(c, f.Type, factor, true, mem)
			if err != nil {
				return nil, err
			}
			cols[i] = s
		default:
			return nil, kerr.New(kerr.Internal, "column %q: segments do not store %s as %s", f.Name, c.DataType(), f.Type)
		}
	}
	return array.NewRecordBatch(to, cols, rec.NumRows()), nil
}

// fromStorage returns column c of a segment as a column of table type t,
// and false when the segment's type cannot hold one (storedForm).
func fromStorage(c arrow.Array, t arrow.DataType, mem memory.Allocator) (arrow.Array, bool, error) {
	kind, factor, ok := storedForm(c.DataType(), t)
	if !ok {
		return nil, false, nil
	}
	switch kind {
	case formSame:
		c.Retain()
		return c, true, nil
	case formRetype:
		d := retype(c.Data(), t)
		defer d.Release()
		return array.MakeFromData(d), true, nil
	}
	out, err := scaleValues(c, t, factor, kind == formDateDay, mem)
	return out, true, err
}

// scaleValues returns arr's values multiplied (up) or divided by factor as
// an array of type to (int32 or int64 backed, as arr or wider). Values
// under nulls become 0. A division that leaves a remainder means the file
// holds what no writer of ours wrote there: an error, not a rounding.
func scaleValues(arr arrow.Array, to arrow.DataType, factor int64, up bool, mem memory.Allocator) (arrow.Array, error) {
	n := arr.Len()
	width := to.(arrow.FixedWidthDataType).Bytes()
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(n * width)
	defer buf.Release()
	in := func(i int) int64 {
		switch a := arr.(type) {
		case *array.Int32:
			return int64(a.Value(i))
		case *array.Int64:
			return a.Value(i)
		case *array.Date32:
			return int64(a.Value(i))
		}
		return storedInt(arr, i)
	}
	var out32 []int32
	var out64 []int64
	if width == 4 {
		out32 = arrow.Int32Traits.CastFromBytes(buf.Bytes())
	} else {
		out64 = arrow.Int64Traits.CastFromBytes(buf.Bytes())
	}
	for i := 0; i < n; i++ {
		var v int64
		if arr.IsValid(i) {
			x := in(i)
			if up {
				v = x * factor // in range: checkStorageRange, or a date32
			} else {
				if x%factor != 0 {
					return nil, kerr.New(kerr.Corruption, "segment value %d of type %s is not a whole %s", x, arr.DataType(), to)
				}
				v = x / factor
			}
		}
		if out32 != nil {
			out32[i] = int32(v)
		} else {
			out64[i] = v
		}
	}
	var nulls *memory.Buffer
	if arr.NullN() > 0 {
		nulls = memory.NewResizableBuffer(mem)
		nulls.Resize(int(bitutil.BytesForBits(int64(n))))
		bitutil.CopyBitmap(arr.NullBitmapBytes(), arr.Data().Offset(), n, nulls.Bytes(), 0)
		defer nulls.Release()
	}
	d := array.NewData(to, n, []*memory.Buffer{nulls, buf}, nil, arr.NullN(), 0)
	defer d.Release()
	return array.MakeFromData(d), nil
}
