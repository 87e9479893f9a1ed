package engine

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// countSteps makes the store's failpoint count the steps it passes (the
// flush's reader calls it from its own goroutine); the returned function
// reads a count.
func countSteps(st *store) func(step string) int {
	var mu sync.Mutex
	n := map[string]int{}
	st.failpoint = func(step string) error {
		mu.Lock()
		n[step]++
		mu.Unlock()
		return nil
	}
	return func(step string) int {
		mu.Lock()
		defer mu.Unlock()
		return n[step]
	}
}

// allTypesFrom is allTypesBatch with ids lo, lo+1, ... and, in column i32,
// values under its null slots (as an input's buffers may hold): a flush must
// write nulls there whichever way it reads the rows.
func allTypesFrom(t *testing.T, mem memory.Allocator, lo int64, n int) arrow.RecordBatch {
	rec := allTypesBatch(t, mem, n)
	defer rec.Release()
	cols := make([]arrow.Array, rec.NumCols())
	ids := array.NewInt64Builder(mem)
	defer ids.Release()
	for i := 0; i < n; i++ {
		ids.Append(lo + int64(i))
	}
	cols[0] = ids.NewArray()
	for c := 1; c < len(cols); c++ {
		cols[c] = rec.Column(c)
		cols[c].Retain()
	}
	i32 := rec.Column(3).(*array.Int32)
	vals := memory.NewResizableBuffer(mem)
	vals.Resize(4 * n)
	valid := memory.NewResizableBuffer(mem)
	valid.Resize(int(bitutil.BytesForBits(int64(n))))
	v := arrow.Int32Traits.CastFromBytes(vals.Bytes())
	for i := 0; i < n; i++ {
		v[i] = int32(i*1000) + 7 // under a null too
		bitutil.SetBitTo(valid.Bytes(), i, i32.IsValid(i))
	}
	data := array.NewData(arrow.PrimitiveTypes.Int32, n, []*memory.Buffer{valid, vals}, nil, i32.NullN(), 0)
	cols[3].Release()
	cols[3] = array.NewInt32Data(data)
	data.Release()
	vals.Release()
	valid.Release()
	out := array.NewRecordBatch(allTypesSchema, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return out
}

// withSeq is the scan request of every column of sch and _seq (the flush
// must keep every version's _seq).
func withSeq(sch *arrow.Schema) ScanRequest {
	req := allRows()
	for _, f := range sch.Fields() {
		req.Columns = append(req.Columns, f.Name)
	}
	req.Columns = append(req.Columns, colSeq)
	return req
}

// TestFlushFromCacheMatchesReadBack writes the same rows (every column
// type, nulls, values under nulls; appends of sizes that make the flush's
// batches span several writes) into two tables, flushes one from its flush
// cache and the other by reading the rows back from RocksDB, and requires
// the same segment: the same rows, columns and _seq as before the flush,
// the same manifest entry (keys, row count, statistics), the same layout
// (row groups, dictionary columns). Twice: with every column type (lists
// and structs: pqarrow's writer) and with the flat ones (the parallel column
// writer, whose statistics must also equal those collected one column
// after another).
func TestFlushFromCacheMatchesReadBack(t *testing.T) {
	var flat []arrow.Field
	for _, f := range allTypesSchema.Fields() {
		if _, nested := f.Type.(arrow.NestedType); !nested {
			flat = append(flat, f)
		}
	}
	for _, sch := range []*arrow.Schema{allTypesSchema, arrow.NewSchema(flat, nil)} {
		t.Run(fmt.Sprintf("%d columns", sch.NumFields()), func(t *testing.T) { flushCacheDifferential(t, sch) })
	}
}

func flushCacheDifferential(t *testing.T, sch *arrow.Schema) {
	db, mem, dir := testDB(t)
	sizes := []int{30000, 50000, 7, 1, 20000}
	var want []arrow.RecordBatch
	lo := int64(-1000)
	ref := newStatsCollector(sch)
	for _, n := range sizes {
		all := allTypesFrom(t, mem, lo, n)
		cols := make([]arrow.Array, sch.NumFields())
		for c, f := range sch.Fields() {
			cols[c] = all.Column(allTypesSchema.FieldIndices(f.Name)[0])
		}
		rec := array.NewRecordBatch(sch, cols, int64(n))
		all.Release()
		ref.add(rec)
		want = append(want, rec)
		lo += int64(n) + 3
	}
	defer func() {
		for _, r := range want {
			r.Release()
		}
	}()
	steps := countSteps(db.st)
	for _, name := range []string{"cached", "readback"} {
		if _, err := db.CreateTable(name, "", sch, map[string]string{"primary_key": "id", "row_group_rows": "40000"}); err != nil {
			t.Fatal(err)
		}
		for _, r := range want {
			if _, err := db.AppendRecord(name, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	tb, _ := db.st.lookupTable("readback")
	tb.writeMu.Lock()
	tb.endFlushCache()
	tb.writeMu.Unlock()

	segs := map[string]string{}
	for _, name := range []string{"cached", "readback"} {
		before := readAll(t, mustScan(t, db, name, withSeq(sch)), mem)
		cachedBefore, readBefore := steps("flush_cached_batch"), steps("flush_read_batch")
		id, err := db.Flush(name)
		if err != nil || id == "" {
			t.Fatalf("flush %s: %q, %v", name, id, err)
		}
		cached, read := steps("flush_cached_batch")-cachedBefore, steps("flush_read_batch")-readBefore
		if name == "cached" && (cached != 2 || read != 0) || name == "readback" && (cached != 0 || read != 2) {
			t.Fatalf("flush %s: %d batches from the cache, %d read back", name, cached, read)
		}
		after := readAll(t, mustScan(t, db, name, withSeq(sch)), mem)
		assertSameColumns(t, name+": after the flush", after, before, 0, before.NumRows())
		var off int64
		for _, r := range want {
			part := after.NewSlice(off, off+r.NumRows())
			assertSameColumns(t, name+": input", part, r, 0, r.NumRows())
			part.Release()
			off += r.NumRows()
		}
		before.Release()
		after.Release()
		m, err := db.Manifest(name)
		if err != nil || len(m.Segments) != 1 {
			t.Fatalf("%s: manifest %v, %v", name, m, err)
		}
		segs[name] = filepath.Join(dir, "storage", "default", name, m.Segments[0].Path)
	}
	if n := db.st.flushCacheBytes.Load(); n != 0 {
		t.Fatalf("flush caches hold %d bytes after the flushes", n)
	}
	mc, _ := db.Manifest("cached")
	mr, _ := db.Manifest("readback")
	c, r := mc.Segments[0], mr.Segments[0]
	if string(c.MinKey) != string(r.MinKey) || string(c.MaxKey) != string(r.MaxKey) || c.RowCount != r.RowCount {
		t.Fatalf("segments differ: keys %x..%x vs %x..%x, rows %d vs %d", c.MinKey, c.MaxKey, r.MinKey, r.MaxKey, c.RowCount, r.RowCount)
	}
	refStats := ref.result()
	if len(refStats) < 10 {
		t.Fatalf("statistics of only %d columns", len(refStats))
	}
	for col, s := range refStats {
		if got, back := fmt.Sprint(c.ColumnStats[col]), fmt.Sprint(r.ColumnStats[col]); got != fmt.Sprint(s) || back != got {
			t.Errorf("statistics of %s: %s from the cache, %s read back, want %s", col, got, back, fmt.Sprint(s))
		}
	}
	fc, fr := openSegmentFile(t, segs["cached"]), openSegmentFile(t, segs["readback"])
	if fc.NumRowGroups() != fr.NumRowGroups() || fc.NumRowGroups() != 3 {
		t.Fatalf("row groups: %d from the cache, %d read back, want 3", fc.NumRowGroups(), fr.NumRowGroups())
	}
	for rg := 0; rg < fc.NumRowGroups(); rg++ {
		for col := 0; col < fc.NumColumns(); col++ {
			if a, b := fc.Chunk(rg, col).HasDictionary, fr.Chunk(rg, col).HasDictionary; a != b {
				t.Errorf("row group %d column %s: dictionary %v from the cache, %v read back", rg, fc.Column(col).Name, a, b)
			}
		}
	}
}

// TestFlushCacheHoldsOnlyWhatItCanVouchFor: each write the flush cache
// cannot hold ends it (its flush then reads the rows back), each it can
// hold keeps it (its flush writes from memory), and either way the flushed
// table holds the newest version of every key and nothing else.
func TestFlushCacheHoldsOnlyWhatItCanVouchFor(t *testing.T) {
	type env struct {
		t    *testing.T
		db   *DB
		mem  memory.Allocator
		dir  string
		rows map[int64]string // the model: id -> kind
		tag  int
	}
	write := func(e *env, mode WriteMode, ids ...int64) {
		e.t.Helper()
		e.tag++
		kinds := make([]string, len(ids))
		amts := make([]float64, len(ids))
		for i, id := range ids {
			kinds[i] = fmt.Sprintf("k%d.%d", id, e.tag)
			amts[i] = float64(id)
		}
		rec := eventsBatch(e.mem, ids, kinds, amts)
		defer rec.Release()
		rdr := recordReader(e.t, rec)
		defer rdr.Release()
		if _, err := e.db.Write("e", rdr, WriteOptions{Mode: mode}); err != nil {
			e.t.Fatalf("write %v: %v", ids, err)
		}
		for i, id := range ids {
			_, live := e.rows[id]
			if mode == WriteUpsert || mode == WriteInsert && !live || mode == WriteUpdate && live {
				e.rows[id] = kinds[i]
			}
		}
	}
	cases := []struct {
		name   string
		steps  func(e *env)
		cached bool // the flush writes from the cache
	}{
		{"ascending appends", func(e *env) { write(e, WriteUpsert, 1, 2, 3); write(e, WriteUpsert, 7, 9) }, true},
		{"a key again", func(e *env) { write(e, WriteUpsert, 1, 2, 3); write(e, WriteUpsert, 3) }, false},
		{"a lower key", func(e *env) { write(e, WriteUpsert, 5, 6); write(e, WriteUpsert, 1) }, false},
		{"a batch out of order", func(e *env) { write(e, WriteUpsert, 3, 1, 2) }, false},
		{"a key twice in a batch", func(e *env) { write(e, WriteUpsert, 1, 2, 2) }, false},
		{"a delete", func(e *env) {
			write(e, WriteUpsert, 1, 2, 3)
			deleteIDs(e.t, e.db, e.mem, "e", 2)
			delete(e.rows, 2)
		}, false},
		{"an insert that skips a row", func(e *env) { write(e, WriteUpsert, 1, 2); write(e, WriteInsert, 2, 3) }, false},
		{"an insert of new keys", func(e *env) { write(e, WriteUpsert, 1, 2); write(e, WriteInsert, 3, 4) }, true},
		{"updates of flushed keys", func(e *env) {
			write(e, WriteUpsert, 1, 2, 3, 4)
			if _, err := e.db.Flush("e"); err != nil {
				e.t.Fatal(err)
			}
			write(e, WriteUpdate, 2, 3, 8) // 8 has no row: skipped, the others are whole new versions
		}, true},
		{"an update where", func(e *env) {
			write(e, WriteUpsert, 1, 2, 3)
			vals := eventsBatch(e.mem, []int64{0}, []string{"w"}, []float64{0})
			defer vals.Release()
			kind := vals.NewSlice(0, 1)
			defer kind.Release()
			one := array.NewRecordBatch(arrow.NewSchema(eventsSchema.Fields()[1:2], nil), kind.Columns()[1:2], 1)
			defer one.Release()
			if _, err := e.db.UpdateWhere("e", "id = 2", one); err != nil {
				e.t.Fatal(err)
			}
			e.rows[2] = "w"
		}, false},
		{"an alter between writes", func(e *env) {
			write(e, WriteUpsert, 1, 2)
			if err := e.db.AddColumns("e", []arrow.Field{{Name: "extra", Type: arrow.PrimitiveTypes.Int32, Nullable: true}}); err != nil {
				e.t.Fatal(err)
			}
			write(e, WriteUpsert, 3)
		}, false},
		{"an alter after the writes", func(e *env) {
			// The cache still holds the generation, in the schema before
			// the alter: the flush, which writes the new one, reads back.
			write(e, WriteUpsert, 1, 2)
			if err := e.db.AddColumns("e", []arrow.Field{{Name: "extra", Type: arrow.PrimitiveTypes.Int32, Nullable: true}}); err != nil {
				e.t.Fatal(err)
			}
		}, false},
		{"a reopen with hot rows", func(e *env) {
			write(e, WriteUpsert, 1, 2)
			e.db.Close()
			e.db, e.mem = openAt(e.t, e.dir)
			write(e, WriteUpsert, 3)
		}, false},
		{"a reopen without hot rows", func(e *env) {
			write(e, WriteUpsert, 1, 2)
			if _, err := e.db.Flush("e"); err != nil {
				e.t.Fatal(err)
			}
			e.db.Close()
			e.db, e.mem = openAt(e.t, e.dir)
			write(e, WriteUpsert, 3, 4)
		}, true},
		{"the memory limit", func(e *env) {
			e.db.st.flushCacheLimit = 3 * cachedRowOverhead
			write(e, WriteUpsert, 1, 2)
			write(e, WriteUpsert, 3, 4)
			write(e, WriteUpsert, 5, 6) // passes the limit
			if n := e.db.st.flushCacheBytes.Load(); n != 0 {
				e.t.Fatalf("the ended cache still counts %d bytes", n)
			}
			write(e, WriteUpsert, 7) // the generation stays read back
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			db, mem := openAt(t, dir)
			if _, err := db.CreateTable("e", "", eventsSchema, map[string]string{"primary_key": "id"}); err != nil {
				t.Fatal(err)
			}
			e := &env{t: t, db: db, mem: mem, dir: dir, rows: map[int64]string{}}
			c.steps(e)
			tb, _ := e.db.st.lookupTable("e")
			tb.writeMu.Lock()
			ok := tb.fcache != nil && tb.fcache.ok
			tb.writeMu.Unlock()
			if c.cached && !ok {
				t.Fatal("the cache ended")
			}
			steps := countSteps(e.db.st)
			if _, err := e.db.Flush("e"); err != nil {
				t.Fatal(err)
			}
			if fromCache := steps("flush_cached_batch") > 0; fromCache != c.cached || steps("flush_read_batch") > 0 == c.cached {
				t.Fatalf("flush: %d batches from the cache, %d read back; want from the cache: %v",
					steps("flush_cached_batch"), steps("flush_read_batch"), c.cached)
			}
			e.db.st.failpoint = nil
			want := map[int64]string{}
			for id, k := range e.rows {
				want[id] = k
			}
			s, err := e.db.Scan("e", ScanRequest{Columns: []string{"id", "kind"}, Limit: -1})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range collect(t, s) {
				id := r["id"].(int64)
				if w, ok := want[id]; !ok || w != r["kind"] {
					t.Fatalf("after the flush: id %d kind %v, want %q (present %v)", id, r["kind"], w, ok)
				}
				delete(want, id)
			}
			if len(want) != 0 {
				t.Fatalf("after the flush, missing: %v", want)
			}
			if n := tb.hotRows.Load(); n != 0 {
				t.Fatalf("hot rows after the flush: %d", n)
			}
			if n := e.db.st.flushCacheBytes.Load(); n != 0 {
				t.Fatalf("flush caches hold %d bytes after the flush", n)
			}
		})
	}
}

// TestFlushCacheWithoutPrimaryKey: a table keyed by _seq has increasing
// keys by construction; its appends flush from the cache, with every row.
func TestFlushCacheWithoutPrimaryKey(t *testing.T) {
	db, mem, _ := testDB(t)
	if _, err := db.CreateTable("n", "", eventsSchema, nil); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, db, mem, "n", 5, 5, 1)
	appendEvents(t, db, mem, "n", 2)
	steps := countSteps(db.st)
	if _, err := db.Flush("n"); err != nil {
		t.Fatal(err)
	}
	if steps("flush_cached_batch") != 1 || steps("flush_read_batch") != 0 {
		t.Fatalf("flush: %d batches from the cache, %d read back", steps("flush_cached_batch"), steps("flush_read_batch"))
	}
	if got := fmt.Sprint(scanIDs(t, db, "n")); got != "[5 5 1 2]" {
		t.Fatalf("rows after the flush: %s, want [5 5 1 2] (in _seq order)", got)
	}
}
