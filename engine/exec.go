package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/engine/filter"
	"github.com/kalamdb/libkalam/engine/segment"
	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/manifest"
)

// source is one stage of a scan pipeline: next returns a batch the caller
// owns, or nil at the end; close releases everything and may be called at
// any point.
type source interface {
	next() (arrow.RecordBatch, error)
	close()
}

// ---- inputs -------------------------------------------------------------

// hotSource reads the newest hot version of each key of one generation (or
// several, merged by hotIter) in the scan bounds.
type hotSource struct {
	ctx     context.Context
	it      *hotIter
	dec     *hotDecoder
	rb      *array.RecordBuilder
	userB   []array.Builder       // builders of the user columns, in decoder order
	seqB    *array.Int64Builder   // nil when the work schema has no _seq
	delB    *array.BooleanBuilder // nil when it has no _deleted
	batch   int
	started bool
}

func (p *plan) newHotSource(work *arrow.Schema, in *planInput) (*hotSource, error) {
	hv, ok := p.rs.hot(p.st)
	if !ok {
		return nil, kerr.New(kerr.Internal, "hot rows planned for a read without them")
	}
	rb := array.NewRecordBuilder(p.st.mem, work)
	h := &hotSource{ctx: p.scanCtx(), rb: rb, batch: int(min(p.batch, 64*1024))}
	var want []int
	for i, f := range work.Fields() {
		switch f.Name {
		case colSeq:
			h.seqB = rb.Field(i).(*array.Int64Builder)
		case colDeleted:
			h.delB = rb.Field(i).(*array.BooleanBuilder)
		default:
			want = append(want, p.sv.schema.FieldIndices(f.Name)[0])
			h.userB = append(h.userB, rb.Field(i))
		}
	}
	h.dec = newHotDecoder(p.t, p.st.mem, p.sv, want)
	lo, hi := p.keyLo, p.keyHi
	if in.hotLo != nil && (lo == nil || bytes.Compare(in.hotLo, lo) > 0) {
		lo = in.hotLo
	}
	if in.hotHi != nil && (hi == nil || bytes.Compare(in.hotHi, hi) < 0) {
		hi = in.hotHi
	}
	h.it = hv.iter(p.hotGens, lo, hi)
	return h, nil
}

func (h *hotSource) next() (arrow.RecordBatch, error) {
	if h.it == nil {
		return nil, nil
	}
	if !h.started {
		h.it.First()
		h.started = true
	}
	n := 0
	for ; h.it.Valid() && n < h.batch; h.it.NextKey() {
		if n&4095 == 4095 {
			if err := h.ctx.Err(); err != nil {
				return nil, err
			}
		}
		_, seq, v, _ := h.it.Entry()
		tomb, err := h.dec.decode(v, h.userB)
		if err != nil {
			return nil, err
		}
		if h.seqB != nil {
			h.seqB.Append(seq)
		}
		if h.delB != nil {
			h.delB.Append(tomb)
		}
		n++
	}
	if err := h.it.Err(); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	return owned{h.rb.NewRecordBatch()}, nil
}

func (h *hotSource) close() {
	if h.it != nil {
		h.it.Close()
		h.dec.release()
		h.rb.Release()
		h.it = nil
	}
}

// segSource reads the work columns of one segment, in the schema of the
// plan's version: columns are found by field id (DESIGN §3.2), a column
// the segment lacks (added after it was written) is null, and a column
// written before a widening is widened. The narrow reader delivers a task
// (a row group, or a row range of one) at a time, which goes out in
// zero-copy slices of at most piece rows; columns it does not take come
// from pqarrow for the same rows, or, when it takes none, pqarrow streams
// the file.
//
// Slices are cut at multiples of piece rows counted over every source that
// shares phase (the concatenated inputs of a scan), not from each task's
// start: when nothing is filtered out, the output's batches of exactly
// batch_rows then line up with them, and only a batch that spans two row
// groups (at a segment's end) is copied instead of every one after it.
type segSource struct {
	ctx   context.Context
	st    *store
	sp    *segPrep
	path  string
	piece int64
	phase *int64    // rows delivered by the sources sharing it, modulo piece
	feed  *taskFeed // narrow columns; nil when streaming
	base  int       // feed index of sp.tasks[0]
	ti    int       // next task
	// pqOnly: the narrow reader declined a task at read time
	// (segment.ErrUnsupported): the rest of the file goes through pqarrow.
	pqOnly bool
	cur    arrow.RecordBatch // converted task batch being sliced
	off    int64
	r      *segReader // streaming mode
	closed bool
}

