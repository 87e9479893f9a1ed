package engine

import (
	"bytes"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/linxGnu/grocksdb"

	"github.com/kalamdb/libkalam/engine/keyenc"
	"github.com/kalamdb/libkalam/kerr"
)

// rowKeys computes the row key of every row of rec (a record with the
// table's schema). seqs gives _seq for tables whose key includes it.
func (t *table) rowKeys(rec arrow.RecordBatch, seqs []int64) ([][]byte, error) {
	n := int(rec.NumRows())
	var enc *keyenc.RowEncoder
	if len(t.keyCols) > 0 {
		cols := make([]arrow.Array, len(t.keyCols))
		for i, k := range t.keyCols {
			cols[i] = rec.Column(k)
		}
		var err error
		if enc, err = keyenc.NewRowEncoder(cols); err != nil {
			return nil, err
		}
	}
	keys := make([][]byte, n)
	buf := make([]byte, 0, n*16)
	for i := 0; i < n; i++ {
		start := len(buf)
		if enc != nil {
			buf = enc.Append(buf, i)
		}
		if t.keyHasSeq {
			buf = keyenc.AppendInt64(buf, seqs[i])
		}
		keys[i] = buf[start:len(buf):len(buf)]
	}
	return keys, nil
}

// Append writes every batch of rdr to the table's hot rows and returns the
// number of rows written. Each input batch is committed atomically; on an
// error, batches already committed stay written (their count is returned).
func (db *DB) Append(name string, rdr array.RecordReader) (int64, error) {
	return db.write("append to", name, rdr, false, (*store).appendBatch)
}

