package engine

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/validity"
)

// conformer maps input batches onto a target schema by column name
// (DESIGN §3): unknown input columns are an error (reported first), missing
// nullable columns become nulls, missing non-nullable columns are an error,
// and only lossless casts are applied.
type conformer struct {
	target *arrow.Schema
	what   string // "append to app.events", for messages
	mem    memory.Allocator
	// keys: the target is a delete's key columns, all required; a missing
	// key column is reported before any other problem.
	keys bool
	// rows counts the rows conformed so far in the call, so that an error
	// names a row by its position in the whole input.
	rows int64
	// mayOmit, when set, says which non-nullable target columns an input
	// may leave out (update and merge modes keep them from the current
	// row, DESIGN §3.1): they are filled with nulls and reported absent.
	mayOmit func(i int) bool
}

// conform returns a record with exactly target's fields, and which of them
// the input had. The caller releases the record.
func (c *conformer) conform(rec arrow.RecordBatch) (arrow.RecordBatch, []bool, error) {
	base := c.rows
	c.rows += rec.NumRows()
	present := make([]bool, c.target.NumFields())
	out, err := c.conformInto(rec, base, present)
	return out, present, err
}

func (c *conformer) conformInto(rec arrow.RecordBatch, base int64, present []bool) (arrow.RecordBatch, error) {
	in := rec.Schema()
	// byName maps each target column to the input column found for it by
	// the engine's one rule for names (columnIndex: exact, else the one
	// equal ignoring case), as projections, filters and DDL find them.
	byName := make(map[string]int, in.NumFields())
	unknown := ""
	for i, f := range in.Fields() {
		t := columnIndex(c.target, f.Name)
		if t < 0 {
			if unknown == "" {
				unknown = f.Name
			}
			continue
		}
		name := c.target.Field(t).Name
		if j, dup := byName[name]; dup {
			return nil, kerr.New(kerr.InvalidArgument, "%s: input has column %q twice (as %q and %q)", c.what, name, in.Field(j).Name, f.Name)
		}
		byName[name] = i
	}
	if c.keys {
		// A delete names the key column it lacks before a column it has
		// that is not a key.
		for _, f := range c.target.Fields() {
			if _, ok := byName[f.Name]; !ok {
				return nil, kerr.New(kerr.InvalidArgument, "%s: missing key column %q (a delete takes the key columns %s)",
					c.what, f.Name, fieldNames(c.target))
			}
		}
		if unknown != "" {
			return nil, kerr.New(kerr.InvalidArgument, "%s: column %q is not a key column (a delete takes the key columns %s)",
				c.what, unknown, fieldNames(c.target))
		}
	}
	if unknown != "" {
		return nil, kerr.New(kerr.InvalidArgument, "%s: unknown column %q", c.what, unknown)
	}
	n := int(rec.NumRows())
	cols := make([]arrow.Array, c.target.NumFields())
	release := func() {
		for _, a := range cols {
			if a != nil {
				a.Release()
			}
		}
	}
	for i, f := range c.target.Fields() {
		j, ok := byName[f.Name]
		if !ok {
			if !f.Nullable && (c.mayOmit == nil || !c.mayOmit(i)) {
				release()
				return nil, kerr.New(kerr.InvalidArgument, "%s: missing non-nullable column %q", c.what, f.Name)
			}
			cols[i] = array.MakeArrayOfNull(c.mem, f.Type, n)
			continue
		}
		present[i] = true
		a, err := columnValues(rec.Column(j), f, base, c.mem)
		if err != nil {
			release()
			return nil, fmt.Errorf("%s: %w", c.what, err)
		}
		cols[i] = a
	}
	out := array.NewRecordBatch(c.target, cols, int64(n))
	release()
	return out, nil
}

