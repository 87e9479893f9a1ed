// Package rowcodec encodes the user columns of one table row into the bytes of
// a RocksDB value (a hot row, DESIGN §3) and decodes them back into Arrow
// builders.
//
// Format (version 1), with no per-row schema — the reader knows the table
// schema the row was written with:
//
//	row    = version(1 byte = 1) validity(ceil(ncols/8) bytes) body*
//	body   = one per valid column, in schema order
//
// A validity bitmap has bit i (LSB first, as in Arrow) set when item i is not
// null; null items have no body. Bodies by type:
//
//   - fixed-width types (ints, floats incl. float16, date, time, timestamp,
//     duration, intervals, decimal32..256, fixed_size_binary): the value's
//     bytes, little-endian as in Arrow memory; bool is one byte 0 or 1;
//   - utf8/binary and their large and view forms: uvarint length, bytes;
//   - list, large_list: uvarint count n, validity(ceil(n/8)), bodies of the
//     valid elements;
//   - map: uvarint count n, item validity(ceil(n/8)), then per entry the key
//     body and, if valid, the item body (entries and keys are never null);
//   - fixed_size_list of n: validity(ceil(n/8)), bodies of the valid elements;
//   - struct: validity(ceil(nfields/8)), bodies of the valid fields;
//   - null: never has a body.
//
// Every body's extent follows from the type and its length prefixes, so a
// reader skips unwanted columns without materialising them.
package rowcodec

import (
	"encoding/binary"
	"math/bits"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/kalamdb/libkalam/kerr"
)

// FormatVersion is the first byte of every encoded row.
const FormatVersion byte = 1

// codec encodes, decodes and skips the body of a non-null value of one type.
// The functions are built once per schema; they hold no per-row state.
type codec struct {
	// width is the body size in bytes of a fixed-width type, -1 otherwise.
	width int
	// plain: a fixed-width body in which every byte pattern is valid, so
	// skipping it needs only a bounds check.
	plain bool
	// alwaysNull: the null type, which never has a body.
	alwaysNull bool
	enc        func(dst []byte, a arrow.Array, i int) []byte
	// dec appends the body at src[pos:] to b, returning the position after it.
	dec func(src []byte, pos int, b array.Builder) (int, error)
	// skip validates the body at src[pos:] and returns the position after it.
	skip func(src []byte, pos int) (int, error)
}

// Supported reports whether a table column can have type t.
func Supported(t arrow.DataType) bool {
	_, err := newCodec(t)
	return err == nil
}

// Encoder encodes rows of one schema. It is safe for concurrent use.
type Encoder struct {
	schema *arrow.Schema
	cols   []*codec
	bitmap int // validity bytes of a row
}

// NewEncoder prepares an encoder for rows of schema. A column of a type a
// table cannot hold is kerr.InvalidArgument naming the column.
func NewEncoder(schema *arrow.Schema) (*Encoder, error) {
	cols, err := schemaCodecs(schema)
	if err != nil {
		return nil, err
	}
	return &Encoder{schema: schema, cols: cols, bitmap: (len(cols) + 7) / 8}, nil
}

func schemaCodecs(schema *arrow.Schema) ([]*codec, error) {
	if schema == nil {
		return nil, kerr.New(kerr.InvalidArgument, "rowcodec: nil schema")
	}
	cols := make([]*codec, schema.NumFields())
	for i, f := range schema.Fields() {
		c, err := newCodec(f.Type)
		if err != nil {
			return nil, kerr.Wrap(kerr.InvalidArgument, err, "rowcodec: column %d %q", i, f.Name)
		}
		cols[i] = c
	}
	return cols, nil
}

// CheckColumns reports whether cols can be passed to AppendRow: one array per
// schema field, of the field's type. AppendRow itself does not check (it runs
// per row) and panics on mismatched columns.
func (e *Encoder) CheckColumns(cols []arrow.Array) error {
	if len(cols) != len(e.cols) {
		return kerr.New(kerr.InvalidArgument, "rowcodec: %d columns for a schema of %d", len(cols), len(e.cols))
	}
	for i, c := range cols {
		f := e.schema.Field(i)
		if c == nil {
			return kerr.New(kerr.InvalidArgument, "rowcodec: column %d %q is nil", i, f.Name)
		}
		if !arrow.TypeEqual(c.DataType(), f.Type) {
			return kerr.New(kerr.InvalidArgument, "rowcodec: column %d %q has type %s, schema says %s",
				i, f.Name, c.DataType(), f.Type)
		}
	}
	return nil
}

// AppendRow appends the encoding of row `row` of cols (column i ↔ schema
// field i, same types; see CheckColumns) to dst.
func (e *Encoder) AppendRow(dst []byte, cols []arrow.Array, row int) []byte {
	dst = append(dst, FormatVersion)
	bm := len(dst)
	dst = append(dst, make([]byte, e.bitmap)...)
	for i, c := range e.cols {
		a := cols[i]
		if c.alwaysNull || a.IsNull(row) {
			continue
		}
		dst[bm+i>>3] |= 1 << (i & 7)
		dst = c.enc(dst, a, row)
	}
	return dst
}

