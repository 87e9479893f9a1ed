// Package keyenc is the memcomparable encoding of row keys (DESIGN §3): the
// encoded bytes of two keys compare with bytes.Compare exactly like the key
// values, column by column, so RocksDB iteration order and the min_key/max_key
// of segments are key order.
//
// Every value starts with a marker byte (Null 0x00, NotNull 0x01) so NULLs sort
// first, followed by a body:
//
//   - signed integers (and date32/64, time32/64, timestamp, duration):
//     big-endian two's complement of the type's width with the sign bit
//     flipped;
//   - unsigned integers: big-endian of the type's width;
//   - float32/float64: the IEEE bits, all bits flipped for negatives and the
//     sign bit set for positives; -0 is written as +0 and every NaN as one
//     canonical NaN, which sorts after +Inf;
//   - bool: one byte, 0 or 1;
//   - decimal128: 16 bytes, the signed 128-bit integer big-endian with the sign
//     bit flipped;
//   - fixed_size_binary: the raw bytes (the width is fixed by the type);
//   - strings and binaries: the bytes with each 0x00 written as 0x00 0xFF,
//     then the terminator 0x00 0x01. The terminator is smaller than any byte
//     or escaped byte, so a string sorts before its extensions and a composite
//     key sorts by its first column first.
package keyenc

import (
	"encoding/binary"
	"math"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/kalamdb/libkalam/kerr"
)

// Marker bytes that open every encoded value.
const (
	Null    byte = 0x00
	NotNull byte = 0x01
)

// The escape of a 0x00 byte inside a string and the string terminator.
const (
	escZero byte = 0xFF
	escTerm byte = 0x01
)

// canonicalNaN64 and canonicalNaN32 are the only NaN bit patterns written, so
// every NaN encodes to the same bytes.
const (
	canonicalNaN64 uint64 = 0x7FF8000000000000
	canonicalNaN32 uint32 = 0x7FC00000
)

// kind groups the supported types by body encoding.
type kind uint8

const (
	kindInvalid kind = iota
	kindSigned
	kindUnsigned
	kindFloat32
	kindFloat64
	kindBool
	kindString // utf8, large_utf8, utf8_view: escaped, decoded as string
	kindBinary // binary, large_binary, binary_view: escaped, decoded as []byte
	kindFixedBinary
	kindDecimal128
)

// spec is the encoding of one type: its kind and, for fixed bodies, the body
// width in bytes.
type spec struct {
	kind  kind
	width int
}

func specOf(t arrow.DataType) spec {
	if t == nil {
		return spec{}
	}
	switch t.ID() {
	case arrow.INT8:
		return spec{kindSigned, 1}
	case arrow.INT16:
		return spec{kindSigned, 2}
	case arrow.INT32, arrow.DATE32, arrow.TIME32:
		return spec{kindSigned, 4}
	case arrow.INT64, arrow.DATE64, arrow.TIME64, arrow.TIMESTAMP, arrow.DURATION:
		return spec{kindSigned, 8}
	case arrow.UINT8:
		return spec{kindUnsigned, 1}
	case arrow.UINT16:
		return spec{kindUnsigned, 2}
	case arrow.UINT32:
		return spec{kindUnsigned, 4}
	case arrow.UINT64:
		return spec{kindUnsigned, 8}
	case arrow.FLOAT32:
		return spec{kindFloat32, 4}
	case arrow.FLOAT64:
		return spec{kindFloat64, 8}
	case arrow.BOOL:
		return spec{kindBool, 1}
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return spec{kindString, 0}
	case arrow.BINARY, arrow.LARGE_BINARY, arrow.BINARY_VIEW:
		return spec{kindBinary, 0}
	case arrow.FIXED_SIZE_BINARY:
		return spec{kindFixedBinary, t.(*arrow.FixedSizeBinaryType).ByteWidth}
	case arrow.DECIMAL128:
		return spec{kindDecimal128, 16}
	}
	return spec{}
}

// RawOrdered reports whether non-null values of t (strings and binaries
// with 32- or 64-bit offsets) compare with bytes.Compare on their raw bytes
// exactly as their encodings do: the escape of 0x00 and the terminator
// keep bytewise order, a prefix first. A merge on a single such key column
// then compares the values as they are, without encoding every row.
func RawOrdered(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY:
		return true
	}
	return false
}

// Signed64 reports whether non-null values of t are 64-bit signed
// integers (int64, timestamps, date64, time64, durations) whose encodings
// order exactly as the integers do: a merge on a key of such columns
// compares the values as they are, column by column, without encoding.
func Signed64(t arrow.DataType) bool {
	s := specOf(t)
	return s.kind == kindSigned && s.width == 8
}

// Supported reports whether t can be a key column type.
func Supported(t arrow.DataType) bool { return specOf(t).kind != kindInvalid }

// AppendNull appends the encoding of a NULL of any type.
func AppendNull(dst []byte) []byte { return append(dst, Null) }

