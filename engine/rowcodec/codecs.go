package rowcodec

import (
	"encoding/binary"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/decimal256"
	"github.com/apache/arrow-go/v18/arrow/float16"

	"github.com/kalamdb/libkalam/kerr"
)

var le = binary.LittleEndian

// newCodec builds the codec of type t, or an error naming the unsupported
// (possibly nested) type.
func newCodec(t arrow.DataType) (*codec, error) {
	if t == nil {
		return nil, kerr.New(kerr.InvalidArgument, "nil type")
	}
	switch t.ID() {
	case arrow.NULL:
		return nullCodec(), nil
	case arrow.BOOL:
		return boolCodec(), nil
	case arrow.INT8:
		return fixed[int8, *array.Int8, *array.Int8Builder](1, "int8",
			func(d []byte, v int8) []byte { return append(d, byte(v)) },
			func(p []byte) int8 { return int8(p[0]) }), nil
	case arrow.UINT8:
		return fixed[uint8, *array.Uint8, *array.Uint8Builder](1, "uint8",
			func(d []byte, v uint8) []byte { return append(d, v) },
			func(p []byte) uint8 { return p[0] }), nil
	case arrow.INT16:
		return fixed[int16, *array.Int16, *array.Int16Builder](2, "int16",
			func(d []byte, v int16) []byte { return le.AppendUint16(d, uint16(v)) },
			func(p []byte) int16 { return int16(le.Uint16(p)) }), nil
	case arrow.UINT16:
		return fixed[uint16, *array.Uint16, *array.Uint16Builder](2, "uint16",
			le.AppendUint16, le.Uint16), nil
	case arrow.FLOAT16:
		return fixed[float16.Num, *array.Float16, *array.Float16Builder](2, "float16",
			func(d []byte, v float16.Num) []byte { return le.AppendUint16(d, v.Uint16()) },
			func(p []byte) float16.Num { return float16.FromBits(le.Uint16(p)) }), nil
	case arrow.INT32:
		return fixed[int32, *array.Int32, *array.Int32Builder](4, "int32", appendU32[int32], getU32[int32]), nil
	case arrow.UINT32:
		return fixed[uint32, *array.Uint32, *array.Uint32Builder](4, "uint32", appendU32[uint32], getU32[uint32]), nil
	case arrow.DATE32:
		return fixed[arrow.Date32, *array.Date32, *array.Date32Builder](4, "date32", appendU32[arrow.Date32], getU32[arrow.Date32]), nil
	case arrow.TIME32:
		return fixed[arrow.Time32, *array.Time32, *array.Time32Builder](4, "time32", appendU32[arrow.Time32], getU32[arrow.Time32]), nil
	case arrow.INTERVAL_MONTHS:
		return fixed[arrow.MonthInterval, *array.MonthInterval, *array.MonthIntervalBuilder](4, "month_interval",
			appendU32[arrow.MonthInterval], getU32[arrow.MonthInterval]), nil
	case arrow.DECIMAL32:
		return fixed[decimal.Decimal32, *array.Decimal32, *array.Decimal32Builder](4, "decimal32",
			appendU32[decimal.Decimal32], getU32[decimal.Decimal32]), nil
	case arrow.FLOAT32:
		return fixed[float32, *array.Float32, *array.Float32Builder](4, "float32", appendF32, getF32), nil
	case arrow.INT64:
		return fixed[int64, *array.Int64, *array.Int64Builder](8, "int64", appendU64[int64], getU64[int64]), nil
	case arrow.UINT64:
		return fixed[uint64, *array.Uint64, *array.Uint64Builder](8, "uint64", appendU64[uint64], getU64[uint64]), nil
	case arrow.FLOAT64:
		return fixed[float64, *array.Float64, *array.Float64Builder](8, "float64", appendF64, getF64), nil
	case arrow.DATE64:
		return fixed[arrow.Date64, *array.Date64, *array.Date64Builder](8, "date64", appendU64[arrow.Date64], getU64[arrow.Date64]), nil
	case arrow.TIME64:
		return fixed[arrow.Time64, *array.Time64, *array.Time64Builder](8, "time64", appendU64[arrow.Time64], getU64[arrow.Time64]), nil
	case arrow.TIMESTAMP:
		return fixed[arrow.Timestamp, *array.Timestamp, *array.TimestampBuilder](8, "timestamp",
			appendU64[arrow.Timestamp], getU64[arrow.Timestamp]), nil
	case arrow.DURATION:
		return fixed[arrow.Duration, *array.Duration, *array.DurationBuilder](8, "duration",
			appendU64[arrow.Duration], getU64[arrow.Duration]), nil
	case arrow.DECIMAL64:
		return fixed[decimal.Decimal64, *array.Decimal64, *array.Decimal64Builder](8, "decimal64",
			appendU64[decimal.Decimal64], getU64[decimal.Decimal64]), nil
	case arrow.INTERVAL_DAY_TIME:
		return fixed[arrow.DayTimeInterval, *array.DayTimeInterval, *array.DayTimeIntervalBuilder](8, "day_time_interval",
			func(d []byte, v arrow.DayTimeInterval) []byte {
				return le.AppendUint32(le.AppendUint32(d, uint32(v.Days)), uint32(v.Milliseconds))
			},
			func(p []byte) arrow.DayTimeInterval {
				return arrow.DayTimeInterval{Days: int32(le.Uint32(p)), Milliseconds: int32(le.Uint32(p[4:]))}
			}), nil
	case arrow.INTERVAL_MONTH_DAY_NANO:
		return fixed[arrow.MonthDayNanoInterval, *array.MonthDayNanoInterval, *array.MonthDayNanoIntervalBuilder](16,
			"month_day_nano_interval",
			func(d []byte, v arrow.MonthDayNanoInterval) []byte {
				d = le.AppendUint32(le.AppendUint32(d, uint32(v.Months)), uint32(v.Days))
				return le.AppendUint64(d, uint64(v.Nanoseconds))
			},
			func(p []byte) arrow.MonthDayNanoInterval {
				return arrow.MonthDayNanoInterval{Months: int32(le.Uint32(p)), Days: int32(le.Uint32(p[4:])),
					Nanoseconds: int64(le.Uint64(p[8:]))}
			}), nil
	case arrow.DECIMAL128:
		return fixed[decimal128.Num, *array.Decimal128, *array.Decimal128Builder](16, "decimal128",
			func(d []byte, v decimal128.Num) []byte {
				return le.AppendUint64(le.AppendUint64(d, v.LowBits()), uint64(v.HighBits()))
			},
			func(p []byte) decimal128.Num { return decimal128.New(int64(le.Uint64(p[8:])), le.Uint64(p)) }), nil
	case arrow.DECIMAL256:
		return fixed[decimal256.Num, *array.Decimal256, *array.Decimal256Builder](32, "decimal256",
			func(d []byte, v decimal256.Num) []byte {
				for _, w := range v.Array() { // lowest word first
					d = le.AppendUint64(d, w)
				}
				return d
			},
			func(p []byte) decimal256.Num {
				return decimal256.New(le.Uint64(p[24:]), le.Uint64(p[16:]), le.Uint64(p[8:]), le.Uint64(p))
			}), nil
	case arrow.FIXED_SIZE_BINARY:
		return fixedBinaryCodec(t.(*arrow.FixedSizeBinaryType).ByteWidth), nil
	case arrow.STRING:
		return varCodec(stringValue[*array.String], func(b array.Builder, v []byte) bool {
			sb, ok := b.(*array.StringBuilder)
			if ok {
				sb.BinaryBuilder.Append(v)
			}
			return ok
		}, "utf8"), nil
	case arrow.LARGE_STRING:
		return varCodec(stringValue[*array.LargeString], func(b array.Builder, v []byte) bool {
			sb, ok := b.(*array.LargeStringBuilder)
			if ok {
				sb.BinaryBuilder.Append(v)
			}
			return ok
		}, "large_utf8"), nil
	case arrow.STRING_VIEW:
		return varCodec(stringValue[*array.StringView], func(b array.Builder, v []byte) bool {
			sb, ok := b.(*array.StringViewBuilder)
			if ok {
				sb.BinaryViewBuilder.Append(v)
			}
			return ok
		}, "utf8_view"), nil
	case arrow.BINARY:
		return varCodec(bytesValue[*array.Binary], appendBinary(arrow.BINARY), "binary"), nil
	case arrow.LARGE_BINARY:
		return varCodec(bytesValue[*array.LargeBinary], appendBinary(arrow.LARGE_BINARY), "large_binary"), nil
	case arrow.BINARY_VIEW:
		return varCodec(bytesValue[*array.BinaryView], func(b array.Builder, v []byte) bool {
			bb, ok := b.(*array.BinaryViewBuilder)
			if ok {
				bb.Append(v)
			}
			return ok
		}, "binary_view"), nil
	case arrow.LIST:
		return listCodec[*array.ListBuilder](t.(*arrow.ListType).Elem(), "list")
	case arrow.LARGE_LIST:
		return listCodec[*array.LargeListBuilder](t.(*arrow.LargeListType).Elem(), "large_list")
	case arrow.MAP:
		mt := t.(*arrow.MapType)
		return mapCodec(mt.KeyType(), mt.ItemType())
	case arrow.FIXED_SIZE_LIST:
		ft := t.(*arrow.FixedSizeListType)
		return fixedListCodec(ft.Elem(), int(ft.Len()))
	case arrow.STRUCT:
		return structCodec(t.(*arrow.StructType))
	}
	return nil, kerr.New(kerr.InvalidArgument, "unsupported type %s", t)
}

