package manifest

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/kalamdb/libkalam/kerr"
)

// oneSegment returns a valid manifest with a single segment whose fields the
// caller may change.
func oneSegment() *Manifest {
	m := New("app", "events", 100)
	m.Segments = append(m.Segments, SegmentMetadata{
		ID:        "seg-1",
		Path:      SegmentPath(1),
		MinKey:    []byte{1},
		MaxKey:    []byte{2},
		RowCount:  2,
		SizeBytes: 10,
		CreatedAt: 100,
	})
	m.LastSequenceNumber = 1
	return m
}

func TestEncodeStringEscapes(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain", `"plain"`},
		{`q"q`, `"q\"q"`},
		{`b\s`, `"b\\s"`},
		{"<>&", `"<>&"`},
		{"/", `"/"`},
		{"\b\t\n\f\r", `"\b\t\n\f\r"`},
		{"\x00\x01\x0b\x1a\x1f", `"\u0000\u0001\u000b\u001a\u001f"`},
		{"\x7f", "\"\x7f\""},
		{"é日本😀", `"é日本😀"`},
		{"\u2028\u2029", "\"\u2028\u2029\""},
		{"", `""`},
	}
	for _, c := range cases {
		got, err := appendString(nil, c.in, "f")
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		if string(got) != c.want {
			t.Errorf("appendString(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestEncodeRejectsInvalidUTF8(t *testing.T) {
	m := oneSegment()
	m.Segments[0].Path = "data/\xff.parquet"
	_, err := Encode(m)
	if !kerr.Is(err, kerr.InvalidArgument) || !strings.Contains(err.Error(), "segments[0].path") {
		t.Fatalf("got %v, want INVALID_ARGUMENT naming segments[0].path", err)
	}
	m = oneSegment()
	m.Segments[0].ColumnStats = map[string]ColumnStat{"c\xfe": {}}
	_, err = Encode(m)
	if !kerr.Is(err, kerr.InvalidArgument) || !strings.Contains(err.Error(), "segments[0].column_stats") {
		t.Fatalf("got %v, want INVALID_ARGUMENT naming the column_stats key", err)
	}
}

func TestEncodeRejectsUnsupportedStat(t *testing.T) {
	m := oneSegment()
	m.Segments[0].ColumnStats = map[string]ColumnStat{"blob": {Min: []byte{1}}}
	_, err := Encode(m)
	if !kerr.Is(err, kerr.InvalidArgument) || !strings.Contains(err.Error(), `segments[0].column_stats["blob"].min`) {
		t.Fatalf("got %v, want INVALID_ARGUMENT naming the stat", err)
	}
	if _, err := Encode(nil); !kerr.Is(err, kerr.InvalidArgument) {
		t.Fatalf("Encode(nil) = %v", err)
	}
}

func TestEncodeStatScalars(t *testing.T) {
	cases := []struct {
		in      any
		want    string
		decoded any
	}{
		{nil, "null", nil},
		{true, "true", true},
		{"s", `"s"`, "s"},
		{int64(-5), "-5", int64(-5)},
		{int(7), "7", int64(7)},
		{int8(-8), "-8", int64(-8)},
		{int16(16), "16", int64(16)},
		{int32(-32), "-32", int64(-32)},
		{uint8(255), "255", int64(255)},
		{uint16(65535), "65535", int64(65535)},
		{uint32(1 << 31), "2147483648", int64(1 << 31)},
		{uint(9), "9", int64(9)},
		{uint64(1 << 63), "9223372036854775808", uint64(1 << 63)},
		{maxU64, "18446744073709551615", maxU64},
		{3.0, "3.0", 3.0},
		{-0.25, "-0.25", -0.25},
		{0.1, "0.1", 0.1},
		{float32(0.5), "0.5", 0.5},
		{1e20, "100000000000000000000.0", 1e20},
		{1e21, "1e21", 1e21},
		{1.5e300, "1.5e300", 1.5e300},
		{-2.5e-7, "-2.5e-7", -2.5e-7},
		{1e-6, "0.000001", 1e-6},
		{5e-324, "5e-324", 5e-324},
		{math.MaxFloat64, "1.7976931348623157e308", math.MaxFloat64},
		{math.NaN(), "null", nil},
		{math.Inf(1), "null", nil},
		{math.Inf(-1), "null", nil},
	}
	for _, c := range cases {
		got, err := appendScalar(nil, c.in, "f")
		if err != nil {
			t.Fatalf("%#v: %v", c.in, err)
		}
		if string(got) != c.want {
			t.Errorf("appendScalar(%#v) = %s, want %s", c.in, got, c.want)
		}
		m := oneSegment()
		m.Segments[0].ColumnStats = map[string]ColumnStat{"c": {Min: c.in, Max: c.in}}
		data, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Decode(data)
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		st := back.Segments[0].ColumnStats["c"]
		if !reflect.DeepEqual(st.Min, c.decoded) || !reflect.DeepEqual(st.Max, c.decoded) {
			t.Errorf("%#v decoded as %#v/%#v, want %#v", c.in, st.Min, st.Max, c.decoded)
		}
	}
	// The sign of zero survives because the literal keeps its fraction.
	got, _ := appendScalar(nil, math.Copysign(0, -1), "f")
	if string(got) != "-0.0" {
		t.Fatalf("-0 encodes as %s", got)
	}
}

func TestU64MaxRoundTrip(t *testing.T) {
	m := oneSegment()
	m.Version = maxU64
	m.LastSequenceNumber = maxU64
	m.CreatedAt = math.MinInt64
	m.UpdatedAt = math.MaxInt64
	m.Segments[0].RowCount = maxU64
	m.Segments[0].SizeBytes = maxU64 - 1
	m.Segments[0].MinSeq = math.MinInt64
	m.Segments[0].MaxSeq = math.MaxInt64
	m.Segments[0].TombstonedAt = i64p(math.MinInt64)
	m.Segments[0].SchemaVersion = math.MaxInt64
	m.Segments[0].ColumnStats = map[string]ColumnStat{"u": {Min: maxU64 - 1, Max: maxU64, NullCount: maxU64}}
	data, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, lit := range []string{`"version":18446744073709551615`, `"size_bytes":18446744073709551614`,
		`"created_at":-9223372036854775808`, `"schema_version":9223372036854775807`} {
		if !strings.Contains(string(data), lit) {
			t.Errorf("encoding lacks %s: %s", lit, data)
		}
	}
	back, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, m) {
		t.Fatalf("round trip changed the manifest\n got %#v\nwant %#v", back, m)
	}
}

func TestDecodeAcceptsMissingOrNullExtensions(t *testing.T) {
	base := `{"table_id":{"namespace_id":"a","table_name":"b"},"version":1,"created_at":0,"updated_at":0,` +
		`"segments":[{"id":"x","path":"data/segment_001.parquet","min_key":null,"max_key":null,` +
		`"row_count":0,"size_bytes":0,"created_at":0,"tombstone":false%s}],"last_sequence_number":1}`
	for _, ext := range []string{"", `,"column_stats":null,"tombstoned_at":null`, `,"future":{"a":[1,{"b":2}]}`} {
		data := strings.Replace(base, "%s", ext, 1)
		m, err := Decode([]byte(data))
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		s := m.Segments[0]
		if s.MinSeq != 0 || s.MaxSeq != 0 || s.TombstonedAt != nil || s.SchemaVersion != 0 || s.ColumnStats != nil {
			t.Fatalf("%s: extension fields not zero: %#v", data, s)
		}
	}
}

func TestDecodeErrorsNameTheField(t *testing.T) {
	valid := `{"table_id":{"namespace_id":"a","table_name":"b"},"version":1,"created_at":0,"updated_at":0,` +
		`"segments":[{"id":"x","path":"data/segment_001.parquet","min_key":[1,2],"max_key":[3],` +
		`"row_count":0,"size_bytes":0,"created_at":0,"tombstone":false,"column_stats":{"c":{"min":1,"max":2,"null_count":0}}}],` +
		`"last_sequence_number":1}`
	if _, err := Decode([]byte(valid)); err != nil {
		t.Fatalf("base document must decode: %v", err)
	}
	cases := []struct{ name, from, to, want string }{
		{"key byte 256", `"min_key":[1,2]`, `"min_key":[1,256]`, "segments[0].min_key[1]"},
		{"key byte negative", `"max_key":[3]`, `"max_key":[-1]`, "segments[0].max_key[0]"},
		{"key byte fraction", `"max_key":[3]`, `"max_key":[3.0]`, "segments[0].max_key[0]"},
		{"key byte string", `"max_key":[3]`, `"max_key":["3"]`, "segments[0].max_key[0]: expected a byte"},
		{"key not array", `"max_key":[3]`, `"max_key":"AQI="`, "segments[0].max_key: expected null or an array"},
		{"missing version", `"version":1,`, ``, "missing field version"},
		{"version string", `"version":1`, `"version":"1"`, "version: expected an unsigned integer, got string"},
		{"version negative", `"version":1`, `"version":-1`, "version: -1 is not an unsigned"},
		{"version float", `"version":1`, `"version":1.0`, "version: 1.0 is not an unsigned"},
		{"version overflow", `"version":1`, `"version":18446744073709551616`, "version: 18446744073709551616"},
		{"created_at overflow", `"created_at":0,"updated_at"`, `"created_at":9223372036854775808,"updated_at"`, "created_at: 9223372036854775808 is not a signed"},
		{"table_id missing", `"table_id":{"namespace_id":"a","table_name":"b"},`, ``, "missing field table_id"},
		{"table_name number", `"table_name":"b"`, `"table_name":5`, "table_id.table_name: expected a string"},
		{"segments null", `"segments":[`, `"segments":null,"x":[`, "segments: expected an array, got null"},
		{"segment not object", `"segments":[{`, `"segments":[7,{`, "segments[0]: expected an object, got number"},
		{"missing row_count", `"row_count":0,`, ``, "missing field segments[0].row_count"},
		{"tombstone string", `"tombstone":false`, `"tombstone":"false"`, "segments[0].tombstone: expected a boolean"},
		{"min_seq null", `"tombstone":false`, `"tombstone":false,"min_seq":null`, "segments[0].min_seq: expected an integer, got null"},
		{"tombstoned_at string", `"tombstone":false`, `"tombstone":false,"tombstoned_at":"now"`, "segments[0].tombstoned_at"},
		{"column_stats array", `"column_stats":{"c":{"min":1,"max":2,"null_count":0}}`, `"column_stats":[]`, "segments[0].column_stats: expected an object"},
		{"stat min object", `"min":1`, `"min":{}`, `segments[0].column_stats["c"].min: expected a scalar`},
		{"stat number range", `"max":2`, `"max":1e400`, `segments[0].column_stats["c"].max: number 1e400 is out of range`},
		{"stat null_count negative", `"null_count":0`, `"null_count":-3`, `segments[0].column_stats["c"].null_count`},
		{"last_sequence_number missing", `,"last_sequence_number":1`, ``, "missing field last_sequence_number"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(valid, c.from) {
				t.Fatalf("test bug: %q not in base document", c.from)
			}
			data := strings.Replace(valid, c.from, c.to, 1)
			_, err := Decode([]byte(data))
			if !kerr.Is(err, kerr.Corruption) {
				t.Fatalf("Decode(%s) = %v, want CORRUPTION", data, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

func TestDecodeMalformedInput(t *testing.T) {
	cases := []struct{ in, want string }{
		{``, "empty input"},
		{`   `, "empty input"},
		{`{"version":1`, "malformed JSON"},
		{`{"version":1,}`, "offset 14"},
		{`[1,2]`, "manifest: expected an object, got array"},
		{`{"table_id":{"namespace_id":"a","table_name":"b"}} {}`, "trailing data"},
		{"{\"table_id\":\"\xff\"}", "invalid UTF-8 at offset 13"},
	}
	for _, c := range cases {
		_, err := Decode([]byte(c.in))
		if !kerr.Is(err, kerr.Corruption) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Decode(%q) = %v, want CORRUPTION containing %q", c.in, err, c.want)
		}
	}
}

func TestEncodeEmptyAndNilCollections(t *testing.T) {
	m := New("a", "b", 1)
	m.Segments = nil // a nil slice still encodes as [], never null
	data, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"segments":[]`) {
		t.Fatalf("nil segments encoded as %s", data)
	}
}
