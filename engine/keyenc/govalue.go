package keyenc

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/kalamdb/libkalam/kerr"
)

// AppendGo appends the encoding of the Go value v (value convention: nil,
// int64, uint64, float64, bool, string, []byte, decimal128.Num) for a column
// of type t. Besides the convention's types it accepts any Go integer type and
// the arrow integer-backed types (arrow.Timestamp, arrow.Date32, ...) for
// integer columns, float32 for float columns, and string and []byte
// interchangeably for string and binary columns. A value that does not fit t
// (out of range, a float that float32 cannot hold exactly, wrong width,
// decimal beyond the type's precision, wrong Go type) is kerr.InvalidArgument.
func AppendGo(dst []byte, t arrow.DataType, v any) ([]byte, error) {
	sp := specOf(t)
	if sp.kind == kindInvalid {
		return dst, unsupportedType(t)
	}
	if v == nil {
		return append(dst, Null), nil
	}
	switch sp.kind {
	case kindSigned:
		i, ok := goInt(v)
		if !ok || !fitsSigned(i, sp.width) {
			return dst, misfit(t, v)
		}
		return appendSigned(append(dst, NotNull), i, sp.width), nil
	case kindUnsigned:
		u, ok := goUint(v)
		if !ok || (sp.width < 8 && u>>(8*sp.width) != 0) {
			return dst, misfit(t, v)
		}
		return appendUnsigned(append(dst, NotNull), u, sp.width), nil
	case kindFloat32:
		var f float32
		switch x := v.(type) {
		case float32:
			f = x
		case float64:
			f = float32(x)
			if x == x && float64(f) != x {
				return dst, misfit(t, v)
			}
		default:
			return dst, misfit(t, v)
		}
		return binary.BigEndian.AppendUint32(append(dst, NotNull), float32Key(f)), nil
	case kindFloat64:
		var f float64
		switch x := v.(type) {
		case float64:
			f = x
		case float32:
			f = float64(x)
		default:
			return dst, misfit(t, v)
		}
		return binary.BigEndian.AppendUint64(append(dst, NotNull), float64Key(f)), nil
	case kindBool:
		b, ok := v.(bool)
		if !ok {
			return dst, misfit(t, v)
		}
		return appendBool(append(dst, NotNull), b), nil
	case kindString, kindBinary:
		switch x := v.(type) {
		case string:
			return appendEscapedString(append(dst, NotNull), x), nil
		case []byte:
			return appendEscapedBytes(append(dst, NotNull), x), nil
		}
		return dst, misfit(t, v)
	case kindFixedBinary:
		var b []byte
		switch x := v.(type) {
		case []byte:
			b = x
		case string:
			b = []byte(x)
		default:
			return dst, misfit(t, v)
		}
		if len(b) != sp.width {
			return dst, kerr.New(kerr.InvalidArgument, "keyenc: %d-byte value does not fit %s", len(b), t)
		}
		return append(append(dst, NotNull), b...), nil
	default: // kindDecimal128
		n, ok := v.(decimal128.Num)
		if !ok || !n.FitsInPrecision(t.(*arrow.Decimal128Type).Precision) {
			return dst, misfit(t, v)
		}
		return appendDecimal128(append(dst, NotNull), n), nil
	}
}

func misfit(t arrow.DataType, v any) error {
	return kerr.New(kerr.InvalidArgument, "keyenc: value %v (%T) does not fit key column type %s", v, v, t)
}

func fitsSigned(i int64, width int) bool {
	if width >= 8 {
		return true
	}
	bits := 8*width - 1
	return i >= -(1<<bits) && i < 1<<bits
}

// goInt converts any Go or arrow integer to int64; false if v is not an
// integer or does not fit int64.
func goInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint64:
		return int64(x), x <= math.MaxInt64
	case uint:
		return int64(x), uint64(x) <= math.MaxInt64
	case uint32:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint8:
		return int64(x), true
	case arrow.Timestamp:
		return int64(x), true
	case arrow.Date32:
		return int64(x), true
	case arrow.Date64:
		return int64(x), true
	case arrow.Time32:
		return int64(x), true
	case arrow.Time64:
		return int64(x), true
	case arrow.Duration:
		return int64(x), true
	}
	return 0, false
}

// goUint converts any non-negative Go integer to uint64.
func goUint(v any) (uint64, bool) {
	switch x := v.(type) {
	case uint64:
		return x, true
	case uint:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint8:
		return uint64(x), true
	}
	i, ok := goInt(v)
	return uint64(i), ok && i >= 0
}

// describe names a column for error messages.
func describe(pos int, t arrow.DataType) string {
	name := "<nil>"
	if t != nil {
		name = t.String()
	}
	return fmt.Sprintf("key column %d (type %s)", pos, name)
}
