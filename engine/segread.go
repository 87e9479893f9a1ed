package engine

import (
	"context"
	"errors"
	"runtime"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/engine/exec"
	"github.com/kalamdb/libkalam/engine/segment"
	"github.com/kalamdb/libkalam/kerr"
)

// How segment inputs are read (issue 10, DESIGN §4). The narrow reader
// (package segment) decodes the columns it supports straight into buffers
// of the store's allocator, row group by row group, on GOMAXPROCS workers
// with a bounded read-ahead window; pqarrow reads what it does not
// support, chosen per file and column and shown by explain.

const (
	// mergeTaskRows caps the rows of one read task of an input that is
	// merged with others: a k-way merge holds about two tasks per input,
	// so this bounds a merge's (and a compaction's) memory per input like
	// the 64Ki-row batches pqarrow read before.
	mergeTaskRows = 64 * 1024
	// mergeTaskRowsFew is that cap when the merge reads at most
	// fewMergedInputs segments: a row group of the recommended layout
	// (131,072 rows) is then one task. Cut at 64Ki rows, a task decoded
	// every page that straddles the cut twice (a dictionary column's pages
	// of 30,720 rows: 1.24x its rows per scan), and a merge of a few
	// segments (a wide newer segment over the older ones, opened as the
	// merge reaches them) holds few inputs at once.
	mergeTaskRowsFew = 128 * 1024
	fewMergedInputs  = 16
	// maxRunFiles bounds the segment files one shared read-ahead run
	// opens ahead of the scan (their footers and handles stay open until
	// the run is read).
	maxRunFiles = 16
)

// readWindow is the read-ahead of a scan's concatenated inputs in tasks
// (row groups): two per worker keeps every worker busy while the consumer
// works on the previous one, and bounds the memory whatever the table size.
func readWindow() int { return 2 * runtime.GOMAXPROCS(0) }

// readCol is one stored column a segment source reads.
type readCol struct {
	name   string // the column's name in the file
	narrow int    // narrow reader column index; -1: read by pqarrow
	why    string // why pqarrow (narrow < 0)
}

// segPrep is how one segment input is read: which columns by which reader,
// and the row ranges (tasks) to read.
type segPrep struct {
	file  *segFile
	want  *arrow.Schema // the work columns the source produces
	src   []int         // per want field: index in cols, -1: absent from the file (nulls)
	cols  []readCol
	ncols []int // narrow column indices of the narrow cols, in cols order
	// stream: no narrow column is read (the file is not one the narrow
	// reader takes, or no column needed is): pqarrow streams rowGroups.
	stream    bool
	rowGroups []int // nil: all
	tasks     []segment.Task
}

// reader names the reader of the input for explain: "narrow", "pqarrow"
// or "mixed" (narrow, with some columns through pqarrow), and the columns
// pqarrow reads with the reason.
func (sp *segPrep) reader() (string, map[string]string) {
	pq := map[string]string{}
	for _, c := range sp.cols {
		if c.narrow < 0 {
			pq[c.name] = c.why
		}
	}
	switch {
	case sp.stream && sp.file.nf == nil:
		return "pqarrow", map[string]string{"*": sp.file.nfWhy}
	case sp.stream:
		return "pqarrow", pq
	case len(pq) > 0:
		return "mixed", pq
	}
	return "narrow", nil
}

// prepareSeg opens in's segment (unless open) and decides how work is read
// from it. With dropNoTombstones, _deleted is left out when the file's
// statistics show that the rows read hold no tombstone. With taskCap > 0
// (an input merged with other segments) tasks are cut to at most that many
// rows (mergeTaskCap).
func (rc *readCtx) prepareSeg(in *planInput, work *arrow.Schema, dropNoTombstones bool, taskCap int64) (*segPrep, error) {
	if in.file == nil {
		sf, err := rc.st.openSegment(rc.t, in.seg)
		if err != nil {
			return nil, err
		}
		in.file = sf
	}
	sf := in.file
	if dropNoTombstones && !sf.mayHoldTombstones(in.rowGroups) {
		work = exec.WithoutField(work, colDeleted)
	}
	sp := &segPrep{file: sf, want: work, src: make([]int, work.NumFields()), rowGroups: in.rowGroups}
	byFID := rc.t.segmentColumns(sf, in.seg)
	narrow := 0
	for i, f := range work.Fields() {
		name := f.Name
		if f.Name != colSeq && f.Name != colDeleted {
			name = byFID[rc.sv.fids[rc.sv.schema.FieldIndices(f.Name)[0]]]
		}
		sp.src[i] = -1
		if name == "" {
			continue // added after the segment was written
		}
		c := readCol{name: name}
		c.narrow, c.why = sf.narrowColumn(name)
		if c.narrow >= 0 {
			sp.ncols = append(sp.ncols, c.narrow)
			narrow++
		}
		sp.src[i] = len(sp.cols)
		sp.cols = append(sp.cols, c)
	}
	if sf.nf == nil || (narrow == 0 && len(sp.cols) > 0) {
		sp.stream = true
		return sp, nil
	}
	if sp.ncols == nil {
		sp.ncols = []int{} // segment.Task: nil Columns means all
	}
	add := func(rg int, first, n int64) {
		for n > 0 {
			take := n
			if taskCap > 0 {
				take = min(n, taskCap)
			}
			sp.tasks = append(sp.tasks, segment.Task{File: sf.nf, RowGroup: rg, Columns: sp.ncols, FirstRow: first, NumRows: take})
			first += take
			n -= take
		}
	}
	each := func(rg int) {
		if ranges, ok := in.pageRanges[rg]; ok {
			for _, r := range ranges {
				add(rg, r.first, r.n)
			}
			return
		}
		add(rg, 0, sf.rowGroupRows(rg))
	}
	if in.rowGroups == nil {
		for rg := 0; rg < sf.numRowGroups(); rg++ {
			each(rg)
		}
	} else {
		for _, rg := range in.rowGroups {
			each(rg)
		}
	}
	return sp, nil
}

