package engine

import (
	"math"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kalamdb/libkalam/engine/exec"
)

// pipeline builds the source of a planned table scan.
func (p *plan) pipeline() exec.Source {
	return p.pipelineOf(p.clusters, p.out, p.batch)
}

// pipelineOf builds the source of the given clusters of the plan (in key
// order), producing out (the plan's output or fewer columns) with no limit
// but the plan's.
func (p *plan) pipelineOf(clusters [][]*planInput, out *arrow.Schema, batch int64) exec.Source {
	var opens []func() (exec.Source, error)
	feeds := p.newFeedRuns(clusters, !p.deletedNamed, p.inputWork)
	for _, cl := range clusters {
		cl := cl
		opens = append(opens, func() (exec.Source, error) {
			srcs := make([]exec.Source, 0, len(cl))
			fail := func(err error) (exec.Source, error) {
				for _, s := range srcs {
					s.Close()
				}
				return nil, err
			}
			// An isolated input needs no key or _seq (nothing to merge) and
			// takes the whole predicate before any merge.
			isolated := len(cl) == 1
			work := p.work
			var mo exec.MergeOptions
			segInputs := 0
			if isolated {
				work = p.inputWork(cl[0])
			} else {
				mo = p.clusterMerge(cl)
				work = mo.Work
				for _, in := range cl {
					if in.seg != nil {
						segInputs++
					}
				}
			}
			for _, in := range cl {
				var s exec.Source
				var err error
				switch {
				case in.seg == nil:
					s, err = p.newHotSource(work, p.hotGens, p.keyLo, p.keyHi, in)
				case isolated:
					// Concatenated: read ahead across segments (feedRuns).
					s, err = feeds.source(in)
				default:
					s, err = p.newSegSource(in, work, mo.DropTombstones, segInputs)
				}
				if err != nil {
					return fail(err)
				}
				if !isolated && in.early && p.pred != nil {
					// The oldest input of its cluster: no older version can
					// reappear from under a row filtered out here.
					s = exec.NewFilter(s, p.pred, work, p.st.mem)
				}
				srcs = append(srcs, s)
			}
			in := srcs[0]
			if !isolated {
				mo.MinKeys = make([][]byte, len(cl))
				for i, in := range cl {
					if in.seg != nil {
						mo.MinKeys[i] = in.seg.MinKey
					}
				}
				m := exec.NewMerge(srcs, p.sv.keyer(mo.Work), mo, p.batch, p.st.mem)
				in, work = m, m.Schema()
			}
			if keyChecked(cl) {
				in = exec.NewKeyRange(in, p.sv.keyer(work), p.keyLo, p.keyHi, work, p.st.mem)
			}
			return exec.NewFilter(in, p.pred, work, p.st.mem), nil
		})
	}
	chain := exec.NewChain(opens, feeds.close)
	return exec.NewOutput(chain, out, p.req.Limit, batch, p.st.mem)
}

// clusterMerge decides how the cluster cl of a scan is merged. _seq is
// skipped (not even read) when no one asks for it, the key does not hold
// it, and the inputs' _seq ranges are disjoint: the newer input then wins
// every key they share. A segment's range is its manifest min_seq/max_seq;
// hot rows are newer than every segment row of the same read (see
// table.writeMu), so a hot input ranks above every segment. Tombstones are
// dropped by the merge unless _deleted is named.
func (p *plan) clusterMerge(cl []*planInput) exec.MergeOptions {
	mo := exec.MergeOptions{Work: p.work, BySeq: true, DropTombstones: !p.deletedNamed}
	if p.sv.keyHasSeq || p.seqNamed {
		return mo
	}
	type span struct{ lo, hi int64 }
	spans := make([]span, len(cl))
	for i, in := range cl {
		switch {
		case in.seg == nil:
			// Above every segment; two hot inputs overlap each other.
			spans[i] = span{math.MaxInt64, math.MaxInt64}
		case in.seg.MaxSeq <= 0 || in.seg.MinSeq > in.seg.MaxSeq:
			return mo // a segment whose range is not recorded
		default:
			spans[i] = span{in.seg.MinSeq, in.seg.MaxSeq}
		}
	}
	order := make([]int, len(cl))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return spans[order[a]].lo < spans[order[b]].lo })
	for j := 1; j < len(order); j++ {
		if spans[order[j]].lo <= spans[order[j-1]].hi {
			return mo // overlapping ranges (a compaction's output, say): compare _seq
		}
	}
	mo.Ranks = make([]int, len(cl))
	for rank, i := range order {
		mo.Ranks[i] = rank
	}
	mo.BySeq = false
	mo.Work = exec.WithoutField(p.work, colSeq)
	return mo
}