// columnValues makes arr the values of column f, as every write stores
// them (appends, write modes, update by filter): cast losslessly to f's
// type, and no null where f's type declares none, at the top or inside.
// Errors name the column, and the row counted from base. The caller
// releases the result.
func columnValues(arr arrow.Array, f arrow.Field, base int64, mem memory.Allocator) (arrow.Array, error) {
	a, err := castLossless(arr, f.Type, mem)
	if err != nil {
		var re rangeError
		if errors.As(err, &re) {
			return nil, kerr.New(kerr.InvalidArgument, "column %q: row %d: value %s does not fit in %s",
				f.Name, base+int64(re.row), re.value, f.Type)
		}
		return nil, kerr.New(kerr.InvalidArgument, "column %q: %v", f.Name, err)
	}
	if nulls := a.NullN(); !f.Nullable && nulls > 0 {
		a.Release() // a fresh cast's last reference: read nothing of it after
		return nil, kerr.New(kerr.InvalidArgument, "column %q is non-nullable but has %d nulls", f.Name, nulls)
	}
	if row, path, bad := requiredNull(a); bad {
		a.Release()
		return nil, kerr.New(kerr.InvalidArgument, "column %q: row %d: null in %s, which the column's type declares not null",
			f.Name, base+int64(row), path)
	}
	return a, nil
}

func fieldNames(s *arrow.Schema) string {
	var b strings.Builder
	for i, f := range s.Fields() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(f.Name)
	}
	return b.String()
}

type castError struct{ from, to arrow.DataType }

func (e castError) Error() string {
	return "cannot cast " + e.from.String() + " to " + e.to.String() + " losslessly"
}

// castLossless returns arr as type `to` (retained when already that type).
// Supported: utf8 ⇄ large_utf8 ⇄ utf8_view, binary ⇄ large_binary ⇄
// binary_view, list ⇄ large_list (recursively), fixed_size_list to the same
// size (its values recursively, nullable to not null when none is null),
// list or large_list to a fixed_size_list when every list has its size,
// dictionary → its value type, timestamps to another unit or zone and
// decimals to another precision or scale when every value is the same
// there (castTimestamp, castDecimal).
func castLossless(arr arrow.Array, to arrow.DataType, mem memory.Allocator) (arrow.Array, error) {
	from := arr.DataType()
	if arrow.TypeEqual(from, to) {
		arr.Retain()
		return arr, nil
	}
	if from.ID() == arrow.NULL {
		// An all-null column (pandas/pyarrow infer this from [None]).
		return array.MakeArrayOfNull(mem, to, arr.Len()), nil
	}
	if d, ok := arr.(*array.Dictionary); ok {
		dense, err := decodeDictionary(d, mem)
		if err != nil {
			return nil, err
		}
		defer dense.Release()
		return castLossless(dense, to, mem)
	}
	switch {
	case isStringLike(from) && isStringLike(to), isBinaryLike(from) && isBinaryLike(to):
		return castBytes(arr, to, mem)
	case from.ID() == arrow.FIXED_SIZE_LIST && to.ID() == arrow.FIXED_SIZE_LIST:
		return castFixedSizeList(arr.(*array.FixedSizeList), to.(*arrow.FixedSizeListType), mem)
	case isListLike(from) && to.ID() == arrow.FIXED_SIZE_LIST:
		return castListToFixedSize(arr.(array.ListLike), to.(*arrow.FixedSizeListType), mem)
	case isListLike(from) && isListLike(to), from.ID() == arrow.MAP && to.ID() == arrow.MAP:
		return castList(arr, to, mem)
	case from.ID() == arrow.STRUCT && to.ID() == arrow.STRUCT:
		return castStruct(arr.(*array.Struct), to.(*arrow.StructType), mem)
	case isInteger(from) && isInteger(to):
		return castInt(arr, to, mem)
	case from.ID() == arrow.FLOAT32 && to.ID() == arrow.FLOAT64:
		return widenArray(arr, to, mem)
	case from.ID() == arrow.TIMESTAMP && to.ID() == arrow.TIMESTAMP:
		return castTimestamp(arr.(*array.Timestamp), from.(*arrow.TimestampType), to.(*arrow.TimestampType), mem)
	case from.ID() == arrow.DECIMAL128 && to.ID() == arrow.DECIMAL128:
		return castDecimal(arr.(*array.Decimal128), from.(*arrow.Decimal128Type), to.(*arrow.Decimal128Type), mem)
	}
	return nil, castError{from, to}
}