// newSegSource reads the columns of work from in's segment, with a feed of
// its own. With dropNoTombstones, _deleted is left out when the file's
// statistics show it holds no tombstone (the filter stage then keeps every
// row). A merged input reads smaller tasks, one ahead.
func (p *plan) newSegSource(in *planInput, work *arrow.Schema, dropNoTombstones, merged bool) (*segSource, error) {
	sp, err := p.prepareSeg(in, work, dropNoTombstones, merged)
	if err != nil {
		return nil, err
	}
	in.file = nil // owned by the source (or its feed) now
	var feed *taskFeed
	base := 0
	if !sp.stream {
		window := readWindow()
		if merged {
			window = 1
		}
		feed = newTaskFeed(p.scanCtx(), p.st.mem, window)
		base = feed.add(sp)
	}
	// Merged inputs go through the merge in pieces of at most 64Ki rows
	// (its per-batch key buffers); others in output batches.
	piece := p.batch
	if merged {
		piece = min(p.batch, 64*1024)
	}
	return p.newSegSourceFrom(sp, feed, base, piece, new(int64)), nil
}

// newSegSourceFrom makes the source of a prepared input whose tasks are
// feed's tasks from base (feed nil: streamed through pqarrow).
func (p *plan) newSegSourceFrom(sp *segPrep, feed *taskFeed, base int, piece int64, phase *int64) *segSource {
	return &segSource{ctx: p.scanCtx(), st: p.st, sp: sp, path: sp.file.path, piece: piece, phase: phase,
		feed: feed, base: base}
}

// segmentColumns maps field ids to the segment's column names: from the
// field ids the file stores, or, for a file written before field ids, from
// the names of the schema version it was written with.
func (t *table) segmentColumns(sf *segFile, seg *manifest.SegmentMetadata) map[int32]string {
	out := map[int32]string{}
	for _, f := range sf.sch.Fields() {
		if id := fieldIDOf(f); id >= 0 {
			out[id] = f.Name
		}
	}
	if len(out) > 0 {
		return out
	}
	sv := t.viewOf(seg.SchemaVersion)
	for i, f := range sv.schema.Fields() {
		if sf.sch.HasField(f.Name) {
			out[sv.fids[i]] = f.Name
		}
	}
	return out
}

func withoutField(s *arrow.Schema, name string) *arrow.Schema {
	var fields []arrow.Field
	for _, f := range s.Fields() {
		if f.Name != name {
			fields = append(fields, f)
		}
	}
	return arrow.NewSchema(fields, nil)
}

func (s *segSource) next() (arrow.RecordBatch, error) {
	if err := s.st.hit("scan_read"); err != nil {
		return nil, err
	}
	if err := s.ctx.Err(); err != nil {
		return nil, err
	}
	for {
		if s.cur != nil {
			if n := s.cur.NumRows() - s.off; n > 0 {
				take := min(n, s.piece-*s.phase)
				out := s.cur.NewSlice(s.off, s.off+take)
				s.off += take
				*s.phase = (*s.phase + take) % s.piece
				return owned{out}, nil
			}
			s.cur.Release()
			s.cur = nil
		}
		if s.sp.stream {
			return s.nextStreamed()
		}
		if s.ti >= len(s.sp.tasks) {
			return nil, nil
		}
		rec, err := s.readTask(s.ti)
		if err != nil {
			return nil, err
		}
		s.ti++
		s.cur, s.off = rec, 0
	}
}

// nextStreamed returns the next pqarrow batch, converted (not owned:
// pqarrow builds some types on the Go heap, the output stage copies).
func (s *segSource) nextStreamed() (arrow.RecordBatch, error) {
	if s.r == nil {
		names := make([]string, len(s.sp.cols))
		for i, c := range s.sp.cols {
			names[i] = c.name
		}
		r, err := s.sp.file.reader(s.ctx, names, s.sp.rowGroups, s.piece)
		if err != nil {
			return nil, err
		}
		s.r = r
	}
	rec, err := s.r.next()
	if err != nil || rec == nil {
		return nil, err
	}
	defer rec.Release()
	*s.phase = (*s.phase + rec.NumRows()) % s.piece
	return s.convert(rec.Column, rec.NumRows())
}

