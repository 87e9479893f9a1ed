package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kalamdb/libkalam/engine/filter"
	"github.com/kalamdb/libkalam/engine/keyenc"
	"github.com/kalamdb/libkalam/engine/segment"
	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/manifest"
)

const defaultBatchRows = 64 * 1024

// Prune reasons of explain (DESIGN §4; fixed names).
const (
	pruneKeyRange      = "key_range"
	pruneColumnStats   = "column_stats"
	pruneRowGroupStats = "row_group_stats"
)

// plan is a planned table scan: its snapshot, inputs and how they combine.
type plan struct {
	readCtx
	req  ScanRequest
	stop context.CancelFunc // cancels readCtx.ctx
	pred *filter.Predicate

	fs       *arrow.Schema   // what the filter may name: user columns, _seq, _deleted
	keyNames map[string]bool // the key's components

	work     *arrow.Schema // columns merged inputs produce: needed and key columns, _seq, _deleted
	isoWork  *arrow.Schema // columns an isolated input produces: output and filter columns, _deleted
	outNames []string
	out      *arrow.Schema

	// deletedNamed: the output or the filter names _deleted, so inputs
	// keep it even when their statistics show no tombstone.
	deletedNamed bool
	seqNamed     bool // likewise _seq: merges compare it rather than skip it

	keyLo, keyHi []byte // encoded key bounds, Hi exclusive; nil = unbounded
	empty        bool   // the filter admits no key at all
	// rowBounds: rows outside [keyLo, keyHi) are dropped by key (a split's
	// range; the filter's own bounds need no such stage).
	rowBounds bool

	hotGens []uint64 // hot generations holding rows, oldest first
	// hotLo/hotHi: the range of the single hot input when hot keys were too
	// many to place one by one (explain).
	hotLo, hotHi []byte
	inputs       []*planInput // after pruning, ordered by min key
	pruned       []prunedSeg
	clusters     [][]*planInput
}

type planInput struct {
	seg *manifest.SegmentMetadata // nil for hot rows
	hot bool
	// hotLo/hotHi bound the hot keys the input reads ([lo, hi), nil:
	// the scan's bounds).
	hotLo, hotHi []byte
	// hotKeys: for hot rows placed key by key (not a range), the keys,
	// sorted; a dataset export reads the segment row groups none of them
	// falls in as they are.
	hotKeys [][]byte
	// early: pruned by statistics and filtered before any merge (DESIGN §4).
	early     bool
	minKey    []byte
	maxKey    []byte
	rowGroups []int // nil = all
	// pageRanges narrows row groups to the rows of the pages whose key
	// bounds (Parquet page index) meet the filter; absent: the whole group.
	pageRanges map[int][]rowRange
	file       *segFile
	isolated   bool
	// keyChecked: the scan is bounded by key (a split) and the segment's
	// key span is not within the bounds, so the rows of its cluster are
	// checked against them one by one. Hot inputs never are: their
	// iterator stops at the bounds.
	keyChecked bool
}

type prunedSeg struct {
	SegmentID string `json:"segment_id"`
	Path      string `json:"path"`
	Reason    string `json:"reason"`
}

// resolveColumns maps requested names onto the table (exact, then
// case-insensitive) and returns the output schema.
func resolveColumns(full *arrow.Schema, requested []string, def []string, what string) ([]string, *arrow.Schema, error) {
	names := requested
	if names == nil {
		names = def
	}
	fields := make([]arrow.Field, 0, len(names))
	out := make([]string, 0, len(names))
	seen := map[string]bool{}
	for _, n := range names {
		i := columnIndex(full, n)
		if i < 0 {
			return nil, nil, kerr.New(kerr.InvalidArgument, "%s: unknown column %q", what, n)
		}
		f := full.Field(i)
		if seen[f.Name] {
			return nil, nil, kerr.New(kerr.InvalidArgument, "%s: column %q requested twice", what, n)
		}
		seen[f.Name] = true
		fields = append(fields, f)
		out = append(out, f.Name)
	}
	return out, arrow.NewSchema(fields, nil), nil
}

func userColumnNames(s *arrow.Schema) []string {
	out := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		out[i] = f.Name
	}
	return out
}