// castTimestamp casts timestamps to another unit or time zone: the same
// instants. A zone names how an instant is shown, not the instant, so any
// zone casts to any other; a naive timestamp (no zone) is a wall-clock
// time and never casts to a zoned one, nor back. To a finer unit every
// value is multiplied (a value that overflows is a rangeError), to a
// coarser one it must be a whole number of that unit (pandas' nanosecond
// timestamps into a microsecond column).
func castTimestamp(arr *array.Timestamp, from, to *arrow.TimestampType, mem memory.Allocator) (arrow.Array, error) {
	if (from.TimeZone == "") != (to.TimeZone == "") {
		return nil, castError{from, to}
	}
	perSecond := func(u arrow.TimeUnit) int64 {
		return [...]int64{arrow.Second: 1, arrow.Millisecond: 1e3, arrow.Microsecond: 1e6, arrow.Nanosecond: 1e9}[u]
	}
	f, t := perSecond(from.Unit), perSecond(to.Unit)
	b := array.NewTimestampBuilder(mem, to)
	defer b.Release()
	b.Reserve(arr.Len())
	for i := 0; i < arr.Len(); i++ {
		if arr.IsNull(i) {
			b.AppendNull()
			continue
		}
		v := int64(arr.Value(i))
		var w int64
		switch {
		case t >= f:
			k := t / f
			if w = v * k; w/k != v {
				return nil, rangeError{i, fmt.Sprintf("%d (%s)", v, from)}
			}
		default:
			k := f / t
			if v%k != 0 {
				return nil, rangeError{i, fmt.Sprintf("%d (%s)", v, from)}
			}
			w = v / k
		}
		b.Append(arrow.Timestamp(w))
	}
	return b.NewArray(), nil
}

// castDecimal casts decimals to another precision or scale when every
// value is the same number there: a larger scale multiplies, a smaller one
// needs the digits it drops to be zero, and the result must fit the
// precision (else a rangeError naming the value). pandas' Decimal objects
// become decimal(3, 2) for 1.25, Polars makes decimal(38, s): either
// appends to a table made by the other.
func castDecimal(arr *array.Decimal128, from, to *arrow.Decimal128Type, mem memory.Allocator) (arrow.Array, error) {
	b := array.NewDecimal128Builder(mem, to)
	defer b.Release()
	b.Reserve(arr.Len())
	for i := 0; i < arr.Len(); i++ {
		if arr.IsNull(i) {
			b.AppendNull()
			continue
		}
		v := arr.Value(i)
		w := v
		switch {
		case to.Scale > from.Scale:
			w = v.IncreaseScaleBy(to.Scale - from.Scale)
			if w.ReduceScaleBy(to.Scale-from.Scale, false) != v {
				// Overflowed 128 bits.
				return nil, rangeError{i, fmt.Sprintf("%s (%s)", v.ToString(from.Scale), from)}
			}
		case to.Scale < from.Scale:
			w = v.ReduceScaleBy(from.Scale-to.Scale, false)
			if w.IncreaseScaleBy(from.Scale-to.Scale) != v {
				return nil, rangeError{i, fmt.Sprintf("%s (%s)", v.ToString(from.Scale), from)}
			}
		}
		if !w.FitsInPrecision(to.Precision) {
			return nil, rangeError{i, fmt.Sprintf("%s (%s)", v.ToString(from.Scale), from)}
		}
		b.Append(w)
	}
	return b.NewArray(), nil
}

// castFixedSizeList casts a fixed_size_list to one of the same size whose
// values are of another type or nullability (pyarrow's arrays of embeddings
// have nullable values whatever the table says): lossless when the values
// cast and, for values that may not be null, none of arr's is.
func castFixedSizeList(arr *array.FixedSizeList, to *arrow.FixedSizeListType, mem memory.Allocator) (arrow.Array, error) {
	from := arr.DataType().(*arrow.FixedSizeListType)
	if from.Len() != to.Len() {
		return nil, castError{from, to}
	}
	size := int64(to.Len())
	off := int64(arr.Data().Offset())
	values := array.NewSlice(arr.ListValues(), off*size, (off+int64(arr.Len()))*size)
	defer values.Release()
	if !to.ElemField().Nullable && values.NullN() > 0 {
		return nil, castError{from, to}
	}
	cast, err := castLossless(values, to.Elem(), mem)
	if err != nil {
		return nil, err
	}
	defer cast.Release()
	validity := validity.Window(arr.Data().Buffers()[0], int(off), arr.Len(), arr.NullN(), mem)
	if validity != nil {
		defer validity.Release()
	}
	d := array.NewData(to, arr.Len(), []*memory.Buffer{validity}, []arrow.ArrayData{cast.Data()}, arr.NullN(), 0)
	defer d.Release()
	return array.MakeFromData(d), nil
}

