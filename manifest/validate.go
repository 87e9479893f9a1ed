package manifest

import (
	"bytes"
	"math"
	"math/big"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/kalamdb/libkalam/kerr"
)

// Validate checks the rules every committed manifest satisfies and returns
// the first violation as a kerr.Corruption error naming the field. Corruption
// is the code because an invalid manifest is either a damaged file or an
// engine bug; it is never something a caller passed in.
//
// Rules: version ≥ 1; namespace and table names match [a-z_][a-z0-9_]{0,63};
// segment ids are non-empty and unique; segment paths are relative, clean,
// inside data/, free of "..", backslashes and NUL, and unique; min_key and
// max_key are both null or both set with min_key ≤ max_key (bytewise);
// last_sequence_number ≥ N for every path named data/segment_N.parquet;
// column statistics that do not contradict themselves (validateColumnStats).
// Deliberately lenient elsewhere: row_count 0 with keys set (a segment of
// tombstones only), or tombstoned_at without tombstone, are accepted.
func (m *Manifest) Validate() error {
	if m == nil {
		return kerr.New(kerr.Corruption, "manifest: nil manifest")
	}
	if m.Version < 1 {
		return kerr.New(kerr.Corruption, "manifest %s: version is %d, must be >= 1", m.TableID, m.Version)
	}
	if err := validateName(m.TableID.NamespaceID, "table_id.namespace_id"); err != nil {
		return err
	}
	if err := validateName(m.TableID.TableName, "table_id.table_name"); err != nil {
		return err
	}
	ids := make(map[string]int, len(m.Segments))
	paths := make(map[string]int, len(m.Segments))
	for i := range m.Segments {
		s := &m.Segments[i]
		field := "segments[" + strconv.Itoa(i) + "]"
		if s.ID == "" {
			return kerr.New(kerr.Corruption, "manifest %s: %s.id is empty", m.TableID, field)
		}
		if j, dup := ids[s.ID]; dup {
			return kerr.New(kerr.Corruption, "manifest %s: %s.id %q duplicates segments[%d].id", m.TableID, field, s.ID, j)
		}
		ids[s.ID] = i
		if err := validateSegmentPath(s.Path); err != nil {
			return kerr.Wrap(kerr.Corruption, err, "manifest %s: %s.path %q", m.TableID, field, s.Path)
		}
		if j, dup := paths[s.Path]; dup {
			return kerr.New(kerr.Corruption, "manifest %s: %s.path %q duplicates segments[%d].path", m.TableID, field, s.Path, j)
		}
		paths[s.Path] = i
		if (s.MinKey == nil) != (s.MaxKey == nil) {
			return kerr.New(kerr.Corruption, "manifest %s: %s.min_key and %s.max_key must both be null or both be set",
				m.TableID, field, field)
		}
		if s.MinKey != nil && bytes.Compare(s.MinKey, s.MaxKey) > 0 {
			return kerr.New(kerr.Corruption, "manifest %s: %s.min_key %x is greater than %s.max_key %x",
				m.TableID, field, s.MinKey, field, s.MaxKey)
		}
		if err := validateColumnStats(s); err != nil {
			return kerr.Wrap(kerr.Corruption, err, "manifest %s: %s.column_stats", m.TableID, field)
		}
		if n, ok := parseSegmentPath(s.Path); ok && n > m.LastSequenceNumber {
			return kerr.New(kerr.Corruption, "manifest %s: last_sequence_number %d is below %d of %s.path %q",
				m.TableID, m.LastSequenceNumber, n, field, s.Path)
		}
	}
	return nil
}

// validateSegmentPath checks that p names a file inside the table's data
// directory, so that joining it to the table directory can never escape it.
func validateSegmentPath(p string) error {
	switch {
	case p == "":
		return kerr.New(kerr.Corruption, "is empty")
	case strings.ContainsAny(p, "\\\x00"):
		return kerr.New(kerr.Corruption, "contains a backslash or NUL")
	case strings.HasPrefix(p, "/"):
		return kerr.New(kerr.Corruption, "is absolute, must be relative to the table directory")
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return kerr.New(kerr.Corruption, "contains \"..\"")
		}
	}
	if path.Clean(p) != p {
		return kerr.New(kerr.Corruption, "is not clean (want %q)", path.Clean(p))
	}
	if !strings.HasPrefix(p, DataDir+"/") {
		return kerr.New(kerr.Corruption, "is not under %s/", DataDir)
	}
	return nil
}

