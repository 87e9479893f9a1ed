package engine

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
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
