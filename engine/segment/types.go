package segment

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// decodeKind is how a Parquet physical value becomes an Arrow value.
type decodeKind int

const (
	kindNone        decodeKind = iota
	kindCopy                   // same width: INT32/FLOAT → 4 bytes, INT64/DOUBLE → 8
	kindNarrow                 // INT32 → int8/uint8 (1 byte) or int16/uint16 (2)
	kindDecFromInt             // INT32/INT64 → decimal128, sign-extended
	kindDecFromFLBA            // big-endian FIXED_LEN_BYTE_ARRAY → decimal128
	kindFLBA                   // FIXED_LEN_BYTE_ARRAY → fixed_size_binary, as is
	kindBool                   // BOOLEAN → bitmap
	kindBytes                  // BYTE_ARRAY → offsets + data (int32 or int64 offsets)
)

// colPlan is what the decoder needs to know about a flat column, or about
// the values of a fixed_size_list column (perRow > 0).
type colPlan struct {
	kind      decodeKind
	phys      int32
	physWidth int // bytes of one PLAIN value (fixed-width physical types)
	outWidth  int // bytes of one Arrow value (fixed-width outputs)
	large     bool
	maxDef    int
	// perRow is the list size of a fixed_size_list column (0: a flat
	// column): each row is perRow level entries, the first with
	// repetition level 0, the others 1; its values are those entries.
	perRow  int
	listOpt bool           // the fixed_size_list may be null (segments: every non-key column)
	leafOpt bool           // its values may be null
	elem    arrow.DataType // a fixed_size_list's value type
	reason  string         // why the column is not supported; "" when it is
}

// slotsPerRow is how many value slots (Arrow values, present or null) a
// row of the column has.
func (p *colPlan) slotsPerRow() int {
	if p.perRow > 0 {
		return p.perRow
	}
	return 1
}

func physWidth(pt int32, typeLength int32) int {
	switch pt {
	case ptInt32, ptFloat:
		return 4
	case ptInt64, ptDouble:
		return 8
	case ptFLBA:
		return int(typeLength)
	}
	return 0
}

func logicalUnit(e *schemaElement) arrow.TimeUnit {
	switch e.logical.unit {
	case 1:
		return arrow.Millisecond
	case 2:
		return arrow.Microsecond
	case 3:
		return arrow.Nanosecond
	}
	switch e.convertedType {
	case 7, 9: // TIME_MILLIS, TIMESTAMP_MILLIS
		if e.hasConverted {
			return arrow.Millisecond
		}
	case 8, 10: // TIME_MICROS, TIMESTAMP_MICROS
		if e.hasConverted {
			return arrow.Microsecond
		}
	}
	return -1
}

