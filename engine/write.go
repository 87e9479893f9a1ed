package engine

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/linxGnu/grocksdb"

	"github.com/kalamdb/libkalam/kerr"
)

// WriteMode is how a write treats keys that have a live row (DESIGN §3.1).
type WriteMode int

// Write modes.
const (
	// WriteUpsert: the input row becomes the whole new version of its key.
	WriteUpsert WriteMode = iota
	// WriteInsert: rows whose key has a live row are skipped.
	WriteInsert
	// WriteUpdate: the current row with the input's columns replaced; keys
	// without a live row are skipped.
	WriteUpdate
	// WriteMerge: WriteUpdate for keys with a live row, an insert for others.
	WriteMerge
)

// SchemaMode is what a write does with input columns the table lacks.
type SchemaMode int

// Schema modes.
const (
	// SchemaStrict: an input column the table lacks is InvalidArgument.
	SchemaStrict SchemaMode = iota
	// SchemaMerge: such columns are first added to the table (nullable).
	SchemaMerge
)

// WriteOptions configure Write. The zero value is an upsert that refuses
// unknown columns (what Append does).
type WriteOptions struct {
	Mode       WriteMode
	SchemaMode SchemaMode
}

// Append writes every batch of rdr to the table's hot rows and returns the
// number of rows written (an upsert). Each input batch is committed
// atomically; on an error, batches already committed stay written (their
// count is returned).
func (db *DB) Append(name string, rdr array.RecordReader) (int64, error) {
	return db.Write(name, rdr, WriteOptions{})
}

// AppendRecord appends one record batch.
func (db *DB) AppendRecord(table string, rec arrow.RecordBatch) (int64, error) {
	rdr, err := array.NewRecordReader(rec.Schema(), []arrow.RecordBatch{rec})
	if err != nil {
		return 0, kerr.Wrap(kerr.InvalidArgument, err, "append to %q", table)
	}
	defer rdr.Release()
	return db.Append(table, rdr)
}

// Write writes every batch of rdr in the given mode and returns the number
// of rows that produced a new version. Each batch is atomic: a batch that
// is refused stores nothing; batches committed before an error stay (their
// count is returned).
func (db *DB) Write(name string, rdr array.RecordReader, opts WriteOptions) (int64, error) {
	if opts.Mode < WriteUpsert || opts.Mode > WriteMerge {
		return 0, kerr.New(kerr.InvalidArgument, "write to %q: unknown write mode %d", name, opts.Mode)
	}
	if opts.SchemaMode != SchemaStrict && opts.SchemaMode != SchemaMerge {
		return 0, kerr.New(kerr.InvalidArgument, "write to %q: unknown schema mode %d", name, opts.SchemaMode)
	}
	return db.writeStream("write to", name, rdr, false, func(st *store, t *table, rec arrow.RecordBatch, c *conformer) (int64, error) {
		if opts.SchemaMode != SchemaMerge {
			return st.writeBatch(t, rec, c, opts.Mode, false)
		}
		// The columns are added by one alter and the rows written under
		// the write lock after it: a drop or rename of an input column may
		// commit in between, and the batch then adds it again rather than
		// fail on a column merge mode adds (DESIGN §3.1).
		for attempt := 1; ; attempt++ {
			err := st.addInputColumns(t, rec.Schema(), func(future *arrow.Schema) error {
				probe := &conformer{target: future, what: c.what, mem: c.mem, rows: c.rows}
				out, _, err := probe.conform(rec)
				if out != nil {
					out.Release()
				}
				if err != nil {
					return err
				}
				// The rows' space too, before the alter commits: on a full
				// disk the alter went in and the rows were refused.
				return st.checkSpace(2*recordBytes(rec) + 64*rec.NumRows())
			})
			if err != nil {
				return 0, err
			}
			if err := st.hit("write_columns_added"); err != nil {
				return 0, err
			}
			n, err := st.writeBatch(t, rec, c, opts.Mode, attempt < mergeAttempts)
			if !errors.Is(err, errColumnsMoved) {
				return n, err
			}
		}
	})
}

