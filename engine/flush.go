package engine

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/linxGnu/grocksdb"

	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/manifest"
)

// A flush moves hot rows to its segment writer in batches of
// flushBatchRows rows, at most flushQueue of them waiting (besides the one
// being decoded and the one being written).
const (
	flushBatchRows = 64 * 1024
	flushQueue     = 2
)

// flushBatch is one batch of a flush: rows in the segment schema, in key
// order, with the encoded keys of the first and last rows (the segment
// writer needs no others).
type flushBatch struct {
	rec         arrow.RecordBatch
	first, last []byte
}

// Flush turns the table's hot versions into one segment sorted by key (the
// newest version of each key, tombstones included) by the commit protocol of
// DESIGN §2.2. It returns the new segment's id, or "" when there was nothing
// to flush. An automatic compaction after it (auto_compact_segments) never
// turns the committed flush into an error.
func (db *DB) Flush(table string) (string, error) {
	exit, err := db.enter(true)
	if err != nil {
		return "", err
	}
	defer exit()
	t, err := db.st.lookupTable(table)
	if err != nil {
		return "", err
	}
	id, err := db.st.flush(t)
	if err != nil || id == "" {
		return id, err
	}
	db.st.maybeAutoCompact(t)
	return id, nil
}

func (st *store) flush(t *table) (string, error) {
	var removed int64
	id, err := withOlderLayoutFallback(t, func() (string, error) {
		id, r, err := st.flushHot(t)
		removed = r
		return id, err
	})
	if err == nil && id != "" {
		st.retireFlushedMemtable(removed)
	}
	return id, err
}

