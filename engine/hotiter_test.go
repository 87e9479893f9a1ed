package engine

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/linxGnu/grocksdb"

	"github.com/kalamdb/libkalam/kerr"
)

// seqsOf returns the _seq of each id of a table, in id order.
func seqsOf(t *testing.T, db *DB, table string) map[int64]int64 {
	t.Helper()
	s, err := db.Scan(table, ScanRequest{Columns: []string{"id", colSeq}, Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]int64{}
	for _, r := range collect(t, s) {
		out[r["id"].(int64)] = r[colSeq].(int64)
	}
	return out
}

// freezeGeneration moves the table's writes to a new hot generation the way
// a flush does, by a flush that fails right after the freeze: the rows
// written so far stay in the older generation.
func freezeGeneration(t *testing.T, db *DB, table string) {
	t.Helper()
	db.st.failpoint = func(s string) error {
		if s == "flush_frozen" {
			return errors.New("injected")
		}
		return nil
	}
	_, err := db.Flush(table)
	db.st.failpoint = nil
	if err == nil {
		t.Fatal("flush with a failpoint at flush_frozen succeeded")
	}
}

// A table without a primary key deletes a row at the row's own _seq: when
// the row and its tombstone are in different generations (the delete came
// after a flush froze the row's), the tombstone must win the tie, in the
// value format writes use now (versioned), in scans and in the flush.
func TestHotTombstoneWinsSeqTieAcrossGenerations(t *testing.T) {
	db, mem, _ := testDB(t)
	if _, err := db.CreateTable("n", "", eventsSchema, nil); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, db, mem, "n", 1, 2, 3)
	seqs := seqsOf(t, db, "n")
	freezeGeneration(t, db, "n")
	if n := deleteSeqs(t, db, mem, "n", seqs[2]); n != 1 {
		t.Fatalf("delete: %d rows, want 1", n)
	}
	if got := fmt.Sprint(scanIDs(t, db, "n")); got != "[1 3]" {
		t.Fatalf("hot rows after the delete: %s, want [1 3]", got)
	}
	if _, err := db.Flush("n"); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(scanIDs(t, db, "n")); got != "[1 3]" {
		t.Fatalf("rows after the flush: %s, want [1 3]", got)
	}
	tb, _ := db.st.lookupTable("n")
	if n := tb.hotRows.Load(); n != 0 {
		t.Fatalf("hot row counter after the flush: %d, want 0", n)
	}
}

// putRawHot writes one hot entry as it is, bypassing the write path. It
// ends every table's flush cache, as a write the cache does not hold
// would: a flush then reads the hot rows back from RocksDB, where the
// entry is.
func putRawHot(t *testing.T, st *store, k, v []byte) {
	t.Helper()
	if err := st.rdb.PutCF(st.syncWO, st.cfData, k, v); err != nil {
		t.Fatal(err)
	}
	st.catMu.RLock()
	defer st.catMu.RUnlock()
	for _, tb := range st.tables {
		tb.writeMu.Lock()
		tb.endFlushCache()
		tb.writeMu.Unlock()
	}
}

