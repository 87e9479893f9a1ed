package engine

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/kalamdb/libkalam/kerr"
)

// Parquet (as pqarrow writes it) cannot hold every Arrow type a table can.
// Such columns are stored as a type with the same memory layout and
// re-typed on read, without copying: duration, date64 and timestamp[s] →
// int64, time32[s] → int32 (pqarrow has no duration, writes date64 as
// date32 days, which drops any time of day, and timestamp[s] and time32[s]
// as milliseconds). List element fields
// come back named "element"; re-typing restores the table's field names.

// storageType returns the type a column of type t has in segment files.
func storageType(t arrow.DataType) arrow.DataType {
	switch tt := t.(type) {
	case *arrow.DurationType, *arrow.Date64Type:
		return arrow.PrimitiveTypes.Int64
	case *arrow.TimestampType:
		if tt.Unit == arrow.Second {
			return arrow.PrimitiveTypes.Int64
		}
		return t
	case *arrow.Time32Type:
		if tt.Unit == arrow.Second {
			return arrow.PrimitiveTypes.Int32
		}
		return t
	case *arrow.ListType:
		f := tt.ElemField()
		f.Type = storageType(f.Type)
		return arrow.ListOfField(f)
	case *arrow.LargeListType:
		f := tt.ElemField()
		f.Type = storageType(f.Type)
		return arrow.LargeListOfField(f)
	case *arrow.FixedSizeListType:
		f := tt.ElemField()
		f.Type = storageType(f.Type)
		return arrow.FixedSizeListOfField(tt.Len(), f)
	case *arrow.StructType:
		fields := make([]arrow.Field, tt.NumFields())
		for i, f := range tt.Fields() {
			f.Type = storageType(f.Type)
			fields[i] = f
		}
		return arrow.StructOf(fields...)
	}
	return t
}

// storedAs reports whether a segment column of type got holds a column of
// type t as storageType lays it out. Nested element fields are compared by
// type and nullability only: pqarrow names list elements "element" and
// gives them field-id metadata, which large_list's and map's type equality
// (unlike list's) would count as a different type.
func storedAs(got, t arrow.DataType) bool {
	return arrow.TypeEqual(layoutOf(got), layoutOf(storageType(t)))
}

// layoutOf is t with the names and metadata of list elements dropped.
func layoutOf(t arrow.DataType) arrow.DataType {
	elem := func(f arrow.Field) arrow.Field {
		return arrow.Field{Name: "element", Type: layoutOf(f.Type), Nullable: f.Nullable}
	}
	switch tt := t.(type) {
	case *arrow.ListType:
		return arrow.ListOfField(elem(tt.ElemField()))
	case *arrow.LargeListType:
		return arrow.LargeListOfField(elem(tt.ElemField()))
	case *arrow.FixedSizeListType:
		return arrow.FixedSizeListOfField(tt.Len(), elem(tt.ElemField()))
	case *arrow.StructType:
		fields := make([]arrow.Field, tt.NumFields())
		for i, f := range tt.Fields() {
			fields[i] = arrow.Field{Name: f.Name, Type: layoutOf(f.Type), Nullable: f.Nullable}
		}
		return arrow.StructOf(fields...)
	}
	return t
}

// checkStorable reports a column of type t that hot rows can hold but
// segments cannot (kerr.InvalidArgument naming the column): pqarrow writes
// no view types, no intervals and no struct without fields, and a column
// of the null type written whole does not read back. Such a column would
// take rows in and then fail every flush, or every scan after one. It is
// checked when a column is created (create_table, adding columns), not
// when a store opens: a table made before the check must stay readable as
// far as it is.
func checkStorable(name string, t arrow.DataType) error {
	if t.ID() == arrow.NULL {
		return kerr.New(kerr.InvalidArgument, "column %q: type null (a column of only nulls) cannot be stored in segments; give it the type its values will have", name)
	}
	return checkStorableNested(name, t)
}

