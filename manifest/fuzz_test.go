package manifest

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/kalamdb/libkalam/kerr"
)

// decodeSeedBase is the document of TestDecodeErrorsNameTheField; the seeds
// are it and each of that test's one-field corruptions, so the fuzzer starts
// next to every error path Decode has.
const decodeSeedBase = `{"table_id":{"namespace_id":"a","table_name":"b"},"version":1,"created_at":0,"updated_at":0,` +
	`"segments":[{"id":"x","path":"data/segment_001.parquet","min_key":[1,2],"max_key":[3],` +
	`"row_count":0,"size_bytes":0,"created_at":0,"tombstone":false,"column_stats":{"c":{"min":1,"max":2,"null_count":0}}}],` +
	`"last_sequence_number":1}`

var decodeSeedEdits = [][2]string{
	{`"min_key":[1,2]`, `"min_key":[1,256]`}, {`"max_key":[3]`, `"max_key":[-1]`}, {`"max_key":[3]`, `"max_key":[3.0]`},
	{`"max_key":[3]`, `"max_key":["3"]`}, {`"max_key":[3]`, `"max_key":"AQI="`}, {`"version":1,`, ``},
	{`"version":1`, `"version":"1"`}, {`"version":1`, `"version":-1`}, {`"version":1`, `"version":1.0`},
	{`"version":1`, `"version":18446744073709551616`}, {`"version":1`, `"version":0`},
	{`"created_at":0,"updated_at"`, `"created_at":9223372036854775808,"updated_at"`},
	{`"table_name":"b"`, `"table_name":5`}, {`"table_name":"b"`, `"table_name":"../b"`},
	{`"segments":[`, `"segments":null,"x":[`}, {`"segments":[{`, `"segments":[7,{`}, {`"row_count":0,`, ``},
	{`"tombstone":false`, `"tombstone":"false"`}, {`"tombstone":false`, `"tombstone":false,"min_seq":null`},
	{`"tombstone":false`, `"tombstone":true,"tombstoned_at":5`}, {`"tombstone":false`, `"tombstone":false,"tombstoned_at":"now"`},
	{`"column_stats":{"c":{"min":1,"max":2,"null_count":0}}`, `"column_stats":[]`}, {`"min":1`, `"min":{}`},
	{`"max":2`, `"max":1e400`}, {`"max":2`, `"max":-0.0`}, {`"max":2`, `"max":18446744073709551616`},
	{`"max":2`, `"max":"\ud800\u0000é"`}, {`"null_count":0`, `"null_count":-3`},
	{`,"last_sequence_number":1`, ``}, {`"last_sequence_number":1`, `"last_sequence_number":0`},
	{`"path":"data/segment_001.parquet"`, `"path":"data/../x"`}, {`"min_key":[1,2]`, `"min_key":[4]`},
	{`"min_key":[1,2]`, `"min_key":null`}, {`"id":"x"`, `"id":""`},
}

// FuzzDecode feeds arbitrary bytes to Decode. Besides not panicking:
//   - a failure is kerr.Corruption with a "manifest" message (the field path
//     or the byte offset);
//   - a decoded manifest encodes, decodes back to a deeply equal manifest, and
//     the encoding is a fixed point; Clone encodes to the same bytes;
//   - Validate never panics, answers nil or Corruption, and gives the same
//     answer for the re-decoded manifest;
//   - for a valid manifest, the accessors agree with the segment list:
//     LiveSegments, Segment(id), every keyed segment overlaps its own key
//     range, and a data/segment_N path is the SegmentPath of its N.
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"full.json", "minimal.json", "empty.json", "seed_only.json"} {
		f.Add(readGolden(f, name))
	}
	f.Add([]byte(decodeSeedBase))
	for _, e := range decodeSeedEdits {
		f.Add([]byte(strings.Replace(decodeSeedBase, e[0], e[1], 1)))
	}
	for _, s := range []string{``, `   `, `{"version":1`, `{"version":1,}`, `[1,2]`, "{\"table_id\":\"\xff\"}",
		`{"table_id":{"namespace_id":"a","table_name":"b"}} {}`, `{"segments":[{"min_key":[0,255]}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			if !kerr.Is(err, kerr.Corruption) || !strings.HasPrefix(err.Error(), "manifest") {
				t.Fatalf("Decode error %q (code %v), want CORRUPTION from the manifest decoder", err, kerr.CodeOf(err))
			}
			if m != nil {
				t.Fatalf("Decode returned a manifest with error %v", err)
			}
			return
		}
		out, err := Encode(m)
		if err != nil {
			t.Fatalf("a decoded manifest must encode: %v", err)
		}
		back, err := Decode(out)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", out, err)
		}
		if !reflect.DeepEqual(back, m) {
			t.Fatalf("round trip changed the manifest\n got %#v\nwant %#v", back, m)
		}
		if again, err := Encode(back); err != nil || !bytes.Equal(again, out) {
			t.Fatalf("encoding is not a fixed point: %s vs %s (%v)", again, out, err)
		}
		if c, err := Encode(m.Clone()); err != nil || !bytes.Equal(c, out) {
			t.Fatalf("Clone encodes differently: %s vs %s (%v)", c, out, err)
		}

		verr := m.Validate()
		if verr != nil && !kerr.Is(verr, kerr.Corruption) {
			t.Fatalf("Validate error %v has code %v, want CORRUPTION", verr, kerr.CodeOf(verr))
		}
		if berr := back.Validate(); (berr == nil) != (verr == nil) || (berr != nil && berr.Error() != verr.Error()) {
			t.Fatalf("Validate differs after the round trip: %v vs %v", verr, berr)
		}
		if verr != nil {
			return
		}
		live := 0
		for i := range m.Segments {
			s := &m.Segments[i]
			if !s.Tombstone {
				live++
			}
			if got, ok := m.Segment(s.ID); !ok || got != s {
				t.Fatalf("Segment(%q) does not find segments[%d] of a valid manifest (ids are unique)", s.ID, i)
			}
			if s.MinKey != nil {
				own := KeyRange{Lo: s.MinKey, Hi: s.MaxKey, HiInclusive: true}
				if !s.Overlaps(own) || !RangesOverlap(s.MinKey, s.MaxKey, s.MinKey, s.MaxKey) || !own.Contains(s.MinKey) || !own.Contains(s.MaxKey) {
					t.Fatalf("segments[%d] with keys [%x, %x] does not overlap its own key range", i, s.MinKey, s.MaxKey)
				}
			} else if s.Overlaps(KeyRange{}) {
				t.Fatalf("segments[%d] without keys overlaps the full range", i)
			}
			if n, ok := parseSegmentPath(s.Path); ok && (SegmentPath(n) != s.Path || n > m.LastSequenceNumber) {
				t.Fatalf("segments[%d].path %q parses to %d: SegmentPath %q, last_sequence_number %d",
					i, s.Path, n, SegmentPath(n), m.LastSequenceNumber)
			}
		}
		if got := len(m.LiveSegments()); got != live {
			t.Fatalf("LiveSegments has %d segments, %d are not tombstoned", got, live)
		}
	})
}
