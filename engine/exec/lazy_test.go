package exec

import (
	"encoding/base64"
	"fmt"
	"math/rand"
	"sort"
	"strconv"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/engine/keyenc"
	"github.com/kalamdb/libkalam/kerr"
)

// watched is a Source that records when its consumer opened it (first
// Next), finished it (Next returned nil) and asked it to prefetch.
type watched struct {
	Source
	log                      *openLog
	opened, done, prefetched bool
}

type openLog struct{ open, maxOpen, prefetches int }

func (w *watched) Next() (arrow.RecordBatch, error) {
	if !w.opened {
		w.opened = true
		w.log.open++
		w.log.maxOpen = max(w.log.maxOpen, w.log.open)
	}
	rec, err := w.Source.Next()
	if rec == nil && err == nil && !w.done {
		w.done = true
		w.log.open--
	}
	return rec, err
}

func (w *watched) Prefetch() {
	if !w.prefetched {
		w.prefetched = true
		w.log.prefetches++
	}
}

var idValue = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "v", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// idBatches is ids (sorted) with value v+id, in batches of at most per rows.
func idBatches(mem memory.Allocator, ids []int64, v int64, per int) []arrow.RecordBatch {
	var out []arrow.RecordBatch
	for s := 0; s < len(ids); s += per {
		b := array.NewRecordBuilder(mem, idValue)
		for _, id := range ids[s:min(s+per, len(ids))] {
			b.Field(0).(*array.Int64Builder).Append(id)
			b.Field(1).(*array.Int64Builder).Append(v + id)
		}
		out = append(out, b.NewRecordBatch())
		b.Release()
	}
	return out
}

func int64Key(v int64) []byte { return keyenc.AppendInt64(nil, v) }

// TestMergeOpensInputsAsItsKeysReachThem: a wide newer input merged over
// twelve older ones with disjoint key ranges (a flush of updates over a
// table's segments) opens each older input only when the merge's keys
// reach it, a couple ahead, not all of them before its first row; and
// the result is every key once, newest value, in order.
func TestMergeOpensInputsAsItsKeysReachThem(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	const olds, per = 12, 1000
	log := &openLog{}
	var srcs []Source
	var minKeys [][]byte
	var ranks []int
	for j := 0; j < olds; j++ {
		ids := make([]int64, per)
		for i := range ids {
			ids[i] = int64(j*per + i)
		}
		srcs = append(srcs, &watched{Source: NewMem(idBatches(mem, ids, 0, 300)), log: log})
		minKeys = append(minKeys, int64Key(ids[0]))
		ranks = append(ranks, j)
	}
	var upd []int64
	for id := int64(3); id < olds*per; id += 7 {
		upd = append(upd, id)
	}
	srcs = append(srcs, &watched{Source: NewMem(idBatches(mem, upd, 1_000_000, 256)), log: log})
	minKeys = append(minKeys, int64Key(upd[0]))
	ranks = append(ranks, olds)

	m := NewMerge(srcs, NewKeyer(idValue, []string{"id"}, false),
		MergeOptions{Work: idValue, Ranks: ranks, MinKeys: minKeys}, 500, mem)
	defer m.Close()
	var got []int64
	first := true
	for {
		rec, err := m.Next()
		if err != nil {
			t.Fatal(err)
		}
		if rec == nil {
			break
		}
		if first {
			first = false
			if log.open > 3 || log.prefetches > 2+prefetchAhead {
				t.Errorf("after the first batch %d inputs are open and %d were prefetched, want <= 3 and <= %d",
					log.open, log.prefetches, 2+prefetchAhead)
			}
		}
		ids, vs := rec.Column(0).(*array.Int64), rec.Column(1).(*array.Int64)
		for i := 0; i < ids.Len(); i++ {
			id := ids.Value(i)
			want := id
			if id >= 3 && (id-3)%7 == 0 {
				want += 1_000_000
			}
			if vs.Value(i) != want {
				t.Fatalf("id %d has v %d, want %d", id, vs.Value(i), want)
			}
			got = append(got, id)
		}
		rec.Release()
	}
	if len(got) != olds*per {
		t.Fatalf("%d rows, want %d", len(got), olds*per)
	}
	for i, id := range got {
		if id != int64(i) {
			t.Fatalf("row %d is id %d", i, id)
		}
	}
	// The wide input, the older one being passed and the next one or two.
	if log.maxOpen > 4 {
		t.Errorf("up to %d inputs were open at once, want <= 4", log.maxOpen)
	}
	if log.prefetches != olds+1 {
		t.Errorf("%d inputs were prefetched, want all %d, each before it was needed", log.prefetches, olds+1)
	}
}

