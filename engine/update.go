package engine

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/linxGnu/grocksdb"

	"github.com/kalamdb/libkalam/engine/exec"
	"github.com/kalamdb/libkalam/engine/keyenc"
	"github.com/kalamdb/libkalam/kerr"
)

// updateRows writes, for each row of rec whose key has a live row, the
// current row with rec's present columns replaced; with insert (merge
// mode), rows without a live row are inserted as they are. The caller holds
// t.writeMu, so the current rows read are the ones replaced. A key that
// repeats in the batch applies in order: the batch is split before it.
func (st *store) updateRows(t *table, sv *schemaView, rec arrow.RecordBatch, present []bool, keys [][]byte, seqs []int64,
	insert bool) (int64, error) {
	var total int64
	start := 0
	seen := map[string]bool{}
	for i := 0; i <= len(keys); i++ {
		if i < len(keys) && !seen[string(keys[i])] {
			seen[string(keys[i])] = true
			continue
		}
		part := rec.NewSlice(int64(start), int64(i))
		n, err := st.updateChunk(t, sv, part, present, keys[start:i], seqs[start:i], insert)
		part.Release()
		total += n
		if err != nil {
			return total, err
		}
		if i < len(keys) {
			seen = map[string]bool{string(keys[i]): true}
			start = i
		}
	}
	return total, nil
}

// updateChunk is updateRows for rows whose keys are distinct.
func (st *store) updateChunk(t *table, sv *schemaView, rec arrow.RecordBatch, present []bool, keys [][]byte, seqs []int64,
	insert bool) (int64, error) {
	cur, at, err := st.currentRows(t, sv, keys)
	if err != nil {
		return 0, err
	}
	defer cur.Release()
	var rows []int // input rows that produce a version
	for i, k := range keys {
		if _, ok := at[string(k)]; ok || insert {
			rows = append(rows, i)
		}
	}
	if len(rows) == 0 {
		return 0, nil
	}
	cols := make([]arrow.Array, sv.schema.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for c := range cols {
		var parts []exec.Run
		for _, i := range rows {
			src, row := rec, i
			if j, ok := at[string(keys[i])]; ok && !present[c] {
				src, row = cur, j // kept from the current row
			}
			if n := len(parts); n > 0 && parts[n-1].Rec == src && parts[n-1].End == int64(row) {
				parts[n-1].End++
				continue
			}
			parts = append(parts, exec.Run{Rec: src, Start: int64(row), End: int64(row) + 1})
		}
		out, err := exec.GatherRuns(parts, c, int64(len(rows)), st.mem)
		if err != nil {
			return 0, fmt.Errorf("update %s: column %q: %w", t.qname, sv.schema.Field(c).Name, err)
		}
		cols[c] = out
	}
	out := array.NewRecordBatch(sv.schema, cols, int64(len(rows)))
	defer out.Release()
	ks := make([][]byte, len(rows))
	ss := make([]int64, len(rows))
	for k, i := range rows {
		ks[k], ss[k] = keys[i], seqs[i]
	}
	return st.putRows(t, sv, out, ks, ss, nil)
}

// currentRows reads the live row of each key (if it has one) at the
// current state: the newest version across hot rows and segments. It
// returns them as one record in sv's schema and, per key, its row. The
// caller holds t.writeMu.
func (st *store) currentRows(t *table, sv *schemaView, keys [][]byte) (arrow.RecordBatch, map[string]int, error) {
	want := make(map[string]bool, len(keys))
	var lo, hi []byte
	for _, k := range keys {
		want[string(k)] = true
		if lo == nil || string(k) < string(lo) {
			lo = k
		}
		if hi == nil || string(k) > string(hi) {
			hi = k
		}
	}
	p, err := st.planKeyRange(t, sv, lo, keyenc.PrefixEnd(hi))
	if err != nil {
		return nil, nil, err
	}
	src := p.pipeline()
	defer func() {
		src.Close()
		p.close()
	}()
	var parts []exec.Run
	at := map[string]int{}
	var rows int64
	for {
		rec, err := src.Next()
		if err != nil {
			return nil, nil, err
		}
		if rec == nil {
			break
		}
		rk, err := sv.rowKeys(rec, nil)
		if err != nil {
			rec.Release()
			return nil, nil, err
		}
		for i, k := range rk {
			if want[string(k)] {
				at[string(k)] = int(rows)
				parts = append(parts, exec.Run{Rec: rec, Start: int64(i), End: int64(i) + 1})
				rec.Retain()
				rows++
			}
		}
		rec.Release()
	}
	defer func() {
		for _, r := range parts {
			r.Rec.Release()
		}
	}()
	cols := make([]arrow.Array, sv.schema.NumFields())
	for c := range cols {
		if rows == 0 {
			cols[c] = array.MakeArrayOfNull(st.mem, sv.schema.Field(c).Type, 0)
			continue
		}
		a, err := exec.GatherRuns(parts, c, rows, st.mem)
		if err != nil {
			for _, done := range cols[:c] {
				done.Release()
			}
			return nil, nil, err
		}
		cols[c] = a
	}
	out := array.NewRecordBatch(sv.schema, cols, rows)
	for _, c := range cols {
		c.Release()
	}
	return out, at, nil
}

// DeleteWhere writes a tombstone for every row that matches filter (DESIGN
// §4.1; "TRUE": every row; an empty one is InvalidArgument) at the call's
// snapshot, in one atomic write (all of them or none, across a crash too), and returns how many
// rows it deleted. Writes to the table wait meanwhile; rows written after
// it are not touched.
func (db *DB) DeleteWhere(table, filter string) (int64, error) {
	return db.rewhere(table, "delete from", filter, nil)
}

// UpdateWhere writes, for every row that matches filter, a new version
// with the columns of values (exactly one row) set to its values and the
// others kept, in one atomic write; it returns how many rows matched. Key
// columns and the user column cannot be set. A table without a primary
// key gets each updated row as a new row (a new _seq) in place of the old.
func (db *DB) UpdateWhere(table, filter string, values arrow.RecordBatch) (int64, error) {
	if values == nil {
		return 0, kerr.New(kerr.InvalidArgument, "update %q: no values", table)
	}
	if values.NumRows() != 1 {
		return 0, kerr.New(kerr.InvalidArgument, "update %q: values must be exactly one row, got %d", table, values.NumRows())
	}
	return db.rewhere(table, "update", filter, values)
}

func (db *DB) rewhere(table, verb, filterText string, values arrow.RecordBatch) (int64, error) {
	exit, err := db.enter(true)
	if err != nil {
		return 0, err
	}
	defer exit()
	t, err := db.st.lookupTable(table)
	if err != nil {
		return 0, err
	}
	if strings.TrimSpace(filterText) == "" {
		// Every row is "TRUE" (NULL from C): an empty string is a filter
		// that lost its text somewhere, and deleting or rewriting every
		// row for it would be the worst reading.
		return 0, kerr.New(kerr.InvalidArgument, "%s %s: an empty filter; pass TRUE to select every row", verb, t.qname)
	}
	st := db.st
	t.writeMu.Lock()
	n, err := st.rewhereLocked(t, verb, filterText, values)
	t.writeMu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", verb, t.qname, err)
	}
	st.maybeAutoFlush(t)
	return n, nil
}