func checkStorableNested(name string, t arrow.DataType) error {
	switch t.ID() {
	case arrow.STRING_VIEW, arrow.BINARY_VIEW, arrow.LIST_VIEW, arrow.LARGE_LIST_VIEW,
		arrow.INTERVAL_MONTHS, arrow.INTERVAL_DAY_TIME, arrow.INTERVAL_MONTH_DAY_NANO:
		return kerr.New(kerr.InvalidArgument, "column %q: type %s cannot be stored in segments", name, t)
	}
	switch tt := t.(type) {
	case *arrow.StructType:
		if tt.NumFields() == 0 {
			return kerr.New(kerr.InvalidArgument, "column %q: a struct without fields cannot be stored in segments", name)
		}
		for _, f := range tt.Fields() {
			if err := checkStorableNested(name, f.Type); err != nil {
				return err
			}
		}
	case arrow.ListLikeType: // list, large_list, fixed_size_list, map
		return checkStorableNested(name, tt.Elem())
	}
	return nil
}

// checkFixedSizeLists refuses a fixed_size_list that could hold a null
// slot, or sit under a null struct slot, with no list between: its slot
// still spans its values, and pqarrow's writer takes no null slot whose
// values are present ("lists with non-zero length null components"), so
// every flush of such a row failed and the rows stayed hot. Under a list,
// large list or map a null parent has no values, which it writes. nullable
// says whether t may be null in the context checked so far (the column's
// own nullability at the top, false under a list).
func checkFixedSizeLists(name string, t arrow.DataType, nullable bool) error {
	switch tt := t.(type) {
	case *arrow.FixedSizeListType:
		if nullable {
			return kerr.New(kerr.InvalidArgument, "column %q: a fixed_size_list that may be null (or sit in a struct that may be) cannot be stored in segments yet; declare it and the structs around it not null, or use a list", name)
		}
		return checkFixedSizeLists(name, tt.Elem(), tt.ElemField().Nullable)
	case *arrow.StructType:
		for _, f := range tt.Fields() {
			if err := checkFixedSizeLists(name, f.Type, nullable || f.Nullable); err != nil {
				return err
			}
		}
	case arrow.ListLikeType: // list, large_list, map: a null slot has no values
		return checkFixedSizeLists(name, tt.Elem(), tt.ElemField().Nullable)
	}
	return nil
}

func storageSchema(s *arrow.Schema) *arrow.Schema {
	fields := make([]arrow.Field, s.NumFields())
	for i, f := range s.Fields() {
		f.Type = storageType(f.Type)
		fields[i] = f
	}
	return arrow.NewSchema(fields, nil)
}

// retype returns data viewed as type `to`, which must have its layout.
func retype(data arrow.ArrayData, to arrow.DataType) arrow.ArrayData {
	children := data.Children()
	var kids []arrow.ArrayData
	switch tt := to.(type) {
	case *arrow.ListType:
		kids = []arrow.ArrayData{retype(children[0], tt.Elem())}
	case *arrow.LargeListType:
		kids = []arrow.ArrayData{retype(children[0], tt.Elem())}
	case *arrow.FixedSizeListType:
		kids = []arrow.ArrayData{retype(children[0], tt.Elem())}
	case *arrow.StructType:
		for i, f := range tt.Fields() {
			kids = append(kids, retype(children[i], f.Type))
		}
	default:
		kids = children
		for _, k := range kids {
			k.Retain()
		}
	}
	out := array.NewData(to, data.Len(), data.Buffers(), kids, data.NullN(), data.Offset())
	for _, k := range kids {
		k.Release() // NewData retained them
	}
	return out
}

// retypeRecord views rec with schema `to` (same layout per column). It
// returns rec itself (retained) when nothing changes.
func retypeRecord(rec arrow.RecordBatch, to *arrow.Schema) arrow.RecordBatch {
	same := true
	for i, f := range to.Fields() {
		if !arrow.TypeEqual(rec.Column(i).DataType(), f.Type) {
			same = false
			break
		}
	}
	if same {
		rec.Retain()
		return rec
	}
	cols := make([]arrow.Array, rec.NumCols())
	for i, f := range to.Fields() {
		if arrow.TypeEqual(rec.Column(i).DataType(), f.Type) {
			cols[i] = rec.Column(i)
			cols[i].Retain()
			continue
		}
		d := retype(rec.Column(i).Data(), f.Type)
		cols[i] = array.MakeFromData(d)
		d.Release()
	}
	out := array.NewRecordBatch(to, cols, rec.NumRows())
	for _, c := range cols {
		c.Release()
	}
	return out
}