// mergeAll drains m into rows "key/value/…" in output order.
func mergeAll(t *testing.T, m *Merge) []string {
	t.Helper()
	defer m.Close()
	var out []string
	for {
		rec, err := m.Next()
		if err != nil {
			t.Fatal(err)
		}
		if rec == nil {
			return out
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			row := ""
			for c := 0; c < int(rec.NumCols()); c++ {
				row += rec.Column(c).ValueStr(i) + "/"
			}
			out = append(out, row)
		}
		rec.Release()
	}
}

// trickyKeys are byte strings over {0x00, 0x01, 0xff} of up to six bytes,
// the empty one first, in bytewise order: keys that are prefixes of one
// another and hold zero bytes, which a raw-key merge must order exactly as
// their encodings (keyenc escapes 0x00 and ends each string).
var trickyKeys = func() []string {
	out := []string{""}
	for l, level := 1, []string{""}; l <= 6; l++ {
		var next []string
		for _, p := range level {
			for _, c := range []string{"\x00", "\x01", "\xff"} {
				next = append(next, p+c)
			}
		}
		out = append(out, next...)
		level = next
	}
	sort.Strings(out) // Go compares strings bytewise
	return out
}()

// TestMergeLazyMatchesEager merges random inputs (int64, string and binary
// keys — the binary ones prefixes of one another and holding zero bytes —,
// null keys, by rank and by _seq, with and without tombstones) with lower
// bounds of their keys as MinKeys and without: both give the model's
// answer (the newest version of each key, in key order). String and
// binary keys take the raw-key path, int64 keys the integer one, int32 and
// float64 keys the encoded one (of one width without nulls, with offsets
// otherwise).
func TestMergeLazyMatchesEager(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r := rand.New(rand.NewSource(11))
	for trial := 0; trial < 500; trial++ {
		kind := trial % 5
		strKey := kind == 1 || kind == 2
		binKey := kind == 2
		i32Key := kind == 3 // encoded keys of one width (keyenc.RowEncoder.AppendAll)
		f64Key := kind == 4 // encoded keys with offsets
		bySeq := trial%2 == 0
		keyType := arrow.DataType(arrow.PrimitiveTypes.Int64)
		switch {
		case binKey:
			keyType = arrow.BinaryTypes.Binary
		case strKey:
			keyType = arrow.BinaryTypes.String
		case i32Key:
			keyType = arrow.PrimitiveTypes.Int32
		case f64Key:
			keyType = arrow.PrimitiveTypes.Float64
		}
		// f64Of keeps the ids' order and crosses zero.
		f64Of := func(id int64) float64 { return float64(id) - 200.5 }
		fields := []arrow.Field{{Name: "k", Type: keyType, Nullable: true}, {Name: "v", Type: arrow.PrimitiveTypes.Int64}}
		if bySeq {
			fields = append(fields, arrow.Field{Name: SeqColumn, Type: arrow.PrimitiveTypes.Int64})
		}
		fields = append(fields, arrow.Field{Name: DeletedColumn, Type: arrow.FixedWidthTypes.Boolean})
		schema := arrow.NewSchema(fields, nil)
		keyOf := func(i int64) string { return fmt.Sprintf("k%05d", i) }
		if binKey {
			keyOf = func(i int64) string { return trickyKeys[i] }
		}
		n := 3 + r.Intn(6)
		type input struct {
			recs   []arrow.RecordBatch
			minKey []byte
		}
		// The model: every version, for the newest of each key.
		type version struct {
			null   bool
			id     int64
			seq    int64
			del    bool
			rank   int
			output string
		}
		var versions []version
		gen := func() []input {
			var ins []input
			versions = versions[:0]
			rr := rand.New(rand.NewSource(int64(trial)))
			for j := 0; j < n; j++ {
				lo := rr.Int63n(400)
				span := 1 + rr.Int63n(400)
				var ids []int64
				for id := lo; id < lo+span; id++ {
					if rr.Intn(3) == 0 {
						ids = append(ids, id)
					}
				}
				nullFirst := rr.Intn(8) == 0
				b := array.NewRecordBuilder(mem, schema)
				var recs []arrow.RecordBatch
				per := 1 + rr.Intn(40)
				rows := 0
				flush := func() {
					if rows > 0 {
						recs = append(recs, b.NewRecordBatch())
						rows = 0
					}
				}
				emit := func(null bool, id int64) {
					switch {
					case null:
						b.Field(0).AppendNull()
					case binKey:
						b.Field(0).(*array.BinaryBuilder).Append([]byte(keyOf(id)))
					case strKey:
						b.Field(0).(*array.StringBuilder).Append(keyOf(id))
					case i32Key:
						b.Field(0).(*array.Int32Builder).Append(int32(id))
					case f64Key:
						b.Field(0).(*array.Float64Builder).Append(f64Of(id))
					default:
						b.Field(0).(*array.Int64Builder).Append(id)
					}
					v := version{null: null, id: id, rank: j, del: rr.Intn(10) == 0}
					b.Field(1).(*array.Int64Builder).Append(int64(j)*1000 + id)
					v.output = fmt.Sprintf("%d/", int64(j)*1000+id)
					if bySeq {
						// Random versions: an input holds older and newer ones.
						v.seq = 1 + rr.Int63()
						b.Field(2).(*array.Int64Builder).Append(v.seq)
						v.output += fmt.Sprintf("%d/", v.seq)
					}
					b.Field(len(fields) - 1).(*array.BooleanBuilder).Append(v.del)
					if trial%4 >= 2 {
						v.output += fmt.Sprintf("%v/", v.del)
					}
					switch {
					case null:
						v.output = "(null)/" + v.output
					case binKey:
						// Binary.ValueStr, as mergeAll renders it.
						v.output = base64.StdEncoding.EncodeToString([]byte(keyOf(id))) + "/" + v.output
					case strKey:
						v.output = keyOf(id) + "/" + v.output
					case f64Key:
						v.output = strconv.FormatFloat(f64Of(id), 'g', -1, 64) + "/" + v.output
					default:
						v.output = fmt.Sprintf("%d/", id) + v.output
					}
					versions = append(versions, v)
					if rows++; rows == per {
						flush()
					}
				}
				if nullFirst {
					emit(true, 0)
				}
				for _, id := range ids {
					emit(false, id)
				}
				flush()
				b.Release()
				var minKey []byte
				switch {
				case nullFirst || len(ids) == 0 || rr.Intn(5) == 0:
					// unknown
				case strKey:
					var err error
					var lo any = keyOf(max(0, ids[0]-rr.Int63n(3)))
					if binKey {
						lo = []byte(lo.(string))
					}
					if minKey, err = keyenc.AppendGo(nil, keyType, lo); err != nil {
						t.Fatal(err)
					}
				case i32Key || f64Key:
					var lo any = int32(ids[0] - rr.Int63n(3))
					if f64Key {
						lo = f64Of(ids[0]) - float64(rr.Int63n(3))
					}
					var err error
					if minKey, err = keyenc.AppendGo(nil, keyType, lo); err != nil {
						t.Fatal(err)
					}
				default:
					minKey = int64Key(ids[0] - rr.Int63n(3))
				}
				ins = append(ins, input{recs, minKey})
			}
			return ins
		}
		run := func(lazy bool) []string {
			var srcs []Source
			var mks [][]byte
			for _, in := range gen() {
				srcs = append(srcs, NewMem(in.recs))
				mks = append(mks, in.minKey)
			}
			mo := MergeOptions{Work: schema, BySeq: bySeq, DropTombstones: trial%4 < 2}
			if !bySeq {
				mo.Ranks = make([]int, n)
				for j := range mo.Ranks {
					mo.Ranks[j] = j
				}
			}
			if lazy {
				mo.MinKeys = mks
			}
			m := NewMerge(srcs, NewKeyer(schema, []string{"k"}, false), mo, int64(1+trial%50), mem)
			if (m.rawKey >= 0) != strKey || (m.intKey >= 0) != (kind == 0) {
				t.Fatalf("trial %d: key %s merged with rawKey %d, intKey %d", trial, keyType, m.rawKey, m.intKey)
			}
			return mergeAll(t, m)
		}
		eager, lazy := run(false), run(true)
		newest := map[string]version{}
		for _, v := range versions {
			k := fmt.Sprint(v.null, v.id)
			w, ok := newest[k]
			if !ok || (bySeq && v.seq > w.seq) || (!bySeq && v.rank > w.rank) {
				newest[k] = v
			}
		}
		var want []version
		for _, v := range newest {
			if !v.del || trial%4 >= 2 {
				want = append(want, v)
			}
		}
		sort.Slice(want, func(i, j int) bool {
			if want[i].null != want[j].null {
				return want[i].null
			}
			return want[i].id < want[j].id
		})
		var wantRows []string
		for _, v := range want {
			wantRows = append(wantRows, v.output)
		}
		if fmt.Sprint(eager) != fmt.Sprint(wantRows) {
			t.Fatalf("trial %d (key %s, by _seq %v): merge differs from the model:\n got  %v\n want %v", trial, keyType, bySeq, eager, wantRows)
		}
		if fmt.Sprint(eager) != fmt.Sprint(lazy) {
			for i := range eager {
				if i >= len(lazy) || eager[i] != lazy[i] {
					t.Logf("first difference at %d of %d/%d: eager %v lazy %v", i, len(eager), len(lazy), eager[max(0, i-3):min(len(eager), i+3)], lazy[max(0, i-3):min(len(lazy), i+3)])
					break
				}
			}
			t.Fatalf("trial %d (key %s, by _seq %v): lazy merge differs:\n eager %v\n lazy  %v", trial, keyType, bySeq, eager, lazy)
		}
		if len(eager) < 10 {
			t.Fatalf("trial %d merged only %d rows: the inputs are too thin to test anything", trial, len(eager))
		}
	}
}