// planColumn decides how (and whether) a column of Arrow type t is decoded
// from its Parquet leaf.
func planColumn(nd *parquetNode, t arrow.DataType) colPlan {
	if fsl, ok := t.(*arrow.FixedSizeListType); ok {
		return planFixedSizeList(nd, fsl)
	}
	if nd.group || nd.hasRepeated || nd.leaves != 1 {
		return colPlan{reason: fmt.Sprintf("nested column of type %s", t)}
	}
	e := nd.leafElem
	p := colPlan{phys: e.typ, physWidth: physWidth(e.typ, e.typeLength), maxDef: nd.maxDef}
	if nd.maxDef > 1 {
		p.reason = "nested optional groups"
		return p
	}
	pt := nameOr(physicalNames, e.typ)
	unsupported := func(why string) colPlan {
		p.kind = kindNone
		p.reason = fmt.Sprintf("Arrow %s stored as Parquet %s: %s", t, pt, why)
		return p
	}
	mismatch := func() colPlan { return unsupported("physical type does not match") }
	unitMatches := func(u arrow.TimeUnit) bool {
		lu := logicalUnit(e)
		return lu == -1 || lu == u
	}
	switch tt := t.(type) {
	case *arrow.Int8Type, *arrow.Uint8Type, *arrow.Int16Type, *arrow.Uint16Type:
		if e.typ != ptInt32 {
			return mismatch()
		}
		p.kind, p.outWidth = kindNarrow, tt.(arrow.FixedWidthDataType).Bytes()
	case *arrow.Int32Type, *arrow.Uint32Type, *arrow.Date32Type:
		if e.typ != ptInt32 {
			return mismatch()
		}
		p.kind, p.outWidth = kindCopy, 4
	case *arrow.Time32Type:
		if e.typ != ptInt32 {
			return mismatch()
		}
		if !unitMatches(tt.Unit) {
			return unsupported("stored in another unit (pqarrow converts it)")
		}
		p.kind, p.outWidth = kindCopy, 4
	case *arrow.Int64Type, *arrow.Uint64Type, *arrow.DurationType:
		if e.typ != ptInt64 {
			return mismatch()
		}
		p.kind, p.outWidth = kindCopy, 8
	case *arrow.Date64Type:
		if e.typ != ptInt64 {
			return unsupported("stored as date32 days (pqarrow converts it)")
		}
		p.kind, p.outWidth = kindCopy, 8
	case *arrow.TimestampType:
		if e.typ != ptInt64 {
			return mismatch()
		}
		if !unitMatches(tt.Unit) {
			return unsupported("stored in another unit (pqarrow converts it)")
		}
		p.kind, p.outWidth = kindCopy, 8
	case *arrow.Time64Type:
		if e.typ != ptInt64 {
			return mismatch()
		}
		if !unitMatches(tt.Unit) {
			return unsupported("stored in another unit (pqarrow converts it)")
		}
		p.kind, p.outWidth = kindCopy, 8
	case *arrow.Float32Type:
		if e.typ != ptFloat {
			return mismatch()
		}
		p.kind, p.outWidth = kindCopy, 4
	case *arrow.Float64Type:
		if e.typ != ptDouble {
			return mismatch()
		}
		p.kind, p.outWidth = kindCopy, 8
	case *arrow.BooleanType:
		if e.typ != ptBoolean {
			return mismatch()
		}
		p.kind = kindBool
	case *arrow.StringType, *arrow.BinaryType:
		if e.typ != ptByteArray {
			return mismatch()
		}
		p.kind = kindBytes
	case *arrow.LargeStringType, *arrow.LargeBinaryType:
		if e.typ != ptByteArray {
			return mismatch()
		}
		p.kind, p.large = kindBytes, true
	case *arrow.Decimal128Type:
		if e.logical.kind == 5 && e.logical.scale != tt.Scale || e.logical.kind != 5 && e.hasConverted && e.scale != tt.Scale {
			return unsupported("scale differs")
		}
		switch e.typ {
		case ptInt32, ptInt64:
			p.kind = kindDecFromInt
		case ptFLBA:
			if e.typeLength < 1 || e.typeLength > 16 {
				return unsupported(fmt.Sprintf("%d-byte values", e.typeLength))
			}
			p.kind = kindDecFromFLBA
		default:
			return mismatch()
		}
		p.outWidth = 16
	case *arrow.FixedSizeBinaryType:
		if e.typ != ptFLBA || int(e.typeLength) != tt.ByteWidth || tt.ByteWidth < 1 {
			return mismatch()
		}
		p.kind, p.outWidth = kindFLBA, tt.ByteWidth
	default:
		return unsupported("type not decoded by the segment reader")
	}
	return p
}

// planFixedSizeList plans a fixed_size_list column of fixed-width values
// (an embedding) as libkalam stores it: written by pqarrow in Parquet's
// three-level LIST layout — the list group (optional in segments, which
// write every non-key column nullable: a tombstone has no values), one
// repeated group, the value leaf, optional or required. Its values decode
// as a flat column of perRow slots per row. Other shapes are left to
// pqarrow.
func planFixedSizeList(nd *parquetNode, t *arrow.FixedSizeListType) colPlan {
	no := func(why string) colPlan {
		return colPlan{reason: fmt.Sprintf("fixed_size_list column of type %s: %s", t, why)}
	}
	e := nd.leafElem
	switch {
	case t.Len() <= 0:
		return no("lists of no values")
	case nd.leaves != 1 || e == nil || !nd.group || nd.elem.numChildren != 1:
		return no("values that are not one leaf")
	case nd.elem.repetition == repRepeated:
		return no("a repeated list")
	case nd.maxRep != 1 || e.repetition == repRepeated:
		return no("not the three-level list layout")
	}
	leafDef, listDef := 0, 0
	if e.repetition == repOptional {
		leafDef = 1
	}
	if nd.elem.repetition == repOptional {
		listDef = 1
	}
	if nd.maxDef != listDef+1+leafDef {
		return no("optional groups between the list and its values")
	}
	flat := parquetNode{elem: e, leafElem: e, leaves: 1, maxDef: leafDef}
	p := planColumn(&flat, t.Elem())
	if p.reason != "" {
		return no(p.reason)
	}
	switch p.kind {
	case kindBool, kindBytes:
		return no("values that are not fixed-width")
	}
	p.maxDef, p.perRow, p.elem = nd.maxDef, int(t.Len()), t.Elem()
	p.listOpt, p.leafOpt = listDef == 1, leafDef == 1
	return p
}

