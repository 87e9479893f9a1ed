package keyenc

import (
	"encoding/binary"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/kalamdb/libkalam/kerr"
)

// colFunc appends the key encoding (marker included) of one row of a column.
type colFunc func(dst []byte, row int) []byte

// RowEncoder encodes the composite key of a fixed list of columns. The
// per-column functions are chosen once in NewRowEncoder, so Append does no
// type switch per row. It holds the arrays without retaining them: they must
// outlive the encoder. A RowEncoder is safe for concurrent use.
type RowEncoder struct {
	cols []colFunc
	rows int
}

// NewRowEncoder prepares an encoder for the key columns cols (in key order,
// all of the same length). An unsupported column type or a length mismatch is
// kerr.InvalidArgument naming the column position and type.
func NewRowEncoder(cols []arrow.Array) (*RowEncoder, error) {
	e := &RowEncoder{cols: make([]colFunc, len(cols))}
	for pos, c := range cols {
		if c == nil {
			return nil, kerr.New(kerr.InvalidArgument, "keyenc: key column %d is nil", pos)
		}
		if pos == 0 {
			e.rows = c.Len()
		} else if c.Len() != e.rows {
			return nil, kerr.New(kerr.InvalidArgument, "keyenc: %s has %d rows, column 0 has %d",
				describe(pos, c.DataType()), c.Len(), e.rows)
		}
		f := columnFunc(c)
		if f == nil {
			return nil, kerr.New(kerr.InvalidArgument, "keyenc: %s cannot be a key column", describe(pos, c.DataType()))
		}
		e.cols[pos] = f
	}
	return e, nil
}

// Len returns the number of rows of the encoder's columns.
func (e *RowEncoder) Len() int { return e.rows }

// Append appends the composite key of row to dst.
func (e *RowEncoder) Append(dst []byte, row int) []byte {
	for _, f := range e.cols {
		dst = f(dst, row)
	}
	return dst
}

// signedValues are the arrow value types encoded as signed integers.
type signedValues interface {
	~int8 | ~int16 | ~int32 | ~int64
}

func signedFunc[T signedValues](a arrow.Array, vals []T, width int) colFunc {
	if a.NullN() == 0 {
		return func(dst []byte, row int) []byte {
			return appendSigned(append(dst, NotNull), int64(vals[row]), width)
		}
	}
	return func(dst []byte, row int) []byte {
		if a.IsNull(row) {
			return append(dst, Null)
		}
		return appendSigned(append(dst, NotNull), int64(vals[row]), width)
	}
}

func unsignedFunc[T ~uint8 | ~uint16 | ~uint32 | ~uint64](a arrow.Array, vals []T, width int) colFunc {
	return func(dst []byte, row int) []byte {
		if a.IsNull(row) {
			return append(dst, Null)
		}
		return appendUnsigned(append(dst, NotNull), uint64(vals[row]), width)
	}
}

// genericFunc falls back to AppendValue for types whose per-row cost is
// dominated by the body (strings, binaries, decimals) rather than dispatch.
func genericFunc(a arrow.Array) colFunc {
	return func(dst []byte, row int) []byte { return AppendValue(dst, a, row) }
}

// columnFunc returns the encoder of column a, or nil if its type is not
// supported.
func columnFunc(a arrow.Array) colFunc {
	switch c := a.(type) {
	case *array.Int8:
		return signedFunc(a, c.Values(), 1)
	case *array.Int16:
		return signedFunc(a, c.Values(), 2)
	case *array.Int32:
		return signedFunc(a, c.Values(), 4)
	case *array.Int64:
		return signedFunc(a, c.Values(), 8)
	case *array.Date32:
		return signedFunc(a, c.Values(), 4)
	case *array.Time32:
		return signedFunc(a, c.Values(), 4)
	case *array.Date64:
		return signedFunc(a, c.Values(), 8)
	case *array.Time64:
		return signedFunc(a, c.Values(), 8)
	case *array.Timestamp:
		return signedFunc(a, c.Values(), 8)
	case *array.Duration:
		return signedFunc(a, c.Values(), 8)
	case *array.Uint8:
		return unsignedFunc(a, c.Values(), 1)
	case *array.Uint16:
		return unsignedFunc(a, c.Values(), 2)
	case *array.Uint32:
		return unsignedFunc(a, c.Values(), 4)
	case *array.Uint64:
		return unsignedFunc(a, c.Values(), 8)
	case *array.Float32:
		vals := c.Values()
		return func(dst []byte, row int) []byte {
			if a.IsNull(row) {
				return append(dst, Null)
			}
			return binary.BigEndian.AppendUint32(append(dst, NotNull), float32Key(vals[row]))
		}
	case *array.Float64:
		vals := c.Values()
		return func(dst []byte, row int) []byte {
			if a.IsNull(row) {
				return append(dst, Null)
			}
			return binary.BigEndian.AppendUint64(append(dst, NotNull), float64Key(vals[row]))
		}
	case *array.String:
		return func(dst []byte, row int) []byte {
			if c.IsNull(row) {
				return append(dst, Null)
			}
			return appendEscapedString(append(dst, NotNull), c.Value(row))
		}
	case *array.Boolean, *array.LargeString, *array.StringView, *array.Binary, *array.LargeBinary,
		*array.BinaryView, *array.FixedSizeBinary, *array.Decimal128:
		return genericFunc(a)
	}
	return nil
}