type valuer[T any] interface {
	arrow.Array
	Value(int) T
}

type appender[T any] interface {
	array.Builder
	Append(T)
}

type word32 interface{ ~int32 | ~uint32 }

type word64 interface{ ~int64 | ~uint64 }

func appendU32[T word32](d []byte, v T) []byte { return le.AppendUint32(d, uint32(v)) }
func getU32[T word32](p []byte) T              { return T(le.Uint32(p)) }
func appendU64[T word64](d []byte, v T) []byte { return le.AppendUint64(d, uint64(v)) }
func getU64[T word64](p []byte) T              { return T(le.Uint64(p)) }

func appendF32(d []byte, v float32) []byte { return le.AppendUint32(d, math.Float32bits(v)) }
func getF32(p []byte) float32              { return math.Float32frombits(le.Uint32(p)) }
func appendF64(d []byte, v float64) []byte { return le.AppendUint64(d, math.Float64bits(v)) }
func getF64(p []byte) float64              { return math.Float64frombits(le.Uint64(p)) }

func nullCodec() *codec {
	return &codec{
		width:      0,
		plain:      true,
		alwaysNull: true,
		enc:        func(dst []byte, _ arrow.Array, _ int) []byte { return dst },
		dec: func(_ []byte, pos int, b array.Builder) (int, error) {
			b.AppendNull()
			return pos, nil
		},
		skip: func(_ []byte, pos int) (int, error) { return pos, nil },
	}
}