// AppendInt64 appends a non-null int64 (marker and 8-byte body); it is the
// key encoding of _seq.
func AppendInt64(dst []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, NotNull), uint64(v)^(1<<63))
}

// appendSigned appends the low width bytes of v big-endian with the sign bit
// of that width flipped; v must fit in width bytes.
func appendSigned(dst []byte, v int64, width int) []byte {
	u := uint64(v) ^ (1 << (8*width - 1))
	return appendUnsigned(dst, u, width)
}

func appendUnsigned(dst []byte, u uint64, width int) []byte {
	switch width {
	case 1:
		return append(dst, byte(u))
	case 2:
		return binary.BigEndian.AppendUint16(dst, uint16(u))
	case 4:
		return binary.BigEndian.AppendUint32(dst, uint32(u))
	default:
		return binary.BigEndian.AppendUint64(dst, u)
	}
}

func float64Key(f float64) uint64 {
	if f != f {
		return canonicalNaN64 | 1<<63
	}
	if f == 0 {
		return 1 << 63 // -0 and +0 alike
	}
	b := math.Float64bits(f)
	if b>>63 != 0 {
		return ^b
	}
	return b | 1<<63
}

func float32Key(f float32) uint32 {
	if f != f {
		return canonicalNaN32 | 1<<31
	}
	if f == 0 {
		return 1 << 31
	}
	b := math.Float32bits(f)
	if b>>31 != 0 {
		return ^b
	}
	return b | 1<<31
}

func appendDecimal128(dst []byte, n decimal128.Num) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(n.HighBits())^(1<<63))
	return binary.BigEndian.AppendUint64(dst, n.LowBits())
}

func appendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// appendEscapedString appends s with 0x00 escaped, then the terminator.
func appendEscapedString(dst []byte, s string) []byte {
	for {
		i := strings.IndexByte(s, 0)
		if i < 0 {
			dst = append(dst, s...)
			return append(dst, 0, escTerm)
		}
		dst = append(dst, s[:i]...)
		dst = append(dst, 0, escZero)
		s = s[i+1:]
	}
}

// appendEscapedBytes is appendEscapedString for a byte slice.
func appendEscapedBytes(dst []byte, s []byte) []byte {
	for {
		i := indexZero(s)
		if i < 0 {
			dst = append(dst, s...)
			return append(dst, 0, escTerm)
		}
		dst = append(dst, s[:i]...)
		dst = append(dst, 0, escZero)
		s = s[i+1:]
	}
}

func indexZero(s []byte) int {
	for i, c := range s {
		if c == 0 {
			return i
		}
	}
	return -1
}

// AppendValue appends the encoding of row i of arr (null or not) to dst. arr's
// type must be Supported; AppendValue panics otherwise, as that is a caller
// bug (check with Supported or use NewRowEncoder, which returns an error).
func AppendValue(dst []byte, arr arrow.Array, i int) []byte {
	if arr.IsNull(i) {
		return append(dst, Null)
	}
	dst = append(dst, NotNull)
	switch a := arr.(type) {
	case *array.Int8:
		return appendSigned(dst, int64(a.Value(i)), 1)
	case *array.Int16:
		return appendSigned(dst, int64(a.Value(i)), 2)
	case *array.Int32:
		return appendSigned(dst, int64(a.Value(i)), 4)
	case *array.Int64:
		return appendSigned(dst, a.Value(i), 8)
	case *array.Date32:
		return appendSigned(dst, int64(a.Value(i)), 4)
	case *array.Time32:
		return appendSigned(dst, int64(a.Value(i)), 4)
	case *array.Date64:
		return appendSigned(dst, int64(a.Value(i)), 8)
	case *array.Time64:
		return appendSigned(dst, int64(a.Value(i)), 8)
	case *array.Timestamp:
		return appendSigned(dst, int64(a.Value(i)), 8)
	case *array.Duration:
		return appendSigned(dst, int64(a.Value(i)), 8)
	case *array.Uint8:
		return append(dst, a.Value(i))
	case *array.Uint16:
		return binary.BigEndian.AppendUint16(dst, a.Value(i))
	case *array.Uint32:
		return binary.BigEndian.AppendUint32(dst, a.Value(i))
	case *array.Uint64:
		return binary.BigEndian.AppendUint64(dst, a.Value(i))
	case *array.Float32:
		return binary.BigEndian.AppendUint32(dst, float32Key(a.Value(i)))
	case *array.Float64:
		return binary.BigEndian.AppendUint64(dst, float64Key(a.Value(i)))
	case *array.Boolean:
		return appendBool(dst, a.Value(i))
	case *array.String:
		return appendEscapedString(dst, a.Value(i))
	case *array.LargeString:
		return appendEscapedString(dst, a.Value(i))
	case *array.StringView:
		return appendEscapedString(dst, a.Value(i))
	case *array.Binary:
		return appendEscapedBytes(dst, a.Value(i))
	case *array.LargeBinary:
		return appendEscapedBytes(dst, a.Value(i))
	case *array.BinaryView:
		return appendEscapedBytes(dst, a.Value(i))
	case *array.FixedSizeBinary:
		return append(dst, a.Value(i)...)
	case *array.Decimal128:
		return appendDecimal128(dst, a.Value(i))
	}
	panic("keyenc: unsupported key column type " + arr.DataType().String())
}

