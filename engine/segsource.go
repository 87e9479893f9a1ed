package engine

import (
	"context"
	"errors"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/kalamdb/libkalam/engine/exec"
	"github.com/kalamdb/libkalam/engine/segment"
	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/manifest"
)

// segSource reads the work columns of one segment, in the schema of the
// read's version: columns are found by field id (DESIGN §3.2), a column
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
// row). mergedWith is how many segment inputs the merge it feeds reads (0:
// not merged): an input merged with other segments reads smaller tasks,
// and the merge's inputs share one scan's read-ahead window, so that a
// segment merged only with hot rows decodes whole row groups on every
// worker like an isolated one (its pieces, slices of one row group, are
// put back together without a copy: exec.Runs) while a merge of many
// segments stays bounded in memory.
func (rc *readCtx) newSegSource(in *planInput, work *arrow.Schema, dropNoTombstones bool, mergedWith int) (*segSource, error) {
	merged := mergedWith > 0
	sp, err := rc.prepareSeg(in, work, dropNoTombstones, mergeTaskCap(mergedWith))
	if err != nil {
		return nil, err
	}
	in.file = nil // owned by the source (or its feed) now
	var feed *taskFeed
	base := 0
	if !sp.stream {
		window := readWindow()
		if merged {
			window = max(2, window/mergedWith)
		}
		feed = rc.newTaskFeed(window)
		base = feed.add(sp)
	}
	// Merged inputs go through the merge in pieces of at most 64Ki rows
	// (its per-batch key buffers); others in output batches.
	piece := rc.batch
	if merged {
		piece = min(rc.batch, 64*1024)
	}
	return rc.newSegSourceFrom(sp, feed, base, piece, new(int64)), nil
}

// newSegSourceFrom makes the source of a prepared input whose tasks are
// feed's tasks from base (feed nil: streamed through pqarrow).
func (rc *readCtx) newSegSourceFrom(sp *segPrep, feed *taskFeed, base int, piece int64, phase *int64) *segSource {
	return &segSource{ctx: rc.ctx, st: rc.st, sp: sp, path: sp.file.path, piece: piece, phase: phase,
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

func (s *segSource) Next() (arrow.RecordBatch, error) {
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
				return exec.Owned{RecordBatch: out}, nil
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

// Prefetch starts decoding the source's next task (exec.Prefetcher): a
// merge calls it on an input a little before it needs its rows.
func (s *segSource) Prefetch() {
	if s.cur == nil && !s.sp.stream && !s.pqOnly && s.feed != nil && len(s.sp.ncols) > 0 && s.ti < len(s.sp.tasks) {
		s.feed.start(s.base + s.ti)
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
		// The segment's layout of the column (storagetype.go).
		conv, ok, err := fromStorage(c, f.Type, s.st.mem)
		if err != nil {
			release()
			return nil, kerr.Wrap(kerr.Corruption, err, "segment %s: column %q", s.path, f.Name)
		}
		switch got := c.DataType(); {
		case ok:
			cols[i] = conv
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

func (s *segSource) Close() {
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