// mergeTaskCap is the task cap of a segment input merged with mergedWith
// segment inputs in all (0: no cap, not merged with another segment).
func mergeTaskCap(mergedWith int) int64 {
	switch {
	case mergedWith <= 1:
		return 0
	case mergedWith <= fewMergedInputs:
		return mergeTaskRowsFew
	}
	return mergeTaskRows
}

// rowRange is rows [first, first+n) of a row group.
type rowRange struct{ first, n int64 }

// taskFeed runs segment.ReadTasks over the tasks of one or more segment
// sources that are read one after the other (a run of concatenated inputs:
// its read-ahead window spans file boundaries), or of one source. Sources
// ask for their tasks in order; tasks a source never asked for (it
// stopped early, or fell back to pqarrow) are skipped. The feed owns the
// files of its tasks: it closes them after its workers have stopped.
type taskFeed struct {
	ctx   context.Context
	mem   memory.Allocator
	opts  segment.ReadOptions
	tasks []segment.Task
	files []*segFile
	r     *segment.TaskReader
	pos   int // the task r.Next returns next
	users int // sources that have not closed yet
	done  bool
}

// newTaskFeed is a feed of the read's segments with a read-ahead window of
// window tasks.
func (rc *readCtx) newTaskFeed(window int) *taskFeed {
	return &taskFeed{ctx: rc.ctx, mem: rc.st.mem, opts: segment.ReadOptions{Workers: rc.readWorkers(), Window: window}}
}

// readWorkers is how many goroutines decode a read's segments: one per
// core from a local disk; three per core from object storage, where a
// worker spends much of each column chunk waiting for its GET, so that the
// network and the cores are both kept busy (measured on 4 M rows in 4
// segments from the S3 test server, 2 cores: 227 ms with 2 workers, 206 ms
// with 6, 215 ms with 8). The window, not the workers, bounds memory.
func (rc *readCtx) readWorkers() int {
	n := runtime.GOMAXPROCS(0)
	if !rc.st.storage.Local() {
		n *= 3
	}
	return n
}

// add appends a source's tasks and takes its file; it returns the index
// of the first task.
func (f *taskFeed) add(sp *segPrep) int {
	base := len(f.tasks)
	f.tasks = append(f.tasks, sp.tasks...)
	f.files = append(f.files, sp.file)
	f.users++
	return base
}

// start begins decoding from task i ahead of the first next(i), unless
// the feed is already reading.
func (f *taskFeed) start(i int) {
	if f.r == nil && !f.done && i < len(f.tasks) {
		f.r = segment.ReadTasks(f.ctx, f.tasks[i:], f.mem, f.opts)
		f.pos = i
	}
}

// next returns the batch of task i (the caller owns it). Tasks before i
// that were not asked for are dropped.
func (f *taskFeed) next(i int) (arrow.RecordBatch, error) {
	if f.done {
		return nil, kerr.New(kerr.Internal, "segment read after the reader was closed")
	}
	if f.r != nil && f.pos > i {
		f.stop() // asked again for a task already returned: start over at it
	}
	for {
		if f.r == nil {
			f.r = segment.ReadTasks(f.ctx, f.tasks[i:], f.mem, f.opts)
			f.pos = i
		}
		rec, err := f.r.Next()
		at := f.pos
		f.pos++
		if err != nil {
			f.stop()
			if at == i {
				return nil, err
			}
			continue // a skipped task failed: start again at i
		}
		if rec == nil {
			f.stop()
			return nil, kerr.New(kerr.Internal, "segment reader ended before task %d of %d", i, len(f.tasks))
		}
		if at == i {
			return rec, nil
		}
		rec.Release()
	}
}