// readTask reads task i: the narrow columns from the feed, the others
// through pqarrow, converted to the wanted schema (buffers all from the
// store's allocator).
func (s *segSource) readTask(i int) (arrow.RecordBatch, error) {
	t := s.sp.tasks[i]
	var narrow arrow.RecordBatch
	if len(s.sp.ncols) > 0 && !s.pqOnly {
		rec, err := s.feed.next(s.base + i)
		switch {
		case err == nil:
			narrow = rec
			defer narrow.Release()
		case errors.Is(err, segment.ErrUnsupported):
			s.pqOnly = true // valid Parquet the narrow reader does not take
		default:
			return nil, readErr(err, s.path)
		}
	}
	cols := make([]arrow.Array, len(s.sp.cols))
	var names []string
	var at []int
	k := 0
	for j, c := range s.sp.cols {
		if c.narrow >= 0 && narrow != nil {
			cols[j] = narrow.Column(k)
			k++
			continue
		}
		names = append(names, c.name)
		at = append(at, j)
	}
	if len(names) > 0 {
		pq, err := s.sp.file.readRows(s.ctx, names, t.RowGroup, t.FirstRow, t.NumRows)
		if err != nil {
			return nil, err
		}
		for j, a := range pq {
			cols[at[j]] = a
			defer a.Release()
		}
	}
	out, err := s.convert(func(j int) arrow.Array { return cols[j] }, t.NumRows)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// convert builds the wanted columns from the read ones (column(j) is read
// column j): re-typed from their storage type, widened, or nulls for a
// column the segment lacks.
func (s *segSource) convert(column func(int) arrow.Array, n int64) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, len(s.sp.src))
	release := func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}
	for i, f := range s.sp.want.Fields() {
		if s.sp.src[i] < 0 {
			cols[i] = array.MakeArrayOfNull(s.st.mem, f.Type, int(n))
			continue
		}
		c := column(s.sp.src[i])
		switch got := c.DataType(); {
		case arrow.TypeEqual(got, f.Type):
			c.Retain()
			cols[i] = c
		case arrow.TypeEqual(got, storageType(f.Type)):
			// Stored with the same layout under another type (storagetype.go).
			d := retype(c.Data(), f.Type)
			cols[i] = array.MakeFromData(d)
			d.Release()
		case canWiden(got, f.Type):
			w, err := widenArray(c, f.Type, s.st.mem)
			if err != nil {
				release()
				return nil, err
			}
			cols[i] = w
		default:
			// Type drift between file and table would corrupt results silently.
			release()
			return nil, kerr.New(kerr.Corruption, "segment %s: column %q has type %s, table says %s", s.path, f.Name, got, f.Type)
		}
	}
	out := array.NewRecordBatch(s.sp.want, cols, n)
	release()
	return out, nil
}

func (s *segSource) close() {
	if s.closed {
		return
	}
	s.closed = true
	if s.cur != nil {
		s.cur.Release()
		s.cur = nil
	}
	if s.r != nil {
		s.r.close()
		s.r = nil
	}
	if s.feed != nil {
		s.feed.release() // the feed closes the file
	} else {
		s.sp.file.close()
	}
}

// memSource replays records (system tables).
type memSource struct{ recs []arrow.RecordBatch }

func (m *memSource) next() (arrow.RecordBatch, error) {
	if len(m.recs) == 0 {
		return nil, nil
	}
	r := m.recs[0]
	m.recs = m.recs[1:]
	return r, nil
}

func (m *memSource) close() {
	for _, r := range m.recs {
		r.Release()
	}
	m.recs = nil
}

// ---- row selection --------------------------------------------------------

// runs collects row ranges of records and assembles them into one record.
type runs struct {
	schema *arrow.Schema
	mem    memory.Allocator
	parts  []run
	ris    []int32             // per part: its record's index in recs
	recs   []arrow.RecordBatch // the parts' records, each retained once
	rows   int64
	gen    int // counts resets (mergeSource caches record indices per gen)
	// proj, when set, assembles only these columns of the parts (their
	// indices in every part), as schema.
	proj []int
}

type run struct {
	rec        arrow.RecordBatch
	start, end int64
}

// index returns rec's index in r.recs, adding (and retaining) it unless it
// is one of the last few added.
func (r *runs) index(rec arrow.RecordBatch) int {
	for i := len(r.recs) - 1; i >= 0 && i >= len(r.recs)-4; i-- {
		if r.recs[i] == rec {
			return i
		}
	}
	rec.Retain()
	r.recs = append(r.recs, rec)
	return len(r.recs) - 1
}