// recordBytes is the size of rec's buffers. Writing the rows takes more
// (keys, _seq, row encoding: a full-disk pass measured 1.3 times as much),
// so the check before a merge-mode alter asks for twice it and 64 bytes a
// row.
func recordBytes(rec arrow.RecordBatch) int64 {
	var n int64
	var add func(d arrow.ArrayData)
	add = func(d arrow.ArrayData) {
		for _, b := range d.Buffers() {
			if b != nil {
				n += int64(b.Len())
			}
		}
		for _, c := range d.Children() {
			add(c)
		}
	}
	for _, col := range rec.Columns() {
		add(col.Data())
	}
	return n
}

// mergeAttempts bounds how often a schema_mode merge batch adds its
// columns again after another call dropped or renamed one of them before
// the batch was written; the last attempt reports the missing column.
const mergeAttempts = 8

// errColumnsMoved: an input column is missing from the table's schema
// under the write lock, though the batch had it added (a drop or rename
// committed in between).
var errColumnsMoved = errors.New("an input column left the table before the write")

// Delete writes a tombstone for every key of rdr that has a live row and
// returns how many did. rdr carries the key columns (the user column and
// primary-key columns; _seq for tables without a primary key).
func (db *DB) Delete(name string, rdr array.RecordReader) (int64, error) {
	return db.writeStream("delete from", name, rdr, true, (*store).deleteBatch)
}

// writeStream runs a write or a delete batch by batch; the flush_rows
// trigger is checked once at the end (its failure never fails the write).
func (db *DB) writeStream(verb, name string, rdr array.RecordReader, keys bool,
	apply func(*store, *table, arrow.RecordBatch, *conformer) (int64, error)) (int64, error) {
	exit, err := db.enter(true)
	if err != nil {
		return 0, err
	}
	defer exit()
	if rdr == nil {
		return 0, kerr.New(kerr.InvalidArgument, "%s %q: nil input", verb, name)
	}
	t, err := db.st.lookupTable(name)
	if err != nil {
		return 0, err
	}
	c := &conformer{what: verb + " " + t.qname, mem: db.st.mem, keys: keys}
	var total int64
	for rdr.Next() {
		rec := rdr.RecordBatch()
		if rec.NumRows() == 0 {
			continue
		}
		n, err := apply(db.st, t, rec, c)
		total += n
		if err != nil {
			return total, err
		}
	}
	if err := rdr.Err(); err != nil {
		if total > 0 {
			// Each batch commits on its own: say what stays.
			return total, kerr.Wrap(kerr.CodeOfOr(err, kerr.IO), err, "%s %s: reading input, after the earlier batches' %d rows were written (they stay)", verb, t.qname, total)
		}
		return total, kerr.Wrap(kerr.CodeOfOr(err, kerr.IO), err, "%s %s: reading input", verb, t.qname)
	}
	db.st.maybeAutoFlush(t)
	return total, nil
}

// writeBatch conforms one input batch to the table's current schema and
// writes it in mode, under the table's write lock: an update's read of the
// current rows and its write see no other write in between.
// With retryMissing (schema_mode merge, which added the input's columns
// before) an input column the schema lacks now is errColumnsMoved.
func (st *store) writeBatch(t *table, rec arrow.RecordBatch, c *conformer, mode WriteMode, retryMissing bool) (int64, error) {
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	if t.dropped.Load() {
		return 0, kerr.New(kerr.NotFound, "table %s was dropped", t.qname)
	}
	if retryMissing {
		cur := t.view().schema
		for _, f := range rec.Schema().Fields() {
			if f.Name != colSeq && f.Name != colDeleted && len(cur.FieldIndices(f.Name)) == 0 {
				return 0, errColumnsMoved
			}
		}
	}
	sv := t.view()
	c.target = sv.schema
	c.mayOmit = nil
	if mode == WriteUpdate || mode == WriteMerge {
		c.mayOmit = func(i int) bool { return !sv.isKey(i) }
	}
	conf, present, err := c.conform(rec)
	c.mayOmit = nil
	if err != nil {
		return 0, err
	}
	defer conf.Release()
	if sv.keyHasSeq && (mode == WriteUpdate || mode == WriteMerge) {
		return 0, kerr.New(kerr.InvalidArgument,
			"%s: table %s has no primary key, so input rows have no key to match (write modes update and merge need one)", c.what, t.qname)
	}
	n := int(conf.NumRows())
	seqs := st.seq.next(n, make([]int64, 0, n))
	keys, err := sv.rowKeys(conf, seqs)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", c.what, err)
	}
	if mode == WriteUpsert || sv.keyHasSeq {
		// Every row is new (a table without a primary key keys rows by
		// their fresh _seq, so insert is upsert too).
		return st.putRows(t, sv, conf, keys, seqs, nil)
	}
	if mode == WriteInsert {
		live, _, err := st.liveKeys(t, keys)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", c.what, err)
		}
		keep := make([]bool, n)
		seen := map[string]bool{}
		for i, k := range keys {
			// The first row of a key inserts it; a later one in the same
			// batch finds it live.
			keep[i] = !live[i] && !seen[string(k)]
			seen[string(k)] = true
		}
		return st.putRows(t, sv, conf, keys, seqs, keep)
	}
	if mode == WriteMerge {
		if err := st.checkInsertsComplete(t, sv, present, keys, c.what, c.rows-int64(n)); err != nil {
			return 0, err
		}
	}
	return st.updateRows(t, sv, conf, present, keys, seqs, mode == WriteMerge)
}