// flushHot writes the table's frozen hot generations to a segment and
// commits it; removed is the number of hot versions the commit deleted.
// It returns with its read state (and RocksDB snapshot) released.
func (st *store) flushHot(t *table) (id string, removed int64, err error) {
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	if t.dropped.Load() {
		return "", 0, kerr.New(kerr.NotFound, "table %s was dropped", t.qname)
	}
	if err := st.checkSpace(0); err != nil {
		return "", 0, fmt.Errorf("flush %s: %w", t.qname, err)
	}
	// Freeze the generations written so far: writes from now on go to the
	// next one, so what this flush reads is exactly what its commit removes.
	t.writeMu.Lock()
	hi := t.gen
	t.gen++
	fc := st.takeFlushCache(t, hi)
	rs, err := st.acquire(t, 0)
	t.writeMu.Unlock()
	if fc != nil {
		defer fc.release()
	}
	if err != nil {
		return "", 0, err
	}
	defer rs.release(st)
	if err := st.hit("flush_frozen"); err != nil {
		return "", 0, err
	}
	hv, _ := rs.hot(st)
	all, err := hv.gens()
	if err != nil {
		return "", 0, fmt.Errorf("flush %s: %w", t.qname, err)
	}
	var gens []uint64
	for _, g := range all {
		if g <= hi {
			gens = append(gens, g)
		}
	}
	if len(gens) == 0 {
		return "", 0, nil
	}
	walSynced := st.syncWALAhead()
	defer walSynced()
	prev := rs.man
	sv := rs.view // rows of older schema versions are read in this one
	// The rows come from the flush cache when it holds all of them, or
	// else from RocksDB; versions counts what the commit removes.
	var read func(out chan<- flushBatch, stop <-chan struct{}) error
	var versions func() int64
	if fc.usable(t, gens, sv) {
		read = func(out chan<- flushBatch, stop <-chan struct{}) error { return fc.send(st, out, stop) }
		versions = func() int64 { return fc.rows }
	} else {
		it := hv.iterCache(gens, nil, nil, false)
		defer it.Close()
		read = func(out chan<- flushBatch, stop <-chan struct{}) error { return st.flushRead(t, sv, it, out, stop) }
		versions = func() int64 { return it.visited }
	}
	seqNo := t.nextSegmentNumber(prev)
	sw, err := st.newSegWriter(t, sv, seqNo)
	if err != nil {
		return "", 0, fmt.Errorf("flush %s: %w", t.qname, err)
	}
	defer sw.abort()

	// Reading and decoding the hot rows (one goroutine) overlaps with
	// encoding and writing the segment (this one); batches of
	// flushBatchRows rows go between them through a channel of
	// flushQueue, which bounds the memory a flush holds whatever the
	// table's size. Whichever side fails first stops the other, and this
	// function returns only after the reader has ended: it uses it, which
	// the deferred Close frees.
	batches := make(chan flushBatch, flushQueue)
	stop := make(chan struct{})
	var readErr error
	go func() {
		defer close(batches)
		defer func() {
			// A panic here would take the host process down: the C API
			// turns panics into errors only on the calling goroutine.
			if r := recover(); r != nil {
				readErr = kerr.New(kerr.Internal, "panic reading hot rows: %v", r)
			}
		}()
		readErr = read(batches, stop)
	}()
	halted := false
	halt := func() {
		if !halted {
			halted = true
			close(stop)
		}
		for b := range batches {
			b.rec.Release()
		}
	}
	defer halt()
	seqCol := sv.schema.NumFields()
	for b := range batches {
		seqs := b.rec.Column(seqCol).(*array.Int64).Int64Values()
		err := sw.write(b.rec, b.first, b.last, seqs)
		b.rec.Release()
		if err != nil {
			halt()
			return "", 0, fmt.Errorf("flush %s: %w", t.qname, err)
		}
	}
	// batches is closed: the reader has ended, and readErr is its result.
	if readErr != nil {
		return "", 0, fmt.Errorf("flush %s: %w", t.qname, readErr)
	}
	meta, err := sw.finish()
	if err != nil {
		return "", 0, fmt.Errorf("flush %s: %w", t.qname, err)
	}
	committed := false
	defer func() {
		if !committed {
			sw.discard() // an orphan otherwise; open would delete it too
		}
	}()
	next := prev.Clone()
	next.Version = prev.Version + 1
	next.UpdatedAt = nowMs()
	next.LastSequenceNumber = seqNo
	next.Segments = append(next.Segments, *meta)
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	st.putHistory(wb, t, HistoryEntry{Version: next.Version, Time: next.UpdatedAt, Operation: opFlush, SegmentsAdded: 1})
	// The generations read are frozen: one range deletion removes exactly
	// the versions the segment now holds, and later scans seek past it.
	wb.DeleteRangeCF(st.cfData, hotGenPrefix(t.uid, gens[0]), hotGenPrefix(t.uid, hi+1))
	wb.PutCF(st.cfCat, uidKey(catHotLo, t.uid), u64be(hi+1))
	walSynced()
	if err := st.commitManifest(t, prev, next, wb, hi+1); err != nil {
		return "", 0, fmt.Errorf("flush %s: %w", t.qname, err)
	}
	committed = true
	removed = versions()
	t.hotRows.Add(-removed)
	t.forgetGens(hi + 1)
	if err := st.mirrorManifest(t, next); err != nil {
		return meta.ID, removed, fmt.Errorf("flush %s: %w", t.qname, err)
	}
	return meta.ID, removed, nil
}

// commitManifest is step 2 of the commit protocol: one synced WriteBatch
// with the new manifest (current and versioned) plus whatever the caller put
// in wb. On success the new manifest (and hotLo, when it moves) is
// published to readers.
func (st *store) commitManifest(t *table, prev, next *manifest.Manifest, wb *grocksdb.WriteBatch, hotLo uint64) error {
	return st.commitManifestWith(t, prev, next, wb, hotLo, nil)
}

