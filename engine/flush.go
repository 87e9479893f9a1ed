package engine

import (
	"fmt"
	"os"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/google/uuid"
	"github.com/linxGnu/grocksdb"

	"github.com/kalamdb/libkalam/engine/rowcodec"
	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/manifest"
)

// flushBatchRows bounds the rows held in memory while a flush builds a segment.
const flushBatchRows = 64 * 1024

// deleteFlushed stages a point delete for every hot version in snap (used
// when writes raced the flush, so a range deletion would take them too).
func (st *store) deleteFlushed(t *table, snap *snapshot, wb *grocksdb.WriteBatch) error {
	ro := grocksdb.NewDefaultReadOptions()
	defer ro.Destroy()
	ro.SetSnapshot(snap.rsnap)
	ro.SetFillCache(false)
	ro.SetIterateUpperBound(u64be(t.uid + 1))
	it := st.rdb.NewIteratorCF(ro, st.cfData)
	defer it.Close()
	for it.Seek(u64be(t.uid)); it.Valid(); it.Next() {
		wb.DeleteCF(st.cfData, it.Key().Data())
	}
	return it.Err()
}

// Flush turns the table's hot versions into one segment sorted by key (the
// newest version of each key, tombstones included) by the commit protocol of
// DESIGN §2.2. It returns the new segment's id, or "" when there was nothing
// to flush.
func (db *DB) Flush(table string) (string, error) {
	if err := db.check(true); err != nil {
		return "", err
	}
	t, err := db.st.lookupTable(table)
	if err != nil {
		return "", err
	}
	id, err := db.st.flush(t)
	if err != nil || id == "" {
		return id, err
	}
	return id, db.st.maybeAutoCompact(t)
}