// The merge of generations at the iterator's level, for both value
// formats (unversioned, as older stores wrote, and versioned) and either
// generation holding the tombstone: a tombstone wins a _seq tie, and every
// version moved past is counted.
func TestHotIterTieRule(t *testing.T) {
	formats := []struct {
		name       string
		live, tomb byte
	}{{"unversioned", flagLive, flagTombstone}, {"versioned", flagLiveVersioned, flagTombVersioned}}
	for _, f := range formats {
		for _, tombGen := range []uint64{1, 2} {
			t.Run(fmt.Sprintf("%s/tombstone_in_gen%d", f.name, tombGen), func(t *testing.T) {
				db, _, _ := testDB(t)
				if _, err := db.CreateTable("n", "", eventsSchema, nil); err != nil {
					t.Fatal(err)
				}
				tb, _ := db.st.lookupTable("n")
				uid := tb.uid + 1000 // a uid no table uses: only these entries
				key := []byte("k")
				for g := uint64(1); g <= 2; g++ {
					v := []byte{f.live, 'L'}
					if g == tombGen {
						v = []byte{f.tomb, 'T'}
					}
					putRawHot(t, db.st, hotKey(nil, uid, g, key, 7), v)
				}
				// An older version of the same key and a later key.
				putRawHot(t, db.st, hotKey(nil, uid, 1, key, 3), []byte{f.live, 'o'})
				putRawHot(t, db.st, hotKey(nil, uid, 2, []byte("m"), 1), []byte{f.live, 'm'})
				it := hotView{st: db.st, uid: uid, lo: 1}.iter([]uint64{1, 2}, nil, nil)
				defer it.Close()
				var got []string
				for it.First(); it.Valid(); it.NextKey() {
					k, seq, v, gen := it.Entry()
					got = append(got, fmt.Sprintf("%s@%d:%c/gen%d", k, seq, v[1], gen))
				}
				if err := it.Err(); err != nil {
					t.Fatal(err)
				}
				want := fmt.Sprintf("k@7:T/gen%d m@1:m/gen2", tombGen)
				if s := strings.Join(got, " "); s != want {
					t.Fatalf("entries %q, want %q", s, want)
				}
				if it.visited != 4 {
					t.Fatalf("visited %d, want 4", it.visited)
				}
			})
		}
	}
}

// A hot key shorter than its fixed parts (table uid, generation, _seq) is
// corruption: scans and flushes report it, never panic.
func TestHotShortKeyIsCorruption(t *testing.T) {
	db, mem, _ := testDB(t)
	if _, err := db.CreateTable("f", "", eventsSchema, map[string]string{"primary_key": "id"}); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, db, mem, "f", 1)
	tb, _ := db.st.lookupTable("f")
	bad := append(hotGenPrefix(tb.uid, tb.gen), 'x', 'y')
	putRawHot(t, db.st, bad, []byte{flagLiveVersioned, 1})
	s, err := db.Scan("f", allRows())
	if err == nil {
		for {
			var rec arrow.RecordBatch
			if rec, err = s.Next(); err != nil || rec == nil {
				break
			}
			rec.Release()
		}
		s.Close()
	}
	if !kerr.Is(err, kerr.Corruption) {
		t.Fatalf("scan: error %v, want kerr.Corruption", err)
	}
	if _, err := db.Flush("f"); !kerr.Is(err, kerr.Corruption) {
		t.Fatalf("flush: error %v, want kerr.Corruption", err)
	}
}

