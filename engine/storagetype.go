package engine

import (
	"encoding/base64"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/kerr"
)

// How a table column is laid out in segment files, and how a reader turns
// what a file holds back into the table's type: the one place for both.
//
// Parquet (as pqarrow writes it) cannot hold every Arrow type a table can:
// it has no duration, writes date64 as date32 days (dropping any time of
// day) and timestamp[s] and time32[s] as milliseconds. Segments have been
// written three ways:
//
//  1. by pqarrow as it is (the first versions): timestamp[s] and time32[s]
//     as milliseconds, date64 as date32 days;
//  2. with the same memory layout under another type, re-typed on read:
//     duration, date64 and timestamp[s] as plain int64, time32[s] as
//     int32. Lossless, but pyarrow reads such a column as int64, and a
//     pyarrow dataset's filter on it then fails ("no kernel matching input
//     types (timestamp[s], int64)"), so engines reading the files of
//     Table.to_pyarrow_dataset could not filter them;
//  3. (now) top-level columns as types pyarrow compares with the table's:
//     timestamp[s] as timestamp[ms] (values times 1000), time32[s] as
//     time64[us] (times a million: every value and every filter literal
//     fits), date64 as timestamp[ms] (the same milliseconds), and
//     duration as int64 with the ARROW:schema hint naming the duration,
//     which pyarrow and pqarrow apply. Inside lists and structs the second
//     way stays. A file whose values do not all fit keeps the second way
//     for that column (storageFits, withOlderLayoutFallback): a
//     timestamp[s] past about 292 million years from 1970, or a date64
//     that is not a whole day (which pyarrow would cut to its day).
//
// storedForm reads all three. List element fields come back named
// "element"; re-typing restores the table's field names.

// storageType returns the type a top-level column of type t is written as
// in new segments (the writer's type: a duration column is int64, its
// hint says duration; see hintType).
func storageType(t arrow.DataType) arrow.DataType {
	switch tt := t.(type) {
	case *arrow.DurationType:
		return arrow.PrimitiveTypes.Int64
	case *arrow.Date64Type:
		return &arrow.TimestampType{Unit: arrow.Millisecond}
	case *arrow.TimestampType:
		if tt.Unit == arrow.Second {
			return &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: tt.TimeZone}
		}
		return t
	case *arrow.Time32Type:
		if tt.Unit == arrow.Second {
			return arrow.FixedWidthTypes.Time64us
		}
		return t
	}
	return nestedStorageType(t)
}

// hintType is the type the ARROW:schema hint of new segments gives a
// top-level column of type t: its storage type, except that a duration is
// named as one (pqarrow cannot write the type, but readers apply the hint
// to the int64 column).
func hintType(t arrow.DataType) arrow.DataType {
	if t.ID() == arrow.DURATION {
		return t
	}
	return storageType(t)
}

// nestedStorageType is the type values of type t are stored as inside
// lists and structs (and were at the top level by the second way): the
// same memory layout under a type pqarrow writes as it is.
func nestedStorageType(t arrow.DataType) arrow.DataType {
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
	}
	return withChildren(t, func(f arrow.Field, _ bool) arrow.Field {
		f.Type = nestedStorageType(f.Type)
		return f
	})
}

// withChildren is nested type t with each child field (list element,
// struct field, map key and value) replaced by child(field, isElem); isElem
// says the field is a list's element. Other types are returned as they are.
// The one walk over nested types of the storage rules here.
func withChildren(t arrow.DataType, child func(f arrow.Field, isElem bool) arrow.Field) arrow.DataType {
	switch tt := t.(type) {
	case *arrow.ListType:
		return arrow.ListOfField(child(tt.ElemField(), true))
	case *arrow.LargeListType:
		return arrow.LargeListOfField(child(tt.ElemField(), true))
	case *arrow.FixedSizeListType:
		return arrow.FixedSizeListOfField(tt.Len(), child(tt.ElemField(), true))
	case *arrow.MapType:
		m := arrow.MapOfFields(child(tt.KeyField(), false), child(tt.ItemField(), false))
		m.KeysSorted = tt.KeysSorted
		return m
	case *arrow.StructType:
		fields := make([]arrow.Field, tt.NumFields())
		for i, f := range tt.Fields() {
			fields[i] = child(f, false)
		}
		return arrow.StructOf(fields...)
	}
	return t
}

// formKind is how a reader turns a segment column into the table's type.
type formKind int

const (
	formSame    formKind = iota // the table's type
	formRetype                  // the same buffers under another type
	formScaled                  // values times factor, same width: divide
	formDateDay                 // date64 held as date32 days: multiply, widen
)