func (st *store) rewhereLocked(t *table, verb, filterText string, values arrow.RecordBatch) (int64, error) {
	if t.dropped.Load() {
		return 0, kerr.New(kerr.NotFound, "table %s was dropped", t.qname)
	}
	sv := t.view()
	// The value of each column to set, cast to the column's type.
	set := map[int]arrow.Array{}
	defer func() {
		for _, a := range set {
			a.Release()
		}
	}()
	if values != nil {
		for i, f := range values.Schema().Fields() {
			c := sv.column(f.Name)
			if c < 0 {
				return 0, kerr.New(kerr.InvalidArgument, "unknown column %q", f.Name)
			}
			tf := sv.schema.Field(c)
			if sv.isKey(c) {
				return 0, kerr.New(kerr.InvalidArgument, "column %q is a key column and cannot be updated", tf.Name)
			}
			if _, dup := set[c]; dup {
				return 0, kerr.New(kerr.InvalidArgument, "column %q is set twice", tf.Name)
			}
			if !tf.Nullable && values.Column(i).IsNull(0) {
				return 0, kerr.New(kerr.InvalidArgument, "column %q is non-nullable and cannot be set to null", tf.Name)
			}
			a, err := columnValues(values.Column(i), tf, 0, st.mem)
			if err != nil {
				return 0, err
			}
			set[c] = a
		}
		if len(set) == 0 {
			return 0, kerr.New(kerr.InvalidArgument, "no column to set")
		}
	}
	cols := []string{}
	if values != nil {
		cols = userColumnNames(sv.schema)
	} else {
		for _, k := range sv.keyCols {
			cols = append(cols, sv.schema.Field(k).Name)
		}
	}
	if sv.keyHasSeq {
		cols = append(cols, colSeq)
	}
	p, err := st.planScan(t, ScanRequest{Columns: cols, Filter: filterText, Limit: -1})
	if err != nil {
		return 0, err
	}
	src := p.pipeline()
	defer func() {
		src.Close()
		p.close()
	}()
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	var matched, newRows, hotDelta int64
	var last int64
	var kbuf, vbuf []byte
	for {
		rec, err := src.Next()
		if err != nil {
			return 0, err
		}
		if rec == nil {
			break
		}
		n, err := func() (int64, error) {
			defer rec.Release()
			var seqsOf []int64
			if sv.keyHasSeq {
				seqsOf = rec.Column(int(rec.NumCols()) - 1).(*array.Int64).Int64Values()
			}
			var full arrow.RecordBatch
			if values == nil {
				keyRec := array.NewRecordBatch(sv.keySchema(), rec.Columns(), rec.NumRows())
				full = st.fullRecord(sv, keyRec)
				keyRec.Release()
			} else {
				full = array.NewRecordBatch(sv.schema, rec.Columns()[:sv.schema.NumFields()], rec.NumRows())
			}
			defer full.Release()
			keys, err := sv.rowKeys(full, seqsOf)
			if err != nil {
				return 0, err
			}
			rows := len(keys)
			if values == nil || sv.keyHasSeq {
				// Tombstones: every matched row is live at this snapshot.
				live := make([]bool, rows)
				hotGen := make([]uint64, rows)
				for i := range live {
					live[i] = true
					if sv.keyHasSeq && st.hasHotEntry(t, keys[i], seqsOf[i]) {
						hotGen[i] = t.gen
					}
				}
				count, overwritten, l := st.stageTombstones(wb, t, sv, full, keys, seqsOf, live, hotGen)
				t.noteHotKeys(t.gen, keys, false)
				last = max(last, l)
				hotDelta += int64(count - overwritten)
			}
			if values != nil {
				upd, err := withValues(full, set, st)
				if err != nil {
					return 0, err
				}
				defer upd.Release()
				seqs := st.seq.next(rows, make([]int64, 0, rows))
				newKeys := keys
				if sv.keyHasSeq {
					// A row without a primary key is keyed by its _seq: the new
					// version is a new row in place of the old one.
					if newKeys, err = sv.rowKeys(upd, seqs); err != nil {
						return 0, err
					}
				}
				ucols := upd.Columns()
				t.noteHotKeys(t.gen, newKeys, false)
				for i := range newKeys {
					kbuf = hotKey(kbuf[:0], t.uid, t.gen, newKeys[i], seqs[i])
					vbuf = appendHotValue(vbuf[:0], false, sv, ucols, i)
					wb.PutCF(st.cfData, kbuf, vbuf)
				}
				last = max(last, seqs[rows-1])
				newRows += int64(rows)
			}
			return int64(rows), nil
		}()
		matched += n
		if err != nil {
			return 0, err
		}
	}
	if matched == 0 {
		return 0, nil
	}
	st.putTableHWM(wb, t, last)
	if err := st.hit("rewhere_before_commit"); err != nil {
		return 0, err
	}
	// One batch: all of it or none, across a crash too.
	if err := st.writeAsync(wb, verb+" "+t.qname); err != nil {
		return 0, err
	}
	t.hwm = max(t.hwm, last)
	t.hotRows.Add(hotDelta + newRows)
	return matched, nil
}

