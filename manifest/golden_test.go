package manifest

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func i64p(v int64) *int64 { return &v }

const maxU64 = ^uint64(0)

// goldenManifests are the structs the hand-written files in testdata/
// encode; the files were written from the serde rules, not produced by
// Encode.
func goldenManifests() map[string]*Manifest {
	return map[string]*Manifest{
		"empty.json": {
			TableID:   TableID{NamespaceID: "default", TableName: "t"},
			Version:   1,
			CreatedAt: 1700000000000,
			UpdatedAt: 1700000000000,
			Segments:  []SegmentMetadata{},
		},
		"minimal.json": {
			TableID:   TableID{NamespaceID: "default", TableName: "t"},
			Version:   2,
			CreatedAt: 1,
			UpdatedAt: 2,
			Segments: []SegmentMetadata{
				{
					ID:   "00000000-0000-4000-8000-000000000001",
					Path: "data/segment_001.parquet",
				},
				{
					ID:          "00000000-0000-4000-8000-000000000002",
					Path:        "data/segment_002.parquet",
					MinKey:      []byte{},
					MaxKey:      []byte{0},
					RowCount:    1,
					SizeBytes:   10,
					CreatedAt:   3,
					MinSeq:      5,
					MaxSeq:      5,
					ColumnStats: map[string]ColumnStat{},
				},
			},
			LastSequenceNumber: 2,
		},
		"full.json": {
			TableID:   TableID{NamespaceID: "app", TableName: "events"},
			Version:   7,
			CreatedAt: 1700000000000,
			UpdatedAt: 1700000123456,
			Segments: []SegmentMetadata{
				{
					ID:            "5f0c2a1e-8d3b-4c6f-9a7e-1b2c3d4e5f60",
					Path:          "data/segment_001.parquet",
					MinKey:        []byte{0, 0, 1, 255},
					MaxKey:        []byte{255, 0, 255},
					RowCount:      1000,
					SizeBytes:     65536,
					CreatedAt:     1700000001000,
					Tombstone:     true,
					MinSeq:        100,
					MaxSeq:        1099,
					TombstonedAt:  i64p(1700000100000),
					SchemaVersion: 1,
					ColumnStats: map[string]ColumnStat{
						"active": {Min: false, Max: true, NullCount: 3},
						"id":     {Min: int64(-9223372036854775808), Max: int64(9223372036854775807)},
						"score":  {Min: -0.25, Max: 3.0, NullCount: 17},
					},
				},
				{
					ID:            "a9b8c7d6-e5f4-4a3b-8c2d-1e0f9a8b7c6d",
					Path:          "data/segment_003.parquet",
					MinKey:        []byte{0},
					MaxKey:        []byte{255},
					RowCount:      maxU64,
					SizeBytes:     maxU64,
					CreatedAt:     -1,
					MinSeq:        -9223372036854775808,
					MaxSeq:        9223372036854775807,
					SchemaVersion: 2,
					ColumnStats: map[string]ColumnStat{
						"count": {Min: int64(0), Max: maxU64, NullCount: maxU64},
						"empty": {Min: nil, Max: nil, NullCount: 42},
						"name":  {Min: "", Max: "a\"b\\c<d>&e\nf\x01g\té\u2028日本\x1f\r\b\f/"},
						"ratio": {Min: 1e-7, Max: 1e21},
						"temp":  {Min: 0.1, Max: 1234.5678, NullCount: 1},
					},
				},
			},
			LastSequenceNumber: 3,
		},
	}
}

func readGolden(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestEncodeMatchesGolden(t *testing.T) {
	for name, m := range goldenManifests() {
		t.Run(name, func(t *testing.T) {
			want := readGolden(t, name)
			got, err := Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Encode mismatch\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

func TestDecodeGoldenRoundTrip(t *testing.T) {
	for name, want := range goldenManifests() {
		t.Run(name, func(t *testing.T) {
			data := readGolden(t, name)
			got, err := Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Decode mismatch\n got: %#v\nwant: %#v", got, want)
			}
			if err := got.Validate(); err != nil {
				t.Fatalf("golden manifest does not validate: %v", err)
			}
			again, err := Encode(got)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, data) {
				t.Fatalf("re-encode mismatch\n got: %s\nwant: %s", again, data)
			}
		})
	}
}

func TestEmptyGoldenIsNew(t *testing.T) {
	got, err := Encode(New("default", "t", 1700000000000))
	if err != nil {
		t.Fatal(err)
	}
	if want := readGolden(t, "empty.json"); !bytes.Equal(got, want) {
		t.Fatalf("New encodes as %s, want %s", got, want)
	}
}

func TestDecodeSeedOnlyFile(t *testing.T) {
	m, err := Decode(readGolden(t, "seed_only.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Manifest{
		TableID:   TableID{NamespaceID: "app", TableName: "events"},
		Version:   3,
		CreatedAt: 1700000000000,
		UpdatedAt: 1700000005000,
		Segments: []SegmentMetadata{
			{
				ID:        "11111111-2222-4333-8444-555555555555",
				Path:      "data/segment_001.parquet",
				MinKey:    []byte{1, 2, 3},
				MaxKey:    []byte{1, 2, 200},
				RowCount:  3,
				SizeBytes: 1234,
				CreatedAt: 1700000001000,
			},
			{
				// min_key/max_key absent: serde reads a missing Option as None.
				ID:        "66666666-7777-4888-8999-aaaaaaaaaaaa",
				Path:      "data/segment_002.parquet",
				CreatedAt: 1700000002000,
				Tombstone: true,
			},
		},
		LastSequenceNumber: 2,
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("got %#v\nwant %#v", m, want)
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
}