// castListToFixedSize casts a list or large_list whose lists all hold
// to's size of values (embeddings from a Polars List column or a pandas
// frame of lists) to that fixed_size_list: lossless when every list that
// is not null has exactly that many values and they cast, as an integer
// narrows when every value fits. A null list becomes a null slot over
// null values. The first list of another length is a rangeError.
func castListToFixedSize(arr array.ListLike, to *arrow.FixedSizeListType, mem memory.Allocator) (arrow.Array, error) {
	size := int64(to.Len())
	n := arr.Len()
	var pieces []arrow.Array // the values: runs of adjacent lists, and a null run per null list
	defer func() {
		for _, p := range pieces {
			p.Release()
		}
	}()
	runStart, runEnd := int64(-1), int64(-1)
	flush := func() {
		if runEnd > runStart {
			pieces = append(pieces, array.NewSlice(arr.ListValues(), runStart, runEnd))
		}
		runStart, runEnd = -1, -1
	}
	for i := 0; i < n; i++ {
		if arr.IsNull(i) {
			flush()
			pieces = append(pieces, array.MakeArrayOfNull(mem, arr.ListValues().DataType(), int(size)))
			continue
		}
		s, e := arr.ValueOffsets(i)
		if e-s != size {
			return nil, rangeError{i, fmt.Sprintf("[%d values]", e-s)}
		}
		if runEnd != s {
			flush()
			runStart = s
		}
		runEnd = e
	}
	flush()
	var values arrow.Array
	switch len(pieces) {
	case 0:
		values = array.NewSlice(arr.ListValues(), 0, 0)
	case 1:
		values = pieces[0]
		values.Retain()
	default:
		var err error
		if values, err = array.Concatenate(pieces, mem); err != nil {
			return nil, kerr.Wrap(kerr.Internal, err, "assemble the values of %s", to)
		}
	}
	defer values.Release()
	cast, err := castLossless(values, to.Elem(), mem)
	if err != nil {
		var re rangeError
		if errors.As(err, &re) {
			// A value's row is its list's.
			return nil, rangeError{re.row / int(size), re.value}
		}
		return nil, castError{arr.DataType(), to}
	}
	defer cast.Release()
	valid := validity.Window(arr.Data().Buffers()[0], arr.Data().Offset(), n, arr.NullN(), mem)
	if valid != nil {
		defer valid.Release()
	}
	d := array.NewData(to, n, []*memory.Buffer{valid}, []arrow.ArrayData{cast.Data()}, arr.NullN(), 0)
	defer d.Release()
	return array.MakeFromData(d), nil
}

// rangeError is an integer that does not fit the target type.
type rangeError struct {
	row   int
	value string
}

func (e rangeError) Error() string {
	return fmt.Sprintf("row %d: value %s out of range", e.row, e.value)
}

func isInteger(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return true
	}
	return false
}

// intRange is the range of an integer type as (min int64, max uint64).
func intRange(t arrow.DataType) (int64, uint64) {
	switch t.ID() {
	case arrow.INT8:
		return math.MinInt8, math.MaxInt8
	case arrow.INT16:
		return math.MinInt16, math.MaxInt16
	case arrow.INT32:
		return math.MinInt32, math.MaxInt32
	case arrow.INT64:
		return math.MinInt64, math.MaxInt64
	case arrow.UINT8:
		return 0, math.MaxUint8
	case arrow.UINT16:
		return 0, math.MaxUint16
	case arrow.UINT32:
		return 0, math.MaxUint32
	}
	return 0, math.MaxUint64
}

