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
