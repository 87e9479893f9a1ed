// Package manifest holds a table's manifest: the list of Parquet segments
// that make up its cold data, in the JSON format of DESIGN §2.1 (what Rust
// serde_json writes for the seed's structs, plus our per-segment extension
// fields). It also provides validation and key-range pruning helpers.
//
// The package has no storage dependencies: the engine keeps the current
// manifest in RocksDB and mirrors it to manifest.json through package
// storage.
package manifest

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
)

const (
	// ManifestFileName is the mirror file in a table's storage directory.
	ManifestFileName = "manifest.json"
	// DataDir is the table-relative directory holding segment files.
	DataDir = "data"

	segmentPrefix = "segment_"
	segmentSuffix = ".parquet"
)

// TableID names a table by namespace and table name (both already
// lower-cased by the engine).
//
// The json tags document the wire names; use Encode and Decode rather than
// encoding/json, which would not produce the serde-compatible format.
type TableID struct {
	NamespaceID string `json:"namespace_id"`
	TableName   string `json:"table_name"`
}

// String returns "namespace.table".
func (t TableID) String() string { return t.NamespaceID + "." + t.TableName }

// Manifest is one version of a table's segment list.
type Manifest struct {
	TableID TableID `json:"table_id"`
	// Version is 1 on create and +1 on every commit.
	Version uint64 `json:"version"`
	// CreatedAt and UpdatedAt are Unix milliseconds.
	CreatedAt int64             `json:"created_at"`
	UpdatedAt int64             `json:"updated_at"`
	Segments  []SegmentMetadata `json:"segments"`
	// LastSequenceNumber is the N of the newest segment_N file ever written
	// for the table; it never goes down, so file names are never reused.
	LastSequenceNumber uint64 `json:"last_sequence_number"`
}

// SegmentMetadata describes one Parquet segment file.
type SegmentMetadata struct {
	// ID is a UUID v4.
	ID string `json:"id"`
	// Path is relative to the table directory, e.g. "data/segment_001.parquet".
	Path string `json:"path"`
	// MinKey and MaxKey are the smallest and largest encoded row keys in the
	// file; nil encodes as JSON null (a segment without rows). A non-nil
	// empty slice is a real (empty) key and encodes as [].
	MinKey    []byte `json:"min_key"`
	MaxKey    []byte `json:"max_key"`
	RowCount  uint64 `json:"row_count"`
	SizeBytes uint64 `json:"size_bytes"`
	// CreatedAt is Unix milliseconds.
	CreatedAt int64 `json:"created_at"`
	// Tombstone marks a segment replaced or removed by a later commit; it is
	// kept only for readers pinned to older versions until vacuum.
	Tombstone bool `json:"tombstone"`

	// Extension fields (not in the seed format). Decoding a file without them
	// leaves the zero values.

	// MinSeq and MaxSeq bound the _seq values of the rows in the file.
	MinSeq int64 `json:"min_seq"`
	MaxSeq int64 `json:"max_seq"`
	// TombstonedAt is when Tombstone was set (Unix ms); nil encodes as null.
	TombstonedAt *int64 `json:"tombstoned_at"`
	// SchemaVersion is the table schema version the file was written with.
	SchemaVersion int64 `json:"schema_version"`
	// ColumnStats maps a column name to its statistics in this file. Nil
	// encodes as null, an empty map as {}.
	ColumnStats map[string]ColumnStat `json:"column_stats"`
}

// ColumnStat holds one column's statistics in a segment.
//
// Min and Max are JSON scalars. Encode accepts nil, bool, string, float32,
// float64 and every Go integer type (NaN and ±Inf encode as null, since JSON
// has no spelling for them). Decode yields nil, bool, string, int64 (an
// integer literal that fits), uint64 (a non-negative integer literal above
// MaxInt64) or float64 (a literal with a fraction or exponent, or an integer
// too large for 64 bits). JSON does not record the column type, so a uint64
// statistic that fits in int64 decodes as int64: compare numerically, or
// convert using the column's Arrow type.
type ColumnStat struct {
	Min       any    `json:"min"`
	Max       any    `json:"max"`
	NullCount uint64 `json:"null_count"`
}