func fixedSkip(width int) func([]byte, int) (int, error) {
	return func(src []byte, pos int) (int, error) {
		if pos+width > len(src) {
			return pos, errTruncated
		}
		return pos + width, nil
	}
}

// fixed builds the codec of a fixed-width type whose arrays are A (values T)
// and builders B.
func fixed[T any, A valuer[T], B appender[T]](width int, name string, put func([]byte, T) []byte, get func([]byte) T) *codec {
	return &codec{
		width: width,
		plain: true,
		enc:   func(dst []byte, a arrow.Array, i int) []byte { return put(dst, a.(A).Value(i)) },
		dec: func(src []byte, pos int, b array.Builder) (int, error) {
			bb, ok := b.(B)
			if !ok {
				return pos, builderMismatch(b, name)
			}
			end := pos + width
			if end > len(src) {
				return pos, errTruncated
			}
			bb.Append(get(src[pos:end]))
			return end, nil
		},
		skip: fixedSkip(width),
	}
}

func boolCodec() *codec {
	return &codec{
		width: 1,
		enc: func(dst []byte, a arrow.Array, i int) []byte {
			if a.(*array.Boolean).Value(i) {
				return append(dst, 1)
			}
			return append(dst, 0)
		},
		dec: func(src []byte, pos int, b array.Builder) (int, error) {
			bb, ok := b.(*array.BooleanBuilder)
			if !ok {
				return pos, builderMismatch(b, "bool")
			}
			if pos >= len(src) {
				return pos, errTruncated
			}
			if src[pos] > 1 {
				return pos, errBadBool
			}
			bb.Append(src[pos] == 1)
			return pos + 1, nil
		},
		skip: func(src []byte, pos int) (int, error) {
			if pos >= len(src) {
				return pos, errTruncated
			}
			if src[pos] > 1 {
				return pos, errBadBool
			}
			return pos + 1, nil
		},
	}
}

