package engine

import (
	"errors"
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

// storageFormError is a write's report that column's values do not all
// fit the column's storage type in today's layout (storageFits); the
// operation is run again with the older layout for it
// (withOlderLayoutFallback).
type storageFormError struct {
	column string
	err    error
}

func (e *storageFormError) Error() string { return e.err.Error() }
func (e *storageFormError) Unwrap() error { return e.err }

// storageFits reports whether every value of arr (a column of its table
// type) keeps its value in to, the storage type of today's layout:
// a timestamp[s] times 1000 must fit an int64, a date64 be a whole day
// within ±2³¹ days (pyarrow reads the column as timestamp[ms] and casts it
// to date64 through int32 days: it cuts a time of day and wraps beyond).
func storageFits(arr arrow.Array, to arrow.DataType) bool {
	switch a := arr.(type) {
	case *array.Timestamp:
		tt, isTS := to.(*arrow.TimestampType)
		if !isTS || tt.Unit == a.DataType().(*arrow.TimestampType).Unit {
			return true
		}
		const limit = math.MaxInt64 / 1000
		for i, v := range a.TimestampValues() {
			if (v > limit || v < -limit) && a.IsValid(i) {
				return false
			}
		}
	case *array.Date64:
		if to.ID() != arrow.TIMESTAMP {
			return true
		}
		// pyarrow casts timestamp[ms] to date64 through int32 days.
		const limit = math.MaxInt32 * 86400000
		for i, v := range a.Date64Values() {
			if (v%86400000 != 0 || v > limit || v < -limit) && a.IsValid(i) {
				return false
			}
		}
	}
	return true
}

// withOlderLayoutFallback runs op, and again while it fails because a
// column's values did not fit today's layout: that column of t is then
// written in the older one (t.olderLayout) until op is done.
func withOlderLayoutFallback[T any](t *table, op func() (T, error)) (T, error) {
	// The older layout is for the files of this operation only: the next
	// flush or compaction writes today's layout again if its values fit
	// (the rows that did not may be gone by then).
	var added []string
	defer func() {
		for _, c := range added {
			t.olderLayout.Delete(c)
		}
	}()
	for {
		v, err := op()
		var fe *storageFormError
		if errors.As(err, &fe) {
			if _, had := t.olderLayout.LoadOrStore(fe.column, true); !had {
				added = append(added, fe.column)
				continue
			}
		}
		return v, err
	}
}

// olderLayoutOf is storageSchema's rule for the columns of table t.
func olderLayoutOf(t *table) func(string) bool {
	return func(column string) bool {
		_, older := t.olderLayout.Load(column)
		return older
	}
}

// storedInt is value i of an int32- or int64-backed array.
func storedInt(arr arrow.Array, i int) int64 {
	switch a := arr.(type) {
	case *array.Timestamp:
		return int64(a.Value(i))
	case *array.Time32:
		return int64(a.Value(i))
	case *array.Time64:
		return int64(a.Value(i))
	}
	panic(fmt.Sprintf("storedInt of %s", arr.DataType()))
}

// toStorage returns rec (columns of the table's types) as a segment writer
// of schema to (storageSchema) takes it: re-typed, scaled where the
// storage type counts in a finer unit, fixed_size_lists as lists. rec itself (retained) when nothing
// changes.
func toStorage(rec arrow.RecordBatch, to *arrow.Schema, mem memory.Allocator) (arrow.RecordBatch, error) {
	same := true
	for i, f := range to.Fields() {
		if !arrow.TypeEqual(rec.Column(i).DataType(), f.Type) || needsNullsDown(f.Type) {
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
		if hasFixedSizeList(c.DataType()) {
			// The same layout under storage types, then its
			// fixed_size_lists as lists (fslwrite.go).
			d := retype(c.Data(), nestedStorageType(c.DataType()))
			w, err := listsForWriter(d, nil, mem)
			d.Release()
			if err != nil {
				return nil, err
			}
			named := retype(w, f.Type) // the writer's field names
			w.Release()
			cols[i] = array.MakeFromData(named)
			named.Release()
			continue
		}
		kind, factor, ok := storedForm(f.Type, c.DataType())
		switch {
		case !ok:
			return nil, kerr.New(kerr.Internal, "column %q of type %s cannot be written as %s", f.Name, c.DataType(), f.Type)
		case kind == formSame:
			c.Retain()
			cols[i] = c
		case !storageFits(c, f.Type):
			return nil, &storageFormError{column: f.Name, err: kerr.New(kerr.Internal,
				"column %q holds %s values that %s does not hold exactly", f.Name, c.DataType(), f.Type)}
		case kind == formRetype:
			d := retype(c.Data(), f.Type)
			cols[i] = array.MakeFromData(d)
			d.Release()
		case kind == formScaled:
			s, err := scaleValues(c, f.Type, factor, true, mem)
			if err != nil {
				return nil, err
			}
			cols[i] = s
		default:
			return nil, kerr.New(kerr.Internal, "column %q: segments do not store %s as %s", f.Name, c.DataType(), f.Type)
		}
	}
	for i, c := range cols {
		if needsNullsDown(c.DataType()) {
			// pqarrow's decimal and float16 leaves under a null struct
			// slot (parentnulls.go).
			d := nullsDown(c.Data(), mem)
			c.Release()
			cols[i] = array.MakeFromData(d)
			d.Release()
		}
	}
	return array.NewRecordBatch(to, cols, rec.NumRows()), nil
}

// fromStorage returns column c of a segment as a column of table type t,
// and false when the segment's type cannot hold one (storedForm).
func fromStorage(c arrow.Array, t arrow.DataType, mem memory.Allocator) (arrow.Array, bool, error) {
	if hasFixedSizeList(t) {
		// pqarrow reads fixed_size_lists as lists (pqarrowReadTypes).
		d, err := listsAsFixedSize(c.Data(), nestedStorageType(t), mem)
		if err != nil {
			return nil, false, err
		}
		c = array.MakeFromData(d)
		d.Release()
		defer c.Release()
	}
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
				v = x * factor // fits: storageFits, or a date32 widened
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