func (r *runs) add(rec arrow.RecordBatch, start, end int64) {
	r.addAt(r.index(rec), start, end)
}

// addAt adds rows [start, end) of record r.recs[ri].
func (r *runs) addAt(ri int, start, end int64) {
	if n := len(r.parts); n > 0 && r.ris[n-1] == int32(ri) && r.parts[n-1].end == start {
		r.parts[n-1].end = end
	} else {
		r.parts = append(r.parts, run{r.recs[ri], start, end})
		r.ris = append(r.ris, int32(ri))
	}
	r.rows += end - start
}

// build returns the assembled record (nil when empty) and resets r. With
// copy set the result always lives in fresh buffers from r.mem.
func (r *runs) build(copyAlways bool) (arrow.RecordBatch, error) {
	defer r.reset()
	if r.rows == 0 {
		return nil, nil
	}
	if len(r.parts) == 1 && (isOwned(r.parts[0].rec) || !copyAlways) {
		p := r.parts[0]
		out := p.rec.NewSlice(p.start, p.end)
		if r.proj != nil {
			cols := make([]arrow.Array, len(r.proj))
			for i, c := range r.proj {
				cols[i] = out.Column(c)
			}
			sliced := out
			out = array.NewRecordBatch(r.schema, cols, sliced.NumRows())
			sliced.Release()
		}
		if isOwned(p.rec) {
			return owned{out}, nil
		}
		return out, nil
	}
	schema := r.parts[0].rec.Schema()
	if r.proj != nil {
		schema = r.schema
	}
	cols := make([]arrow.Array, schema.NumFields())
	for c := range cols {
		src := c
		if r.proj != nil {
			src = r.proj[c]
		}
		out, err := gatherRunsIdx(r.parts, r.ris, len(r.recs), src, r.rows, r.mem)
		if err != nil {
			for _, done := range cols[:c] {
				done.Release()
			}
			return nil, fmt.Errorf("column %q: %w", schema.Field(c).Name, err)
		}
		cols[c] = out
	}
	rec := array.NewRecordBatch(schema, cols, r.rows)
	for _, col := range cols {
		col.Release()
	}
	for _, f := range schema.Fields() {
		if !gatherCopies(f.Type) {
			return rec, nil // may share input buffers: not owned
		}
	}
	return owned{rec}, nil
}

// owned marks a record whose buffers were all allocated from the store's
// allocator by this scan (gathered runs, hot rows built by builders), and
// slices and projections of one. It can be exported without a copy;
// anything else (Parquet reader output, whose narrow types pqarrow builds
// on the Go heap) is copied before it leaves the engine.
type owned struct{ arrow.RecordBatch }

func isOwned(rec arrow.RecordBatch) bool {
	_, ok := rec.(owned)
	return ok
}

func (r *runs) reset() {
	for _, rec := range r.recs {
		rec.Release()
	}
	clear(r.recs)
	r.recs = r.recs[:0]
	clear(r.parts)
	r.parts = r.parts[:0]
	r.ris = r.ris[:0]
	r.rows = 0
	r.gen++
}

// filterSource keeps the rows of live versions that satisfy pred (nil: all
// live rows). It is applied to an isolated input or after a merge.
type filterSource struct {
	in          source
	pred        *filter.Predicate
	keepDeleted bool // segment scans return tombstones as stored
	r           runs
}

func newFilterSource(in source, pred *filter.Predicate, work *arrow.Schema, mem memory.Allocator) *filterSource {
	return &filterSource{in: in, pred: pred, r: runs{schema: work, mem: mem}}
}

func (f *filterSource) next() (arrow.RecordBatch, error) {
	for {
		rec, err := f.in.next()
		if err != nil || rec == nil {
			return nil, err
		}
		out, err := f.apply(rec)
		rec.Release()
		if err != nil {
			return nil, err
		}
		if out != nil {
			return out, nil
		}
	}
}

func (f *filterSource) apply(rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	n := int(rec.NumRows())
	var sel []bool
	if f.pred != nil {
		var err error
		if sel, err = f.pred.Eval(rec); err != nil {
			return nil, err
		}
	}
	var del *array.Boolean
	if !f.keepDeleted {
		// Looked up per batch: a source may leave out _deleted when its
		// file holds no tombstone.
		if idx := rec.Schema().FieldIndices(colDeleted); len(idx) == 1 {
			del = rec.Column(idx[0]).(*array.Boolean)
		}
	}
	if sel == nil && (del == nil || allFalse(del)) {
		rec.Retain()
		return rec, nil
	}
	start := -1
	for i := 0; i <= n; i++ {
		keep := i < n && (del == nil || !del.Value(i)) && (sel == nil || sel[i])
		if keep && start < 0 {
			start = i
		} else if !keep && start >= 0 {
			f.r.add(rec, int64(start), int64(i))
			start = -1
		}
	}
	return f.r.build(false)
}