// derivedType is the Arrow type of a leaf for a file without ARROW:schema,
// from its Parquet logical (or converted) type.
func derivedType(nd *parquetNode) arrow.DataType {
	if nd.group || nd.leafElem == nil {
		return arrow.Null // nested without a stored schema: reported unsupported
	}
	e := nd.leafElem
	l := e.logical
	ct := int32(-1)
	if e.hasConverted {
		ct = e.convertedType
	}
	dec := func() arrow.DataType {
		if l.kind == 5 {
			return &arrow.Decimal128Type{Precision: l.precision, Scale: l.scale}
		}
		return &arrow.Decimal128Type{Precision: e.precision, Scale: e.scale}
	}
	isDec := l.kind == 5 || ct == 5
	switch e.typ {
	case ptBoolean:
		return arrow.FixedWidthTypes.Boolean
	case ptInt32:
		switch {
		case isDec:
			return dec()
		case l.kind == 6 || ct == 6:
			return arrow.FixedWidthTypes.Date32
		case l.kind == 7 || ct == 7:
			return &arrow.Time32Type{Unit: arrow.Millisecond}
		case l.kind == 10 && !l.signed || ct == 11 || ct == 12 || ct == 13:
			switch {
			case l.bitWidth == 8 || ct == 11:
				return arrow.PrimitiveTypes.Uint8
			case l.bitWidth == 16 || ct == 12:
				return arrow.PrimitiveTypes.Uint16
			}
			return arrow.PrimitiveTypes.Uint32
		case l.kind == 10 && l.bitWidth == 8 || ct == 15:
			return arrow.PrimitiveTypes.Int8
		case l.kind == 10 && l.bitWidth == 16 || ct == 16:
			return arrow.PrimitiveTypes.Int16
		}
		return arrow.PrimitiveTypes.Int32
	case ptInt64:
		switch {
		case isDec:
			return dec()
		case l.kind == 8 || ct == 9 || ct == 10:
			u := logicalUnit(e)
			tz := ""
			if l.kind != 8 || l.utc {
				tz = "UTC"
			}
			return &arrow.TimestampType{Unit: u, TimeZone: tz}
		case l.kind == 7 || ct == 8:
			return &arrow.Time64Type{Unit: logicalUnit(e)}
		case l.kind == 10 && !l.signed || ct == 14:
			return arrow.PrimitiveTypes.Uint64
		}
		return arrow.PrimitiveTypes.Int64
	case ptFloat:
		return arrow.PrimitiveTypes.Float32
	case ptDouble:
		return arrow.PrimitiveTypes.Float64
	case ptByteArray:
		if l.kind == 1 || l.kind == 4 || l.kind == 12 || ct == 0 || ct == 4 || ct == 19 {
			return arrow.BinaryTypes.String
		}
		return arrow.BinaryTypes.Binary
	case ptFLBA:
		if isDec && e.typeLength <= 16 {
			return dec()
		}
		return &arrow.FixedSizeBinaryType{ByteWidth: int(max(e.typeLength, 0))}
	}
	return arrow.Null // INT96 and unknown physical types: unsupported
}

