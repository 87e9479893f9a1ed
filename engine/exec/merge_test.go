package exec

import "testing"

// TestGallop: gallop and gallopFunc find the first key >= b in a sorted
// range.
func TestGallop(t *testing.T) {
	ks := []int64{1, 3, 3, 5, 8, 13, 21, 34, 55, 89}
	for from := 0; from <= len(ks); from++ {
		for limit := from; limit <= len(ks); limit++ {
			for b := int64(0); b <= 90; b++ {
				want := from
				for want < limit && ks[want] < b {
					want++
				}
				if got := gallop(ks, from, limit, b); got != want {
					t.Fatalf("gallop(from %d, limit %d, b %d) = %d, want %d", from, limit, b, got, want)
				}
				if got := gallopFunc(from, limit, func(i int) bool { return ks[i] >= b }); got != want {
					t.Fatalf("gallopFunc(from %d, limit %d, b %d) = %d, want %d", from, limit, b, got, want)
				}
			}
		}
	}
}
