package manifest

import "testing"

func k(b ...byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func TestSegmentOverlaps(t *testing.T) {
	seg := SegmentMetadata{MinKey: k(10), MaxKey: k(20)}
	cases := []struct {
		name string
		r    KeyRange
		want bool
	}{
		{"unbounded", KeyRange{}, true},
		{"inside", KeyRange{Lo: k(12), Hi: k(15)}, true},
		{"covering", KeyRange{Lo: k(1), Hi: k(30)}, true},
		{"below", KeyRange{Lo: k(1), Hi: k(5), HiInclusive: true}, false},
		{"above", KeyRange{Lo: k(21)}, false},
		{"lo equals max", KeyRange{Lo: k(20)}, true},
		{"lo just above max", KeyRange{Lo: k(20, 0)}, false},
		{"inclusive hi equals min", KeyRange{Hi: k(10), HiInclusive: true}, true},
		{"exclusive hi equals min", KeyRange{Hi: k(10)}, false},
		{"exclusive hi just above min", KeyRange{Hi: k(10, 0)}, true},
		{"hi below min", KeyRange{Hi: k(9, 255), HiInclusive: true}, false},
		{"unbounded below, hi inside", KeyRange{Hi: k(15)}, true},
		{"unbounded above, lo inside", KeyRange{Lo: k(15)}, true},
		{"empty key lo", KeyRange{Lo: k()}, true},
		{"empty key exclusive hi", KeyRange{Hi: k()}, false},
		{"point at min", KeyRange{Lo: k(10), Hi: k(10), HiInclusive: true}, true},
		{"point at max", KeyRange{Lo: k(20), Hi: k(20), HiInclusive: true}, true},
		{"empty point range", KeyRange{Lo: k(15), Hi: k(15)}, false},
		{"inverted range", KeyRange{Lo: k(30), Hi: k(5), HiInclusive: true}, false},
	}
	for _, c := range cases {
		if got := seg.Overlaps(c.r); got != c.want {
			t.Errorf("%s: Overlaps(%+v) = %v, want %v", c.name, c.r, got, c.want)
		}
	}
	empty := SegmentMetadata{}
	if empty.Overlaps(KeyRange{}) {
		t.Error("a segment with null keys must not overlap anything")
	}
	half := SegmentMetadata{MinKey: k(1)}
	if half.Overlaps(KeyRange{}) {
		t.Error("a segment with one null key must not overlap anything")
	}
}

func TestSegmentWithin(t *testing.T) {
	seg := SegmentMetadata{MinKey: k(10), MaxKey: k(20)}
	cases := []struct {
		name string
		r    KeyRange
		want bool
	}{
		{"unbounded", KeyRange{}, true},
		{"exact, exclusive hi just above max", KeyRange{Lo: k(10), Hi: k(20, 0)}, true},
		{"exact, inclusive hi", KeyRange{Lo: k(10), Hi: k(20), HiInclusive: true}, true},
		{"exclusive hi equals max", KeyRange{Lo: k(10), Hi: k(20)}, false},
		{"lo just above min", KeyRange{Lo: k(10, 0)}, false},
		{"lo below min", KeyRange{Lo: k(9)}, true},
		{"empty key lo", KeyRange{Lo: k()}, true},
		{"straddles lo", KeyRange{Lo: k(15)}, false},
		{"straddles hi", KeyRange{Hi: k(15)}, false},
		{"inside the segment", KeyRange{Lo: k(12), Hi: k(15)}, false},
		{"disjoint", KeyRange{Lo: k(30)}, false},
		{"inverted range", KeyRange{Lo: k(30), Hi: k(5), HiInclusive: true}, false},
	}
	for _, c := range cases {
		if got := seg.Within(c.r); got != c.want {
			t.Errorf("%s: Within(%+v) = %v, want %v", c.name, c.r, got, c.want)
		}
	}
	if (&SegmentMetadata{}).Within(KeyRange{}) {
		t.Error("a segment with null keys holds no rows and is within no range")
	}
}

func TestKeyRangeContainsAndEmpty(t *testing.T) {
	r := KeyRange{Lo: k(5), Hi: k(9)}
	for key, want := range map[byte]bool{4: false, 5: true, 8: true, 9: false} {
		if got := r.Contains(k(key)); got != want {
			t.Errorf("Contains(%d) = %v, want %v", key, got, want)
		}
	}
	r.HiInclusive = true
	if !r.Contains(k(9)) || r.Contains(k(9, 0)) {
		t.Error("inclusive hi boundary wrong")
	}
	if !(KeyRange{}).Contains(k()) {
		t.Error("unbounded range must contain the empty key")
	}
	if (KeyRange{Lo: k(1), Hi: k(1), HiInclusive: true}).Empty() || !(KeyRange{Lo: k(1), Hi: k(1)}).Empty() ||
		!(KeyRange{Lo: k(2), Hi: k(1), HiInclusive: true}).Empty() || (KeyRange{Lo: k(2)}).Empty() {
		t.Error("Empty wrong")
	}
}

func TestRangesOverlap(t *testing.T) {
	cases := []struct {
		name                   string
		aMin, aMax, bMin, bMax []byte
		want                   bool
	}{
		{"disjoint below", k(1), k(2), k(3), k(4), false},
		{"disjoint above", k(5), k(6), k(3), k(4), false},
		{"touch at a max", k(1), k(3), k(3), k(4), true},
		{"touch at b max", k(4), k(6), k(3), k(4), true},
		{"nested", k(1), k(9), k(3), k(4), true},
		{"identical points", k(7), k(7), k(7), k(7), true},
		{"prefix keys", k(1), k(1), k(1, 0), k(2), false},
		{"b unbounded", k(1), k(2), nil, nil, true},
		{"b unbounded below, ends before a", k(5), k(6), nil, k(4), false},
		{"b unbounded below, reaches a", k(5), k(6), nil, k(5), true},
		{"a unbounded above, b below it", k(5), nil, k(1), k(4, 255), false},
		{"a unbounded above, b after start", k(5), nil, k(9), k(9), true},
		{"both unbounded", nil, nil, nil, nil, true},
		{"a inverted", k(5), k(1), k(0), k(9), false},
		{"b inverted", k(0), k(9), k(5), k(1), false},
		{"empty keys", k(), k(), k(), k(0), true},
	}
	for _, c := range cases {
		if got := RangesOverlap(c.aMin, c.aMax, c.bMin, c.bMax); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
		if got := RangesOverlap(c.bMin, c.bMax, c.aMin, c.aMax); got != c.want {
			t.Errorf("%s (swapped): got %v, want %v", c.name, got, c.want)
		}
	}
}
