package manifest

import "bytes"

// KeyRange is a range of encoded row keys used to prune segments. Lo is
// inclusive; Hi is inclusive when HiInclusive is set, exclusive otherwise.
// A nil bound is unbounded on that side; a non-nil empty slice is a real
// bound (the empty key, which sorts before every other key).
type KeyRange struct {
	Lo          []byte
	Hi          []byte
	HiInclusive bool
}

// Empty reports whether no key can fall in r (Lo above Hi, or Lo equal to an
// exclusive Hi).
func (r KeyRange) Empty() bool {
	if r.Lo == nil || r.Hi == nil {
		return false
	}
	c := bytes.Compare(r.Lo, r.Hi)
	return c > 0 || (c == 0 && !r.HiInclusive)
}

// Contains reports whether key lies in r.
func (r KeyRange) Contains(key []byte) bool {
	if r.Lo != nil && bytes.Compare(key, r.Lo) < 0 {
		return false
	}
	if r.Hi != nil {
		c := bytes.Compare(key, r.Hi)
		if c > 0 || (c == 0 && !r.HiInclusive) {
			return false
		}
	}
	return true
}

// Overlaps reports whether the segment's key span [min_key, max_key] meets r,
// i.e. whether the segment may hold a key in r and must be read. A segment
// with a null key holds no rows and never overlaps.
func (s *SegmentMetadata) Overlaps(r KeyRange) bool {
	if s.MinKey == nil || s.MaxKey == nil || r.Empty() {
		return false
	}
	if r.Lo != nil && bytes.Compare(s.MaxKey, r.Lo) < 0 {
		return false
	}
	if r.Hi != nil {
		c := bytes.Compare(s.MinKey, r.Hi)
		if c > 0 || (c == 0 && !r.HiInclusive) {
			return false
		}
	}
	return true
}

// Within reports whether the segment's whole key span [min_key, max_key]
// lies in r, so that every row it holds is in r and a reader bounded by r
// need not check its rows one by one. A segment with a null key (no rows)
// is within no range.
func (s *SegmentMetadata) Within(r KeyRange) bool {
	if s.MinKey == nil || s.MaxKey == nil || r.Empty() {
		return false
	}
	return r.Contains(s.MinKey) && r.Contains(s.MaxKey)
}

// RangesOverlap reports whether the inclusive key ranges [aMin, aMax] and
// [bMin, bMax] share a key. As in KeyRange, a nil bound is unbounded on that
// side, so callers holding a segment's keys must first exclude segments with
// null keys (SegmentMetadata.Overlaps does). A range whose min is above its
// max is empty and overlaps nothing.
func RangesOverlap(aMin, aMax, bMin, bMax []byte) bool {
	if isEmptyInclusive(aMin, aMax) || isEmptyInclusive(bMin, bMax) {
		return false
	}
	if aMin != nil && bMax != nil && bytes.Compare(bMax, aMin) < 0 {
		return false
	}
	if bMin != nil && aMax != nil && bytes.Compare(aMax, bMin) < 0 {
		return false
	}
	return true
}

func isEmptyInclusive(lo, hi []byte) bool {
	return lo != nil && hi != nil && bytes.Compare(lo, hi) > 0
}