// castInt converts between integer types, value by value: widening always
// fits; a narrowing (or a change of sign) is accepted when every value fits
// (DESIGN §3.1), else a rangeError names the first value that does not.
func castInt(arr arrow.Array, to arrow.DataType, mem memory.Allocator) (arrow.Array, error) {
	lo, hi := intRange(to)
	var signed bool
	switch arr.DataType().ID() {
	case arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		signed = false
	default:
		signed = true
	}
	b := array.NewBuilder(mem, to)
	defer b.Release()
	b.Reserve(arr.Len())
	for i := 0; i < arr.Len(); i++ {
		if arr.IsNull(i) {
			b.AppendNull()
			continue
		}
		var s int64
		var u uint64
		fits := false
		if signed {
			s = intValue(arr, i)
			fits = s >= lo && (s < 0 || uint64(s) <= hi)
			u = uint64(s)
		} else {
			u = uintValue(arr, i)
			fits = u <= hi
			s = int64(u)
		}
		if !fits {
			v := fmt.Sprint(s)
			if !signed {
				v = fmt.Sprint(u)
			}
			return nil, rangeError{i, v}
		}
		switch bb := b.(type) {
		case *array.Int8Builder:
			bb.Append(int8(s))
		case *array.Int16Builder:
			bb.Append(int16(s))
		case *array.Int32Builder:
			bb.Append(int32(s))
		case *array.Int64Builder:
			bb.Append(s)
		case *array.Uint8Builder:
			bb.Append(uint8(u))
		case *array.Uint16Builder:
			bb.Append(uint16(u))
		case *array.Uint32Builder:
			bb.Append(uint32(u))
		case *array.Uint64Builder:
			bb.Append(u)
		}
	}
	return b.NewArray(), nil
}

func isStringLike(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return true
	}
	return false
}

func isBinaryLike(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.BINARY, arrow.LARGE_BINARY, arrow.BINARY_VIEW:
		return true
	}
	return false
}

func isListLike(t arrow.DataType) bool {
	return t.ID() == arrow.LIST || t.ID() == arrow.LARGE_LIST
}

func byteValue(arr arrow.Array, i int) []byte {
	switch a := arr.(type) {
	case *array.String:
		return []byte(a.Value(i))
	case *array.LargeString:
		return []byte(a.Value(i))
	case *array.StringView:
		return []byte(a.Value(i))
	case *array.Binary:
		return a.Value(i)
	case *array.LargeBinary:
		return a.Value(i)
	case *array.BinaryView:
		return a.Value(i)
	}
	panic("byteValue: unsupported " + arr.DataType().String())
}

func castBytes(arr arrow.Array, to arrow.DataType, mem memory.Allocator) (arrow.Array, error) {
	b := array.NewBuilder(mem, to)
	defer b.Release()
	b.Reserve(arr.Len())
	type appender interface{ Append([]byte) }
	for i := 0; i < arr.Len(); i++ {
		if arr.IsNull(i) {
			b.AppendNull()
			continue
		}
		v := byteValue(arr, i)
		switch bb := b.(type) {
		case *array.StringBuilder:
			bb.Append(string(v))
		case *array.LargeStringBuilder:
			bb.Append(string(v))
		case *array.StringViewBuilder:
			bb.Append(string(v))
		case appender:
			bb.Append(v)
		default:
			return nil, castError{arr.DataType(), to}
		}
	}
	return b.NewArray(), nil
}