// TestMergeMinKeyAboveRowsIsCorruption: an input whose rows start below
// the MinKey its metadata records is reported, not merged out of order,
// with an int64 key and with an encoded (string) key.
func TestMergeMinKeyAboveRowsIsCorruption(t *testing.T) {
	t.Run("int64", func(t *testing.T) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		var srcs []Source
		var mks [][]byte
		for j := int64(0); j < 3; j++ {
			srcs = append(srcs, NewMem(idBatches(mem, []int64{10 * j, 10*j + 1}, 0, 10)))
			mks = append(mks, int64Key(10*j))
		}
		mks[2] = int64Key(25) // its rows start at 20
		expectCorruption(t, NewMerge(srcs, NewKeyer(idValue, []string{"id"}, false),
			MergeOptions{Work: idValue, Ranks: []int{0, 1, 2}, MinKeys: mks}, 100, mem))
	})
	t.Run("string", func(t *testing.T) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.BinaryTypes.String}}, nil)
		var srcs []Source
		var mks [][]byte
		for j := 0; j < 3; j++ {
			b := array.NewRecordBuilder(mem, schema)
			b.Field(0).(*array.StringBuilder).AppendValues([]string{fmt.Sprintf("k%d0", j), fmt.Sprintf("k%d1", j)}, nil)
			srcs = append(srcs, NewMem([]arrow.RecordBatch{b.NewRecordBatch()}))
			b.Release()
			minKey := fmt.Sprintf("k%d0", j)
			if j == 2 {
				minKey = "k25" // its rows start at k20
			}
			mk, err := keyenc.AppendGo(nil, arrow.BinaryTypes.String, minKey)
			if err != nil {
				t.Fatal(err)
			}
			mks = append(mks, mk)
		}
		expectCorruption(t, NewMerge(srcs, NewKeyer(schema, []string{"k"}, false),
			MergeOptions{Work: schema, Ranks: []int{0, 1, 2}, MinKeys: mks}, 100, mem))
	})
}

