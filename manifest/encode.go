package manifest

import (
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/kalamdb/libkalam/kerr"
)

// Encode returns m as manifest JSON, byte for byte what Rust
// serde_json::to_vec writes for the seed structs (DESIGN §2.1): compact,
// keys in declaration order, None as null, byte keys as arrays of integers,
// no HTML escaping. Our extension fields follow the seed fields of each
// segment; column_stats keys are sorted so the output is deterministic.
//
// The encoder is written by hand because encoding/json would base64 the keys
// and cannot match serde's string escaping. Errors are kerr.InvalidArgument
// naming the field: a string that is not valid UTF-8 (serde strings cannot
// hold one) or a statistic of an unsupported Go type.
func Encode(m *Manifest) ([]byte, error) {
	if m == nil {
		return nil, kerr.New(kerr.InvalidArgument, "manifest: encode of a nil manifest")
	}
	b := make([]byte, 0, 256+320*len(m.Segments))
	var err error
	b = append(b, `{"table_id":{"namespace_id":`...)
	if b, err = appendString(b, m.TableID.NamespaceID, "table_id.namespace_id"); err != nil {
		return nil, err
	}
	b = append(b, `,"table_name":`...)
	if b, err = appendString(b, m.TableID.TableName, "table_id.table_name"); err != nil {
		return nil, err
	}
	b = append(b, `},"version":`...)
	b = strconv.AppendUint(b, m.Version, 10)
	b = append(b, `,"created_at":`...)
	b = strconv.AppendInt(b, m.CreatedAt, 10)
	b = append(b, `,"updated_at":`...)
	b = strconv.AppendInt(b, m.UpdatedAt, 10)
	b = append(b, `,"segments":[`...)
	for i := range m.Segments {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = appendSegment(b, &m.Segments[i], "segments["+strconv.Itoa(i)+"]"); err != nil {
			return nil, err
		}
	}
	b = append(b, `],"last_sequence_number":`...)
	b = strconv.AppendUint(b, m.LastSequenceNumber, 10)
	b = append(b, '}')
	return b, nil
}

func appendSegment(b []byte, s *SegmentMetadata, field string) ([]byte, error) {
	var err error
	b = append(b, `{"id":`...)
	if b, err = appendString(b, s.ID, field+".id"); err != nil {
		return nil, err
	}
	b = append(b, `,"path":`...)
	if b, err = appendString(b, s.Path, field+".path"); err != nil {
		return nil, err
	}
	b = append(b, `,"min_key":`...)
	b = appendKey(b, s.MinKey)
	b = append(b, `,"max_key":`...)
	b = appendKey(b, s.MaxKey)
	b = append(b, `,"row_count":`...)
	b = strconv.AppendUint(b, s.RowCount, 10)
	b = append(b, `,"size_bytes":`...)
	b = strconv.AppendUint(b, s.SizeBytes, 10)
	b = append(b, `,"created_at":`...)
	b = strconv.AppendInt(b, s.CreatedAt, 10)
	b = append(b, `,"tombstone":`...)
	b = strconv.AppendBool(b, s.Tombstone)
	b = append(b, `,"min_seq":`...)
	b = strconv.AppendInt(b, s.MinSeq, 10)
	b = append(b, `,"max_seq":`...)
	b = strconv.AppendInt(b, s.MaxSeq, 10)
	b = append(b, `,"tombstoned_at":`...)
	if s.TombstonedAt == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, *s.TombstonedAt, 10)
	}
	b = append(b, `,"schema_version":`...)
	b = strconv.AppendInt(b, s.SchemaVersion, 10)
	b = append(b, `,"column_stats":`...)
	if s.ColumnStats == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '{')
		names := make([]string, 0, len(s.ColumnStats))
		for name := range s.ColumnStats {
			names = append(names, name)
		}
		slices.Sort(names)
		for i, name := range names {
			if i > 0 {
				b = append(b, ',')
			}
			statField := field + ".column_stats[" + strconv.Quote(name) + "]"
			if b, err = appendString(b, name, statField); err != nil {
				return nil, err
			}
			st := s.ColumnStats[name]
			b = append(b, `:{"min":`...)
			if b, err = appendScalar(b, st.Min, statField+".min"); err != nil {
				return nil, err
			}
			b = append(b, `,"max":`...)
			if b, err = appendScalar(b, st.Max, statField+".max"); err != nil {
				return nil, err
			}
			b = append(b, `,"null_count":`...)
			b = strconv.AppendUint(b, st.NullCount, 10)
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	b = append(b, '}')
	return b, nil
}

// appendKey writes an Option<Vec<u8>> the way serde does: null, or an array
// of decimal byte values.
func appendKey(b []byte, key []byte) []byte {
	if key == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, c := range key {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(c), 10)
	}
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string escaped exactly like serde_json:
// only '"', '\\' and C0 control characters are escaped (short forms for
// \b \t \n \f \r, else \u00xx in lowercase hex); everything else, including
// '<', '>', '&', DEL, U+2028/U+2029 and all non-ASCII, is written raw.
func appendString(b []byte, s string, field string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, kerr.New(kerr.InvalidArgument, "manifest: %s is not valid UTF-8: %q", field, s)
	}
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '\b':
			b = append(b, '\\', 'b')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\f':
			b = append(b, '\\', 'f')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"'), nil
}

// appendScalar writes a column statistic value.
func appendScalar(b []byte, v any, field string) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case string:
		return appendString(b, x, field)
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int8:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int16:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int32:
		return strconv.AppendInt(b, int64(x), 10), nil
	case uint64:
		return strconv.AppendUint(b, x, 10), nil
	case uint:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case uint8:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case uint16:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case uint32:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case float64:
		return appendFloat(b, x), nil
	case float32:
		return appendFloat(b, float64(x)), nil
	default:
		return nil, kerr.New(kerr.InvalidArgument,
			"manifest: %s has unsupported type %T (want nil, bool, string, integer or float)", field, v)
	}
}

// appendFloat writes f in the shortest form that parses back to the same
// float64, always with a fraction or exponent so that Decode returns a
// float64 again (serde_json likewise writes 3.0, not 3). NaN and ±Inf have
// no JSON spelling and become null.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	// Same switch-over points as encoding/json: plain decimals for ordinary
	// magnitudes, exponent form for very small and very large ones.
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		start := len(b)
		b = strconv.AppendFloat(b, f, 'e', -1, 64)
		// Compact the exponent like serde/ryu ("1e21", "1.5e-7") instead of
		// Go's "1e+21", "1.5e-07".
		e := start
		for b[e] != 'e' {
			e++
		}
		exp := b[e+1:]
		neg := exp[0] == '-'
		digits := exp[1:]
		for len(digits) > 1 && digits[0] == '0' {
			digits = digits[1:]
		}
		out := b[:e+1]
		if neg {
			out = append(out, '-')
		}
		return append(out, digits...)
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, 'f', -1, 64)
	for _, c := range b[start:] {
		if c == '.' {
			return b
		}
	}
	return append(b, '.', '0')
}
