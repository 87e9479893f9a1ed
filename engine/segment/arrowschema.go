package segment

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
)

// pqarrow stores the writer's Arrow schema in the footer under ARROW:schema:
// base64 of an Arrow IPC stream holding one Schema message. arrow-go's own
// flatbuffer accessors trust their input and panic on a damaged buffer, so
// this file reads the message with every offset checked. Only what a schema
// needs is read: field names, nullability, types (recursively, for the
// nested types the reader reports as unsupported) and key-value metadata.

var errFlatbuf = errors.New("malformed ARROW:schema")

// errArrowType: a well-formed schema with a type this reader cannot name.
var errArrowType = errors.New("Arrow type not known to the segment reader")

const maxSchemaDepth = 32

type fbTable struct {
	b   []byte
	pos int // table start
	vt  int // vtable start
	vtn int // vtable length in bytes
}

func fbU32(b []byte, p int) (int, error) {
	if p < 0 || p+4 > len(b) {
		return 0, fmt.Errorf("%w: offset %d out of range", errFlatbuf, p)
	}
	return int(binary.LittleEndian.Uint32(b[p:])), nil
}

func fbTableAt(b []byte, pos int) (fbTable, error) {
	if pos < 0 || pos+4 > len(b) {
		return fbTable{}, fmt.Errorf("%w: table at %d out of range", errFlatbuf, pos)
	}
	soff := int32(binary.LittleEndian.Uint32(b[pos:]))
	vt := pos - int(soff)
	if vt < 0 || vt+4 > len(b) {
		return fbTable{}, fmt.Errorf("%w: vtable at %d out of range", errFlatbuf, vt)
	}
	vtn := int(binary.LittleEndian.Uint16(b[vt:]))
	if vtn < 4 || vtn%2 != 0 || vt+vtn > len(b) {
		return fbTable{}, fmt.Errorf("%w: vtable length %d", errFlatbuf, vtn)
	}
	return fbTable{b: b, pos: pos, vt: vt, vtn: vtn}, nil
}

// field returns the absolute position of a slot's value and whether the
// slot is present; size is the value's width, checked against the buffer.
func (t fbTable) field(slot, size int) (int, bool, error) {
	o := 4 + 2*slot
	if o+2 > t.vtn {
		return 0, false, nil
	}
	fo := int(binary.LittleEndian.Uint16(t.b[t.vt+o:]))
	if fo == 0 {
		return 0, false, nil
	}
	p := t.pos + fo
	if p+size > len(t.b) {
		return 0, false, fmt.Errorf("%w: field out of range", errFlatbuf)
	}
	return p, true, nil
}

func (t fbTable) u8(slot int, def uint8) (uint8, error) {
	p, ok, err := t.field(slot, 1)
	if !ok || err != nil {
		return def, err
	}
	return t.b[p], nil
}

func (t fbTable) i16(slot int, def int16) (int16, error) {
	p, ok, err := t.field(slot, 2)
	if !ok || err != nil {
		return def, err
	}
	return int16(binary.LittleEndian.Uint16(t.b[p:])), nil
}

func (t fbTable) i32(slot int, def int32) (int32, error) {
	p, ok, err := t.field(slot, 4)
	if !ok || err != nil {
		return def, err
	}
	return int32(binary.LittleEndian.Uint32(t.b[p:])), nil
}

// ref follows a uoffset slot (table, string or vector) to its target.
func (t fbTable) ref(slot int) (int, bool, error) {
	p, ok, err := t.field(slot, 4)
	if !ok || err != nil {
		return 0, false, err
	}
	off, err := fbU32(t.b, p)
	if err != nil {
		return 0, false, err
	}
	return p + off, true, nil
}

func (t fbTable) table(slot int) (fbTable, bool, error) {
	p, ok, err := t.ref(slot)
	if !ok || err != nil {
		return fbTable{}, ok, err
	}
	tt, err := fbTableAt(t.b, p)
	return tt, err == nil, err
}