func castList(arr arrow.Array, to arrow.DataType, mem memory.Allocator) (arrow.Array, error) {
	var toElem arrow.DataType
	switch lt := to.(type) {
	case *arrow.ListType:
		toElem = lt.Elem()
	case *arrow.LargeListType:
		toElem = lt.Elem()
	case *arrow.MapType: // a list of key-value structs
		toElem = lt.Elem()
	}
	la := arr.(array.ListLike)
	// Rebuild offsets relative to a compacted child so both widths are easy.
	n := arr.Len()
	start, _ := la.ValueOffsets(0)
	_, end := la.ValueOffsets(n - 1)
	if n == 0 {
		start, end = 0, 0
	}
	childSlice := array.NewSlice(la.ListValues(), start, end)
	defer childSlice.Release()
	child, err := castLossless(childSlice, toElem, mem)
	if err != nil {
		var re rangeError
		if errors.As(err, &re) {
			// A value's row is its list's (re.row counts the values).
			at := start + int64(re.row)
			row := sort.Search(n, func(i int) bool { _, e := la.ValueOffsets(i); return e > at })
			return nil, rangeError{row, re.value}
		}
		return nil, err
	}
	defer child.Release()
	var offBuf *memory.Buffer
	if to.ID() == arrow.LARGE_LIST {
		offs := make([]int64, n+1)
		for i := 0; i < n; i++ {
			s, e := la.ValueOffsets(i)
			offs[i], offs[i+1] = s-start, e-start
		}
		offBuf = memory.NewResizableBuffer(mem)
		offBuf.Resize(8 * (n + 1))
		copy(arrow.Int64Traits.CastFromBytes(offBuf.Bytes()), offs)
	} else {
		if end-start > 1<<31-1 {
			return nil, castError{arr.DataType(), to}
		}
		offs := make([]int32, n+1)
		for i := 0; i < n; i++ {
			s, e := la.ValueOffsets(i)
			offs[i], offs[i+1] = int32(s-start), int32(e-start)
		}
		offBuf = memory.NewResizableBuffer(mem)
		offBuf.Resize(4 * (n + 1))
		copy(arrow.Int32Traits.CastFromBytes(offBuf.Bytes()), offs)
	}
	defer offBuf.Release()
	var valid *memory.Buffer
	if arr.NullN() > 0 {
		valid = memory.NewResizableBuffer(mem)
		valid.Resize(int(bitutil.BytesForBits(int64(n))))
		vb := valid.Bytes()
		for i := range vb {
			vb[i] = 0
		}
		for i := 0; i < n; i++ {
			if arr.IsValid(i) {
				vb[i/8] |= 1 << (i % 8)
			}
		}
		defer valid.Release()
	}
	data := array.NewData(to, n, []*memory.Buffer{valid, offBuf}, []arrow.ArrayData{child.Data()}, arr.NullN(), 0)
	defer data.Release()
	return array.MakeFromData(data), nil
}

// castStruct casts a struct to one with the same field names in the same
// order, field by field (a Polars or pandas frame's struct of large_utf8
// into a table's struct of utf8); the target's field nullability is the
// writes' rule (columnValues), checked on the result.
func castStruct(arr *array.Struct, to *arrow.StructType, mem memory.Allocator) (arrow.Array, error) {
	from := arr.DataType().(*arrow.StructType)
	if from.NumFields() != to.NumFields() {
		return nil, castError{from, to}
	}
	off, n := arr.Data().Offset(), arr.Len()
	kids := make([]arrow.ArrayData, to.NumFields())
	defer func() {
		for _, k := range kids {
			if k != nil {
				k.Release()
			}
		}
	}()
	for i := range to.NumFields() {
		if from.Field(i).Name != to.Field(i).Name {
			return nil, castError{from, to}
		}
		// Field i's values of this array's slots (arrow-go applies a
		// struct's offset to its children).
		field := array.NewSlice(arr.Field(i), 0, int64(n))
		c, err := castLossless(field, to.Field(i).Type, mem)
		field.Release()
		if err != nil {
			return nil, err
		}
		kids[i] = c.Data()
		kids[i].Retain()
		c.Release()
	}
	valid := validity.Window(arr.Data().Buffers()[0], off, n, arr.NullN(), mem)
	if valid != nil {
		defer valid.Release()
	}
	data := array.NewData(to, n, []*memory.Buffer{valid}, kids, arr.NullN(), 0)
	defer data.Release()
	return array.MakeFromData(data), nil
}

// decodeDictionary turns a dictionary array into its dense value array.
func decodeDictionary(d *array.Dictionary, mem memory.Allocator) (arrow.Array, error) {
	dict := d.Dictionary()
	n := d.Len()
	if n == 0 {
		return array.MakeArrayOfNull(mem, dict.DataType(), 0), nil
	}
	parts := make([]arrow.Array, 0, n)
	defer func() {
		for _, p := range parts {
			p.Release()
		}
	}()
	var null arrow.Array
	for i := 0; i < n; i++ {
		if d.IsNull(i) {
			if null == nil {
				null = array.MakeArrayOfNull(mem, dict.DataType(), 1)
				defer null.Release()
			}
			null.Retain()
			parts = append(parts, null)
			continue
		}
		k := d.GetValueIndex(i)
		if k < 0 || k >= dict.Len() {
			return nil, kerr.New(kerr.InvalidArgument, "dictionary index %d out of range at row %d", k, i)
		}
		parts = append(parts, array.NewSlice(dict, int64(k), int64(k+1)))
	}
	return array.Concatenate(parts, mem)
}
