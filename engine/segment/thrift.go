package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// A minimal reader of the Thrift compact protocol, enough for Parquet's
// FileMetaData, PageHeader and page index structures. It is hand-written
// rather than generated so that every length is checked against the bytes
// that are actually there: a list can never claim more elements than it has
// bytes, so a damaged footer cannot make the reader allocate more than the
// footer's own size.

// Compact protocol type ids.
const (
	tStop   = 0
	tTrue   = 1
	tFalse  = 2
	tByte   = 3
	tI16    = 4
	tI32    = 5
	tI64    = 6
	tDouble = 7
	tBinary = 8
	tList   = 9
	tSet    = 10
	tMap    = 11
	tStruct = 12
)

// maxThriftDepth bounds nesting so that a crafted footer cannot recurse
// without end; Parquet's deepest structure is a handful of levels.
const maxThriftDepth = 64

var errThrift = errors.New("malformed thrift")

type tReader struct {
	b     []byte
	pos   int
	depth int
}

func (r *tReader) fail(format string, args ...any) error {
	return fmt.Errorf("%w at byte %d: %s", errThrift, r.pos, fmt.Sprintf(format, args...))
}

func (r *tReader) readByte() (byte, error) {
	if r.pos >= len(r.b) {
		return 0, r.fail("unexpected end")
	}
	c := r.b[r.pos]
	r.pos++
	return c, nil
}

func (r *tReader) uvarint() (uint64, error) {
	var x uint64
	for shift := uint(0); shift < 64; shift += 7 {
		c, err := r.readByte()
		if err != nil {
			return 0, err
		}
		x |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return x, nil
		}
	}
	return 0, r.fail("varint too long")
}

func (r *tReader) varint() (int64, error) {
	u, err := r.uvarint()
	if err != nil {
		return 0, err
	}
	return int64(u>>1) ^ -int64(u&1), nil
}

// i32 reads a zigzag varint that must fit an int32 (i16 and i32 fields).
func (r *tReader) i32() (int32, error) {
	v, err := r.varint()
	if err != nil {
		return 0, err
	}
	if v < math.MinInt32 || v > math.MaxInt32 {
		return 0, r.fail("i32 out of range: %d", v)
	}
	return int32(v), nil
}

func (r *tReader) binary() ([]byte, error) {
	n, err := r.uvarint()
	if err != nil {
		return nil, err
	}
	if n > uint64(len(r.b)-r.pos) {
		return nil, r.fail("binary of %d bytes, %d left", n, len(r.b)-r.pos)
	}
	s := r.b[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return s, nil
}

func (r *tReader) str() (string, error) {
	b, err := r.binary()
	return string(b), err
}

func (r *tReader) double() (float64, error) {
	if len(r.b)-r.pos < 8 {
		return 0, r.fail("double past the end")
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b[r.pos:]))
	r.pos += 8
	return v, nil
}

// listHeader returns the element type and count of a list or set. Every
// element takes at least one byte, so the count is checked against the
// bytes left.
func (r *tReader) listHeader() (byte, int, error) {
	c, err := r.readByte()
	if err != nil {
		return 0, 0, err
	}
	n := uint64(c >> 4)
	if n == 15 {
		if n, err = r.uvarint(); err != nil {
			return 0, 0, err
		}
	}
	if n > uint64(len(r.b)-r.pos) {
		return 0, 0, r.fail("list of %d elements, %d bytes left", n, len(r.b)-r.pos)
	}
	return c & 0x0f, int(n), nil
}

// listBool reads one boolean element of a list (a whole byte there).
func (r *tReader) listBool() (bool, error) {
	c, err := r.readByte()
	return c == tTrue, err
}

// boolField is the value of a boolean field: it is held in the field
// header's type nibble.
func boolField(typ byte) bool { return typ == tTrue }

