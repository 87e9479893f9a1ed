package manifest

import (
	"strings"
	"testing"

	"github.com/kalamdb/libkalam/kerr"
)

func twoSegments() *Manifest {
	m := oneSegment()
	m.Segments = append(m.Segments, SegmentMetadata{
		ID: "seg-2", Path: SegmentPath(2), MinKey: []byte{3}, MaxKey: []byte{3, 0}, CreatedAt: 100,
	})
	m.LastSequenceNumber = 2
	return m
}

func TestValidateAcceptsValid(t *testing.T) {
	for name, m := range map[string]*Manifest{
		"new":          New("default", "t", 0),
		"two segments": twoSegments(),
		"null keys":    func() *Manifest { m := oneSegment(); m.Segments[0].MinKey, m.Segments[0].MaxKey = nil, nil; return m }(),
		"equal keys":   func() *Manifest { m := oneSegment(); m.Segments[0].MaxKey = []byte{1}; return m }(),
		"empty key":    func() *Manifest { m := oneSegment(); m.Segments[0].MinKey = []byte{}; return m }(),
		"rows without keys": func() *Manifest {
			m := oneSegment()
			m.Segments[0].MinKey, m.Segments[0].MaxKey = nil, nil
			m.Segments[0].RowCount = 9
			return m
		}(),
		"nested data path":   func() *Manifest { m := oneSegment(); m.Segments[0].Path = "data/x/y.parquet"; return m }(),
		"foreign file name":  func() *Manifest { m := oneSegment(); m.Segments[0].Path = "data/segment_9999.PARQUET"; return m }(),
		"seq above segments": func() *Manifest { m := oneSegment(); m.LastSequenceNumber = 50; return m }(),
		"1000th segment": func() *Manifest {
			m := oneSegment()
			m.Segments[0].Path = SegmentPath(1000)
			m.LastSequenceNumber = 1000
			return m
		}(),
		"64 character name": New(strings.Repeat("n", 64), "_t0", 0),
		"column stats in order": withStats(map[string]ColumnStat{
			"i":     {Min: int64(-3), Max: int64(7), NullCount: 2},
			"eq":    {Min: int64(5), Max: int64(5)},
			"u":     {Min: int64(1), Max: uint64(1 << 63)},
			"mixed": {Min: int64(1), Max: 2.5},
			"f":     {Min: -0.5, Max: 1e300},
			"exact": {Min: int64(1<<62 + 1), Max: int64(1<<62 + 2)},
			"s":     {Min: "apple", Max: "b"},
			"b":     {Min: false, Max: true},
			"nan":   {Min: nil, Max: nil, NullCount: 1},
		}),
		"stats of a segment of tombstones only": func() *Manifest {
			m := withStats(map[string]ColumnStat{"v": {NullCount: 4}})
			m.Segments[0].RowCount = 0
			return m
		}(),
		"tombstoned segments": func() *Manifest { m := twoSegments(); m.Segments[1].Tombstone = true; return m }(),
	} {
		if err := m.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(m *Manifest)
		want   string
	}{
		{"version 0", func(m *Manifest) { m.Version = 0 }, "version is 0"},
		{"empty namespace", func(m *Manifest) { m.TableID.NamespaceID = "" }, "table_id.namespace_id"},
		{"upper-case table", func(m *Manifest) { m.TableID.TableName = "Events" }, `table_id.table_name "Events"`},
		{"table with slash", func(m *Manifest) { m.TableID.TableName = "a/b" }, "table_id.table_name"},
		{"table starting with digit", func(m *Manifest) { m.TableID.TableName = "1t" }, "table_id.table_name"},
		{"65 character name", func(m *Manifest) { m.TableID.TableName = strings.Repeat("t", 65) }, "table_id.table_name"},
		{"empty id", func(m *Manifest) { m.Segments[1].ID = "" }, "segments[1].id is empty"},
		{"duplicate id", func(m *Manifest) { m.Segments[1].ID = "seg-1" }, `segments[1].id "seg-1" duplicates segments[0].id`},
		{"empty path", func(m *Manifest) { m.Segments[0].Path = "" }, "segments[0].path"},
		{"absolute path", func(m *Manifest) { m.Segments[0].Path = "/data/segment_001.parquet" }, "segments[0].path \"/data/segment_001.parquet\": is absolute"},
		{"dotdot path", func(m *Manifest) { m.Segments[0].Path = "data/../../etc/passwd" }, `segments[0].path "data/../../etc/passwd": contains ".."`},
		{"unclean path", func(m *Manifest) { m.Segments[0].Path = "data//segment_001.parquet" }, "segments[0].path \"data//segment_001.parquet\": is not clean"},
		{"dot path", func(m *Manifest) { m.Segments[0].Path = "./data/segment_001.parquet" }, "is not clean"},
		{"outside data", func(m *Manifest) { m.Segments[0].Path = "segment_001.parquet" }, "segments[0].path \"segment_001.parquet\": is not under data/"},
		{"data dir itself", func(m *Manifest) { m.Segments[0].Path = "data" }, "is not under data/"},
		{"backslash", func(m *Manifest) { m.Segments[0].Path = `data\segment_001.parquet` }, "segments[0].path"},
		{"NUL", func(m *Manifest) { m.Segments[0].Path = "data/seg\x00" }, "segments[0].path"},
		{"duplicate path", func(m *Manifest) { m.Segments[1].Path = m.Segments[0].Path }, `segments[1].path "data/segment_001.parquet" duplicates segments[0].path`},
		{"only min_key", func(m *Manifest) { m.Segments[1].MaxKey = nil }, "segments[1].min_key and segments[1].max_key"},
		{"only max_key", func(m *Manifest) { m.Segments[0].MinKey = nil }, "segments[0].min_key and segments[0].max_key"},
		{"min above max", func(m *Manifest) { m.Segments[0].MinKey = []byte{2, 0} }, "segments[0].min_key 0200 is greater than segments[0].max_key 02"},
		{"seq below segment", func(m *Manifest) { m.LastSequenceNumber = 1 }, `last_sequence_number 1 is below 2 of segments[1].path "data/segment_002.parquet"`},
		{"more nulls than rows", func(m *Manifest) { m.Segments[0].ColumnStats = map[string]ColumnStat{"v": {NullCount: 3}} },
			`segments[0].column_stats: "v": null_count 3 is above row_count 2`},
		{"int min above max", func(m *Manifest) {
			m.Segments[1].ColumnStats = map[string]ColumnStat{"a": {Min: int64(1), Max: int64(2)}, "v": {Min: int64(8), Max: int64(-1)}}
		}, `segments[1].column_stats: "v": min 8 is above max -1`},
		{"uint min above max", func(m *Manifest) {
			m.Segments[0].ColumnStats = map[string]ColumnStat{"v": {Min: uint64(1 << 63), Max: int64(1<<63 - 1)}}
		}, `"v": min 9223372036854775808 is above max 9223372036854775807`},
		{"float min above max", func(m *Manifest) { m.Segments[0].ColumnStats = map[string]ColumnStat{"v": {Min: 0.5, Max: int64(0)}} },
			`"v": min 0.5 is above max 0`},
		{"string min above max", func(m *Manifest) { m.Segments[0].ColumnStats = map[string]ColumnStat{"v": {Min: "b", Max: "apple"}} },
			`"v": min b is above max apple`},
		{"bool min above max", func(m *Manifest) { m.Segments[0].ColumnStats = map[string]ColumnStat{"v": {Min: true, Max: false}} },
			`"v": min true is above max false`},
		{"kinds differ", func(m *Manifest) { m.Segments[0].ColumnStats = map[string]ColumnStat{"v": {Min: "1", Max: int64(2)}} },
			`"v": min 1 (string) and max 2 (int64) are not values of one type`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := twoSegments()
			if err := m.Validate(); err != nil {
				t.Fatalf("base manifest invalid: %v", err)
			}
			c.mutate(m)
			err := m.Validate()
			if !kerr.Is(err, kerr.Corruption) {
				t.Fatalf("Validate = %v, want CORRUPTION", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
		})
	}
	var nilManifest *Manifest
	if err := nilManifest.Validate(); !kerr.Is(err, kerr.Corruption) {
		t.Fatalf("nil manifest: %v", err)
	}
}

func TestValidateSuccessor(t *testing.T) {
	prev := twoSegments()
	prev.Version = 4
	next := prev.Clone()
	next.Version = 5
	next.LastSequenceNumber = 3
	if err := ValidateSuccessor(prev, next); err != nil {
		t.Fatalf("valid successor rejected: %v", err)
	}
	same := prev.Clone()
	same.Version = 5
	if err := ValidateSuccessor(prev, same); err != nil {
		t.Fatalf("unchanged last_sequence_number rejected: %v", err)
	}
	cases := []struct {
		name   string
		mutate func(n *Manifest)
		want   string
	}{
		{"same version", func(n *Manifest) { n.Version = 4 }, "version 4 does not follow version 4"},
		{"skipped version", func(n *Manifest) { n.Version = 6 }, "version 6 does not follow version 4"},
		{"older version", func(n *Manifest) { n.Version = 3 }, "version 3 does not follow"},
		{"other namespace", func(n *Manifest) { n.TableID.NamespaceID = "other" }, "table_id changed from app.events to other.events"},
		{"other table", func(n *Manifest) { n.TableID.TableName = "other" }, "table_id changed"},
		{"sequence down", func(n *Manifest) { n.LastSequenceNumber = 1 }, "last_sequence_number went down from 2 to 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := next.Clone()
			c.mutate(n)
			err := ValidateSuccessor(prev, n)
			if !kerr.Is(err, kerr.Corruption) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want CORRUPTION containing %q", err, c.want)
			}
		})
	}
	top := New("a", "b", 0)
	top.Version = maxU64
	wrapped := top.Clone()
	wrapped.Version = 0
	if err := ValidateSuccessor(top, wrapped); !kerr.Is(err, kerr.Corruption) {
		t.Fatalf("version overflow accepted: %v", err)
	}
	if err := ValidateSuccessor(nil, next); !kerr.Is(err, kerr.Corruption) {
		t.Fatalf("nil prev: %v", err)
	}
}

// withStats is oneSegment with the given column statistics.
func withStats(cs map[string]ColumnStat) *Manifest {
	m := oneSegment()
	m.Segments[0].RowCount = 10
	m.Segments[0].ColumnStats = cs
	return m
}