// checkInsertsComplete refuses a merge-mode batch that leaves out a
// non-nullable column when one of its keys has no live row: that row is
// inserted, and there is no current row to keep the column from. Checked
// before anything is written, so that the refused batch stores nothing.
func (st *store) checkInsertsComplete(t *table, sv *schemaView, present []bool, keys [][]byte, what string, base int64) error {
	missing := -1
	for i, f := range sv.schema.Fields() {
		if !present[i] && !f.Nullable {
			missing = i
			break
		}
	}
	if missing < 0 {
		return nil
	}
	live, _, err := st.liveKeys(t, keys)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	seen := map[string]bool{}
	for i, k := range keys {
		if !live[i] && !seen[string(k)] {
			return kerr.New(kerr.InvalidArgument, "%s: missing non-nullable column %q: row %d's key has no row to keep it from, so merge mode would insert it without one",
				what, sv.schema.Field(missing).Name, base+int64(i))
		}
		seen[string(k)] = true
	}
	return nil
}

// packedPutBytes is how many bytes of entries putRows packs per cgo call.
const packedPutBytes = 4 << 20

// putRows writes the rows of rec (keep: nil, or the rows to write) as new
// versions in one batch.
func (st *store) putRows(t *table, sv *schemaView, rec arrow.RecordBatch, keys [][]byte, seqs []int64, keep []bool) (int64, error) {
	cols := rec.Columns()
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	// Entries go into the batch a few MiB at a time, one cgo call each
	// (a call per row was a sixth of an append's CPU).
	var p packedPuts
	var written int64
	var last int64
	for i := range keys {
		if keep != nil && !keep[i] {
			continue
		}
		p.begin()
		p.buf = hotKey(p.buf, t.uid, t.gen, keys[i], seqs[i])
		p.keyEnd()
		p.buf = appendHotValue(p.buf, false, sv, cols, i)
		p.end()
		if len(p.buf) >= packedPutBytes {
			if err := p.putPacked(wb, st.cfData); err != nil {
				return 0, fmt.Errorf("write to %s: %w", t.qname, err)
			}
		}
		written++
		last = seqs[i]
	}
	if written == 0 {
		return 0, nil
	}
	if err := p.putPacked(wb, st.cfData); err != nil {
		return 0, fmt.Errorf("write to %s: %w", t.qname, err)
	}
	st.putTableHWM(wb, t, last)
	if err := st.hit("append"); err != nil {
		return 0, err
	}
	// Before the write: a reader never sees a hot key above the bound.
	t.noteHotKeys(t.gen, keys, true)
	if err := st.writeAsync(wb, "write to "+t.qname); err != nil {
		return 0, err
	}
	t.hwm = max(t.hwm, last)
	t.hotRows.Add(written)
	st.cacheRows(t, t.gen, sv, rec, keys, seqs, keep)
	return written, nil
}

// putTableHWM persists the table's _seq high-water mark in a write batch.
// Writes of one table are serialised (writeMu), so the mark never goes
// back; open takes the maximum over all tables.
func (st *store) putTableHWM(wb *grocksdb.WriteBatch, t *table, seq int64) {
	if seq > t.hwm {
		wb.PutCF(st.cfCat, uidKey(catTableHWM, t.uid), u64be(uint64(seq)))
	}
}

