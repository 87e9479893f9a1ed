package engine

import (
	"sync"
	"time"
)

// seqEpochMs is 2024-01-01T00:00:00Z: _seq counts milliseconds from there.
const seqEpochMs = 1704067200000

// seqGen hands out _seq values in the Snowflake layout of DESIGN §3:
// 41 bits of ms since 2024-01-01, 10 bits node id, 12 bits counter. Values
// are strictly increasing even when the clock steps back: the generator's
// notion of "now" never goes below the last value it issued (or the
// persisted high-water mark), and a full counter borrows the next millisecond.
type seqGen struct {
	mu     sync.Mutex
	node   int64
	lastMs int64
	ctr    int64
	now    func() int64 // ms since seqEpochMs; replaceable in tests
}

func newSeqGen(node, highWater int64) *seqGen {
	g := &seqGen{node: node & 0x3FF, now: func() int64 { return time.Now().UnixMilli() - seqEpochMs }}
	if highWater > 0 {
		g.lastMs = highWater >> 22
		g.ctr = highWater & 0xFFF
		// The node bits of the high-water mark may differ from ours; bumping the
		// counter past it keeps the next value strictly greater either way.
		if (highWater>>12)&0x3FF > g.node {
			g.lastMs++
			g.ctr = -1
		}
	} else {
		g.ctr = -1
	}
	return g
}

// next returns n strictly increasing values; the last is the new high water.
// The clock is read once per call, not per value: the values of one append
// take the time it started (a million rows read it a million times, 5 % of
// an append's CPU), and the counter borrows later milliseconds as before.
func (g *seqGen) next(n int, out []int64) []int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	for i := 0; i < n; i++ {
		if now > g.lastMs {
			g.lastMs, g.ctr = now, 0
		} else {
			g.ctr++
			if g.ctr > 0xFFF {
				g.lastMs++
				g.ctr = 0
			}
		}
		out = append(out, g.lastMs<<22|g.node<<12|g.ctr)
	}
	return out
}