// storedForm reports how a segment column of type got (the type its values
// have: segment.File reports a hint's unit only where the Parquet column
// holds that unit) holds a column of table type t, and false when it
// cannot.
func storedForm(got, t arrow.DataType) (kind formKind, factor int64, ok bool) {
	switch {
	case arrow.TypeEqual(got, t):
		return formSame, 1, true
	case arrow.TypeEqual(layoutOf(got), layoutOf(nestedStorageType(t))):
		return formRetype, 1, true
	}
	switch tt := t.(type) {
	case *arrow.Date64Type:
		switch g := got.(type) {
		case *arrow.TimestampType:
			if g.Unit == arrow.Millisecond {
				return formRetype, 1, true
			}
		case *arrow.Date32Type:
			return formDateDay, 86400000, true
		}
	case *arrow.TimestampType:
		// The time zone is the table's to say: pqarrow reads an instant
		// column (isAdjustedToUTC) as "UTC" and a local one without.
		if g, isTS := got.(*arrow.TimestampType); isTS && tt.Unit == arrow.Second && g.Unit == arrow.Millisecond {
			return formScaled, 1000, true
		}
	case *arrow.Time32Type:
		if tt.Unit != arrow.Second {
			break
		}
		switch g := got.(type) {
		case *arrow.Time32Type:
			if g.Unit == arrow.Millisecond {
				return formScaled, 1000, true
			}
		case *arrow.Time64Type:
			if g.Unit == arrow.Microsecond {
				return formScaled, 1000000, true
			}
		}
	}
	return 0, 0, false
}

// readsAsHinted reports whether a segment column of type got is what new
// segments write for table type t (the third way), so that an engine
// reading the file with the table's schema casts and filters it right.
func readsAsHinted(got, t arrow.DataType) bool {
	return arrow.TypeEqual(layoutOf(got), layoutOf(hintType(t)))
}

// layoutOf is t with the names and metadata of list elements dropped.
// Nested element fields are compared by type and nullability only: pqarrow
// names list elements "element" and gives them field-id metadata, which
// large_list's and map's type equality (unlike list's) would count as a
// different type.
func layoutOf(t arrow.DataType) arrow.DataType {
	return withChildren(t, func(f arrow.Field, isElem bool) arrow.Field {
		if isElem {
			f.Name = "element"
		}
		return arrow.Field{Name: f.Name, Type: layoutOf(f.Type), Nullable: f.Nullable}
	})
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
	case *arrow.Decimal32Type, *arrow.Decimal64Type:
		// arrow-go's Parquet writer has no path for them: every flush failed.
		return kerr.New(kerr.InvalidArgument, "column %q: type %s cannot be stored in segments; declare it decimal128(%d, %d)",
			name, t, tt.(arrow.DecimalType).GetPrecision(), tt.(arrow.DecimalType).GetScale())
	case *arrow.Decimal128Type:
		return checkDecimal(name, t, tt.Precision, tt.Scale, 38)
	case *arrow.Decimal256Type:
		return checkDecimal(name, t, tt.Precision, tt.Scale, 76)
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

// checkDecimal refuses a decimal Parquet cannot describe (precision 1 to
// the type's maximum, scale 0 to the precision): the C ABI takes any
// "d:p,s" a host writes, and every flush of such a column failed.
func checkDecimal(name string, t arrow.DataType, precision, scale, maxPrecision int32) error {
	if precision < 1 || precision > maxPrecision || scale < 0 || scale > precision {
		return kerr.New(kerr.InvalidArgument, "column %q: type %s cannot be stored in segments: its precision must be 1 to %d and its scale 0 to the precision",
			name, t, maxPrecision)
	}
	return nil
}

// storageSchema is the schema a segment writer is given for a table's
// columns s: storage types (the older layout for the columns older names),
// and the ARROW:schema hint (hintType, with list elements named as pqarrow
// names them) in its metadata, which both writers copy into the footer.
func storageSchema(s *arrow.Schema, older func(column string) bool) *arrow.Schema {
	fields := make([]arrow.Field, s.NumFields())
	hints := make([]arrow.Field, s.NumFields())
	for i, f := range s.Fields() {
		h := f
		if older(f.Name) {
			f.Type = nestedStorageType(f.Type)
			h.Type = f.Type
		} else {
			h.Type = hintType(f.Type)
			f.Type = storageType(f.Type)
		}
		f.Type = writerType(f.Type) // fixed_size_lists as lists: fslwrite.go
		hints[i] = h
		fields[i] = f
	}
	md := arrow.NewMetadata([]string{"ARROW:schema"}, []string{storageSchemaHint(arrow.NewSchema(hints, nil))})
	return arrow.NewSchema(fields, &md)
}

// storageSchemaHint is the ARROW:schema footer value for the hinted
// schema s.
func storageSchemaHint(s *arrow.Schema) string {
	fields := make([]arrow.Field, s.NumFields())
	for i, f := range s.Fields() {
		fields[i] = parquetNamed(f)
	}
	return base64.StdEncoding.EncodeToString(flight.SerializeSchema(arrow.NewSchema(fields, nil), memory.DefaultAllocator))
}

// parquetNamed is f with its list elements named "element", as the
// Parquet columns pqarrow writes are (its WithStoreSchema does the same):
// readers that map the hint's names to column paths find them.
func parquetNamed(f arrow.Field) arrow.Field {
	f.Type = withChildren(f.Type, func(c arrow.Field, isElem bool) arrow.Field {
		c = parquetNamed(c)
		if isElem {
			c.Name = "element"
		}
		return c
	})
	return f
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
	case *arrow.MapType:
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