func (t fbTable) str(slot int) (string, error) {
	p, ok, err := t.ref(slot)
	if !ok || err != nil {
		return "", err
	}
	n, err := fbU32(t.b, p)
	if err != nil {
		return "", err
	}
	if n > len(t.b)-p-4 {
		return "", fmt.Errorf("%w: string of %d bytes", errFlatbuf, n)
	}
	return string(t.b[p+4 : p+4+n]), nil
}

// tables returns the tables of a vector-of-tables slot.
func (t fbTable) tables(slot int) ([]fbTable, error) {
	p, ok, err := t.ref(slot)
	if !ok || err != nil {
		return nil, err
	}
	n, err := fbU32(t.b, p)
	if err != nil {
		return nil, err
	}
	if n > (len(t.b)-p-4)/4 {
		return nil, fmt.Errorf("%w: vector of %d", errFlatbuf, n)
	}
	out := make([]fbTable, n)
	for i := range out {
		e := p + 4 + 4*i
		off, _ := fbU32(t.b, e)
		if out[i], err = fbTableAt(t.b, e+off); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func fbMetadata(t fbTable, slot int) (arrow.Metadata, error) {
	kvs, err := t.tables(slot)
	if err != nil || len(kvs) == 0 {
		return arrow.Metadata{}, err
	}
	keys := make([]string, len(kvs))
	vals := make([]string, len(kvs))
	for i, kv := range kvs {
		if keys[i], err = kv.str(0); err != nil {
			return arrow.Metadata{}, err
		}
		if vals[i], err = kv.str(1); err != nil {
			return arrow.Metadata{}, err
		}
	}
	return arrow.NewMetadata(keys, vals), nil
}

// decodeArrowSchema decodes the ARROW:schema footer value.
func decodeArrowSchema(s string) (*arrow.Schema, error) {
	var raw []byte
	var err error
	if len(s)%4 == 0 {
		raw, err = base64.StdEncoding.DecodeString(s)
	}
	if len(raw) == 0 || err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(s); err != nil {
			return nil, fmt.Errorf("%w: base64: %v", errFlatbuf, err)
		}
	}
	// IPC framing: optional continuation marker, then the message length.
	if len(raw) >= 4 && binary.LittleEndian.Uint32(raw) == 0xFFFFFFFF {
		raw = raw[4:]
	}
	n, err := fbU32(raw, 0)
	if err != nil {
		return nil, err
	}
	if n > len(raw)-4 {
		return nil, fmt.Errorf("%w: message of %d bytes, %d present", errFlatbuf, n, len(raw)-4)
	}
	msg := raw[4 : 4+n]
	root, err := fbU32(msg, 0)
	if err != nil {
		return nil, err
	}
	m, err := fbTableAt(msg, root)
	if err != nil {
		return nil, err
	}
	if ht, err := m.u8(1, 0); err != nil || ht != 1 { // MessageHeader.Schema
		if err == nil {
			err = fmt.Errorf("%w: message header type %d is not a schema", errFlatbuf, ht)
		}
		return nil, err
	}
	sch, ok, err := m.table(2)
	if err != nil || !ok {
		if err == nil {
			err = fmt.Errorf("%w: no schema header", errFlatbuf)
		}
		return nil, err
	}
	fts, err := sch.tables(1)
	if err != nil {
		return nil, err
	}
	fields := make([]arrow.Field, len(fts))
	// Tables may be shared (a flatbuffer is a DAG), so a damaged schema
	// could make a recursive walk exponential: every field visited spends
	// from a budget proportional to the message size.
	budget := len(msg)/8 + 16
	for i, ft := range fts {
		if fields[i], err = fbField(ft, 0, &budget); err != nil {
			return nil, err
		}
	}
	md, err := fbMetadata(sch, 2)
	if err != nil {
		return nil, err
	}
	return arrow.NewSchema(fields, &md), nil
}

func fbField(t fbTable, depth int, budget *int) (arrow.Field, error) {
	*budget--
	if *budget < 0 {
		return arrow.Field{}, fmt.Errorf("%w: more fields than the message can hold", errFlatbuf)
	}
	if depth > maxSchemaDepth {
		return arrow.Field{}, fmt.Errorf("%w: types nested deeper than %d", errFlatbuf, maxSchemaDepth)
	}
	var f arrow.Field
	var err error
	if f.Name, err = t.str(0); err != nil {
		return f, err
	}
	nb, err := t.u8(1, 0)
	if err != nil {
		return f, err
	}
	f.Nullable = nb != 0
	tt, err := t.u8(2, 0)
	if err != nil {
		return f, err
	}
	typ, _, err := t.table(3)
	if err != nil {
		return f, err
	}
	kids, err := t.tables(5)
	if err != nil {
		return f, err
	}
	children := make([]arrow.Field, len(kids))
	for i, k := range kids {
		if children[i], err = fbField(k, depth+1, budget); err != nil {
			return f, err
		}
	}
	if f.Type, err = fbType(tt, typ, children); err != nil {
		return f, fmt.Errorf("field %q: %w", f.Name, err)
	}
	if _, ok, err := t.ref(4); err != nil {
		return f, err
	} else if ok {
		// Dictionary-encoded in Arrow: pqarrow reads it back as a
		// dictionary array, which this reader does not build.
		f.Type = &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: f.Type}
	}
	if f.Metadata, err = fbMetadata(t, 6); err != nil {
		return f, err
	}
	return f, nil
}

