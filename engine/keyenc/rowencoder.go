package keyenc

import (
	"encoding/binary"
	"slices"

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
	// fills, when every column is an integer-like column without nulls,
	// encode a whole column at once into fixed-width rows (AppendAll);
	// width is then every row's encoded length.
	fills  []colFill
	widths []int // each fill's encoded length (marker included)
	width  int
}

// colFill encodes rows [from, to) of one column at offset off of rows of
// stride bytes in dst, row from first (marker included).
type colFill func(dst []byte, stride, off, from, to int)

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
	for _, c := range cols {
		fill, w := columnFill(c)
		if fill == nil {
			e.fills, e.widths, e.width = nil, nil, 0
			break
		}
		e.fills = append(e.fills, fill)
		e.widths = append(e.widths, w)
		e.width += w
	}
	return e, nil
}

// FixedWidth is the encoded length of every row when AppendAll can encode
// the columns a column at a time (integer-like columns without nulls, whose
// encodings have one length), 0 otherwise.
func (e *RowEncoder) FixedWidth() int { return e.width }

// AppendAll appends the keys of all rows to dst, FixedWidth() bytes each,
// in row order; only when FixedWidth() > 0. Column by column, it costs a
// merge on a composite integer key about a third of encoding row by row
// with Append.
func (e *RowEncoder) AppendAll(dst []byte) []byte {
	start := len(dst)
	dst = slices.Grow(dst, e.rows*e.width)[:start+e.rows*e.width]
	e.FillRows(dst[start:], 0, e.rows)
	return dst
}

// FillRows writes the keys of rows [from, to) to dst, FixedWidth() bytes
// each, row from first; only when FixedWidth() > 0. A merge encodes a
// batch's keys a block at a time as it reaches them (a run of a batch
// passed whole with a few hot rows needs a handful of its keys).
func (e *RowEncoder) FillRows(dst []byte, from, to int) {
	off := 0
	for i, fill := range e.fills {
		fill(dst, e.width, off, from, to)
		off += e.widths[i]
	}
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

// columnFill returns the column-at-a-time encoder of a and the length of
// each of its encodings, or nil when a is not an integer-like column
// without nulls (the only columns whose encodings all have one length and
// whose body is a plain transform of the value).
func columnFill(a arrow.Array) (colFill, int) {
	if a.NullN() != 0 {
		return nil, 0
	}
	switch c := a.(type) {
	case *array.Int8:
		return signedFill(c.Values(), 1), 2
	case *array.Int16:
		return signedFill(c.Values(), 2), 3
	case *array.Int32:
		return signedFill(c.Values(), 4), 5
	case *array.Int64:
		return signedFill(c.Values(), 8), 9
	case *array.Date32:
		return signedFill(c.Values(), 4), 5
	case *array.Time32:
		return signedFill(c.Values(), 4), 5
	case *array.Date64:
		return signedFill(c.Values(), 8), 9
	case *array.Time64:
		return signedFill(c.Values(), 8), 9
	case *array.Timestamp:
		return signedFill(c.Values(), 8), 9
	case *array.Duration:
		return signedFill(c.Values(), 8), 9
	case *array.Uint8:
		return unsignedFill(c.Values(), 1), 2
	case *array.Uint16:
		return unsignedFill(c.Values(), 2), 3
	case *array.Uint32:
		return unsignedFill(c.Values(), 4), 5
	case *array.Uint64:
		return unsignedFill(c.Values(), 8), 9
	}
	return nil, 0
}

// signedFill is appendSigned for a whole column: the sign bit of the
// width flipped, big-endian.
func signedFill[T signedValues](vals []T, width int) colFill {
	return intFill(vals, width, uint64(1)<<(8*width-1))
}

// unsignedFill is appendUnsigned for a whole column.
func unsignedFill[T ~uint8 | ~uint16 | ~uint32 | ~uint64](vals []T, width int) colFill {
	return intFill(vals, width, 0)
}

// intFill encodes integers as the low width bytes, big-endian, of the
// value (sign-extended to 64 bits) xor flip.
func intFill[T signedValues | ~uint8 | ~uint16 | ~uint32 | ~uint64](vals []T, width int, flip uint64) colFill {
	return func(dst []byte, stride, off, from, to int) {
		vals := vals[from:to]
		// One loop per width, the value read inline: through a function
		// per row, filling took twice as long.
		switch width {
		case 8:
			for i, v := range vals {
				p := dst[i*stride+off : i*stride+off+9]
				p[0] = NotNull
				binary.BigEndian.PutUint64(p[1:], uint64(v)^flip)
			}
		case 4:
			for i, v := range vals {
				p := dst[i*stride+off : i*stride+off+5]
				p[0] = NotNull
				binary.BigEndian.PutUint32(p[1:], uint32(uint64(v)^flip))
			}
		case 2:
			for i, v := range vals {
				p := dst[i*stride+off : i*stride+off+3]
				p[0] = NotNull
				binary.BigEndian.PutUint16(p[1:], uint16(uint64(v)^flip))
			}
		default:
			for i, v := range vals {
				p := dst[i*stride+off : i*stride+off+2]
				p[0] = NotNull
				p[1] = byte(uint64(v) ^ flip)
			}
		}
	}
}