// planScan plans a scan of t. The caller releases p.rs (and closes files)
// through p.close unless it hands them to a stream.
func (st *store) planScan(t *table, req ScanRequest) (p *plan, err error) {
	version, err := st.resolveVersion(t, req)
	if err != nil {
		return nil, err
	}
	rs, err := st.acquire(t, version)
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	// rs.t: a storage-only reader may have reloaded the table. The schema
	// of the version read: its names are what the projection and the
	// filter use (DESIGN §3.2).
	p = &plan{readCtx: newReadCtx(ctx, st, rs.t, rs, rs.view, req.BatchRows), req: req, stop: stop}
	planned := p
	defer func() {
		if err != nil {
			planned.close() // p is nil by then
		}
	}()
	sv := p.sv
	fs := sv.filterSchema() // user columns plus _seq and _deleted
	p.fs = fs
	p.keyNames = map[string]bool{}
	for _, kc := range sv.keyColumns() {
		p.keyNames[kc.Name] = true
	}
	what := "scan " + t.qname
	if p.outNames, p.out, err = resolveColumns(fs, req.Columns, userColumnNames(sv.schema), what); err != nil {
		return nil, err
	}
	// Output fields keep the table's nullability (segments store non-key
	// columns as nullable only to hold tombstones, which never reach output).
	if p.pred, err = filter.Compile(req.Filter, fs); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	needed := map[string]bool{}
	for _, n := range p.outNames {
		needed[n] = true
	}
	if p.pred != nil {
		for _, c := range p.pred.Columns() {
			needed[c] = true
		}
	}
	p.deletedNamed = needed[colDeleted]
	p.seqNamed = needed[colSeq]
	// An isolated input (nothing to merge with) reads only what the output
	// and the filter name, plus _deleted to drop tombstones.
	segSchema := sv.segmentSchema()
	var isoFields []arrow.Field
	for _, f := range segSchema.Fields() {
		if needed[f.Name] || f.Name == colDeleted {
			isoFields = append(isoFields, f)
		}
	}
	p.isoWork = arrow.NewSchema(isoFields, nil)
	// Merged inputs also need the key columns and _seq.
	for _, k := range sv.keyCols {
		needed[sv.schema.Field(k).Name] = true
	}
	var wf []arrow.Field
	for _, f := range segSchema.Fields() {
		if needed[f.Name] || f.Name == colSeq || f.Name == colDeleted {
			wf = append(wf, f)
		}
	}
	p.work = arrow.NewSchema(wf, nil)
	p.deriveKeyRange()
	if req.keyBounded {
		p.narrowRange(req.keyLo, req.keyHi)
		// Rows outside the split's range are dropped by key where a
		// segment's span is not within it (planInput.keyChecked).
		p.rowBounds = true
	}
	if err := p.chooseInputs(); err != nil {
		return nil, err
	}
	return p, nil
}

