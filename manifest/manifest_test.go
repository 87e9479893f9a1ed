package manifest

import (
	"bytes"
	"reflect"
	"testing"
)

func TestNew(t *testing.T) {
	m := New("app", "events", 42)
	want := &Manifest{TableID: TableID{"app", "events"}, Version: 1, CreatedAt: 42, UpdatedAt: 42, Segments: []SegmentMetadata{}}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("New = %#v", m)
	}
	if m.TableID.String() != "app.events" {
		t.Fatalf("TableID.String = %q", m.TableID.String())
	}
}

func TestSegmentFileNames(t *testing.T) {
	for n, want := range map[uint64]string{1: "segment_001.parquet", 42: "segment_042.parquet",
		999: "segment_999.parquet", 1000: "segment_1000.parquet", 123456: "segment_123456.parquet"} {
		if got := SegmentFileName(n); got != want {
			t.Errorf("SegmentFileName(%d) = %q, want %q", n, got, want)
		}
		if got := SegmentPath(n); got != "data/"+want {
			t.Errorf("SegmentPath(%d) = %q", n, got)
		}
		if got, ok := ParseSegmentFileName(want); !ok || got != n {
			t.Errorf("ParseSegmentFileName(%q) = %d, %v", want, got, ok)
		}
	}
	if got, ok := ParseSegmentFileName(SegmentFileName(maxU64)); !ok || got != maxU64 {
		t.Errorf("max u64 name parses as %d, %v", got, ok)
	}
	for _, bad := range []string{"", "segment_.parquet", "segment_1.parquet", "segment_01.parquet",
		"segment_0001.parquet", "segment_000.parquet", "segment_001.parquet.tmp", "data/segment_001.parquet",
		"segment_+01.parquet", "segment_-01.parquet", "segment_0x1.parquet", "segment_001.PARQUET",
		"Segment_001.parquet", "segment_18446744073709551616.parquet", "segment_ 01.parquet"} {
		if n, ok := ParseSegmentFileName(bad); ok {
			t.Errorf("ParseSegmentFileName(%q) accepted as %d", bad, n)
		}
	}
}

func TestCloneIsDeep(t *testing.T) {
	orig := goldenManifests()["full.json"]
	before, err := Encode(orig)
	if err != nil {
		t.Fatal(err)
	}
	c := orig.Clone()
	if !reflect.DeepEqual(c, orig) {
		t.Fatal("clone differs from original")
	}
	c.TableID.TableName = "other"
	c.Segments[0].MinKey[0] = 99
	c.Segments[0].MaxKey = append(c.Segments[0].MaxKey[:1], 7)
	*c.Segments[0].TombstonedAt = 5
	c.Segments[0].ColumnStats["id"] = ColumnStat{Min: "changed"}
	c.Segments[1].ColumnStats["new"] = ColumnStat{}
	c.Segments = append(c.Segments, SegmentMetadata{ID: "x"})
	after, err := Encode(orig)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatalf("mutating the clone changed the original:\n%s\n%s", before, after)
	}

	// nil versus empty survives, so the clone encodes identically.
	m := goldenManifests()["minimal.json"]
	mc := m.Clone()
	if mc.Segments[1].MinKey == nil || mc.Segments[1].ColumnStats == nil || mc.Segments[0].MinKey != nil ||
		mc.Segments[0].ColumnStats != nil {
		t.Fatalf("clone lost nil/empty distinction: %#v", mc.Segments)
	}
	var nilM *Manifest
	if nilM.Clone() != nil {
		t.Fatal("nil.Clone() must be nil")
	}
}

func TestLiveSegmentsAndLookup(t *testing.T) {
	m := New("a", "b", 0)
	for i, tomb := range []bool{false, true, false, true} {
		m.Segments = append(m.Segments, SegmentMetadata{ID: string(rune('a' + i)), Path: SegmentPath(uint64(i + 1)), Tombstone: tomb})
	}
	live := m.LiveSegments()
	if len(live) != 2 || live[0].ID != "a" || live[1].ID != "c" {
		t.Fatalf("LiveSegments = %+v", live)
	}
	if got := New("a", "b", 0).LiveSegments(); got == nil || len(got) != 0 {
		t.Fatalf("LiveSegments of an empty manifest = %#v", got)
	}
	s, ok := m.Segment("d")
	if !ok || s.Path != SegmentPath(4) {
		t.Fatalf("Segment(d) = %+v, %v", s, ok)
	}
	s.Tombstone = false
	if m.Segments[3].Tombstone {
		t.Fatal("Segment must point into the manifest")
	}
	if s, ok := m.Segment("zz"); ok || s != nil {
		t.Fatalf("Segment(zz) = %+v, %v", s, ok)
	}
}