func (st *store) flush(t *table) (id string, err error) {
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	if t.dropped.Load() {
		return "", kerr.New(kerr.NotFound, "table %s was dropped", t.qname)
	}
	snap := st.takeSnapshot(t)
	defer snap.release(st)

	ro := grocksdb.NewDefaultReadOptions()
	defer ro.Destroy()
	ro.SetSnapshot(snap.rsnap)
	ro.SetFillCache(false)
	lo, hi := u64be(t.uid), u64be(t.uid+1)
	ro.SetIterateLowerBound(lo)
	ro.SetIterateUpperBound(hi)
	it := st.rdb.NewIteratorCF(ro, st.cfData)
	defer it.Close()
	it.Seek(lo)
	if !it.Valid() {
		return "", it.Err()
	}

	prev := snap.man
	seqNo := prev.LastSequenceNumber + 1
	sw, err := st.newSegWriter(t, seqNo)
	if err != nil {
		return "", fmt.Errorf("flush %s: %w", t.qname, err)
	}
	defer sw.abort()

	segSchema := t.segmentSchema()
	all := make([]int, t.schema.NumFields())
	for i := range all {
		all[i] = i
	}
	dec, err := rowcodec.NewDecoder(t.schema, all)
	if err != nil {
		return "", fmt.Errorf("flush %s: %w", t.qname, err)
	}
	rb := array.NewRecordBuilder(st.mem, segSchema)
	defer rb.Release()
	userB := rb.Fields()[:t.schema.NumFields()]
	seqB := rb.Field(t.schema.NumFields()).(*array.Int64Builder)
	delB := rb.Field(t.schema.NumFields() + 1).(*array.BooleanBuilder)

	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	var (
		keys    [][]byte
		seqs    []int64
		lastKey []byte
		entries int64
	)
	emit := func() error {
		if len(keys) == 0 {
			return nil
		}
		rec := rb.NewRecordBatch()
		defer rec.Release()
		err := sw.write(rec, keys, seqs)
		keys, seqs = keys[:0], seqs[:0]
		return err
	}
	for ; it.Valid(); it.Next() {
		k := it.Key().Data()
		entries++
		key, seq := splitHotKey(k)
		if lastKey != nil && string(key) == string(lastKey) {
			continue // an older version of the key just written
		}
		lastKey = append([]byte(nil), key...)
		v := it.Value().Data()
		if len(v) == 0 {
			return "", kerr.New(kerr.Corruption, "flush %s: empty hot row value", t.qname)
		}
		if err := dec.DecodeRow(v[1:], userB); err != nil {
			return "", fmt.Errorf("flush %s: hot row: %w", t.qname, err)
		}
		seqB.Append(seq)
		delB.Append(v[0] == flagTombstone)
		keys = append(keys, lastKey)
		seqs = append(seqs, seq)
		if len(keys) >= flushBatchRows {
			if err := emit(); err != nil {
				return "", fmt.Errorf("flush %s: %w", t.qname, err)
			}
		}
	}
	if err := it.Err(); err != nil {
		return "", kerr.Wrap(kerr.IO, err, "flush %s: read hot rows", t.qname)
	}
	if err := emit(); err != nil {
		return "", fmt.Errorf("flush %s: %w", t.qname, err)
	}
	meta, err := sw.finish()
	if err != nil {
		return "", fmt.Errorf("flush %s: %w", t.qname, err)
	}
	segPath := sw.final
	committed := false
	defer func() {
		if !committed {
			os.Remove(segPath) // an orphan otherwise; recovery would delete it too
		}
	}()
	meta.ID = uuid.NewString()
	next := prev.Clone()
	next.Version = prev.Version + 1
	next.UpdatedAt = nowMs()
	next.LastSequenceNumber = seqNo
	next.Segments = append(next.Segments, *meta)
	st.putHistory(wb, t, HistoryEntry{Version: next.Version, Time: next.UpdatedAt, Operation: opFlush, SegmentsAdded: 1})
	// Holding writeMu across the commit lets the flush tell whether rows
	// arrived since its snapshot. If none did, one range deletion removes
	// every flushed version: iterators skip a range tombstone at once, while
	// a million point tombstones would slow every later scan of hot rows
	// until RocksDB compacts them away. Otherwise the flushed versions are
	// deleted key by key (a second pass over the snapshot, outside the lock).
	t.writeMu.Lock()
	if t.hotRows.Load() == entries {
		wb.DeleteRangeCF(st.cfData, lo, hi)
	} else {
		t.writeMu.Unlock()
		if err := st.deleteFlushed(t, snap, wb); err != nil {
			return "", fmt.Errorf("flush %s: %w", t.qname, err)
		}
		t.writeMu.Lock()
	}
	err = st.commitManifest(t, prev, next, wb)
	t.writeMu.Unlock()
	if err != nil {
		return "", fmt.Errorf("flush %s: %w", t.qname, err)
	}
	committed = true
	t.hotRows.Add(-entries)
	st.mirrorManifest(t, next)
	return meta.ID, nil
}

// commitManifest is step 2 of the commit protocol: one synced WriteBatch
// with the new manifest (current and versioned) plus whatever the caller put
// in wb. On success the new manifest is published to readers.
func (st *store) commitManifest(t *table, prev, next *manifest.Manifest, wb *grocksdb.WriteBatch) error {
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
	if err := st.rdb.Write(st.syncWO, wb); err != nil {
		return kerr.Wrap(kerr.IO, err, "commit manifest version %d", next.Version)
	}
	t.mu.Lock()
	t.man = next
	t.mu.Unlock()
	return nil
}

// mirrorManifest is step 3: manifest.json follows RocksDB. A failure here
// does not undo the commit; the next open rewrites the file (step 4).
func (st *store) mirrorManifest(t *table, m *manifest.Manifest) {
	if err := st.hit("before_mirror"); err != nil {
		return
	}
	_ = manifest.WriteManifestFile(t.dir, m)
}

// countHotRows counts a table's hot versions (used once at open for the
// flush_rows trigger).
func (st *store) countHotRows(t *table) (int64, error) {
	ro := grocksdb.NewDefaultReadOptions()
	defer ro.Destroy()
	ro.SetIterateUpperBound(u64be(t.uid + 1))
	ro.SetFillCache(false)
	it := st.rdb.NewIteratorCF(ro, st.cfData)
	defer it.Close()
	var n int64
	for it.Seek(u64be(t.uid)); it.Valid(); it.Next() {
		n++
	}
	return n, it.Err()
}