// readStruct walks the fields of one struct, calling fn for each; fn must
// consume the value (or call skip). Unknown fields are skipped by fn's
// default case.
func (r *tReader) readStruct(fn func(id int16, typ byte) error) error {
	r.depth++
	if r.depth > maxThriftDepth {
		return r.fail("nesting deeper than %d", maxThriftDepth)
	}
	defer func() { r.depth-- }()
	var last int16
	for {
		c, err := r.readByte()
		if err != nil {
			return err
		}
		typ := c & 0x0f
		if typ == tStop {
			return nil
		}
		var id int16
		if delta := c >> 4; delta != 0 {
			id = last + int16(delta)
		} else {
			v, err := r.i32()
			if err != nil {
				return err
			}
			if v < math.MinInt16 || v > math.MaxInt16 {
				return r.fail("field id %d", v)
			}
			id = int16(v)
		}
		last = id
		if err := fn(id, typ); err != nil {
			return err
		}
	}
}

// skip consumes one value of the given type.
func (r *tReader) skip(typ byte) error {
	switch typ {
	case tTrue, tFalse:
		return nil
	case tByte:
		_, err := r.readByte()
		return err
	case tI16, tI32, tI64:
		_, err := r.uvarint()
		return err
	case tDouble:
		_, err := r.double()
		return err
	case tBinary:
		_, err := r.binary()
		return err
	case tList, tSet:
		et, n, err := r.listHeader()
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			if et == tTrue || et == tFalse {
				_, err = r.readByte()
			} else {
				err = r.skipNested(et)
			}
			if err != nil {
				return err
			}
		}
		return nil
	case tMap:
		n, err := r.uvarint()
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if n > uint64(len(r.b)-r.pos) {
			return r.fail("map of %d entries", n)
		}
		kv, err := r.readByte()
		if err != nil {
			return err
		}
		for i := uint64(0); i < n; i++ {
			if err := r.skipNested(kv >> 4); err != nil {
				return err
			}
			if err := r.skipNested(kv & 0x0f); err != nil {
				return err
			}
		}
		return nil
	case tStruct:
		return r.readStruct(func(_ int16, t byte) error { return r.skip(t) })
	}
	return r.fail("unknown type %d", typ)
}

// skipNested skips a container element; booleans there are whole bytes.
func (r *tReader) skipNested(typ byte) error {
	if typ == tTrue || typ == tFalse {
		_, err := r.readByte()
		return err
	}
	r.depth++
	defer func() { r.depth-- }()
	if r.depth > maxThriftDepth {
		return r.fail("nesting deeper than %d", maxThriftDepth)
	}
	return r.skip(typ)
}

// expect checks a field's wire type before it is read as that type.
func (r *tReader) expect(id int16, got, want byte) error {
	if got == want || (want == tTrue && got == tFalse) {
		return nil
	}
	return r.fail("field %d has type %d, want %d", id, got, want)
}

// Typed field readers: check the wire type, then read.
func (r *tReader) fI32(id int16, typ byte) (int32, error) {
	if typ != tI32 && typ != tI16 && typ != tByte {
		return 0, r.fail("field %d has type %d, want i32", id, typ)
	}
	if typ == tByte {
		c, err := r.readByte()
		return int32(int8(c)), err
	}
	return r.i32()
}

func (r *tReader) fI64(id int16, typ byte) (int64, error) {
	if typ != tI64 && typ != tI32 && typ != tI16 {
		return 0, r.fail("field %d has type %d, want i64", id, typ)
	}
	return r.varint()
}

func (r *tReader) fBinary(id int16, typ byte) ([]byte, error) {
	if err := r.expect(id, typ, tBinary); err != nil {
		return nil, err
	}
	return r.binary()
}

func (r *tReader) fBool(id int16, typ byte) (bool, error) {
	if err := r.expect(id, typ, tTrue); err != nil {
		return false, err
	}
	return boolField(typ), nil
}

func (r *tReader) fStruct(id int16, typ byte, fn func(id int16, typ byte) error) error {
	if err := r.expect(id, typ, tStruct); err != nil {
		return err
	}
	return r.readStruct(fn)
}

func (r *tReader) fList(id int16, typ byte, want byte) (int, error) {
	if err := r.expect(id, typ, tList); err != nil {
		return 0, err
	}
	et, n, err := r.listHeader()
	if err != nil {
		return 0, err
	}
	if n > 0 && et != want && !(want == tTrue && et == tFalse) && !(want == tI32 && et == tI16) {
		return 0, r.fail("field %d: list of type %d, want %d", id, et, want)
	}
	return n, nil
}