var fbTimeUnits = [...]arrow.TimeUnit{arrow.Second, arrow.Millisecond, arrow.Microsecond, arrow.Nanosecond}

func fbUnit(t fbTable, def int16) (arrow.TimeUnit, error) {
	u, err := t.i16(0, def)
	if err != nil {
		return 0, err
	}
	if u < 0 || int(u) >= len(fbTimeUnits) {
		return 0, fmt.Errorf("%w: time unit %d", errFlatbuf, u)
	}
	return fbTimeUnits[u], nil
}

// fbType builds the Arrow type of one Type union member (Schema.fbs).
func fbType(tt uint8, t fbTable, children []arrow.Field) (arrow.DataType, error) {
	need := func() error {
		if t.b == nil {
			return fmt.Errorf("%w: type %d without its table", errFlatbuf, tt)
		}
		return nil
	}
	switch tt {
	case 1:
		return arrow.Null, nil
	case 2: // Int
		if err := need(); err != nil {
			return nil, err
		}
		bw, err := t.i32(0, 0)
		if err != nil {
			return nil, err
		}
		signed, err := t.u8(1, 0)
		if err != nil {
			return nil, err
		}
		switch {
		case bw == 8 && signed != 0:
			return arrow.PrimitiveTypes.Int8, nil
		case bw == 16 && signed != 0:
			return arrow.PrimitiveTypes.Int16, nil
		case bw == 32 && signed != 0:
			return arrow.PrimitiveTypes.Int32, nil
		case bw == 64 && signed != 0:
			return arrow.PrimitiveTypes.Int64, nil
		case bw == 8:
			return arrow.PrimitiveTypes.Uint8, nil
		case bw == 16:
			return arrow.PrimitiveTypes.Uint16, nil
		case bw == 32:
			return arrow.PrimitiveTypes.Uint32, nil
		case bw == 64:
			return arrow.PrimitiveTypes.Uint64, nil
		}
		return nil, fmt.Errorf("%w: int of %d bits", errFlatbuf, bw)
	case 3: // FloatingPoint
		if err := need(); err != nil {
			return nil, err
		}
		p, err := t.i16(0, 0)
		if err != nil {
			return nil, err
		}
		switch p {
		case 0:
			return arrow.FixedWidthTypes.Float16, nil
		case 1:
			return arrow.PrimitiveTypes.Float32, nil
		case 2:
			return arrow.PrimitiveTypes.Float64, nil
		}
		return nil, fmt.Errorf("%w: float precision %d", errFlatbuf, p)
	case 4:
		return arrow.BinaryTypes.Binary, nil
	case 5:
		return arrow.BinaryTypes.String, nil
	case 6:
		return arrow.FixedWidthTypes.Boolean, nil
	case 7: // Decimal
		if err := need(); err != nil {
			return nil, err
		}
		p, err := t.i32(0, 0)
		if err != nil {
			return nil, err
		}
		s, err := t.i32(1, 0)
		if err != nil {
			return nil, err
		}
		bw, err := t.i32(2, 128)
		if err != nil {
			return nil, err
		}
		switch bw {
		case 32:
			return &arrow.Decimal32Type{Precision: p, Scale: s}, nil
		case 64:
			return &arrow.Decimal64Type{Precision: p, Scale: s}, nil
		case 128:
			return &arrow.Decimal128Type{Precision: p, Scale: s}, nil
		case 256:
			return &arrow.Decimal256Type{Precision: p, Scale: s}, nil
		}
		return nil, fmt.Errorf("%w: decimal of %d bits", errFlatbuf, bw)
	case 8: // Date
		if err := need(); err != nil {
			return nil, err
		}
		u, err := t.i16(0, 1)
		if err != nil {
			return nil, err
		}
		if u == 0 {
			return arrow.FixedWidthTypes.Date32, nil
		}
		return arrow.FixedWidthTypes.Date64, nil
	case 9: // Time
		if err := need(); err != nil {
			return nil, err
		}
		u, err := fbUnit(t, 1)
		if err != nil {
			return nil, err
		}
		bw, err := t.i32(1, 32)
		if err != nil {
			return nil, err
		}
		if bw == 32 {
			return &arrow.Time32Type{Unit: u}, nil
		}
		return &arrow.Time64Type{Unit: u}, nil
	case 10: // Timestamp
		if err := need(); err != nil {
			return nil, err
		}
		u, err := fbUnit(t, 0)
		if err != nil {
			return nil, err
		}
		tz, err := t.str(1)
		if err != nil {
			return nil, err
		}
		return &arrow.TimestampType{Unit: u, TimeZone: tz}, nil
	case 12, 21: // List, LargeList
		if len(children) != 1 {
			return nil, fmt.Errorf("%w: list with %d children", errFlatbuf, len(children))
		}
		if tt == 12 {
			return arrow.ListOfField(children[0]), nil
		}
		return arrow.LargeListOfField(children[0]), nil
	case 13:
		return arrow.StructOf(children...), nil
	case 15: // FixedSizeBinary
		if err := need(); err != nil {
			return nil, err
		}
		w, err := t.i32(0, 0)
		if err != nil {
			return nil, err
		}
		if w < 0 {
			return nil, fmt.Errorf("%w: fixed size binary of %d", errFlatbuf, w)
		}
		return &arrow.FixedSizeBinaryType{ByteWidth: int(w)}, nil
	case 16: // FixedSizeList
		if err := need(); err != nil {
			return nil, err
		}
		n, err := t.i32(0, 0)
		if err != nil {
			return nil, err
		}
		if len(children) != 1 || n < 0 {
			return nil, fmt.Errorf("%w: fixed size list", errFlatbuf)
		}
		return arrow.FixedSizeListOfField(n, children[0]), nil
	case 17: // Map: one struct child of key and item
		if len(children) != 1 {
			return nil, fmt.Errorf("%w: map with %d children", errFlatbuf, len(children))
		}
		st, ok := children[0].Type.(*arrow.StructType)
		if !ok || st.NumFields() != 2 {
			return nil, fmt.Errorf("%w: map entries are not a key/item struct", errFlatbuf)
		}
		return arrow.MapOf(st.Field(0).Type, st.Field(1).Type), nil
	case 18: // Duration
		if err := need(); err != nil {
			return nil, err
		}
		u, err := fbUnit(t, 1)
		if err != nil {
			return nil, err
		}
		return &arrow.DurationType{Unit: u}, nil
	case 19:
		return arrow.BinaryTypes.LargeBinary, nil
	case 20:
		return arrow.BinaryTypes.LargeString, nil
	case 23:
		return arrow.BinaryTypes.BinaryView, nil
	case 24:
		return arrow.BinaryTypes.StringView, nil
	}
	return nil, fmt.Errorf("%w: type id %d", errArrowType, tt)
}