// planKeyRange plans a read of every user column of the latest version,
// newest version per key, for keys in [lo, hi).
func (st *store) planKeyRange(t *table, sv *schemaView, lo, hi []byte) (*plan, error) {
	rs, err := st.acquire(t, 0)
	if err != nil {
		return nil, err
	}
	p := &plan{readCtx: newReadCtx(context.Background(), st, t, rs, sv, defaultBatchRows), req: ScanRequest{Limit: -1}}
	p.fs = sv.filterSchema()
	p.keyNames = map[string]bool{}
	p.outNames = userColumnNames(sv.schema)
	p.out = arrow.NewSchema(sv.schema.Fields(), nil)
	p.work = sv.segmentSchema()
	p.isoWork = p.work
	p.setRange(lo, hi)
	if err := p.chooseInputs(); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func (p *plan) close() {
	if p.stop != nil {
		p.stop()
	}
	for _, in := range p.inputs {
		if in.file != nil {
			in.file.close()
			in.file = nil
		}
	}
	p.rs.release(p.st)
}

// deriveKeyRange turns the filter's per-column ranges on the key columns
// into encoded key bounds: equality on a key prefix extends the prefix, the
// first range column bounds it.
func (p *plan) deriveKeyRange() {
	if p.pred == nil {
		return
	}
	var prefix []byte
	for _, kc := range p.sv.keyColumns() {
		iv := p.pred.Range(kc.Name)
		if iv.Empty || (!iv.Null && !iv.NonNull) {
			p.empty = true
			return
		}
		if iv.Null && !iv.NonNull {
			prefix = keyenc.AppendNull(prefix)
			continue
		}
		if !iv.Null && !iv.LoUnbounded && !iv.HiUnbounded && iv.LoInclusive && iv.HiInclusive &&
			filter.Compare(kc.Type, iv.Lo, iv.Hi) == 0 {
			enc, err := keyenc.AppendGo(prefix, kc.Type, iv.Lo)
			if err != nil {
				break
			}
			prefix = enc
			continue
		}
		lo := append([]byte(nil), prefix...)
		if !iv.Null && !iv.LoUnbounded {
			if enc, err := keyenc.AppendGo(append([]byte(nil), prefix...), kc.Type, iv.Lo); err == nil {
				lo = enc
				if !iv.LoInclusive {
					lo = keyenc.PrefixEnd(enc)
				}
			}
		}
		hi := keyenc.PrefixEnd(prefix)
		if !iv.HiUnbounded {
			if enc, err := keyenc.AppendGo(append([]byte(nil), prefix...), kc.Type, iv.Hi); err == nil {
				hi = enc
				if iv.HiInclusive {
					hi = keyenc.PrefixEnd(enc)
				}
			}
		}
		p.setRange(lo, hi)
		return
	}
	p.setRange(prefix, keyenc.PrefixEnd(prefix))
}

func (p *plan) setRange(lo, hi []byte) {
	if len(lo) > 0 {
		p.keyLo = lo
	}
	p.keyHi = hi
	if lo != nil && hi != nil && bytes.Compare(lo, hi) >= 0 {
		p.empty = true
	}
}

// narrowRange intersects the scan's key bounds with [lo, hi) (nil:
// unbounded).
func (p *plan) narrowRange(lo, hi []byte) {
	nlo, nhi := p.keyLo, p.keyHi
	if lo != nil && (nlo == nil || bytes.Compare(lo, nlo) > 0) {
		nlo = lo
	}
	if hi != nil && (nhi == nil || bytes.Compare(hi, nhi) < 0) {
		nhi = hi
	}
	p.setRange(nlo, nhi)
}

func (p *plan) keyRange() manifest.KeyRange {
	return manifest.KeyRange{Lo: p.keyLo, Hi: p.keyHi}
}

// inputWork is the schema the input in is read with: an isolated input
// (nothing to merge) only what the output and the filter name, unless its
// rows are checked by key; a merged one also the key and _seq.
func (p *plan) inputWork(in *planInput) *arrow.Schema {
	if in.isolated && !in.keyChecked {
		return p.isoWork
	}
	return p.work
}

// keyChecked reports whether the rows of cluster cl must be checked
// against the scan's key bounds (see planInput.keyChecked).
func keyChecked(cl []*planInput) bool {
	for _, in := range cl {
		if in.keyChecked {
			return true
		}
	}
	return false
}

// clip narrows [min, max] to the scan's key bounds (for overlap decisions).
func (p *plan) clip(min, max []byte) ([]byte, []byte) {
	if p.keyLo != nil && bytes.Compare(min, p.keyLo) < 0 {
		min = p.keyLo
	}
	if p.keyHi != nil && bytes.Compare(max, p.keyHi) >= 0 {
		max = p.keyHi // exclusive bound used as an inclusive one: conservative
	}
	return min, max
}

// maxPreciseHotKeys bounds the hot keys a plan looks at one by one to
// decide which segments they overlap (DESIGN §4: a handful of hot keys
// makes only the segments that hold them overlap). Beyond it, the hot rows
// are one input spanning their key range.
const maxPreciseHotKeys = 8192

func (p *plan) chooseInputs() error {
	man := p.rs.man
	if p.empty {
		for _, s := range man.LiveSegments() {
			p.pruned = append(p.pruned, prunedSeg{s.ID, s.Path, pruneKeyRange})
		}
		return nil
	}
	kr := p.keyRange()
	var segs []*planInput
	live := man.LiveSegments()
	for i := range live {
		s := &live[i]
		if s.RowCount == 0 || !s.Overlaps(kr) {
			p.pruned = append(p.pruned, prunedSeg{s.ID, s.Path, pruneKeyRange})
			continue
		}
		mn, mx := p.clip(s.MinKey, s.MaxKey)
		segs = append(segs, &planInput{seg: s, minKey: mn, maxKey: mx, keyChecked: p.rowBounds && !s.Within(kr)})
	}
	sort.SliceStable(segs, func(i, j int) bool { return bytes.Compare(segs[i].minKey, segs[j].minKey) < 0 })
	clusters, err := p.cluster(segs)
	if err != nil {
		return err
	}
	for _, cl := range clusters {
		markEarly(cl)
	}
	// Statistics pruning: key-column statistics prune any input; statistics
	// of other columns only an input that may be filtered before the merge
	// (DESIGN §4 pushdown rule).
	var kept [][]*planInput
	for _, cl := range clusters {
		var keep []*planInput
		for _, in := range cl {
			if in.seg == nil {
				keep = append(keep, in)
				continue
			}
			reason, err := p.pruneByStats(in)
			if err != nil {
				return err
			}
			if reason != "" {
				p.pruned = append(p.pruned, prunedSeg{in.seg.ID, in.seg.Path, reason})
				if in.file != nil {
					in.file.close()
					in.file = nil
				}
				continue
			}
			keep = append(keep, in)
		}
		if len(keep) > 0 {
			kept = append(kept, keep)
			p.inputs = append(p.inputs, keep...)
		}
	}
	p.clusters = kept
	return nil
}

// cluster groups the segments (sorted by min key) and the hot rows into
// clusters of inputs whose keys may meet, in key order. Hot rows join a
// cluster only where a hot key falls inside a segment's range; hot keys in
// no segment's range form hot-only clusters between them.
func (p *plan) cluster(segs []*planInput) ([][]*planInput, error) {
	// Connected components of overlapping segment ranges.
	var comps [][]*planInput
	var curMax []byte
	for _, c := range segs {
		if len(comps) > 0 && bytes.Compare(c.minKey, curMax) <= 0 {
			comps[len(comps)-1] = append(comps[len(comps)-1], c)
			if bytes.Compare(c.maxKey, curMax) > 0 {
				curMax = c.maxKey
			}
			continue
		}
		comps = append(comps, []*planInput{c})
		curMax = c.maxKey
	}
	hv, ok := p.rs.hot(p.st)
	if !ok {
		return comps, nil
	}
	gens, err := hv.gens()
	if err != nil {
		return nil, err
	}
	p.hotGens = gens
	if len(gens) == 0 {
		return comps, nil
	}
	keys, precise, err := p.hotKeys(hv, gens)
	if err != nil || len(keys) == 0 {
		return comps, err
	}
	if !precise {
		// Too many hot keys to place one by one: the hot rows are one input
		// spanning their range, and every segment it meets merges with it.
		hot := &planInput{hot: true, minKey: keys[0], maxKey: keys[1]}
		all := append(append([]*planInput(nil), segs...), hot)
		sort.SliceStable(all, func(i, j int) bool { return bytes.Compare(all[i].minKey, all[j].minKey) < 0 })
		p.hotLo, p.hotHi = keys[0], keyAfter(keys[1])
		return p.clusterRanges(all), nil
	}
	// Place each hot key: inside a component's [min, max], or between.
	var out [][]*planInput
	ki := 0
	flushHotOnly := func(limit []byte) {
		// Hot keys below limit (nil: all) that no component holds: one
		// hot-only cluster.
		start := ki
		for ki < len(keys) && (limit == nil || bytes.Compare(keys[ki], limit) < 0) {
			ki++
		}
		if ki > start {
			lo, hi := keys[start], keys[ki-1]
			out = append(out, []*planInput{{hot: true, minKey: lo, maxKey: hi, hotLo: lo, hotHi: keyAfter(hi)}})
		}
	}
	for _, comp := range comps {
		lo, hi := comp[0].minKey, comp[0].maxKey
		for _, c := range comp[1:] {
			if bytes.Compare(c.maxKey, hi) > 0 {
				hi = c.maxKey
			}
		}
		flushHotOnly(lo)
		start := ki
		for ki < len(keys) && bytes.Compare(keys[ki], hi) <= 0 {
			ki++
		}
		if ki > start {
			comp = append(comp, &planInput{hot: true, minKey: keys[start], maxKey: keys[ki-1], hotLo: lo, hotHi: keyAfter(hi),
				hotKeys: keys[start:ki]})
		}
		out = append(out, comp)
	}
	flushHotOnly(nil)
	return out, nil
}

// clusterRanges groups inputs (sorted by min key) into connected
// components of overlapping ranges.
func (p *plan) clusterRanges(all []*planInput) [][]*planInput {
	var out [][]*planInput
	var curMax []byte
	for _, c := range all {
		if len(out) > 0 && bytes.Compare(c.minKey, curMax) <= 0 {
			out[len(out)-1] = append(out[len(out)-1], c)
			if bytes.Compare(c.maxKey, curMax) > 0 {
				curMax = c.maxKey
			}
			continue
		}
		out = append(out, []*planInput{c})
		curMax = c.maxKey
	}
	return out
}

// markEarly flags the inputs of a cluster that may be pruned by statistics
// and filtered before the merge (DESIGN §4): an isolated input, and one
// that every other input of its cluster is newer than (by _seq), so that
// no older input can hold a key it holds. Hot rows are the newest input.
func markEarly(cl []*planInput) {
	if len(cl) == 1 {
		cl[0].isolated = true
		cl[0].early = true
		return
	}
	for _, in := range cl {
		if in.seg == nil {
			continue
		}
		oldest := true
		for _, o := range cl {
			if o != in && o.seg != nil && o.seg.MinSeq <= in.seg.MaxSeq {
				oldest = false
				break
			}
		}
		in.early = oldest
	}
}

// hotKeys returns the distinct hot keys inside the scan's bounds, sorted,
// when there are at most maxPreciseHotKeys (precise); else the smallest
// and a bound at or above the largest, as [2]key (not precise). The
// largest key is found without a reverse seek: RocksDB 7.8 positions a
// reverse iterator in time proportional to the range-deleted entries
// before it, which flushed generations leave behind.
func (p *plan) hotKeys(hv hotView, gens []uint64) (keys [][]byte, precise bool, err error) {
	it := hv.iter(gens, p.keyLo, p.keyHi)
	defer it.Close()
	for it.First(); it.Valid(); it.NextKey() {
		k, _, _, _ := it.Entry()
		if len(keys) == maxPreciseHotKeys {
			// Too many: the largest hot key written (writers keep it) bounds
			// the rest.
			hi := p.t.hotMaxKey(gens)
			if p.keyHi != nil && (hi == nil || bytes.Compare(hi, p.keyHi) >= 0) {
				hi = p.keyHi
			}
			if hi == nil || bytes.Compare(hi, keys[0]) < 0 {
				hi = k
			}
			return [][]byte{keys[0], append([]byte(nil), hi...)}, false, nil
		}
		keys = append(keys, append([]byte(nil), k...))
	}
	return keys, true, it.Err()
}

// keyAfter is an exclusive bound just above key k: above every hot entry
// of k (k followed by its _seq) and below every other full key, since full
// keys are prefix-free.
func keyAfter(k []byte) []byte { return keyenc.PrefixEnd(k) }

func (p *plan) isKeyColumn(name string) bool { return p.keyNames[name] }

// segmentName is the name the column col (of the plan's schema) had when
// seg was written — what its statistics and file use — and false when it
// did not exist yet (DESIGN §3.2: pruning keeps working across renames).
func (p *plan) segmentName(seg *manifest.SegmentMetadata, col string) (string, bool) {
	i := p.sv.column(col)
	if i < 0 {
		return col, true // _seq, _deleted
	}
	old := p.t.viewOf(seg.SchemaVersion)
	j, ok := old.byFID[p.sv.fids[i]]
	if !ok {
		return "", false
	}
	return old.schema.Field(j).Name, true
}

// pruneByStats returns a prune reason, or "" when the input must be read. It
// opens the segment's footer and fills in.rowGroups.
func (p *plan) pruneByStats(in *planInput) (string, error) {
	if p.pred == nil {
		return "", nil
	}
	segStats := func(keyOnly bool) func(string) (filter.ColumnStats, bool) {
		return func(col string) (filter.ColumnStats, bool) {
			if keyOnly && !p.isKeyColumn(col) {
				return filter.ColumnStats{}, false
			}
			name, existed := p.segmentName(in.seg, col)
			if !existed {
				// Added after the segment was written: null in every row.
				n := int64(in.seg.RowCount)
				return filter.ColumnStats{NullCount: n, HasNullCount: true, RowCount: n, NaNFree: true}, true
			}
			cs, ok := in.seg.ColumnStats[name]
			if !ok {
				return filter.ColumnStats{}, false
			}
			f, ok := p.fs.FieldsByName(col)
			if !ok {
				return filter.ColumnStats{}, false
			}
			mn, ok1 := statValue(f[0].Type, cs.Min)
			mx, ok2 := statValue(f[0].Type, cs.Max)
			return filter.ColumnStats{Min: mn, Max: mx, HasMinMax: ok1 && ok2, NullCount: int64(cs.NullCount),
				HasNullCount: true, RowCount: int64(in.seg.RowCount), NaNFree: true}, true
		}
	}
	if !p.pred.MayMatch(segStats(!in.early)) {
		return pruneColumnStats, nil
	}
	sf, err := p.st.openSegment(p.t, in.seg)
	if err != nil {
		return "", err
	}
	in.file = sf
	if sf.nf == nil {
		return "", nil // a footer only pqarrow reads: no statistics, read it all
	}
	nrg := sf.nf.NumRowGroups()
	var rgs []int
	for rg := 0; rg < nrg; rg++ {
		stats := func(col string) (filter.ColumnStats, bool) {
			if !in.early && !p.isKeyColumn(col) {
				return filter.ColumnStats{}, false
			}
			name, existed := p.segmentName(in.seg, col)
			if !existed {
				return filter.ColumnStats{}, false // pruned by the segment's statistics already
			}
			cs, ok := p.rowGroupStats(sf, rg, name, col)
			cs.NaNFree = p.nanFree(in, name)
			return cs, ok
		}
		if p.pred.MayMatch(stats) {
			rgs = append(rgs, rg)
		}
	}
	rgs, err = p.prunePages(in, rgs)
	if err != nil {
		return "", err
	}
	if len(rgs) == 0 {
		return pruneRowGroupStats, nil
	}
	if len(rgs) < nrg {
		in.rowGroups = rgs
	}
	return "", nil
}

// nanFree: Parquet leaves NaN out of min/max; the segment's own statistics
// have min/max only when the column holds no NaN at all.
func (p *plan) nanFree(in *planInput, stored string) bool {
	seg, has := in.seg.ColumnStats[stored]
	return has && seg.Min != nil && seg.Max != nil
}

// prunePages narrows the row groups rgs of in to the pages of the first
// key column whose bounds (Parquet page index) the filter may match: a
// key-range scan then decodes about the pages that hold its keys instead
// of whole row groups. Key predicates may prune every input (DESIGN §4).
// It returns the row groups left.
func (p *plan) prunePages(in *planInput, rgs []int) ([]int, error) {
	key := p.sv.keyColumns()[0].Name
	stored, existed := p.segmentName(in.seg, key)
	sf := in.file
	col := -1
	if existed {
		col = sf.nf.ColumnIndex(stored)
	}
	if col < 0 {
		return rgs, nil
	}
	nanFree := p.nanFree(in, stored)
	var kept []int
	for _, rg := range rgs {
		pages, ok, err := sf.nf.PageIndex(rg, col)
		switch {
		case errors.Is(err, segment.ErrCorrupt):
			return nil, kerr.Wrap(kerr.Corruption, err, "page index of segment %s", sf.path)
		case err != nil || !ok:
			kept = append(kept, rg) // no (usable) page index: the whole group
			continue
		}
		var ranges []rowRange
		for _, pg := range pages {
			cs := p.parquetStats(sf.nf.Column(col), key, pg.Min, pg.Max, pg.HasMinMax, pg.NullCount, pg.HasNullCount, pg.NumRows)
			if pg.AllNull {
				cs.NullCount, cs.HasNullCount = pg.NumRows, true
			}
			cs.NaNFree = nanFree
			if !p.pred.MayMatch(func(c string) (filter.ColumnStats, bool) { return cs, c == key }) {
				continue
			}
			if n := len(ranges); n > 0 && ranges[n-1].first+ranges[n-1].n == pg.FirstRow {
				ranges[n-1].n += pg.NumRows
			} else {
				ranges = append(ranges, rowRange{pg.FirstRow, pg.NumRows})
			}
		}
		if len(ranges) == 0 {
			continue
		}
		kept = append(kept, rg)
		if len(ranges) == 1 && ranges[0].first == 0 && ranges[0].n == sf.nf.RowGroupNumRows(rg) {
			continue // every page: the whole group
		}
		if in.pageRanges == nil {
			in.pageRanges = map[int][]rowRange{}
		}
		in.pageRanges[rg] = ranges
	}
	return kept, nil
}

// statValue converts a manifest column_stats JSON value (number, string,
// bool) to a filter Value of type t.
func statValue(t arrow.DataType, v any) (any, bool) {
	switch x := v.(type) {
	case nil:
		return nil, false
	case string:
		if t.ID() == arrow.STRING || t.ID() == arrow.LARGE_STRING {
			return x, true
		}
	case bool:
		if t.ID() == arrow.BOOL {
			return x, true
		}
	case int64:
		return numStat(t, float64(x), x, uint64(x), true)
	case uint64:
		return numStat(t, float64(x), int64(x), x, x <= 1<<63-1)
	case float64:
		return numStat(t, x, int64(x), uint64(x), x == float64(int64(x)))
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return numStat(t, float64(i), i, uint64(i), i >= 0 || !isUnsigned(t))
		}
		if f, err := x.Float64(); err == nil {
			return numStat(t, f, int64(f), uint64(f), false)
		}
	}
	return nil, false
}