// commitManifestWith is commitManifest that also runs also (under the
// table's read-state lock) when publishing, so that readers see the new
// manifest and whatever also changes (an alter's schema) together.
func (st *store) commitManifestWith(t *table, prev, next *manifest.Manifest, wb *grocksdb.WriteBatch, hotLo uint64, also func()) error {
	if err := manifest.ValidateSuccessor(prev, next); err != nil {
		return kerr.Wrap(kerr.Internal, err, "new manifest")
	}
	if err := next.Validate(); err != nil {
		return kerr.Wrap(kerr.Internal, err, "new manifest")
	}
	data, err := manifest.Encode(next)
	if err != nil {
		return kerr.Wrap(kerr.Internal, err, "encode manifest")
	}
	wb.PutCF(st.cfMan, manifestKey(t.ns, t.name), data)
	wb.PutCF(st.cfMan, versionKey(t.ns, t.name, next.Version), data)
	if err := st.hit("before_commit"); err != nil {
		return err
	}
	// Every commit mirrors itself in storage: one of a store whose storage
	// another store claimed would be acknowledged here and refused there
	// (a schema change, which writes nothing to storage before it, was).
	if err := st.storageClaimLost(); err != nil {
		return err
	}
	// The write and the publish are one step for readers, who take the
	// manifest, hotLo and a RocksDB snapshot together (acquire): between
	// them a reader could pair the old manifest with a snapshot in which a
	// flush's hot rows are already range-deleted, and see those rows
	// nowhere (a scan missing them, a delete finding its key not live).
	// Readers starting meanwhile wait for one synced write (t.commitMu);
	// nothing else does.
	t.commitMu.Lock()
	defer t.commitMu.Unlock()
	if err := st.writeSync(wb, fmt.Sprintf("commit manifest version %d", next.Version)); err != nil {
		return err
	}
	_ = st.hit("commit_written") // a pause point for tests: the commit is durable, it cannot fail now
	t.publish(next, hotLo, also)
	return nil
}

// flushRead reads the newest version of every key from it (tombstones
// included), decodes the rows into the segment schema of sv and sends them
// to out in batches, until the end, an error, or stop is closed.
func (st *store) flushRead(t *table, sv *schemaView, it *hotIter, out chan<- flushBatch, stop <-chan struct{}) error {
	segSchema := sv.segmentSchema()
	ncols := sv.schema.NumFields()
	every := make([]int, ncols)
	for i := range every {
		every[i] = i
	}
	dec := newHotDecoder(t, st.mem, sv, every)
	defer dec.release()
	rb := array.NewRecordBuilder(st.mem, segSchema)
	defer rb.Release()
	userB := rb.Fields()[:ncols]
	seqB := rb.Field(ncols).(*array.Int64Builder)
	delB := rb.Field(ncols + 1).(*array.BooleanBuilder)

	var first, last []byte
	n := 0
	emit := func() error {
		if n == 0 {
			return nil
		}
		if err := st.hit("flush_read_batch"); err != nil {
			return err
		}
		b := flushBatch{rec: rb.NewRecordBatch(), first: first, last: bytes.Clone(last)}
		n, first = 0, nil
		select {
		case out <- b:
			return nil
		case <-stop:
			b.rec.Release()
			return errFlushStopped
		}
	}
	for it.First(); it.Valid(); it.NextKey() {
		key, seq, v, _ := it.Entry()
		if n == 0 {
			reserve(rb, flushBatchRows)
			first = bytes.Clone(key)
		}
		tomb, err := dec.decode(v, userB)
		if err != nil {
			return fmt.Errorf("hot row: %w", err)
		}
		seqB.Append(seq)
		delB.Append(tomb)
		// Keys are copied only for a batch's first and last row; this
		// copy reuses one buffer.
		last = append(last[:0], key...)
		if n++; n == flushBatchRows {
			if err := emit(); err != nil {
				return err
			}
		}
	}
	if err := it.Err(); err != nil {
		return err
	}
	return emit()
}

// errFlushStopped ends a flush's reader when the writer side failed (the
// writer's error is the one reported).
var errFlushStopped = errors.New("flush stopped")

// reserve gives the builders of rb room for n more rows, so that a batch
// fills its buffers without regrowing them (variable-length data still
// grows as needed).
func reserve(rb *array.RecordBuilder, n int) {
	for _, b := range rb.Fields() {
		b.Reserve(n)
	}
}