// Decoder decodes rows of one schema into builders for a subset of its
// columns. It is safe for concurrent use.
type Decoder struct {
	schema *arrow.Schema
	cols   []*codec
	want   []int
	bitmap int
}

// NewDecoder prepares a decoder of rows of schema that materialises the
// fields want (indices into schema, in output order; a field may repeat).
func NewDecoder(schema *arrow.Schema, want []int) (*Decoder, error) {
	cols, err := schemaCodecs(schema)
	if err != nil {
		return nil, err
	}
	for k, f := range want {
		if f < 0 || f >= len(cols) {
			return nil, kerr.New(kerr.InvalidArgument, "rowcodec: wanted field %d (output %d) out of range [0,%d)", f, k, len(cols))
		}
	}
	return &Decoder{schema: schema, cols: cols, want: append([]int(nil), want...), bitmap: (len(cols) + 7) / 8}, nil
}

// DecodeRow appends one row to builders (builders[k] built for
// schema.Field(want[k]).Type). The whole row is validated before anything is
// appended, so malformed or truncated input (kerr.Corruption) leaves the
// builders untouched. A builder of the wrong type is kerr.InvalidArgument and
// may leave earlier builders one row longer: discard them.
func (d *Decoder) DecodeRow(src []byte, builders []array.Builder) error {
	if len(builders) != len(d.want) {
		return kerr.New(kerr.InvalidArgument, "rowcodec: %d builders for %d wanted columns", len(builders), len(d.want))
	}
	if len(src) < 1+d.bitmap {
		return kerr.New(kerr.Corruption, "rowcodec: row of %d bytes is shorter than its %d-byte header", len(src), 1+d.bitmap)
	}
	if src[0] != FormatVersion {
		return kerr.New(kerr.Corruption, "rowcodec: unknown row format version %d", src[0])
	}
	bm := src[1 : 1+d.bitmap]
	var startBuf [64]int
	starts := startBuf[:0]
	if len(d.cols) > len(startBuf) {
		starts = make([]int, 0, len(d.cols))
	}
	pos := 1 + d.bitmap
	for i, c := range d.cols {
		starts = append(starts, pos)
		if bm[i>>3]&(1<<(i&7)) == 0 || c.alwaysNull {
			continue
		}
		if c.plain {
			if pos += c.width; pos > len(src) {
				return d.corrupt(i, errTruncated)
			}
			continue
		}
		var err error
		if pos, err = c.skip(src, pos); err != nil {
			return d.corrupt(i, err)
		}
	}
	if pos != len(src) {
		return kerr.New(kerr.Corruption, "rowcodec: %d trailing bytes after the last column", len(src)-pos)
	}
	for k, f := range d.want {
		c, b := d.cols[f], builders[k]
		if bm[f>>3]&(1<<(f&7)) == 0 || c.alwaysNull {
			b.AppendNull()
			continue
		}
		if _, err := c.dec(src, starts[f], b); err != nil {
			field := d.schema.Field(f)
			return kerr.Wrap(kerr.CodeOf(err), err, "rowcodec: column %d %q (%s) into builder %d", f, field.Name, field.Type, k)
		}
	}
	return nil
}

func (d *Decoder) corrupt(col int, err error) error {
	f := d.schema.Field(col)
	return kerr.Wrap(kerr.Corruption, err, "rowcodec: column %d %q (%s)", col, f.Name, f.Type)
}

// The errors below carry no per-row context; DecodeRow wraps them with the
// column. They are never modified.
var (
	errTruncated = kerr.New(kerr.Corruption, "truncated value")
	errBadLength = kerr.New(kerr.Corruption, "bad length prefix")
	errBadBool   = kerr.New(kerr.Corruption, "bool byte is neither 0 nor 1")
)

func builderMismatch(b array.Builder, want string) error {
	return kerr.New(kerr.InvalidArgument, "builder of type %s, want a %s builder", b.Type(), want)
}

// readLen reads a uvarint length at src[pos:] and bounds it by the bytes
// left: a byte length (perByte 1) must fit in the rest of src; an element
// count (perByte 8) can be at most 8 per remaining byte, since each element
// costs at least one validity bit. This keeps corrupt counts from driving
// huge loops or allocations.
func readLen(src []byte, pos int, perByte uint64) (n int, next int, err error) {
	if pos >= len(src) {
		return 0, pos, errTruncated
	}
	v, w := binary.Uvarint(src[pos:])
	if w <= 0 {
		return 0, pos, errBadLength
	}
	pos += w
	if v > uint64(len(src)-pos)*perByte {
		return 0, pos, errBadLength
	}
	return int(v), pos, nil
}

// countValid counts the set bits among the first n bits of bm.
func countValid(bm []byte, n int) int {
	full := n >> 3
	c := 0
	for _, b := range bm[:full] {
		c += bits.OnesCount8(b)
	}
	if r := n & 7; r != 0 {
		c += bits.OnesCount8(bm[full] & (1<<r - 1))
	}
	return c
}

func isSet(bm []byte, j int) bool { return bm[j>>3]&(1<<(j&7)) != 0 }