// validateName applies the DESIGN §2 name rule, [a-z_][a-z0-9_]{0,63}, to a
// stored (already lower-cased) name; a manifest names its own directory, so
// a bad name could point outside the storage tree.
func validateName(name, field string) error {
	bad := name == "" || len(name) > 64
	for i := 0; i < len(name) && !bad; i++ {
		c := name[i]
		switch {
		case c == '_' || (c >= 'a' && c <= 'z'):
		case c >= '0' && c <= '9' && i > 0:
		default:
			bad = true
		}
	}
	if bad {
		return kerr.New(kerr.Corruption, "manifest: %s %q does not match [a-z_][a-z0-9_]{0,63}", field, name)
	}
	return nil
}

// ValidateSuccessor checks that next may directly follow prev: same table id,
// version exactly prev.Version+1, and last_sequence_number not going down.
// It does not call Validate on either manifest. Errors are kerr.Corruption
// naming the field.
func ValidateSuccessor(prev, next *Manifest) error {
	if prev == nil || next == nil {
		return kerr.New(kerr.Corruption, "manifest: successor check needs two manifests")
	}
	if prev.TableID != next.TableID {
		return kerr.New(kerr.Corruption, "manifest: table_id changed from %s to %s", prev.TableID, next.TableID)
	}
	if prev.Version == ^uint64(0) || next.Version != prev.Version+1 {
		return kerr.New(kerr.Corruption, "manifest %s: version %d does not follow version %d",
			next.TableID, next.Version, prev.Version)
	}
	if next.LastSequenceNumber < prev.LastSequenceNumber {
		return kerr.New(kerr.Corruption, "manifest %s: last_sequence_number went down from %d to %d",
			next.TableID, prev.LastSequenceNumber, next.LastSequenceNumber)
	}
	return nil
}

// validateColumnStats checks what a segment's column statistics can be
// checked against without the column's type: min and max of the same JSON
// kind with min <= max (numbers numerically, strings bytewise, false before
// true), and no more nulls than the segment has rows. Scans prune segments
// by these statistics and the manifest has no checksum: a damaged value
// that contradicts itself is reported, not pruned by. A row count of 0 is
// not judged (see Validate).
func validateColumnStats(s *SegmentMetadata) error {
	names := make([]string, 0, len(s.ColumnStats))
	for name := range s.ColumnStats {
		names = append(names, name)
	}
	sort.Strings(names) // the first violation by name, the same every time
	for _, name := range names {
		cs := s.ColumnStats[name]
		if s.RowCount > 0 && cs.NullCount > s.RowCount {
			return kerr.New(kerr.Corruption, "%q: null_count %d is above row_count %d", name, cs.NullCount, s.RowCount)
		}
		if cs.Min == nil || cs.Max == nil {
			continue
		}
		c, ok := compareStat(cs.Min, cs.Max)
		if !ok {
			return kerr.New(kerr.Corruption, "%q: min %v (%T) and max %v (%T) are not values of one type", name, cs.Min, cs.Min, cs.Max, cs.Max)
		}
		if c > 0 {
			return kerr.New(kerr.Corruption, "%q: min %v is above max %v", name, cs.Min, cs.Max)
		}
	}
	return nil
}

// compareStat compares two decoded statistics (ColumnStat: bool, string,
// int64, uint64 or float64); ok is false when they are not of one kind.
func compareStat(a, b any) (int, bool) {
	switch x := a.(type) {
	case bool:
		y, ok := b.(bool)
		switch {
		case !ok:
			return 0, false
		case x == y:
			return 0, true
		case y:
			return -1, true
		}
		return 1, true
	case string:
		y, ok := b.(string)
		return strings.Compare(x, y), ok
	}
	x, ok1 := statNumber(a)
	y, ok2 := statNumber(b)
	if !ok1 || !ok2 {
		return 0, false
	}
	return x.Cmp(y), true
}

// statNumber is a numeric statistic as an exact big.Float (int64, uint64
// and float64 all convert exactly).
func statNumber(v any) (*big.Float, bool) {
	switch x := v.(type) {
	case int64:
		return new(big.Float).SetInt64(x), true
	case uint64:
		return new(big.Float).SetUint64(x), true
	case float64:
		if math.IsNaN(x) {
			return nil, false
		}
		return new(big.Float).SetFloat64(x), true
	}
	return nil, false
}