func allFalse(b *array.Boolean) bool {
	for i := 0; i < b.Len(); i++ {
		if b.Value(i) {
			return false
		}
	}
	return true
}

func (f *filterSource) close() {
	f.in.close()
	f.r.reset()
}

// rangeSource keeps the rows whose encoded key is in [lo, hi) (nil:
// unbounded): a scan split's share of its inputs.
type rangeSource struct {
	in     source
	k      *keyer
	lo, hi []byte
	r      runs
	kbuf   []byte
	keys   [][]byte
}

func (s *rangeSource) next() (arrow.RecordBatch, error) {
	for {
		rec, err := s.in.next()
		if err != nil || rec == nil {
			return nil, err
		}
		s.kbuf, s.keys, err = s.k.keys(rec, s.kbuf, s.keys)
		if err != nil {
			rec.Release()
			return nil, err
		}
		start := -1
		for i := 0; i <= len(s.keys); i++ {
			keep := i < len(s.keys) && (s.lo == nil || bytes.Compare(s.keys[i], s.lo) >= 0) &&
				(s.hi == nil || bytes.Compare(s.keys[i], s.hi) < 0)
			if keep && start < 0 {
				start = i
			} else if !keep && start >= 0 {
				s.r.add(rec, int64(start), int64(i))
				start = -1
			}
		}
		out, err := s.r.build(false)
		rec.Release()
		if err != nil || out != nil {
			return out, err
		}
	}
}

func (s *rangeSource) close() {
	s.in.close()
	s.r.reset()
}

// ---- concatenation, projection, limit, re-chunking --------------------------

// chainSource reads its sources one after the other, opening each lazily.
type chainSource struct {
	open    []func() (source, error)
	cur     source
	onClose func() // after the sources: releases what they shared
}

func (c *chainSource) next() (arrow.RecordBatch, error) {
	for {
		if c.cur == nil {
			if len(c.open) == 0 {
				return nil, nil
			}
			s, err := c.open[0]()
			c.open = c.open[1:]
			if err != nil {
				return nil, err
			}
			c.cur = s
		}
		rec, err := c.cur.next()
		if err != nil {
			return nil, err
		}
		if rec != nil {
			return rec, nil
		}
		c.cur.close()
		c.cur = nil
	}
}

func (c *chainSource) close() {
	if c.cur != nil {
		c.cur.close()
		c.cur = nil
	}
	c.open = nil
	if c.onClose != nil {
		c.onClose()
		c.onClose = nil
	}
}

// outputSource projects work records onto the output schema, applies the
// limit and re-chunks to exactly batch rows (the last batch may be short).
// Every batch it returns lives in buffers of the store's allocator (owned
// records as they are, anything else copied), so exported buffers are always
// C memory when that allocator is mallocator.
type outputSource struct {
	in      source
	out     *arrow.Schema
	idx     []int         // input index of each output column, for inSch
	inSch   *arrow.Schema // the input schema idx was computed for
	limit   int64         // < 0: none
	batch   int64
	emitted int64
	r       runs
	done    bool
}

func newOutputSource(in source, out *arrow.Schema, limit, batch int64, mem memory.Allocator) *outputSource {
	return &outputSource{in: in, out: out, limit: limit, batch: batch, r: runs{schema: out, mem: mem}}
}

// project picks the output columns of rec by name (inputs of one scan may
// carry different column sets).
func (o *outputSource) project(rec arrow.RecordBatch) arrow.RecordBatch {
	if sch := rec.Schema(); sch != o.inSch {
		o.inSch = sch
		o.idx = o.idx[:0]
		for _, f := range o.out.Fields() {
			o.idx = append(o.idx, sch.FieldIndices(f.Name)[0])
		}
	}
	cols := make([]arrow.Array, len(o.idx))
	for i, j := range o.idx {
		cols[i] = rec.Column(j)
	}
	out := array.NewRecordBatch(o.out, cols, rec.NumRows())
	if isOwned(rec) {
		return owned{out}
	}
	return out
}