// PrefixEnd returns the smallest byte string greater than every string that
// has prefix p, or nil if there is none (p empty or all 0xFF). It is the
// exclusive upper bound of a prefix scan.
func PrefixEnd(p []byte) []byte {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] != 0xFF {
			end := make([]byte, i+1)
			copy(end, p[:i+1])
			end[i]++
			return end
		}
	}
	return nil
}

// DecodeValue decodes one value of type t from the front of src and returns
// it as a Go value (nil for NULL; see the value convention) with the rest of
// src. Malformed input is kerr.Corruption; an unsupported t is
// kerr.InvalidArgument.
func DecodeValue(src []byte, t arrow.DataType) (v any, rest []byte, err error) {
	sp := specOf(t)
	if sp.kind == kindInvalid {
		return nil, src, unsupportedType(t)
	}
	if len(src) == 0 {
		return nil, src, kerr.New(kerr.Corruption, "keyenc: truncated %s key value: missing marker", t)
	}
	switch src[0] {
	case Null:
		return nil, src[1:], nil
	case NotNull:
	default:
		return nil, src, kerr.New(kerr.Corruption, "keyenc: bad %s key value marker 0x%02x", t, src[0])
	}
	body := src[1:]
	switch sp.kind {
	case kindString, kindBinary:
		b, n, err := decodeEscaped(body)
		if err != nil {
			return nil, src, kerr.Wrap(kerr.Corruption, err, "keyenc: %s key value", t)
		}
		if sp.kind == kindString {
			return string(b), body[n:], nil
		}
		return b, body[n:], nil
	}
	if len(body) < sp.width {
		return nil, src, kerr.New(kerr.Corruption, "keyenc: truncated %s key value: %d of %d body bytes", t, len(body), sp.width)
	}
	b, rest := body[:sp.width], body[sp.width:]
	switch sp.kind {
	case kindSigned:
		u := readUnsigned(b) ^ (1 << (8*sp.width - 1))
		shift := 64 - 8*sp.width
		return int64(u<<shift) >> shift, rest, nil
	case kindUnsigned:
		return readUnsigned(b), rest, nil
	case kindFloat32:
		k := binary.BigEndian.Uint32(b)
		if k>>31 != 0 {
			k ^= 1 << 31
		} else {
			k = ^k
		}
		return float64(math.Float32frombits(k)), rest, nil
	case kindFloat64:
		k := binary.BigEndian.Uint64(b)
		if k>>63 != 0 {
			k ^= 1 << 63
		} else {
			k = ^k
		}
		return math.Float64frombits(k), rest, nil
	case kindBool:
		switch b[0] {
		case 0:
			return false, rest, nil
		case 1:
			return true, rest, nil
		}
		return nil, src, kerr.New(kerr.Corruption, "keyenc: bad bool key byte 0x%02x", b[0])
	case kindFixedBinary:
		out := make([]byte, sp.width)
		copy(out, b)
		return out, rest, nil
	default: // kindDecimal128
		hi := int64(binary.BigEndian.Uint64(b) ^ (1 << 63))
		return decimal128.New(hi, binary.BigEndian.Uint64(b[8:])), rest, nil
	}
}

func readUnsigned(b []byte) uint64 {
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(b))
	case 4:
		return uint64(binary.BigEndian.Uint32(b))
	default:
		return binary.BigEndian.Uint64(b)
	}
}

// decodeEscaped unescapes a string body at the front of src, returning a
// fresh (never nil) slice and the number of bytes consumed.
func decodeEscaped(src []byte) ([]byte, int, error) {
	out := make([]byte, 0, 16)
	for i := 0; ; {
		j := indexZero(src[i:])
		if j < 0 {
			return nil, 0, kerr.New(kerr.Corruption, "unterminated string")
		}
		out = append(out, src[i:i+j]...)
		i += j
		if i+1 >= len(src) {
			return nil, 0, kerr.New(kerr.Corruption, "truncated string escape")
		}
		switch src[i+1] {
		case escTerm:
			return out, i + 2, nil
		case escZero:
			out = append(out, 0)
			i += 2
		default:
			return nil, 0, kerr.New(kerr.Corruption, "bad string escape 0x00 0x%02x", src[i+1])
		}
	}
}

func unsupportedType(t arrow.DataType) error {
	name := "<nil>"
	if t != nil {
		name = t.String()
	}
	return kerr.New(kerr.InvalidArgument, "keyenc: type %s cannot be a key column", name)
}