// write runs an append or a delete: every batch of rdr is conformed to the
// table's input schema and committed by apply; the flush_rows trigger is
// checked once at the end.
func (db *DB) write(verb, name string, rdr array.RecordReader, keys bool,
	apply func(*store, *table, arrow.RecordBatch) (int64, error)) (int64, error) {
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
	target := t.schema
	if keys {
		target = t.keySchema()
	}
	c := &conformer{target: target, what: verb + " " + t.qname, mem: db.st.mem, keys: keys}
	var total int64
	for rdr.Next() {
		rec := rdr.RecordBatch()
		if rec.NumRows() == 0 {
			continue
		}
		conf, err := c.conform(rec)
		if err != nil {
			return total, err
		}
		n, err := apply(db.st, t, conf)
		conf.Release()
		total += n
		if err != nil {
			return total, err
		}
	}
	if err := rdr.Err(); err != nil {
		return total, kerr.Wrap(kerr.CodeOfOr(err, kerr.IO), err, "%s %s: reading input", verb, t.qname)
	}
	db.st.maybeAutoFlush(t)
	return total, nil
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

func (st *store) appendBatch(t *table, rec arrow.RecordBatch) (int64, error) {
	n := int(rec.NumRows())
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	if t.dropped.Load() {
		return 0, kerr.New(kerr.NotFound, "table %s was dropped", t.qname)
	}
	seqs := st.seq.next(n, make([]int64, 0, n))
	keys, err := t.rowKeys(rec, seqs)
	if err != nil {
		return 0, fmt.Errorf("append to %s: %w", t.qname, err)
	}
	cols := rec.Columns()
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	var kbuf, vbuf []byte
	for i := 0; i < n; i++ {
		kbuf = hotKey(kbuf[:0], t.uid, t.gen, keys[i], seqs[i])
		vbuf = append(vbuf[:0], flagLive)
		vbuf = t.enc.AppendRow(vbuf, cols, i)
		wb.PutCF(st.cfData, kbuf, vbuf)
	}
	st.putTableHWM(wb, t, seqs[n-1])
	if err := st.hit("append"); err != nil {
		return 0, err
	}
	if err := st.writeAsync(wb, "append to "+t.qname); err != nil {
		return 0, err
	}
	t.hwm = seqs[n-1]
	t.hotRows.Add(int64(n))
	return int64(n), nil
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
	if _, err := st.flush(t); err != nil {
		t.setBackgroundError(fmt.Errorf("automatic flush (flush_rows=%d): %w", t.opts.flushRows, err))
		return
	}
	st.maybeAutoCompact(t)
}

// setBackgroundError records the failure of automatic work (nil clears).
func (t *table) setBackgroundError(err error) {
	if err == nil {
		t.bgErr.Store(nil)
		return
	}
	msg := err.Error()
	t.bgErr.Store(&msg)
}

// Delete writes a tombstone for every key of rdr that has a live row and
// returns how many did. rdr carries the key columns (the user column and
// primary-key columns; _seq for tables without a primary key).
func (db *DB) Delete(name string, rdr array.RecordReader) (int64, error) {
	return db.write("delete from", name, rdr, true, (*store).deleteBatch)
}

// keySchema is the schema a delete input must match: key columns, all
// required (a key column may only be null when the table column is nullable).
func (t *table) keySchema() *arrow.Schema {
	var fields []arrow.Field
	for _, k := range t.keyCols {
		fields = append(fields, t.schema.Field(k))
	}
	if t.keyHasSeq {
		fields = append(fields, arrow.Field{Name: colSeq, Type: arrow.PrimitiveTypes.Int64})
	}
	return arrow.NewSchema(fields, nil)
}

func (st *store) deleteBatch(t *table, keyRec arrow.RecordBatch) (int64, error) {
	n := int(keyRec.NumRows())
	// A full-schema record: key columns from the input, nulls elsewhere.
	cols := make([]arrow.Array, t.schema.NumFields())
	for i, f := range t.schema.Fields() {
		cols[i] = nil
		for j, k := range t.keyCols {
			if k == i {
				cols[i] = keyRec.Column(j)
				cols[i].Retain()
			}
		}
		if cols[i] == nil {
			cols[i] = array.MakeArrayOfNull(st.mem, f.Type, n)
		}
	}
	full := array.NewRecordBatch(t.schema, cols, int64(n))
	for _, a := range cols {
		a.Release()
	}
	defer full.Release()
	var keySeqs []int64
	if t.keyHasSeq {
		keySeqs = keyRec.Column(int(keyRec.NumCols()) - 1).(*array.Int64).Int64Values()
	}
	keys, err := t.rowKeys(full, keySeqs)
	if err != nil {
		return 0, fmt.Errorf("delete from %s: %w", t.qname, err)
	}

	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	if t.dropped.Load() {
		return 0, kerr.New(kerr.NotFound, "table %s was dropped", t.qname)
	}
	live, hotGen, err := st.liveKeys(t, keys)
	if err != nil {
		return 0, fmt.Errorf("delete from %s: %w", t.qname, err)
	}
	var count, overwritten int
	seen := make(map[string]bool, n)
	for i := range keys {
		if live[i] && !seen[string(keys[i])] {
			seen[string(keys[i])] = true
			count++
			if t.keyHasSeq && hotGen[i] == t.gen {
				// The tombstone has the row's own hot key: it replaces the
				// entry instead of adding one.
				overwritten++
			}
		}
	}
	if count == 0 {
		return 0, nil
	}
	var seqs []int64
	if !t.keyHasSeq {
		seqs = st.seq.next(count, make([]int64, 0, count))
	}
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
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
		if t.keyHasSeq {
			seq = keySeqs[i]
		} else {
			seq = seqs[j]
			j++
		}
		kbuf = hotKey(kbuf[:0], t.uid, t.gen, keys[i], seq)
		vbuf = append(vbuf[:0], flagTombstone)
		vbuf = t.enc.AppendRow(vbuf, fcols, i)
		wb.PutCF(st.cfData, kbuf, vbuf)
	}
	if len(seqs) > 0 {
		st.putTableHWM(wb, t, seqs[len(seqs)-1])
	}
	if err := st.writeAsync(wb, "delete from "+t.qname); err != nil {
		return 0, err
	}
	if len(seqs) > 0 {
		t.hwm = max(t.hwm, seqs[len(seqs)-1])
	}
	t.hotRows.Add(int64(count - overwritten))
	return int64(count), nil
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
					live[i] = it.Value().Data()[0] == flagLive
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