// New returns version 1 of an empty table's manifest, created at nowMs.
func New(namespace, table string, nowMs int64) *Manifest {
	return &Manifest{
		TableID:   TableID{NamespaceID: namespace, TableName: table},
		Version:   1,
		CreatedAt: nowMs,
		UpdatedAt: nowMs,
		Segments:  []SegmentMetadata{},
	}
}

// Clone returns a deep copy of m: keys, TombstonedAt and ColumnStats are not
// shared, and nil-versus-empty slices and maps are preserved so the clone
// encodes to the same bytes.
func (m *Manifest) Clone() *Manifest {
	if m == nil {
		return nil
	}
	c := *m
	if m.Segments != nil {
		c.Segments = make([]SegmentMetadata, len(m.Segments))
		for i := range m.Segments {
			c.Segments[i] = m.Segments[i].Clone()
		}
	}
	return &c
}

// Clone returns a deep copy of s. Statistic values are scalars, so copying
// the map entries is enough.
func (s SegmentMetadata) Clone() SegmentMetadata {
	c := s
	c.MinKey = cloneBytes(s.MinKey)
	c.MaxKey = cloneBytes(s.MaxKey)
	if s.TombstonedAt != nil {
		t := *s.TombstonedAt
		c.TombstonedAt = &t
	}
	if s.ColumnStats != nil {
		c.ColumnStats = maps.Clone(s.ColumnStats)
	}
	return c
}

// cloneBytes copies b, keeping nil as nil and empty as non-nil empty,
// because the two encode differently (null versus []).
func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// LiveSegments returns the segments that are not tombstoned, in manifest
// order. The result is a new slice, but its elements share key bytes and
// stats maps with m.
func (m *Manifest) LiveSegments() []SegmentMetadata {
	live := make([]SegmentMetadata, 0, len(m.Segments))
	for _, s := range m.Segments {
		if !s.Tombstone {
			live = append(live, s)
		}
	}
	return live
}

// Segment returns a pointer to the segment with the given id inside
// m.Segments (so callers may update it in place), and whether it exists.
func (m *Manifest) Segment(id string) (*SegmentMetadata, bool) {
	for i := range m.Segments {
		if m.Segments[i].ID == id {
			return &m.Segments[i], true
		}
	}
	return nil, false
}

// SegmentFileName returns the file name of segment number n:
// "segment_001.parquet"; numbers above 999 simply get more digits.
func SegmentFileName(n uint64) string {
	return fmt.Sprintf("%s%03d%s", segmentPrefix, n, segmentSuffix)
}

// SegmentPath returns the table-relative path of segment number n,
// "data/segment_001.parquet".
func SegmentPath(n uint64) string { return DataDir + "/" + SegmentFileName(n) }

// ParseSegmentFileName returns N for a file name exactly as SegmentFileName
// writes it, with N ≥ 1 (segment numbers start at last_sequence_number+1 ≥ 1).
// Other spellings ("segment_1.parquet", "segment_0001.parquet", a ".tmp"
// suffix, a directory prefix) return false, so recovery never mistakes a
// foreign file for one of ours.
func ParseSegmentFileName(name string) (uint64, bool) {
	digits, ok := strings.CutPrefix(name, segmentPrefix)
	if !ok {
		return 0, false
	}
	digits, ok = strings.CutSuffix(digits, segmentSuffix)
	if !ok || digits == "" || digits[0] == '+' || digits[0] == '-' {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || n == 0 || SegmentFileName(n) != name {
		return 0, false
	}
	return n, true
}

// parseSegmentPath returns N when p is "data/" followed by a segment file
// name.
func parseSegmentPath(p string) (uint64, bool) {
	name, ok := strings.CutPrefix(p, DataDir+"/")
	if !ok {
		return 0, false
	}
	return ParseSegmentFileName(name)
}