func fixedBinaryCodec(width int) *codec {
	return &codec{
		width: width,
		plain: true,
		enc: func(dst []byte, a arrow.Array, i int) []byte {
			return append(dst, a.(*array.FixedSizeBinary).Value(i)...)
		},
		dec: func(src []byte, pos int, b array.Builder) (int, error) {
			bb, ok := b.(*array.FixedSizeBinaryBuilder)
			if !ok || bb.Type().(*arrow.FixedSizeBinaryType).ByteWidth != width {
				return pos, builderMismatch(b, "fixed_size_binary")
			}
			end := pos + width
			if end > len(src) {
				return pos, errTruncated
			}
			bb.Append(src[pos:end])
			return end, nil
		},
		skip: fixedSkip(width),
	}
}

func stringValue[A valuer[string]](dst []byte, a arrow.Array, i int) []byte {
	s := a.(A).Value(i)
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

func bytesValue[A valuer[[]byte]](dst []byte, a arrow.Array, i int) []byte {
	s := a.(A).Value(i)
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

// appendBinary appends to a BinaryBuilder of the given binary type (binary
// and large_binary share the builder type).
func appendBinary(id arrow.Type) func(array.Builder, []byte) bool {
	return func(b array.Builder, v []byte) bool {
		bb, ok := b.(*array.BinaryBuilder)
		if ok && bb.Type().ID() == id {
			bb.Append(v)
			return true
		}
		return false
	}
}

func varSkip(src []byte, pos int) (int, error) {
	n, pos, err := readLen(src, pos, 1)
	if err != nil {
		return pos, err
	}
	return pos + n, nil
}

func varCodec(enc func([]byte, arrow.Array, int) []byte, add func(array.Builder, []byte) bool, name string) *codec {
	return &codec{
		width: -1,
		enc:   enc,
		dec: func(src []byte, pos int, b array.Builder) (int, error) {
			n, pos, err := readLen(src, pos, 1)
			if err != nil {
				return pos, err
			}
			if !add(b, src[pos:pos+n]) {
				return pos, builderMismatch(b, name)
			}
			return pos + n, nil
		},
		skip: varSkip,
	}
}

// elementsEnc appends validity and bodies of child[start:end].
func elementsEnc(dst []byte, elem *codec, child arrow.Array, start, end int) []byte {
	n := end - start
	at := len(dst)
	dst = append(dst, make([]byte, (n+7)/8)...)
	if elem.alwaysNull {
		return dst
	}
	for j := 0; j < n; j++ {
		if child.IsNull(start + j) {
			continue
		}
		dst[at+j>>3] |= 1 << (j & 7)
		dst = elem.enc(dst, child, start+j)
	}
	return dst
}

// elementsSkip validates n elements (validity then bodies) at src[pos:].
func elementsSkip(src []byte, pos int, elem *codec, n int) (int, error) {
	nb := (n + 7) / 8
	if pos+nb > len(src) {
		return pos, errTruncated
	}
	bm := src[pos : pos+nb]
	pos += nb
	if elem.alwaysNull {
		return pos, nil
	}
	if elem.plain {
		pos += countValid(bm, n) * elem.width
		if pos > len(src) {
			return pos, errTruncated
		}
		return pos, nil
	}
	var err error
	for j := 0; j < n; j++ {
		if isSet(bm, j) {
			if pos, err = elem.skip(src, pos); err != nil {
				return pos, err
			}
		}
	}
	return pos, nil
}

// elementsDec appends n elements at src[pos:] to vb.
func elementsDec(src []byte, pos int, elem *codec, n int, vb array.Builder) (int, error) {
	nb := (n + 7) / 8
	if pos+nb > len(src) {
		return pos, errTruncated
	}
	bm := src[pos : pos+nb]
	pos += nb
	var err error
	for j := 0; j < n; j++ {
		if elem.alwaysNull || !isSet(bm, j) {
			vb.AppendNull()
			continue
		}
		if pos, err = elem.dec(src, pos, vb); err != nil {
			return pos, err
		}
	}
	return pos, nil
}

// listCodec is the codec of list and large_list, whose builders are B.
func listCodec[B array.ListLikeBuilder](elemType arrow.DataType, name string) (*codec, error) {
	elem, err := newCodec(elemType)
	if err != nil {
		return nil, kerr.Wrap(kerr.InvalidArgument, err, "%s element", name)
	}
	return &codec{
		width: -1,
		enc: func(dst []byte, a arrow.Array, i int) []byte {
			l := a.(array.ListLike)
			start, end := l.ValueOffsets(i)
			dst = binary.AppendUvarint(dst, uint64(end-start))
			return elementsEnc(dst, elem, l.ListValues(), int(start), int(end))
		},
		dec: func(src []byte, pos int, b array.Builder) (int, error) {
			lb, ok := b.(B)
			if !ok {
				return pos, builderMismatch(b, name)
			}
			n, pos, err := readLen(src, pos, 8)
			if err != nil {
				return pos, err
			}
			lb.Append(true)
			return elementsDec(src, pos, elem, n, lb.ValueBuilder())
		},
		skip: func(src []byte, pos int) (int, error) {
			n, pos, err := readLen(src, pos, 8)
			if err != nil {
				return pos, err
			}
			return elementsSkip(src, pos, elem, n)
		},
	}, nil
}

func fixedListCodec(elemType arrow.DataType, n int) (*codec, error) {
	elem, err := newCodec(elemType)
	if err != nil {
		return nil, kerr.Wrap(kerr.InvalidArgument, err, "fixed_size_list element")
	}
	c := &codec{
		width: -1,
		enc: func(dst []byte, a arrow.Array, i int) []byte {
			l := a.(*array.FixedSizeList)
			start, end := l.ValueOffsets(i)
			return elementsEnc(dst, elem, l.ListValues(), int(start), int(end))
		},
		dec: func(src []byte, pos int, b array.Builder) (int, error) {
			lb, ok := b.(*array.FixedSizeListBuilder)
			if !ok || int(lb.Type().(*arrow.FixedSizeListType).Len()) != n {
				return pos, builderMismatch(b, "fixed_size_list")
			}
			lb.Append(true)
			return elementsDec(src, pos, elem, n, lb.ValueBuilder())
		},
		skip: func(src []byte, pos int) (int, error) { return elementsSkip(src, pos, elem, n) },
	}
	return c, nil
}

func structCodec(t *arrow.StructType) (*codec, error) {
	fields := make([]*codec, t.NumFields())
	for k, f := range t.Fields() {
		c, err := newCodec(f.Type)
		if err != nil {
			return nil, kerr.Wrap(kerr.InvalidArgument, err, "struct field %q", f.Name)
		}
		fields[k] = c
	}
	nf := len(fields)
	return &codec{
		width: -1,
		enc: func(dst []byte, a arrow.Array, i int) []byte {
			s := a.(*array.Struct)
			at := len(dst)
			dst = append(dst, make([]byte, (nf+7)/8)...)
			for k, fc := range fields {
				child := s.Field(k)
				if fc.alwaysNull || child.IsNull(i) {
					continue
				}
				dst[at+k>>3] |= 1 << (k & 7)
				dst = fc.enc(dst, child, i)
			}
			return dst
		},
		dec: func(src []byte, pos int, b array.Builder) (int, error) {
			sb, ok := b.(*array.StructBuilder)
			if !ok || sb.NumField() != nf {
				return pos, builderMismatch(b, "struct")
			}
			nb := (nf + 7) / 8
			if pos+nb > len(src) {
				return pos, errTruncated
			}
			bm := src[pos : pos+nb]
			pos += nb
			sb.Append(true)
			var err error
			for k, fc := range fields {
				fb := sb.FieldBuilder(k)
				if fc.alwaysNull || !isSet(bm, k) {
					fb.AppendNull()
					continue
				}
				if pos, err = fc.dec(src, pos, fb); err != nil {
					return pos, err
				}
			}
			return pos, nil
		},
		skip: func(src []byte, pos int) (int, error) {
			nb := (nf + 7) / 8
			if pos+nb > len(src) {
				return pos, errTruncated
			}
			bm := src[pos : pos+nb]
			pos += nb
			var err error
			for k, fc := range fields {
				if fc.alwaysNull || !isSet(bm, k) {
					continue
				}
				if pos, err = fc.skip(src, pos); err != nil {
					return pos, err
				}
			}
			return pos, nil
		},
	}, nil
}

// mapCodec is the codec of a map: uvarint count n, the validity of the n
// items, then per entry the key body (keys are never null) and the item body
// if valid. Entries have no validity of their own: Arrow forbids null entries
// and null keys, and the builder would refuse them.
func mapCodec(keyType, itemType arrow.DataType) (*codec, error) {
	key, err := newCodec(keyType)
	if err != nil {
		return nil, kerr.Wrap(kerr.InvalidArgument, err, "map key")
	}
	if key.alwaysNull {
		return nil, kerr.New(kerr.InvalidArgument, "map key of type null")
	}
	item, err := newCodec(itemType)
	if err != nil {
		return nil, kerr.Wrap(kerr.InvalidArgument, err, "map item")
	}
	return &codec{
		width: -1,
		enc: func(dst []byte, a arrow.Array, i int) []byte {
			m := a.(*array.Map)
			start, end := m.ValueOffsets(i)
			n := int(end - start)
			keys, items := m.Keys(), m.Items()
			dst = binary.AppendUvarint(dst, uint64(n))
			at := len(dst)
			dst = append(dst, make([]byte, (n+7)/8)...)
			for j := 0; j < n; j++ {
				e := int(start) + j
				dst = key.enc(dst, keys, e)
				if item.alwaysNull || items.IsNull(e) {
					continue
				}
				dst[at+j>>3] |= 1 << (j & 7)
				dst = item.enc(dst, items, e)
			}
			return dst
		},
		dec: func(src []byte, pos int, b array.Builder) (int, error) {
			mb, ok := b.(*array.MapBuilder)
			if !ok {
				return pos, builderMismatch(b, "map")
			}
			n, pos, err := readLen(src, pos, 8)
			if err != nil {
				return pos, err
			}
			nb := (n + 7) / 8
			if pos+nb > len(src) {
				return pos, errTruncated
			}
			bm := src[pos : pos+nb]
			pos += nb
			mb.Append(true)
			kb, ib := mb.KeyBuilder(), mb.ItemBuilder()
			for j := 0; j < n; j++ {
				if pos, err = key.dec(src, pos, kb); err != nil {
					return pos, err
				}
				if item.alwaysNull || !isSet(bm, j) {
					ib.AppendNull()
					continue
				}
				if pos, err = item.dec(src, pos, ib); err != nil {
					return pos, err
				}
			}
			return pos, nil
		},
		skip: func(src []byte, pos int) (int, error) {
			n, pos, err := readLen(src, pos, 8)
			if err != nil {
				return pos, err
			}
			nb := (n + 7) / 8
			if pos+nb > len(src) {
				return pos, errTruncated
			}
			bm := src[pos : pos+nb]
			pos += nb
			for j := 0; j < n; j++ {
				if pos, err = key.skip(src, pos); err != nil {
					return pos, err
				}
				if item.alwaysNull || !isSet(bm, j) {
					continue
				}
				if pos, err = item.skip(src, pos); err != nil {
					return pos, err
				}
			}
			return pos, nil
		},
	}, nil
}