func (o *outputSource) next() (arrow.RecordBatch, error) {
	for !o.done && o.r.rows < o.batch {
		if o.limit >= 0 && o.emitted+o.r.rows >= o.limit {
			o.done = true
			break
		}
		rec, err := o.in.next()
		if err != nil {
			return nil, err
		}
		if rec == nil {
			o.done = true
			break
		}
		proj := o.project(rec)
		rec.Release()
		n := proj.NumRows()
		if o.limit >= 0 {
			n = min(n, o.limit-o.emitted-o.r.rows)
		}
		o.r.add(proj, 0, n)
		proj.Release()
	}
	if o.r.rows == 0 {
		return nil, nil
	}
	if o.r.rows <= o.batch {
		out, err := o.assemble()
		return out, err
	}
	// More than a batch is buffered: emit exactly batch rows, keep the rest.
	var head runs = runs{schema: o.out, mem: o.r.mem}
	var tail runs = runs{schema: o.out, mem: o.r.mem}
	need := o.batch
	for _, p := range o.r.parts {
		n := p.end - p.start
		switch {
		case need >= n:
			head.add(p.rec, p.start, p.end)
			need -= n
		case need > 0:
			head.add(p.rec, p.start, p.start+need)
			tail.add(p.rec, p.start+need, p.end)
			need = 0
		default:
			tail.add(p.rec, p.start, p.end)
		}
	}
	o.r.reset()
	o.r = tail
	out, err := head.build(true)
	if out != nil {
		o.emitted += out.NumRows()
	}
	return out, err
}

func (o *outputSource) assemble() (arrow.RecordBatch, error) {
	if o.out.NumFields() == 0 {
		n := o.r.rows
		o.r.reset()
		o.emitted += n
		return array.NewRecordBatch(o.out, nil, n), nil
	}
	out, err := o.r.build(true)
	if out != nil {
		o.emitted += out.NumRows()
	}
	return out, err
}

func (o *outputSource) close() {
	o.in.close()
	o.r.reset()
}

// ---- pipeline ---------------------------------------------------------------

// scanCtx is the plan's cancellation context (plans built for compaction
// and lookups have none).
func (p *plan) scanCtx() context.Context {
	if p.ctx == nil {
		return context.Background()
	}
	return p.ctx
}

// pipeline builds the source of a planned table scan.
func (p *plan) pipeline() source {
	return p.pipelineOf(p.clusters, p.out, p.batch)
}

// pipelineOf builds the source of the given clusters of the plan (in key
// order), producing out (the plan's output or fewer columns) with no limit
// but the plan's.
func (p *plan) pipelineOf(clusters [][]*planInput, out *arrow.Schema, batch int64) source {
	var opens []func() (source, error)
	feeds := p.newFeedRuns(clusters)
	for _, cl := range clusters {
		cl := cl
		opens = append(opens, func() (source, error) {
			srcs := make([]source, 0, len(cl))
			fail := func(err error) (source, error) {
				for _, s := range srcs {
					s.close()
				}
				return nil, err
			}
			// An isolated input needs no key or _seq (nothing to merge) and
			// takes the whole predicate before any merge.
			isolated := len(cl) == 1
			work := p.work
			var mo mergeOptions
			if isolated {
				work = p.isoWork
			} else {
				mo = p.clusterMerge(cl)
				work = mo.work
			}
			for _, in := range cl {
				var s source
				var err error
				switch {
				case in.seg == nil:
					s, err = p.newHotSource(work, in)
				case isolated:
					// Concatenated: read ahead across segments (feedRuns).
					s, err = feeds.source(in, work)
				default:
					s, err = p.newSegSource(in, work, mo.dropTombstones, true)
				}
				if err != nil {
					return fail(err)
				}
				if !isolated && in.early && p.pred != nil {
					// The oldest input of its cluster: no older version can
					// reappear from under a row filtered out here.
					s = newFilterSource(s, p.pred, work, p.st.mem)
				}
				srcs = append(srcs, s)
			}
			var in source = srcs[0]
			if !isolated {
				m := p.newMergeSource(srcs, mo)
				in, work = m, m.out
			}
			if p.rowBounds {
				in = &rangeSource{in: in, k: p.keyerFor(work), lo: p.keyLo, hi: p.keyHi, r: runs{schema: work, mem: p.st.mem}}
			}
			return newFilterSource(in, p.pred, work, p.st.mem), nil
		})
	}
	chain := &chainSource{open: opens, onClose: feeds.close}
	return newOutputSource(chain, out, p.req.Limit, batch, p.st.mem)
}