// hasHotEntry reports whether the current generation holds exactly the
// version (key, seq): a tombstone at the same key then replaces it.
func (st *store) hasHotEntry(t *table, key []byte, seq int64) bool {
	s, err := st.rdb.GetCF(st.readOpts, st.cfData, hotKey(nil, t.uid, t.gen, key, seq))
	if err != nil {
		return false
	}
	defer s.Free()
	return s.Exists()
}

// withValues returns rec with the columns of set replaced by their value
// repeated on every row.
func withValues(rec arrow.RecordBatch, set map[int]arrow.Array, st *store) (arrow.RecordBatch, error) {
	n := int64(rec.NumRows())
	cols := make([]arrow.Array, rec.NumCols())
	for c := range cols {
		v, ok := set[c]
		if !ok {
			cols[c] = rec.Column(c)
			cols[c].Retain()
			continue
		}
		parts := []exec.Run{}
		one := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{rec.Schema().Field(c)}, nil), []arrow.Array{v}, 1)
		for i := int64(0); i < n; i++ {
			parts = append(parts, exec.Run{Rec: one, Start: 0, End: 1})
		}
		a, err := exec.GatherRuns(parts, 0, n, st.mem)
		one.Release()
		if err != nil {
			for _, d := range cols[:c] {
				if d != nil {
					d.Release()
				}
			}
			return nil, err
		}
		cols[c] = a
	}
	out := array.NewRecordBatch(rec.Schema(), cols, n)
	for _, c := range cols {
		c.Release()
	}
	return out, nil
}
