package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kalamdb/libkalam/kerr"
)

// Decode parses manifest JSON written by Encode or by the Rust seed.
//
// It follows serde's rules for the seed fields: every non-optional field
// must be present with the right type (integers must be integer literals in
// range), min_key/max_key may be null or absent. Unknown fields are ignored,
// and our extension fields may be absent (zero values then); column_stats may
// also be null. Errors are kerr.Corruption naming the field path (for example
// "segments[2].min_key[3]") or, for malformed JSON, the byte offset.
//
// Decode checks the format only; call Validate for the semantic rules.
func Decode(data []byte) (*Manifest, error) {
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, n := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return nil, kerr.New(kerr.Corruption, "manifest: invalid UTF-8 at offset %d", off)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	// Numbers stay as their literal text, so u64 values never pass through
	// float64 and lose precision.
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, kerr.New(kerr.Corruption, "manifest: empty input")
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, kerr.Wrap(kerr.Corruption, err, "manifest: malformed JSON at offset %d", se.Offset)
		}
		return nil, kerr.Wrap(kerr.Corruption, err, "manifest: malformed JSON near offset %d", dec.InputOffset())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, kerr.New(kerr.Corruption, "manifest: trailing data after the JSON value at offset %d", dec.InputOffset())
	}
	return decodeManifest(root)
}

func decodeManifest(root any) (*Manifest, error) {
	o, err := asObject(root, "manifest")
	if err != nil {
		return nil, err
	}
	m := &Manifest{}
	tv, err := required(o, "table_id", "")
	if err != nil {
		return nil, err
	}
	to, err := asObject(tv, "table_id")
	if err != nil {
		return nil, err
	}
	if m.TableID.NamespaceID, err = getString(to, "namespace_id", "table_id"); err != nil {
		return nil, err
	}
	if m.TableID.TableName, err = getString(to, "table_name", "table_id"); err != nil {
		return nil, err
	}
	if m.Version, err = getUint(o, "version", "", true); err != nil {
		return nil, err
	}
	if m.CreatedAt, err = getInt(o, "created_at", "", true); err != nil {
		return nil, err
	}
	if m.UpdatedAt, err = getInt(o, "updated_at", "", true); err != nil {
		return nil, err
	}
	sv, err := required(o, "segments", "")
	if err != nil {
		return nil, err
	}
	sa, ok := sv.([]any)
	if !ok {
		return nil, typeError("segments", "an array", sv)
	}
	m.Segments = make([]SegmentMetadata, len(sa))
	for i, v := range sa {
		if err := decodeSegment(v, &m.Segments[i], "segments["+strconv.Itoa(i)+"]"); err != nil {
			return nil, err
		}
	}
	if m.LastSequenceNumber, err = getUint(o, "last_sequence_number", "", true); err != nil {
		return nil, err
	}
	return m, nil
}

func decodeSegment(v any, s *SegmentMetadata, path string) error {
	o, err := asObject(v, path)
	if err != nil {
		return err
	}
	if s.ID, err = getString(o, "id", path); err != nil {
		return err
	}
	if s.Path, err = getString(o, "path", path); err != nil {
		return err
	}
	if s.MinKey, err = getKey(o, "min_key", path); err != nil {
		return err
	}
	if s.MaxKey, err = getKey(o, "max_key", path); err != nil {
		return err
	}
	if s.RowCount, err = getUint(o, "row_count", path, true); err != nil {
		return err
	}
	if s.SizeBytes, err = getUint(o, "size_bytes", path, true); err != nil {
		return err
	}
	if s.CreatedAt, err = getInt(o, "created_at", path, true); err != nil {
		return err
	}
	tv, err := required(o, "tombstone", path)
	if err != nil {
		return err
	}
	var ok bool
	if s.Tombstone, ok = tv.(bool); !ok {
		return typeError(join(path, "tombstone"), "a boolean", tv)
	}
	if s.MinSeq, err = getInt(o, "min_seq", path, false); err != nil {
		return err
	}
	if s.MaxSeq, err = getInt(o, "max_seq", path, false); err != nil {
		return err
	}
	if tv, present := o["tombstoned_at"]; present && tv != nil {
		t, err := parseInt(tv, join(path, "tombstoned_at"))
		if err != nil {
			return err
		}
		s.TombstonedAt = &t
	}
	if s.SchemaVersion, err = getInt(o, "schema_version", path, false); err != nil {
		return err
	}
	if cv, present := o["column_stats"]; present && cv != nil {
		cpath := join(path, "column_stats")
		co, err := asObject(cv, cpath)
		if err != nil {
			return err
		}
		s.ColumnStats = make(map[string]ColumnStat, len(co))
		for name, sv := range co {
			spath := cpath + "[" + strconv.Quote(name) + "]"
			st, err := decodeStat(sv, spath)
			if err != nil {
				return err
			}
			s.ColumnStats[name] = st
		}
	}
	return nil
}