func expectCorruption(t *testing.T, m *Merge) {
	t.Helper()
	defer m.Close()
	var err error
	for err == nil {
		var rec arrow.RecordBatch
		if rec, err = m.Next(); rec == nil && err == nil {
			t.Fatal("merged to the end without noticing the input below its MinKey")
		}
		if rec != nil {
			rec.Release()
		}
	}
	if !kerr.Is(err, kerr.Corruption) {
		t.Fatalf("error %v, want a Corruption", err)
	}
}

// A merge whose batch ends up holding only tombstones it leaves out (a run
// of more than longRun of them, below every other input's keys) goes on
// to the rows after them: it returned an empty batch, that is nil, which
// ends a stream, and the older input's rows were lost.
func TestMergeGoesOnAfterABatchOfDroppedTombstones(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "v", Type: arrow.PrimitiveTypes.Int64},
		{Name: DeletedColumn, Type: arrow.FixedWidthTypes.Boolean},
	}, nil)
	batch := func(lo, hi int64, del bool) arrow.RecordBatch {
		b := array.NewRecordBuilder(mem, schema)
		defer b.Release()
		for id := lo; id < hi; id++ {
			b.Field(0).(*array.Int64Builder).Append(id)
			b.Field(1).(*array.Int64Builder).Append(id * 10)
			b.Field(2).(*array.BooleanBuilder).Append(del)
		}
		return b.NewRecordBatch()
	}
	for _, tombs := range []int64{longRun - 1, longRun, 3 * longRun} {
		older := NewMem([]arrow.RecordBatch{batch(100_000, 101_000, false)})
		newer := NewMem([]arrow.RecordBatch{batch(0, tombs, true), batch(tombs, tombs+1, false)})
		m := NewMerge([]Source{older, newer}, NewKeyer(schema, []string{"id"}, false),
			MergeOptions{Work: schema, Ranks: []int{0, 1}, DropTombstones: true}, 65536, mem)
		got := mergeAll(t, m)
		want := []string{fmt.Sprintf("%d/%d/", tombs, tombs*10), "100000/1000000/", "100999/1009990/"}
		if len(got) != 1001 || got[0] != want[0] || got[1] != want[1] || got[1000] != want[2] {
			t.Fatalf("%d tombstones: %d rows out (first %v), want the live one and the older input's 1000", tombs, len(got), got[:min(len(got), 3)])
		}
	}
}