func isUnsigned(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return true
	}
	return false
}

func numStat(t arrow.DataType, f float64, i int64, u uint64, exact bool) (any, bool) {
	switch t.ID() {
	case arrow.FLOAT32, arrow.FLOAT64:
		return f, true
	case arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return u, exact
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.DATE32, arrow.DATE64,
		arrow.TIMESTAMP, arrow.TIME32, arrow.TIME64, arrow.DURATION:
		return i, exact
	}
	return nil, false
}

// rowGroupStats reads the Parquet statistics of the stored column of row
// group rg as filter statistics of the plan's column col.
func (p *plan) rowGroupStats(sf *segFile, rg int, stored, col string) (filter.ColumnStats, bool) {
	c := sf.nf.ColumnIndex(stored)
	if c < 0 {
		return filter.ColumnStats{}, false
	}
	st, ok := sf.nf.Statistics(rg, c)
	if !ok {
		return filter.ColumnStats{}, false
	}
	return p.parquetStats(sf.nf.Column(c), col, st.Min, st.Max, st.HasMinMax, st.NullCount, st.HasNullCount, sf.nf.RowGroupNumRows(rg)), true
}

// parquetStats turns Parquet statistics (min/max PLAIN-encoded, of a row
// group or a page) of the stored column ci into filter statistics of the
// plan's column col. Min/max are used only where the Parquet values
// compare like the column's: the one place for that rule. The values are
// of the column's layout in the segment (storedForm), scaled back where
// that counts in a finer unit.
func (p *plan) parquetStats(ci segment.ColumnInfo, col string, min, max []byte, hasMinMax bool, nulls int64, hasNulls bool, rows int64) filter.ColumnStats {
	out := filter.ColumnStats{RowCount: rows, NullCount: nulls, HasNullCount: hasNulls}
	fields, ok := p.fs.FieldsByName(col)
	if !ok || !hasMinMax {
		return out
	}
	typ := fields[0].Type
	form, factor, ok := storedForm(ci.Type, typ)
	if !ok {
		return out
	}
	var want func(any) bool
	isInt := func(v any) bool { _, ok := v.(int64); return ok }
	switch ci.PhysicalType {
	case "INT32":
		switch typ.ID() {
		case arrow.INT8, arrow.INT16, arrow.INT32, arrow.DATE32, arrow.TIME32:
			want = isInt
		case arrow.DATE64:
			if form == formDateDay {
				want = isInt
			}
		}
	case "INT64":
		switch typ.ID() {
		case arrow.INT64, arrow.TIME64, arrow.DURATION, arrow.TIMESTAMP, arrow.DATE64:
			want = isInt
		case arrow.TIME32: // time32[s] as time64[us]
			if form == formScaled {
				want = isInt
			}
		}
	case "FLOAT":
		if typ.ID() == arrow.FLOAT32 {
			want = func(v any) bool { _, ok := v.(float64); return ok }
		}
	case "DOUBLE":
		if typ.ID() == arrow.FLOAT64 {
			want = func(v any) bool { _, ok := v.(float64); return ok }
		}
	case "BYTE_ARRAY":
		if typ.ID() == arrow.STRING || typ.ID() == arrow.LARGE_STRING {
			want = func(v any) bool { _, ok := v.(string); return ok }
		}
	case "BOOLEAN":
		if typ.ID() == arrow.BOOL {
			want = func(v any) bool { _, ok := v.(bool); return ok }
		}
	}
	if want == nil {
		return out
	}
	mn, err1 := ci.StatValue(min)
	mx, err2 := ci.StatValue(max)
	if err1 != nil || err2 != nil || !want(mn) || !want(mx) {
		return out
	}
	switch form {
	case formScaled: // bounds of the values, whole or not
		mn, mx = floorDiv(mn.(int64), factor), -floorDiv(-mx.(int64), factor)
	case formDateDay:
		mn, mx = mn.(int64)*factor, mx.(int64)*factor
	}
	out.Min, out.Max, out.HasMinMax = mn, mx, true
	return out
}

