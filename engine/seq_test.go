package engine

import "testing"

func TestSeqStrictlyIncreasingWithClockStepBack(t *testing.T) {
	clock := int64(1000)
	g := newSeqGen(5, 0)
	g.now = func() int64 { return clock }
	var prev int64
	for i := 0; i < 20000; i++ {
		if i == 5000 {
			clock = 10 // clock steps back
		}
		if i == 12000 {
			clock = 5000
		}
		v := g.next(1, nil)[0]
		if v <= prev {
			t.Fatalf("step %d: %d not > %d", i, v, prev)
		}
		if (v>>12)&0x3FF != 5 {
			t.Fatalf("node bits of %d = %d", v, (v>>12)&0x3FF)
		}
		prev = v
	}
	// A restart from the high-water mark with an earlier clock continues above it.
	g2 := newSeqGen(5, prev)
	g2.now = func() int64 { return 1 }
	if v := g2.next(1, nil)[0]; v <= prev {
		t.Fatalf("after restart %d not > high water %d", v, prev)
	}
	// A different (lower) node id after restart still continues above it.
	g3 := newSeqGen(1, prev)
	g3.now = func() int64 { return 1 }
	if v := g3.next(1, nil)[0]; v <= prev {
		t.Fatalf("after restart with node 1: %d not > %d", v, prev)
	}
}

// TestSeqReadsTheClockOncePerCall: the values of one call take the time it
// started and count up from there (borrowing later milliseconds past 4096
// values), with one clock read however many values it hands out.
func TestSeqReadsTheClockOncePerCall(t *testing.T) {
	g := newSeqGen(3, 0)
	reads := 0
	g.now = func() int64 { reads++; return 1000 + int64(reads) }
	vals := g.next(10_000, nil)
	if reads != 1 {
		t.Fatalf("%d clock reads for one call, want 1", reads)
	}
	if ms := vals[0] >> 22; ms != 1001 {
		t.Fatalf("first value at ms %d, want the clock's 1001", ms)
	}
	if ms := vals[len(vals)-1] >> 22; ms != 1001+10_000/4096 {
		t.Fatalf("last value at ms %d, want %d (4096 values per ms)", ms, 1001+10_000/4096)
	}
	for i := 1; i < len(vals); i++ {
		if vals[i] <= vals[i-1] {
			t.Fatalf("value %d (%d) not above the one before (%d)", i, vals[i], vals[i-1])
		}
	}
}
