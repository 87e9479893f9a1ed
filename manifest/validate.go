package manifest

import (
	"bytes"
	"path"
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
// last_sequence_number ≥ N for every path named data/segment_N.parquet.
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