// floorDiv is a / b rounded down (b > 0).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// explainJSON renders the plan as DESIGN §4's explain document.
func (p *plan) explainJSON() ([]byte, error) {
	type rangeEntry struct {
		RowGroup int   `json:"row_group"`
		FirstRow int64 `json:"first_row"`
		NumRows  int64 `json:"num_rows"`
	}
	type readEntry struct {
		SegmentID string `json:"segment_id"`
		Path      string `json:"path"`
		RowGroups []int  `json:"row_groups"`
		Rows      uint64 `json:"row_count"`
		// Reader: "narrow" (the segment reader of package segment),
		// "pqarrow" (arrow-go's, for files or columns the narrow reader
		// does not take) or "mixed"; PqarrowColumns names the columns
		// pqarrow reads, with the reason ("*": the whole file).
		Reader         string            `json:"reader"`
		PqarrowColumns map[string]string `json:"pqarrow_columns,omitempty"`
		// RowRanges: row groups narrowed by the page index of the key.
		RowRanges []rangeEntry `json:"row_ranges,omitempty"`
		// KeyChecked: a split's segment whose key span is not within the
		// split's range, so its rows are checked by key.
		KeyChecked bool `json:"key_checked,omitempty"`
	}
	read := []readEntry{}
	for _, in := range p.inputs {
		if in.seg == nil {
			continue
		}
		// How the pipeline would read it (opens the footer; the plan
		// closes the file).
		var taskCap int64
		if !in.isolated {
			taskCap = mergeTaskRows // explain shows readers, not tasks
		}
		sp, err := p.prepareSeg(in, p.inputWork(in), in.isolated && !p.deletedNamed, taskCap)
		if err != nil {
			return nil, err
		}
		rgs := in.rowGroups
		if rgs == nil {
			rgs = []int{}
			for i := 0; i < in.file.numRowGroups(); i++ {
				rgs = append(rgs, i)
			}
		}
		e := readEntry{SegmentID: in.seg.ID, Path: in.seg.Path, RowGroups: rgs, Rows: in.seg.RowCount, KeyChecked: in.keyChecked}
		e.Reader, e.PqarrowColumns = sp.reader()
		for _, rg := range rgs {
			for _, r := range in.pageRanges[rg] {
				e.RowRanges = append(e.RowRanges, rangeEntry{rg, r.first, r.n})
			}
		}
		read = append(read, e)
	}
	pruned := p.pruned
	if pruned == nil {
		pruned = []prunedSeg{}
	}
	merge := "concat"
	for _, cl := range p.clusters {
		if len(cl) > 1 {
			merge = "newest_wins"
		}
	}
	keyRange := map[string]any{"lo": hexOrNil(p.keyLo), "hi": hexOrNil(p.keyHi), "hi_inclusive": false, "empty": p.empty}
	doc := map[string]any{
		"table":      p.t.qname,
		"version":    p.rs.man.Version,
		"filter":     p.req.Filter,
		"key_range":  keyRange,
		"hot":        p.hasHot(),
		"read":       read,
		"pruned":     pruned,
		"merge":      merge,
		"columns":    p.outNames,
		"batch_rows": p.batch,
	}
	if p.pred != nil {
		doc["filter"] = p.pred.String()
	}
	if p.req.Limit >= 0 {
		doc["limit"] = p.req.Limit
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func hexOrNil(b []byte) any {
	if b == nil {
		return nil
	}
	return fmt.Sprintf("%x", b)
}

// hasHot reports whether hot rows are an input of the plan.
func (p *plan) hasHot() bool {
	for _, in := range p.inputs {
		if in.seg == nil {
			return true
		}
	}
	return false
}

// Explain plans a scan without running it and returns the JSON of DESIGN §4.
func (db *DB) Explain(table string, req ScanRequest) ([]byte, error) {
	exit, err := db.enter(false)
	if err != nil {
		return nil, err
	}
	defer exit()
	t, err := db.st.storedTable(table, "explain")
	if err != nil {
		return nil, err
	}
	p, err := db.st.planScan(t, req)
	if err != nil {
		return nil, err
	}
	defer p.close()
	return p.explainJSON()
}