// The batched reads against a model: many entries over two generations
// (so batches of every size, refilled mid-key), versions of one key split
// across batches and generations, a value larger than the largest batch,
// and Seek.
func TestHotIterBatches(t *testing.T) {
	db, _, _ := testDB(t)
	if _, err := db.CreateTable("n", "", eventsSchema, nil); err != nil {
		t.Fatal(err)
	}
	tb, _ := db.st.lookupTable("n")
	uid := tb.uid + 1000
	type ver struct {
		seq int64
		val []byte
		gen uint64
	}
	model := map[string][]ver{}
	const keys = 6000
	for i := 0; i < keys; i++ {
		k := fmt.Sprintf("key%06d", i)
		nv := 1 + i%3
		for j := 0; j < nv; j++ {
			g := uint64(1 + (i+j)%2)
			seq := int64(10*i + j)
			v := []byte{flagLiveVersioned}
			v = append(v, strings.Repeat(string(rune('a'+j)), 1+(i*7+j)%300)...)
			if i == 4321 && j == 0 {
				v = append(v, make([]byte, genBatchMax+12345)...)
			}
			putRawHot(t, db.st, hotKey(nil, uid, g, []byte(k), seq), v)
			model[k] = append(model[k], ver{seq, v, g})
		}
	}
	newest := func(k string) ver {
		vs := model[k]
		b := vs[0]
		for _, v := range vs[1:] {
			if v.seq > b.seq {
				b = v
			}
		}
		return b
	}
	check := func(it *hotIter, from int) {
		t.Helper()
		i := from
		for ; it.Valid(); it.NextKey() {
			k, seq, v, g := it.Entry()
			want := fmt.Sprintf("key%06d", i)
			w := newest(want)
			if string(k) != want || seq != w.seq || g != w.gen || !bytes.Equal(v, w.val) {
				t.Fatalf("entry %d: key %s seq %d gen %d (%d value bytes), want %s seq %d gen %d (%d)",
					i, k, seq, g, len(v), want, w.seq, w.gen, len(w.val))
			}
			i++
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		if i != keys {
			t.Fatalf("%d keys, want %d", i-from, keys-from)
		}
	}
	hv := hotView{st: db.st, uid: uid, lo: 1}
	it := hv.iter([]uint64{1, 2}, nil, nil)
	defer it.Close()
	it.First()
	check(it, 0)
	if want := int64(keys * 2); it.visited != want {
		t.Fatalf("visited %d, want %d", it.visited, want)
	}
	it.Seek([]byte("key004000"))
	check(it, 4000)
	// Every version, one at a time.
	n := 0
	for it.First(); it.Valid(); it.Next() {
		n++
	}
	if n != keys*2 {
		t.Fatalf("Next: %d versions, want %d", n, keys*2)
	}
	// Bounds: keys [key001000, key001010).
	it2 := hv.iter([]uint64{1, 2}, []byte("key001000"), []byte("key001010"))
	defer it2.Close()
	var got []string
	for it2.First(); it2.Valid(); it2.NextKey() {
		k, _, _, _ := it2.Entry()
		got = append(got, string(k))
	}
	if len(got) != 10 || got[0] != "key001000" || got[9] != "key001009" {
		t.Fatalf("bounded: %v", got)
	}
}

// A long read reads its next batch ahead on another goroutine: over
// several megabytes of entries in two generations the iteration returns
// exactly the model's newest versions, a read ahead was in flight while
// entries were consumed, and Seek, First and Close in the middle of a read
// ahead (the iterator belongs to that goroutine until it ends) work.
func TestHotIterReadAhead(t *testing.T) {
	db, _, _ := testDB(t)
	if _, err := db.CreateTable("n", "", eventsSchema, nil); err != nil {
		t.Fatal(err)
	}
	tb, _ := db.st.lookupTable("n")
	uid := tb.uid + 1000
	const keys = 40000
	want := make([][]byte, keys) // newest value per key
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	for i := 0; i < keys; i++ {
		k := []byte(fmt.Sprintf("key%06d", i))
		for j := 0; j < 1+i%2; j++ {
			v := append([]byte{flagLiveVersioned}, strings.Repeat(string(rune('a'+(i+j)%26)), 100+(i*13+j)%200)...)
			wb.PutCF(db.st.cfData, hotKey(nil, uid, uint64(1+j), k, int64(10*i+j)), v)
			want[i] = v
		}
	}
	if err := db.st.rdb.Write(db.st.syncWO, wb); err != nil {
		t.Fatal(err)
	}
	hv := hotView{st: db.st, uid: uid, lo: 1}
	ahead := false
	check := func(it *hotIter, from, to int) {
		t.Helper()
		i := from
		for ; it.Valid() && i < to; it.NextKey() {
			for _, g := range it.its {
				ahead = ahead || g.pending != nil
			}
			k, _, v, _ := it.Entry()
			if string(k) != fmt.Sprintf("key%06d", i) || !bytes.Equal(v, want[i]) {
				t.Fatalf("entry %d: key %s (%d value bytes), want key%06d (%d)", i, k, len(v), i, len(want[i]))
			}
			i++
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		if i != to {
			t.Fatalf("read keys [%d, %d), want [%d, %d)", from, i, from, to)
		}
	}
	it := hv.iterCache([]uint64{1, 2}, nil, nil, false)
	defer it.Close() // after a failed check (Close twice is a no-op)
	it.First()
	check(it, 0, keys)
	if !ahead {
		t.Fatal("no batch was read ahead")
	}
	if it.Valid() {
		t.Fatal("entries after the last key")
	}
	it.First()
	check(it, 0, 30000) // stops with a read ahead in flight
	it.Seek([]byte("key010000"))
	check(it, 10000, 35000)
	it.Seek([]byte("key039990"))
	check(it, 39990, keys)
	it.First()
	check(it, 0, 25000)
	it.Close() // with a read ahead in flight
}