// stop ends the current ReadTasks (its workers stopped, its read-ahead freed).
func (f *taskFeed) stop() {
	if f.r != nil {
		f.r.Close()
		f.r = nil
	}
}

// release is a source's close: the last one closes the feed.
func (f *taskFeed) release() {
	if f.users--; f.users <= 0 {
		f.close()
	}
}

// close stops the workers, then closes the files. Safe more than once.
func (f *taskFeed) close() {
	if f.done {
		return
	}
	f.done = true
	f.stop()
	for _, sf := range f.files {
		sf.close()
	}
	f.files = nil
}

// feedRuns gives the concatenated (isolated) segment inputs of a pipeline
// shared feeds: a run of up to maxRunFiles consecutive such inputs is
// prepared when the first of them opens, so that reading ahead crosses
// from one segment into the next without a stall.
type feedRuns struct {
	rc     *readCtx
	drop   bool // prepareSeg's dropNoTombstones
	workOf func(*planInput) *arrow.Schema
	order  []*planInput // isolated segment inputs, in pipeline order
	next   int          // first input of order not in a run yet
	preps  map[*planInput]*runEntry
	feeds  []*taskFeed
	phase  int64 // see segSource.phase
	closed bool
}

type runEntry struct {
	sp   *segPrep
	feed *taskFeed // nil: streamed through pqarrow
	base int
}

// newFeedRuns reads the isolated segment inputs of clusters, each with the
// columns of workOf(input); with dropNoTombstones they leave out _deleted
// where they hold no tombstone.
func (rc *readCtx) newFeedRuns(clusters [][]*planInput, dropNoTombstones bool, workOf func(*planInput) *arrow.Schema) *feedRuns {
	fr := &feedRuns{rc: rc, drop: dropNoTombstones, workOf: workOf, preps: map[*planInput]*runEntry{}}
	for _, cl := range clusters {
		if len(cl) == 1 && cl[0].seg != nil {
			fr.order = append(fr.order, cl[0])
		}
	}
	return fr
}

// source returns the segment source of the isolated input in.
func (fr *feedRuns) source(in *planInput) (exec.Source, error) {
	e, ok := fr.preps[in]
	if !ok {
		if err := fr.prepareRun(in); err != nil {
			return nil, err
		}
		e = fr.preps[in]
	}
	delete(fr.preps, in)
	return fr.rc.newSegSourceFrom(e.sp, e.feed, e.base, fr.rc.batch, &fr.phase), nil
}

// prepareRun prepares in and the isolated inputs after it (up to
// maxRunFiles) and starts their shared feed. An input after the first that
// fails to prepare ends the run: it fails (again) when its turn comes.
func (fr *feedRuns) prepareRun(in *planInput) error {
	for fr.next < len(fr.order) && fr.order[fr.next] != in {
		fr.next++
	}
	if fr.next == len(fr.order) {
		return kerr.New(kerr.Internal, "segment input not planned as isolated")
	}
	rc := fr.rc
	feed := rc.newTaskFeed(readWindow())
	for files := 0; fr.next < len(fr.order) && files < maxRunFiles; files++ {
		cur := fr.order[fr.next]
		sp, err := rc.prepareSeg(cur, fr.workOf(cur), fr.drop, 0)
		if err != nil {
			if cur == in {
				if feed.users == 0 {
					feed.close()
				}
				return err
			}
			break
		}
		fr.next++
		cur.file = nil // the feed (or the source) owns it now
		e := &runEntry{sp: sp}
		if !sp.stream {
			e.feed, e.base = feed, feed.add(sp)
		}
		fr.preps[cur] = e
	}
	if feed.users > 0 {
		fr.feeds = append(fr.feeds, feed)
	}
	return nil
}

// close closes every feed and the files of prepared inputs never opened.
func (fr *feedRuns) close() {
	if fr.closed {
		return
	}
	fr.closed = true
	for _, f := range fr.feeds {
		f.close()
	}
	for _, e := range fr.preps {
		if e.feed == nil {
			e.sp.file.close()
		}
	}
	fr.preps = nil
}

// readErr gives a narrow-reader error its store code: damaged bytes are
// Corruption; cancellation stays as it is (the stream reports Cancelled).
func readErr(err error, path string) error {
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, segment.ErrCorrupt):
		return kerr.Wrap(kerr.Corruption, err, "read segment %s", path)
	}
	return kerr.Wrap(kerr.CodeOfOr(err, kerr.IO), err, "read segment %s", path)
}
