package segment

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// ReadRowGroup decodes the given columns (nil: all) of row group rg into a
// record batch whose schema is those fields of Schema(), in that order.
func (f *File) ReadRowGroup(ctx context.Context, rg int, cols []int, mem memory.Allocator) (arrow.RecordBatch, error) {
	return f.readTask(ctx, Task{RowGroup: rg, Columns: cols}, mem)
}

// Task is one unit of ReadTasks: columns of a row group, optionally a row
// range of it.
type Task struct {
	// File is the segment to read. File.ReadTasks fills it in when nil;
	// the package-level ReadTasks takes tasks over any number of files, so
	// that one window spans a scan's segments.
	File     *File
	RowGroup int
	// Columns are top-level column indices; nil means all columns.
	Columns []int
	// FirstRow and NumRows select rows [FirstRow, FirstRow+NumRows) of the
	// row group; NumRows == 0 means the whole row group.
	FirstRow, NumRows int64
}

func (f *File) taskColumns(t Task) []int {
	if t.Columns != nil {
		return t.Columns
	}
	all := make([]int, len(f.cols))
	for i := range all {
		all[i] = i
	}
	return all
}

func (f *File) taskSchema(cols []int) *arrow.Schema {
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = f.schema.Field(c)
	}
	md := f.schema.Metadata()
	return arrow.NewSchema(fields, &md)
}

// taskRows resolves a task's row range.
func (f *File) taskRows(t Task) (int64, int64, error) {
	if t.RowGroup < 0 || t.RowGroup >= len(f.meta.rowGroups) {
		return 0, 0, fmt.Errorf("segment %s: no row group %d", f.name, t.RowGroup)
	}
	if t.NumRows == 0 && t.FirstRow == 0 {
		return 0, f.meta.rowGroups[t.RowGroup].numRows, nil
	}
	return t.FirstRow, t.NumRows, nil
}

func (f *File) readTask(ctx context.Context, t Task, mem memory.Allocator) (arrow.RecordBatch, error) {
	cols := f.taskColumns(t)
	first, n, err := f.taskRows(t)
	if err != nil {
		return nil, err
	}
	arrs := make([]arrow.Array, 0, len(cols))
	defer func() {
		for _, a := range arrs {
			a.Release()
		}
	}()
	for _, c := range cols {
		a, err := f.ReadColumnRows(ctx, t.RowGroup, c, first, n, mem)
		if err != nil {
			return nil, err
		}
		arrs = append(arrs, a)
	}
	return array.NewRecordBatch(f.taskSchema(cols), arrs, n), nil
}

// ReadOptions configures ReadTasks.
type ReadOptions struct {
	// Workers is the number of decoding goroutines; 0 means GOMAXPROCS.
	Workers int
	// Window is how many tasks may be decoded ahead of the consumer,
	// counting the one it waits for; 0 means Workers. It bounds memory:
	// at most Window tasks' arrays exist that Next has not returned.
	Window int
}

// TaskReader delivers the record batches of ReadTasks in task order.
type TaskReader struct {
	tasks  []Task
	mem    memory.Allocator
	window int
	cancel context.CancelFunc
	ctx    context.Context

	mu       sync.Mutex
	cond     *sync.Cond
	slots    []taskSlot
	nextUnit int // next (task, column) unit to hand out
	units    []unit
	consumed int // tasks returned by Next
	closed   bool
	err      error
	// failTask is the first task (in task order) whose decoding failed,
	// -1 while none has; failed is closed at the first failure. Workers
	// then take no new unit, but finish those in hand: every unit of an
	// earlier task was handed out before any of a later one, so earlier
	// tasks still complete and arrive intact, and the error arrives at the
	// failing task's turn (a scan whose limit stops before it never sees
	// it).
	failTask int
	failed   chan struct{}
	wg       sync.WaitGroup
}

type unit struct{ task, col int }

type taskSlot struct {
	arrs []arrow.Array
	left int
	done chan struct{}
	err  error
}

// ReadTasks is the package-level ReadTasks for tasks of this file (tasks
// whose File is nil are read from f).
func (f *File) ReadTasks(ctx context.Context, tasks []Task, mem memory.Allocator, opts ReadOptions) *TaskReader {
	own := make([]Task, len(tasks))
	for i, t := range tasks {
		if t.File == nil {
			t.File = f
		}
		own[i] = t
	}
	return ReadTasks(ctx, own, mem, opts)
}