// writeAsync commits an acknowledged-when-in-the-WAL write (appends and
// deletes), after checking the disk has room for it.
func (st *store) writeAsync(wb *grocksdb.WriteBatch, what string) error {
	if err := st.checkSpace(int64(len(wb.Data()))); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := st.rdb.Write(st.asyncWO, wb); err != nil {
		return st.writeError(err, what)
	}
	return nil
}

// maybeAutoFlush runs the flush_rows trigger after a committed write. Its
// failure is the table's background error (kalam_table_info), never the
// write's: the write is committed.
func (st *store) maybeAutoFlush(t *table) {
	if t.opts.flushRows <= 0 || t.hotRows.Load() < t.opts.flushRows {
		return
	}
	// The write has committed: a panic here (a bug) must not reach the
	// caller as the write's failure, which a host would retry.
	defer func() {
		if r := recover(); r != nil {
			t.setBackgroundError(kerr.New(kerr.Internal, "automatic flush (flush_rows=%d): panic: %v", t.opts.flushRows, r))
		}
	}()
	if _, err := st.flush(t); err != nil {
		t.setBackgroundError(fmt.Errorf("automatic flush (flush_rows=%d): %w", t.opts.flushRows, err))
		return
	}
	st.maybeAutoCompact(t)
}

// setBackgroundError records the failure of automatic work or of a
// committed call's follow-up (nil clears), and returns what it stored.
func (t *table) setBackgroundError(err error) *string {
	if err == nil {
		t.bgErr.Store(nil)
		return nil
	}
	msg := err.Error()
	t.bgErr.Store(&msg)
	return &msg
}

func (st *store) deleteBatch(t *table, keyRec arrow.RecordBatch, c *conformer) (int64, error) {
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	if t.dropped.Load() {
		return 0, kerr.New(kerr.NotFound, "table %s was dropped", t.qname)
	}
	sv := t.view()
	c.target = sv.keySchema()
	conf, _, err := c.conform(keyRec)
	if err != nil {
		return 0, err
	}
	defer conf.Release()
	full := st.fullRecord(sv, conf)
	defer full.Release()
	var keySeqs []int64
	if sv.keyHasSeq {
		keySeqs = conf.Column(int(conf.NumCols()) - 1).(*array.Int64).Int64Values()
	}
	keys, err := sv.rowKeys(full, keySeqs)
	if err != nil {
		return 0, fmt.Errorf("delete from %s: %w", t.qname, err)
	}
	return st.tombstones(t, sv, full, keys, keySeqs)
}

// fullRecord widens a record of key columns to the view's schema, nulls
// elsewhere (a tombstone's value carries its key only).
func (st *store) fullRecord(sv *schemaView, keyRec arrow.RecordBatch) arrow.RecordBatch {
	n := int(keyRec.NumRows())
	cols := make([]arrow.Array, sv.schema.NumFields())
	for i, f := range sv.schema.Fields() {
		for j, k := range sv.keyCols {
			if k == i {
				cols[i] = keyRec.Column(j)
				cols[i].Retain()
			}
		}
		if cols[i] == nil {
			cols[i] = array.MakeArrayOfNull(st.mem, f.Type, n)
		}
	}
	full := array.NewRecordBatch(sv.schema, cols, int64(n))
	for _, a := range cols {
		a.Release()
	}
	return full
}

// tombstones writes a tombstone for every key of keys that has a live row,
// in one batch, and returns how many. full holds the rows' key columns
// (the view's schema); keySeqs the _seq of each key of a table without a
// primary key. The caller holds t.writeMu.
func (st *store) tombstones(t *table, sv *schemaView, full arrow.RecordBatch, keys [][]byte, keySeqs []int64) (int64, error) {
	live, hotGen, err := st.liveKeys(t, keys)
	if err != nil {
		return 0, fmt.Errorf("delete from %s: %w", t.qname, err)
	}
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	count, overwritten, last := st.stageTombstones(wb, t, sv, full, keys, keySeqs, live, hotGen)
	if count == 0 {
		return 0, nil
	}
	t.noteHotKeys(t.gen, keys, false) // before the write, as in putRows
	if err := st.writeAsync(wb, "delete from "+t.qname); err != nil {
		return 0, err
	}
	t.hwm = max(t.hwm, last)
	t.hotRows.Add(int64(count - overwritten))
	return int64(count), nil
}