// decodeStat reads {"min": v, "max": v, "null_count": n}; all three are our
// own extension, so an absent one takes its zero value.
func decodeStat(v any, path string) (ColumnStat, error) {
	var st ColumnStat
	o, err := asObject(v, path)
	if err != nil {
		return st, err
	}
	if st.Min, err = decodeScalar(o["min"], join(path, "min")); err != nil {
		return st, err
	}
	if st.Max, err = decodeScalar(o["max"], join(path, "max")); err != nil {
		return st, err
	}
	if st.NullCount, err = getUint(o, "null_count", path, false); err != nil {
		return st, err
	}
	return st, nil
}

// decodeScalar maps a JSON scalar to the shared value convention: integer
// literals become int64 when they fit, else uint64, else float64.
func decodeScalar(v any, path string) (any, error) {
	switch x := v.(type) {
	case nil, bool, string:
		return x, nil
	case json.Number:
		s := string(x)
		if !strings.ContainsAny(s, ".eE") {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return i, nil
			}
			if u, err := strconv.ParseUint(s, 10, 64); err == nil {
				return u, nil
			}
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, kerr.New(kerr.Corruption, "manifest: %s: number %s is out of range", path, s)
		}
		return f, nil
	default:
		return nil, typeError(path, "a scalar (null, boolean, number or string)", v)
	}
}

func asObject(v any, path string) (map[string]any, error) {
	o, ok := v.(map[string]any)
	if !ok {
		return nil, typeError(path, "an object", v)
	}
	return o, nil
}

func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func required(o map[string]any, key, parent string) (any, error) {
	v, present := o[key]
	if !present {
		return nil, kerr.New(kerr.Corruption, "manifest: missing field %s", join(parent, key))
	}
	return v, nil
}

func getString(o map[string]any, key, parent string) (string, error) {
	v, err := required(o, key, parent)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", typeError(join(parent, key), "a string", v)
	}
	return s, nil
}

// getUint reads an unsigned integer field. An absent optional field is 0;
// null is never accepted (serde rejects null for a non-Option integer).
func getUint(o map[string]any, key, parent string, req bool) (uint64, error) {
	v, present := o[key]
	if !present {
		if req {
			return 0, kerr.New(kerr.Corruption, "manifest: missing field %s", join(parent, key))
		}
		return 0, nil
	}
	path := join(parent, key)
	n, ok := v.(json.Number)
	if !ok {
		return 0, typeError(path, "an unsigned integer", v)
	}
	u, err := strconv.ParseUint(string(n), 10, 64)
	if err != nil {
		return 0, kerr.New(kerr.Corruption, "manifest: %s: %s is not an unsigned 64-bit integer", path, n)
	}
	return u, nil
}

// getInt reads a signed integer field, with getUint's rules for absence.
func getInt(o map[string]any, key, parent string, req bool) (int64, error) {
	v, present := o[key]
	if !present {
		if req {
			return 0, kerr.New(kerr.Corruption, "manifest: missing field %s", join(parent, key))
		}
		return 0, nil
	}
	return parseInt(v, join(parent, key))
}

func parseInt(v any, path string) (int64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, typeError(path, "an integer", v)
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		return 0, kerr.New(kerr.Corruption, "manifest: %s: %s is not a signed 64-bit integer", path, n)
	}
	return i, nil
}

// getKey reads an Option<Vec<u8>>: absent or null is nil, otherwise an array
// of integers 0..255 (an empty array is a non-nil empty key).
func getKey(o map[string]any, key, parent string) ([]byte, error) {
	v := o[key]
	if v == nil {
		return nil, nil
	}
	path := join(parent, key)
	arr, ok := v.([]any)
	if !ok {
		return nil, typeError(path, "null or an array of bytes", v)
	}
	out := make([]byte, len(arr))
	for i, e := range arr {
		n, ok := e.(json.Number)
		if !ok {
			return nil, typeError(path+"["+strconv.Itoa(i)+"]", "a byte (integer 0..255)", e)
		}
		b, err := strconv.ParseUint(string(n), 10, 8)
		if err != nil {
			return nil, kerr.New(kerr.Corruption, "manifest: %s[%d]: %s is not a byte (integer 0..255)", path, i, n)
		}
		out[i] = byte(b)
	}
	return out, nil
}

func typeError(path, want string, got any) error {
	return kerr.New(kerr.Corruption, "manifest: %s: expected %s, got %s", path, want, jsonKind(got))
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	default:
		return "unknown value"
	}
}