// ReadTasks decodes tasks on Workers goroutines, one (task, column) unit
// at a time, never starting a unit of task i before task i-Window has
// been returned by Next, and delivers one record batch per task, in task
// order. Every task must name its File. Cancel ctx or call Close to stop
// early.
func ReadTasks(ctx context.Context, tasks []Task, mem memory.Allocator, opts ReadOptions) *TaskReader {
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	window := opts.Window
	if window <= 0 {
		window = workers
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &TaskReader{tasks: tasks, mem: mem, window: window, ctx: ctx, cancel: cancel,
		slots: make([]taskSlot, len(tasks)), failTask: -1, failed: make(chan struct{})}
	r.cond = sync.NewCond(&r.mu)
	for i, t := range tasks {
		cols := t.File.taskColumns(t)
		r.slots[i] = taskSlot{arrs: make([]arrow.Array, len(cols)), left: len(cols), done: make(chan struct{})}
		if len(cols) == 0 {
			close(r.slots[i].done)
		}
		for c := range cols {
			r.units = append(r.units, unit{task: i, col: c})
		}
	}
	// Wake waiting workers when the context ends.
	go func() {
		<-ctx.Done()
		r.mu.Lock()
		r.cond.Broadcast()
		r.mu.Unlock()
	}()
	for w := 0; w < workers; w++ {
		r.wg.Add(1)
		go r.work()
	}
	return r
}

func (r *TaskReader) work() {
	defer r.wg.Done()
	for {
		r.mu.Lock()
		for !r.closed && r.ctx.Err() == nil && r.failTask < 0 && r.nextUnit < len(r.units) &&
			r.units[r.nextUnit].task >= r.consumed+r.window {
			r.cond.Wait()
		}
		if r.closed || r.ctx.Err() != nil || r.failTask >= 0 || r.nextUnit >= len(r.units) {
			r.mu.Unlock()
			return
		}
		u := r.units[r.nextUnit]
		r.nextUnit++
		r.mu.Unlock()

		t := r.tasks[u.task]
		cols := t.File.taskColumns(t)
		var a arrow.Array
		first, n, err := t.File.taskRows(t)
		if err == nil {
			a, err = t.File.ReadColumnRows(r.ctx, t.RowGroup, cols[u.col], first, n, r.mem)
		}
		r.mu.Lock()
		s := &r.slots[u.task]
		if err != nil && s.err == nil {
			s.err = err
		}
		if err != nil && (r.failTask < 0 || u.task < r.failTask) {
			if r.failTask < 0 {
				close(r.failed)
			}
			r.failTask = u.task
			r.cond.Broadcast() // idle workers stop
		}
		if a != nil {
			if r.closed {
				a.Release()
			} else {
				s.arrs[u.col] = a
			}
		}
		s.left--
		if s.left == 0 {
			close(s.done)
		}
		r.mu.Unlock()
	}
}

// Next returns the next task's record batch (owned by the caller), or
// nil, nil after the last one.
func (r *TaskReader) Next() (arrow.RecordBatch, error) {
	r.mu.Lock()
	if r.err != nil || r.closed {
		err := r.err
		r.mu.Unlock()
		return nil, err
	}
	i := r.consumed
	r.mu.Unlock()
	if i >= len(r.tasks) {
		r.Close() // ends the context watcher
		return nil, nil
	}
	s := &r.slots[i]
	if err := r.wait(i, s); err != nil {
		return nil, r.fail(err)
	}
	r.mu.Lock()
	err := s.err
	r.mu.Unlock()
	if err != nil {
		return nil, r.fail(err)
	}
	t := r.tasks[i]
	cols := t.File.taskColumns(t)
	_, n, _ := t.File.taskRows(t)
	rec := array.NewRecordBatch(t.File.taskSchema(cols), s.arrs, n)
	for _, a := range s.arrs {
		a.Release()
	}
	r.mu.Lock()
	s.arrs = nil
	r.consumed++
	r.cond.Broadcast()
	r.mu.Unlock()
	return rec, nil
}

// wait waits until task i (the next one) is decoded, and returns the error
// that ends the read instead: the cancellation of ctx, or task i's own
// failure. A later task's failure is not task i's: i is still decoded.
func (r *TaskReader) wait(i int, s *taskSlot) error {
	failed := r.failed
	for {
		select {
		case <-s.done:
			return nil
		case <-failed:
			r.mu.Lock()
			ft := r.failTask
			var err error
			if ft <= i {
				err = r.slots[ft].err
			}
			r.mu.Unlock()
			if err != nil {
				return err
			}
			failed = nil // a later task failed: keep waiting for this one
		case <-r.ctx.Done():
			// A worker may have just finished this task; prefer its result.
			select {
			case <-s.done:
				return nil
			default:
				return r.ctx.Err()
			}
		}
	}
}

func (r *TaskReader) fail(err error) error {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	err = r.err
	r.mu.Unlock()
	r.Close()
	return err
}

// Close stops the workers, waits for them and releases every decoded array
// that Next has not returned. Safe to call more than once.
func (r *TaskReader) Close() {
	r.mu.Lock()
	r.closed = true
	r.cond.Broadcast()
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.slots {
		for _, a := range r.slots[i].arrs {
			if a != nil {
				a.Release()
			}
		}
		r.slots[i].arrs = nil
	}
}