// stageTombstones puts into wb a tombstone for every key with a live row
// (once per key) and returns how many, how many replace a hot entry of the
// current generation, and the highest new _seq.
func (st *store) stageTombstones(wb *grocksdb.WriteBatch, t *table, sv *schemaView, full arrow.RecordBatch, keys [][]byte,
	keySeqs []int64, live []bool, hotGen []uint64) (count, overwritten int, last int64) {
	seen := make(map[string]bool, len(keys))
	for i := range keys {
		if live[i] && !seen[string(keys[i])] {
			seen[string(keys[i])] = true
			count++
			if sv.keyHasSeq && hotGen[i] == t.gen {
				// The tombstone has the row's own hot key: it replaces the
				// entry instead of adding one.
				overwritten++
			}
		}
	}
	if count == 0 {
		return 0, 0, 0
	}
	var seqs []int64
	if !sv.keyHasSeq {
		seqs = st.seq.next(count, make([]int64, 0, count))
	}
	var kbuf, vbuf []byte
	fcols := full.Columns()
	j := 0
	for i := range keys {
		if !seen[string(keys[i])] {
			continue
		}
		delete(seen, string(keys[i]))
		// A table keyed by _seq keeps the tombstone at the row's own _seq:
		// the key is the version, and a tombstone wins a _seq tie.
		var seq int64
		if sv.keyHasSeq {
			seq = keySeqs[i]
		} else {
			seq = seqs[j]
			j++
		}
		kbuf = hotKey(kbuf[:0], t.uid, t.gen, keys[i], seq)
		vbuf = appendHotValue(vbuf[:0], true, sv, fcols, i)
		wb.PutCF(st.cfData, kbuf, vbuf)
	}
	if len(seqs) > 0 {
		last = seqs[len(seqs)-1]
		st.putTableHWM(wb, t, last)
	}
	return count, overwritten, last
}

// liveKeys reports, per key, whether its newest version is a live row, and
// the hot generation that version is in (0: it is in a segment, or there is
// none). The caller holds t.writeMu, so no write of the table races with it.
func (st *store) liveKeys(t *table, keys [][]byte) (live []bool, hotGen []uint64, err error) {
	rs, err := st.acquire(t, 0)
	if err != nil {
		return nil, nil, err
	}
	defer rs.release(st)
	live = make([]bool, len(keys))
	hotGen = make([]uint64, len(keys))
	pending := map[string][]int{}
	hv, _ := rs.hot(st)
	gens, err := hv.gens()
	if err != nil {
		return nil, nil, err
	}
	ro := grocksdb.NewDefaultReadOptions()
	ro.SetSnapshot(rs.rsnap)
	defer ro.Destroy()
	it := st.rdb.NewIteratorCF(ro, st.cfData)
	defer it.Close()
	var kbuf []byte
keys:
	for i, k := range keys {
		// Newest generation first: a later generation holds later versions.
		for g := len(gens) - 1; g >= 0; g-- {
			kbuf = append(hotGenPrefix(t.uid, gens[g]), k...)
			it.Seek(kbuf)
			if it.Valid() {
				hk := it.Key().Data()
				if len(hk) == len(kbuf)+8 && bytes.HasPrefix(hk, kbuf) {
					tomb, _, _, err := parseHotValue(it.Value().Data())
					if err != nil {
						return nil, nil, err
					}
					live[i] = !tomb
					hotGen[i] = gens[g]
					continue keys
				}
			}
		}
		pending[string(k)] = append(pending[string(k)], i)
	}
	if err := it.Err(); err != nil {
		return nil, nil, kerr.Wrap(kerr.IO, err, "read hot rows")
	}
	if len(pending) == 0 {
		return live, hotGen, nil
	}
	found, err := st.lookupSegments(t, rs.man, pending)
	if err != nil {
		return nil, nil, err
	}
	for k, v := range found {
		if !v.deleted {
			for _, i := range pending[k] {
				live[i] = true
			}
		}
	}
	return live, hotGen, nil
}