// Supported reports whether this reader decodes column col of this file,
// and if not, why: the caller reads such a column with pqarrow.
func (f *File) Supported(col int) (bool, string) {
	if col < 0 || col >= len(f.cols) {
		return false, fmt.Sprintf("no column %d", col)
	}
	p := &f.plans[col]
	if p.reason != "" {
		return false, p.reason
	}
	for g := range f.meta.rowGroups {
		cc := &f.meta.rowGroups[g].columns[f.cols[col].Leaf]
		if why := chunkUnsupported(cc, p); why != "" {
			return false, fmt.Sprintf("row group %d: %s", g, why)
		}
	}
	return true, ""
}

func chunkUnsupported(cc *columnChunk, p *colPlan) string {
	switch {
	case !cc.hasMeta:
		return "column chunk without metadata"
	case cc.encrypted:
		return "encrypted column"
	case cc.filePath != "":
		return "column data in another file"
	case cc.physType != p.phys:
		return fmt.Sprintf("chunk physical type %s differs from the schema's", nameOr(physicalNames, cc.physType))
	}
	switch cc.codec {
	case codecUncompressed, codecSnappy, codecZstd, codecLZ4Raw:
	default:
		return "codec " + nameOr(codecNames, cc.codec)
	}
	for _, e := range cc.encodings {
		switch e {
		case encPlain, encPlainDict, encRLEDict, encRLE:
		default:
			return "encoding " + nameOr(encodingNames, e)
		}
	}
	return ""
}

// StatValue decodes a Statistics Min or Max of this column into a Go value:
// int64 for signed integers and for date, time, timestamp and duration
// columns (raw units), uint64 for unsigned integers, float64 for floats,
// bool, string for utf8, []byte for binary and fixed-size binary, and
// decimal128.Num for decimal128.
func (c ColumnInfo) StatValue(b []byte) (any, error) {
	bad := func() (any, error) {
		return nil, fmt.Errorf("column %q: statistic of %d bytes for %s: %w", c.Name, len(b), c.PhysicalType, ErrCorrupt)
	}
	switch c.PhysicalType {
	case "BOOLEAN":
		if len(b) != 1 {
			return bad()
		}
		return b[0] != 0, nil
	case "INT32":
		if len(b) != 4 {
			return bad()
		}
		v := int32(binary.LittleEndian.Uint32(b))
		switch c.Type.ID() {
		case arrow.UINT8, arrow.UINT16, arrow.UINT32:
			return uint64(uint32(v)), nil
		case arrow.DECIMAL128:
			return decimal128.FromI64(int64(v)), nil
		}
		return int64(v), nil
	case "INT64":
		if len(b) != 8 {
			return bad()
		}
		v := int64(binary.LittleEndian.Uint64(b))
		switch c.Type.ID() {
		case arrow.UINT64:
			return uint64(v), nil
		case arrow.DECIMAL128:
			return decimal128.FromI64(v), nil
		}
		return v, nil
	case "FLOAT":
		if len(b) != 4 {
			return bad()
		}
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(b))), nil
	case "DOUBLE":
		if len(b) != 8 {
			return bad()
		}
		return math.Float64frombits(binary.LittleEndian.Uint64(b)), nil
	case "BYTE_ARRAY":
		switch c.Type.ID() {
		case arrow.STRING, arrow.LARGE_STRING:
			return string(b), nil
		}
		return append([]byte{}, b...), nil
	case "FIXED_LEN_BYTE_ARRAY":
		if c.Type.ID() == arrow.DECIMAL128 {
			if len(b) < 1 || len(b) > 16 {
				return bad()
			}
			var out [16]byte
			decimalFromBE(out[:], b)
			return decimal128.New(int64(binary.LittleEndian.Uint64(out[8:])), binary.LittleEndian.Uint64(out[:8])), nil
		}
		return append([]byte{}, b...), nil
	}
	return nil, fmt.Errorf("column %q: no statistics decoding for %s: %w", c.Name, c.PhysicalType, ErrUnsupported)
}

// decimalFromBE writes the big-endian two's-complement integer src (1..16
// bytes) into dst as a 16-byte little-endian decimal128, sign-extended.
func decimalFromBE(dst []byte, src []byte) {
	n := len(src)
	var fill byte
	if src[0]&0x80 != 0 {
		fill = 0xff
	}
	for i := 0; i < n; i++ {
		dst[i] = src[n-1-i]
	}
	for i := n; i < 16; i++ {
		dst[i] = fill
	}
}
