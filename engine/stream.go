package engine

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/google/uuid"

	"github.com/kalamdb/libkalam/engine/exec"
	"github.com/kalamdb/libkalam/engine/filter"
	"github.com/kalamdb/libkalam/kerr"
)

// Live-query states (DESIGN §5).
const (
	stateQueued  = "Queued"
	stateRunning = "Running"
)

// liveQuery is one scan in flight, as system.live_queries shows it.
type liveQuery struct {
	id      string
	session string
	sql     string
	start   time.Time
	state   atomic.Value // string
}

type liveRegistry struct {
	mu      sync.Mutex
	queries map[string]*liveQuery
}

func newLiveRegistry() *liveRegistry { return &liveRegistry{queries: map[string]*liveQuery{}} }

// add registers a scan. Its label is the host's (kalam_scan_options.sql),
// taken as given by the scan but shown in system.live_queries, a utf8
// column every reader of which would fail on bytes that are not UTF-8:
// such bytes are shown as U+FFFD.
func (r *liveRegistry) add(session, sql, state string) *liveQuery {
	q := &liveQuery{id: uuid.NewString(), session: strings.ToValidUTF8(session, "\uFFFD"),
		sql: strings.ToValidUTF8(sql, "\uFFFD"), start: time.Now()}
	q.state.Store(state)
	r.mu.Lock()
	r.queries[q.id] = q
	r.mu.Unlock()
	return q
}

func (r *liveRegistry) remove(q *liveQuery) {
	r.mu.Lock()
	delete(r.queries, q.id)
	r.mu.Unlock()
}

func (r *liveRegistry) list() []*liveQuery {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*liveQuery, 0, len(r.queries))
	for _, q := range r.queries {
		out = append(out, q)
	}
	return out
}

var errStreamClosed = kerr.New(kerr.Closed, "database handle was closed while the stream was open")

// stream is an open scan handed to a caller (engine.Stream).
type stream struct {
	db       *DB
	st       *store
	schema   *arrow.Schema
	src      exec.Source
	lq       *liveQuery
	needSlot bool
	hasSlot  bool

	cancelOnce sync.Once
	cancelCh   chan struct{}
	cancelSrc  exec.Source // the source as created: src is cleared at the end

	mu     sync.Mutex
	closed bool
	done   bool
}

// newStream registers a live query for src. It takes its own reference on
// the store: the caller is inside a call (db.enter), so the store is open.
func (db *DB) newStream(schema *arrow.Schema, src exec.Source, sql string, needSlot bool) *stream {
	state := stateRunning
	if needSlot {
		state = stateQueued
	}
	db.st.ref()
	db.st.openStreams.Add(1)
	return &stream{db: db, st: db.st, schema: schema, src: src, cancelSrc: src, needSlot: needSlot,
		lq: db.st.live.add(db.sessionID, sql, state), cancelCh: make(chan struct{})}
}

func (s *stream) Schema() *arrow.Schema { return s.schema }

// Next returns the next batch, or (nil, nil) at the end.
func (s *stream) Next() (arrow.RecordBatch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, kerr.New(kerr.InvalidArgument, "stream is released")
	}
	if s.db.failsStreams() {
		return nil, errStreamClosed
	}
	select {
	case <-s.cancelCh:
		return nil, kerr.New(kerr.Cancelled, "scan cancelled")
	default:
	}
	if s.done {
		return nil, nil
	}
	if s.needSlot && !s.hasSlot {
		closedCh := s.db.closedCh
		for !s.hasSlot {
			select {
			case s.st.slots <- struct{}{}:
				s.hasSlot = true
				s.lq.state.Store(stateRunning)
			case <-s.cancelCh:
				return nil, kerr.New(kerr.Cancelled, "scan cancelled while queued")
			case <-closedCh:
				if s.db.failsStreams() {
					return nil, errStreamClosed
				}
				closedCh = nil // detached: wait for the slot alone
			}
		}
		// A close racing the slot: the handle's streams fail from now on.
		if s.db.failsStreams() {
			return nil, errStreamClosed
		}
	}
	rec, err := s.src.Next()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil, kerr.New(kerr.Cancelled, "scan cancelled")
		}
		return nil, err
	}
	if rec == nil {
		s.done = true
		s.releaseResources()
	}
	return rec, nil
}

// Cancel makes pending and later Next calls fail with kerr.Cancelled; a
// Next that is reading stops at its reader's next check.
func (s *stream) Cancel() {
	s.cancelOnce.Do(func() {
		close(s.cancelCh)
		if c, ok := s.cancelSrc.(interface{ cancel() }); ok {
			c.cancel()
		}
	})
}

// Close releases the stream; safe from any goroutine, more than once.
func (s *stream) Close() {
	s.Cancel() // wakes a Next waiting for a slot, so the lock below is free soon
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	s.releaseResources()
	s.st.live.remove(s.lq)
	s.st.openStreams.Add(-1)
	s.st.unref()
}

// releaseResources frees inputs, snapshot and slot (at the end or on close).
func (s *stream) releaseResources() {
	if s.src != nil {
		s.src.Close()
		s.src = nil
	}
	if s.hasSlot {
		<-s.st.slots
		s.hasSlot = false
	}
}

// Scan starts a scan of a table or, for "system.x" names, a system table.
// It never blocks: the stream starts Queued and its first Next waits for one
// of the store's scan slots.
func (db *DB) Scan(table string, req ScanRequest) (Stream, error) {
	exit, err := db.enter(false)
	if err != nil {
		return nil, err
	}
	defer exit()
	if sys, ok := lookupSystemTable(table); ok {
		return db.scanSystem(sys, req)
	}
	t, err := db.st.lookupTable(table)
	if err != nil {
		return nil, err
	}
	p, err := db.st.planScan(t, req)
	if err != nil {
		return nil, err
	}
	src := p.pipeline()
	sql := req.SQL
	if sql == "" {
		sql = generatedSQL(p.outNames, t.qname, p.pred, req.Limit, "")
	}
	return db.newStream(p.out, &readSource{src: src, stop: p.stop, release: p.close}, sql, true), nil
}

// readSource ends a read with its pipeline: what the pipeline does not own
// (the pinned snapshot, files opened for planning but never read) goes
// with it.
type readSource struct {
	src     exec.Source
	stop    context.CancelFunc // cancels the read's context
	release func()             // after the pipeline closed
}

func (rs *readSource) Next() (arrow.RecordBatch, error) { return rs.src.Next() }

// cancel interrupts a read in progress (see readCtx.ctx).
func (rs *readSource) cancel() {
	if rs.stop != nil {
		rs.stop()
	}
}
func (rs *readSource) Close() {
	rs.src.Close()
	rs.release()
}

func generatedSQL(cols []string, table string, pred *filter.Predicate, limit int64, extra string) string {
	var b strings.Builder
	b.WriteString("SELECT ")
	if len(cols) == 0 {
		b.WriteString("COUNT(*)")
	}
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(filter.QuoteIdent(c))
	}
	b.WriteString(" FROM ")
	b.WriteString(table)
	b.WriteString(extra)
	if pred != nil {
		b.WriteString(" WHERE ")
		b.WriteString(pred.String())
	}
	if limit >= 0 {
		b.WriteString(" LIMIT ")
		b.WriteString(itoa(limit))
	}
	return b.String()
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
