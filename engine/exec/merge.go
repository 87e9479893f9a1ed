package exec

import (
	"bytes"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/engine/keyenc"
	"github.com/kalamdb/libkalam/kerr"
)

// A merge of inputs whose keys overlap decides, per key, the newest version
// from the key columns and _seq alone (or, when the inputs' _seq ranges are
// disjoint, from which input is newer, without reading _seq at all), and
// then assembles the winning rows' columns once, in output batches
// (runs of rows referencing the inputs' batches, gathered at the end). A
// single int64 key is compared as an integer, and a single string or
// binary key as its raw bytes (keyenc.RawOrdered), without encoding.

// MergeOptions say how inputs are merged.
type MergeOptions struct {
	// Work is the schema the inputs produce (the scan's work schema, maybe
	// without _seq); inputs may leave out _deleted (last) when they hold no
	// tombstone.
	Work *arrow.Schema
	// BySeq: equal keys are decided by _seq; else by rank (input order by
	// age, newest last), which the inputs' disjoint _seq ranges make exact.
	BySeq bool
	Ranks []int // per input, with !BySeq
	// DropTombstones: a tombstone that wins is not output (and _deleted is
	// not either); otherwise tombstones are output, for the caller to drop.
	DropTombstones bool
	// MinKeys, when set, holds per input a lower bound of its row keys
	// (encoded like Keyer.Keys; nil: unknown): such an input is opened
	// only when the merge reaches that key, a few inputs ahead (see
	// Prefetcher). A merge of a wide newer segment over many older ones
	// then decodes only the older ones its output is passing, instead of
	// the first batch of every input before its first row.
	MinKeys [][]byte
}

// A Prefetcher is a Source that can start reading ahead before its first
// Next, without waiting for it.
type Prefetcher interface {
	Prefetch()
}

// prefetchAhead is how many unopened inputs of a merge, in the order of
// their MinKeys, read ahead: the next ones whose keys the merge reaches.
const prefetchAhead = 2

type cursor struct {
	src  Source
	rank int
	rec  arrow.RecordBatch
	n    int
	pos  int
	ik   []int64      // int64 key values (int key merges)
	knil *array.Int64 // the key column when this batch has null keys (they sort first)
	kv   keyView      // encoded keys, or raw values with a raw key (other merges)
	kbuf []byte       // the encoded keys' bytes
	koff []int32      // their offsets, unless of one width
	// tuple keys (Merge.tuple): each key column's values, when tok (no
	// key of the batch is null); kv is then encoded only when a compare
	// with a cursor that is not tok asks for it (kvReady).
	tk      [][]int64
	tok     bool
	kvReady bool
	seqs    []int64        // with bySeq
	dels    *array.Boolean // nil: no tombstone in rec
	// ri is rec's index in the merge's runs while loads == riLoad and
	// the runs' gen == riGen.
	loads, riLoad, ri, riGen int
	// lazy: not opened yet; the cursor stands on one placeholder row
	// whose key is its input's MinKey (phInt or phKey), which orders it
	// in the heap. On equal keys a lazy cursor comes first, so that it is
	// opened before any version of that key is decided.
	lazy       bool
	phInt      [1]int64
	phKey      []byte   // encoded, or raw with a raw key
	phOff      [2]int32 // phKey's offsets in its keyView
	phSeq      [1]int64
	phTuple    []int64 // phKey's values with tuple keys
	prefetched bool
}

func (c *cursor) deleted(i int) bool { return c.dels != nil && c.dels.Value(i) }

// Merge merges inputs whose key ranges overlap: per key, the newest
// version wins (the highest _seq, a tombstone winning a tie; or the newest
// input). Tombstones are output unless DropTombstones.
type Merge struct {
	cursors []*cursor
	h       []*cursor // a binary min-heap by (key, newest first)
	k       *Keyer
	intKey  int // index of the int64 key column, -1: encoded keys
	rawKey  int // index of the string or binary key column compared raw, -1: none
	// tuple holds the key columns of a key of several 64-bit integer-like
	// columns (keyenc.Signed64), compared as values; nil otherwise.
	tuple   []int
	bySeq   bool
	drop    bool
	seqIdx  int
	out     *arrow.Schema // the output: the inputs' columns, without _deleted when dropping
	batch   int64
	r       Runs
	started bool
	lastKey []byte // the key being decided (encoded and raw keys)
	// lastNull: that key is a null raw key (lastKey is then empty).
	lastNull bool
	// lazies are the lazy cursors by MinKey; the first prefetched of
	// them that are not opened read ahead.
	lazies  []*cursor
	minKeys [][]byte
}

// NewMerge merges srcs (each producing mo.Work, _deleted optional when
// dropping), keyed by k (a keyer of mo.Work), into batches of at most batch
// rows gathered from mem.
func NewMerge(srcs []Source, k *Keyer, mo MergeOptions, batch int64, mem memory.Allocator) *Merge {
	out := mo.Work
	if mo.DropTombstones {
		out = WithoutField(out, DeletedColumn)
	}
	m := &Merge{k: k, intKey: -1, rawKey: -1, bySeq: mo.BySeq, drop: mo.DropTombstones, seqIdx: -1,
		out: out, batch: batch}
	if idx := mo.Work.FieldIndices(SeqColumn); len(idx) == 1 {
		m.seqIdx = idx[0]
	}
	if len(k.keyIdx) == 1 && !k.hasSeq {
		switch t := mo.Work.Field(k.keyIdx[0]).Type; {
		case t.ID() == arrow.INT64:
			m.intKey = k.keyIdx[0]
		case keyenc.RawOrdered(t):
			// Encoding a string key row by row was a quarter of the CPU of
			// a merge on one (2 M rows, a tenth of them updated).
			m.rawKey = k.keyIdx[0]
		}
	}
	if len(k.keyIdx) > 1 && !k.hasSeq {
		// Encoding a composite key of two int64 columns and comparing the
		// encodings were a fifth of a merge's CPU.
		m.tuple = k.keyIdx
		for _, i := range k.keyIdx {
			if !keyenc.Signed64(mo.Work.Field(i).Type) {
				m.tuple = nil
				break
			}
		}
	}
	// Output columns are the first out.NumFields() of every input record:
	// only _deleted, the last, may be missing from one.
	m.r = Runs{schema: out, mem: mem}
	if out.NumFields() != mo.Work.NumFields() {
		m.r.proj = make([]int, out.NumFields())
		for i := range m.r.proj {
			m.r.proj[i] = i
		}
	}
	for i, s := range srcs {
		c := &cursor{src: s}
		if mo.Ranks != nil {
			c.rank = mo.Ranks[i]
		}
		m.cursors = append(m.cursors, c)
	}
	m.minKeys = mo.MinKeys
	return m
}

// placeholder makes c lazy, standing on its input's MinKey, when that is
// known and usable; false when c must be opened now.
func (m *Merge) placeholder(c *cursor, minKey []byte) bool {
	if minKey == nil {
		return false
	}
	if m.intKey >= 0 {
		v, rest, err := keyenc.DecodeValue(minKey, arrow.PrimitiveTypes.Int64)
		iv, ok := v.(int64)
		if err != nil || len(rest) != 0 || !ok {
			return false // a null key, or not an int64 key's encoding
		}
		c.phInt[0] = iv
		c.ik, c.knil = c.phInt[:], nil
	} else if m.rawKey >= 0 {
		v, rest, err := keyenc.DecodeValue(minKey, m.out.Field(m.rawKey).Type)
		if err != nil || len(rest) != 0 || v == nil {
			return false // a null key, or not this key's encoding
		}
		switch v := v.(type) {
		case string:
			c.phKey = []byte(v)
		case []byte:
			c.phKey = v
		default:
			return false
		}
		c.phOff = [2]int32{0, int32(len(c.phKey))}
		c.kv = keyView{data: c.phKey, off32: c.phOff[:]}
	} else {
		c.phKey = minKey
		c.phOff = [2]int32{0, int32(len(c.phKey))}
		c.kv = keyView{data: c.phKey, off32: c.phOff[:]}
		c.tok, c.kvReady = m.tuple != nil && m.placeholderTuple(c, minKey), true
	}
	c.seqs = nil
	if m.bySeq {
		c.seqs = c.phSeq[:]
	}
	c.lazy, c.n, c.pos, c.dels = true, 1, 0, nil
	return true
}

// placeholderTuple gives a lazy cursor of a tuple-key merge its MinKey as
// tuple values, so that merging up to it compares values (a compare with
// an encoded placeholder encoded the other cursor's keys); false when a
// value is null (it then compares by its encoding).
func (m *Merge) placeholderTuple(c *cursor, minKey []byte) bool {
	c.phTuple = c.phTuple[:0]
	c.tk = c.tk[:0]
	rest := minKey
	for _, i := range m.tuple {
		v, r, err := keyenc.DecodeValue(rest, m.out.Field(i).Type)
		iv, ok := v.(int64)
		if err != nil || !ok {
			return false
		}
		c.phTuple = append(c.phTuple, iv)
		rest = r
	}
	if len(rest) != 0 {
		return false
	}
	for i := range c.phTuple {
		c.tk = append(c.tk, c.phTuple[i:i+1])
	}
	return true
}

// prefetch starts reading ahead on the first prefetchAhead lazy cursors
// (by MinKey) that are not opened yet.
func (m *Merge) prefetch() {
	ahead := 0
	for _, c := range m.lazies {
		if !c.lazy {
			continue
		}
		if !c.prefetched {
			c.prefetched = true
			if p, ok := c.src.(Prefetcher); ok {
				p.Prefetch()
			}
		}
		if ahead++; ahead >= prefetchAhead {
			return
		}
	}
}

// open opens the lazy cursor at the top of the heap: it loads its first
// batch (or leaves the heap, empty) and takes its place by its first key.
func (m *Merge) open() error {
	c := m.h[0]
	// The placeholder row, kept apart: load reuses the cursor's key slices.
	// Its tuple values stay in c.phTuple, which load leaves alone.
	ph := &cursor{ik: []int64{c.phInt[0]}, kv: c.kv, kvReady: true, tk: append([][]int64(nil), c.tk...), tok: c.tok}
	c.lazy, c.ik, c.kv = false, nil, keyView{}
	ok, err := m.loadTop()
	if err != nil {
		return err
	}
	if ok && m.cmp(c, 0, ph, 0) < 0 {
		// Rows below the input's recorded MinKey: merging on would put
		// them out of order, silently.
		return kerr.New(kerr.Corruption, "merge input's first key is below the key range its metadata records")
	}
	if len(m.h) > 0 {
		m.down(0)
	}
	m.prefetch()
	return nil
}

// load moves c to its next non-empty batch; false at the end of its input.
func (m *Merge) load(c *cursor) (bool, error) {
	if c.rec != nil {
		c.rec.Release()
		c.rec = nil
	}
	for {
		rec, err := c.src.Next()
		if err != nil {
			return false, err
		}
		if rec == nil {
			return false, nil
		}
		if rec.NumRows() == 0 {
			rec.Release()
			continue
		}
		if err := m.checkSchema(rec.Schema()); err != nil {
			rec.Release()
			return false, err
		}
		c.rec, c.n, c.pos = rec, int(rec.NumRows()), 0
		c.loads++
		if m.intKey >= 0 {
			kc := rec.Column(m.intKey).(*array.Int64)
			c.ik, c.knil = kc.Int64Values(), nil
			if kc.NullN() > 0 {
				c.knil = kc
			}
		} else if m.rawKey >= 0 {
			if c.kv, err = rawKeyView(rec.Column(m.rawKey)); err != nil {
				return false, err
			}
		} else if m.tuple != nil && m.loadTuple(c, rec) {
			c.kvReady = false
		} else if c.kv, c.kbuf, c.koff, err = m.k.Flat(rec, c.kbuf, c.koff); err != nil {
			return false, err
		} else {
			c.kvReady = true
		}
		c.seqs = nil
		if m.bySeq {
			c.seqs = rec.Column(m.seqIdx).(*array.Int64).Int64Values()
		}
		c.dels = nil
		if idx := rec.Schema().FieldIndices(DeletedColumn); len(idx) == 1 {
			d := rec.Column(idx[0]).(*array.Boolean)
			if bitutil.CountSetBits(d.Data().Buffers()[1].Bytes(), d.Data().Offset(), d.Len()) > 0 {
				c.dels = d
			}
		}
		return true, nil
	}
}

// loadTuple points c's tuple keys at rec's key columns and reports
// whether they hold no null (else c compares by encoded keys).
func (m *Merge) loadTuple(c *cursor, rec arrow.RecordBatch) bool {
	c.tk = c.tk[:0]
	c.tok = false
	for _, i := range m.tuple {
		d := rec.Column(i).Data()
		if d.NullN() != 0 {
			return false
		}
		c.tk = append(c.tk, arrow.Int64Traits.CastFromBytes(d.Buffers()[1].Bytes())[d.Offset():])
	}
	c.tok = true
	return true
}

// ensureKV encodes c's keys when its batch was loaded as tuple keys and a
// compare needs the encodings.
func (m *Merge) ensureKV(c *cursor) {
	if m.tuple == nil || c.kvReady {
		return
	}
	kv, kbuf, koff, err := m.k.Flat(c.rec, c.kbuf, c.koff)
	if err != nil {
		// Integer-like key columns always encode (one width, no error
		// but an unsupported type, which NewMerge ruled out).
		panic(kerr.Wrap(kerr.Internal, err, "encode merge keys"))
	}
	c.kv, c.kbuf, c.koff, c.kvReady = kv, kbuf, koff, true
}

// checkSchema verifies that a record carries the output columns first, in
// order (what the assembly by column index relies on).
func (m *Merge) checkSchema(s *arrow.Schema) error {
	if s.NumFields() < m.out.NumFields() {
		return kerr.New(kerr.Internal, "merge input has %d columns, the output %d", s.NumFields(), m.out.NumFields())
	}
	for i, f := range m.out.Fields() {
		if s.Field(i).Name != f.Name {
			return kerr.New(kerr.Internal, "merge input column %d is %q, the output's %q", i, s.Field(i).Name, f.Name)
		}
	}
	return nil
}

// cmp compares the key of row i of a with that of row j of b.
func (m *Merge) cmp(a *cursor, i int, b *cursor, j int) int {
	if m.intKey >= 0 {
		if a.knil != nil || b.knil != nil {
			// Null keys sort first, like their encoding (keyenc).
			an, bn := a.knil != nil && a.knil.IsNull(i), b.knil != nil && b.knil.IsNull(j)
			switch {
			case an && bn:
				return 0
			case an:
				return -1
			case bn:
				return 1
			}
		}
		x, y := a.ik[i], b.ik[j]
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	if m.tuple != nil {
		if a.tok && b.tok {
			for k := range a.tk {
				if x, y := a.tk[k][i], b.tk[k][j]; x != y {
					if x < y {
						return -1
					}
					return 1
				}
			}
			return 0
		}
		m.ensureKV(a)
		m.ensureKV(b)
	}
	return compareKeyAt(&a.kv, i, &b.kv, j)
}

func (m *Merge) sameIntKey(c *cursor, key int64, null bool) bool {
	if c.knil != nil && c.knil.IsNull(c.pos) {
		return null
	}
	return !null && c.ik[c.pos] == key
}

// before orders the heap: smaller key first, then the newest version.
func (m *Merge) before(a, b *cursor) bool {
	if c := m.cmp(a, a.pos, b, b.pos); c != 0 {
		return c < 0
	}
	if a.lazy != b.lazy {
		return a.lazy
	}
	if m.bySeq {
		if sa, sb := a.seqs[a.pos], b.seqs[b.pos]; sa != sb {
			return sa > sb
		}
		return a.deleted(a.pos) && !b.deleted(b.pos)
	}
	return a.rank > b.rank
}

func (m *Merge) down(i int) {
	h := m.h
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		j := l
		if r := l + 1; r < len(h) && m.before(h[r], h[l]) {
			j = r
		}
		if !m.before(h[j], h[i]) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}

// loadTop loads the next batch of the cursor at the top of the heap and
// takes that cursor out of the heap at the end of its input; the caller
// restores the heap order.
func (m *Merge) loadTop() (bool, error) {
	ok, err := m.load(m.h[0])
	if err == nil && !ok {
		last := len(m.h) - 1
		m.h[0] = m.h[last]
		m.h = m.h[:last]
	}
	return ok, err
}

// step advances the top cursor by one row (loading its next batch) and
// restores the heap.
func (m *Merge) step() error {
	c := m.h[0]
	c.pos++
	if c.pos >= c.n {
		if _, err := m.loadTop(); err != nil {
			return err
		}
	}
	if len(m.h) > 0 {
		m.down(0)
	}
	return nil
}

// add outputs rows [s, e) of c, leaving out tombstones when dropping.
func (m *Merge) add(c *cursor, s, e int) {
	if c.riLoad != c.loads || c.riGen != m.r.gen {
		// rec's index in the runs, found once per batch and build rather
		// than per run (runs of a merge are a few rows long).
		c.ri, c.riLoad, c.riGen = m.r.index(c.rec), c.loads, m.r.gen
	}
	if !m.drop || c.dels == nil {
		m.r.addAt(c.ri, int64(s), int64(e))
		return
	}
	start := -1
	for i := s; i <= e; i++ {
		keep := i < e && !c.dels.Value(i)
		if keep && start < 0 {
			start = i
		} else if !keep && start >= 0 {
			m.r.addAt(c.ri, int64(start), int64(i))
			start = -1
		}
	}
}

// longRun is the length from which a run of one input is output as a
// batch of its own (a slice of the input's batch) rather than gathered
// with its neighbours: a merge of a segment with a few hot rows is then
// almost free, where copying every row costs as much as decoding them.
// Below it, copying the run costs less than a batch's fixed costs.
const longRun = 4096

func (m *Merge) Next() (arrow.RecordBatch, error) {
	if !m.started {
		m.started = true
		for i, c := range m.cursors {
			if len(m.cursors) > 2 && i < len(m.minKeys) && m.placeholder(c, m.minKeys[i]) {
				m.lazies = append(m.lazies, c)
				m.h = append(m.h, c)
				continue
			}
			ok, err := m.load(c)
			if err != nil {
				return nil, err
			}
			if ok {
				m.h = append(m.h, c)
			}
		}
		for i := len(m.h)/2 - 1; i >= 0; i-- {
			m.down(i)
		}
		sort.SliceStable(m.lazies, func(i, j int) bool { return m.cmp(m.lazies[i], 0, m.lazies[j], 0) < 0 })
		m.prefetch()
	}
	// A batch whose rows were all tombstones left out has no row: merging
	// goes on, as Build returns nil for an empty batch, which a caller
	// takes for the end of the stream (every row after a run of dropped
	// tombstones was lost).
	for {
		for len(m.h) > 0 && m.r.rows < m.batch {
			win := m.h[0]
			if win.lazy {
				if err := m.open(); err != nil {
					return nil, err
				}
				continue
			}
			if !m.bySeq && len(m.h) >= 2 && m.pairs() {
				continue
			}
			// Fast path: every key of the winner below the smallest key of the
			// other cursors is unique to it, so that whole run goes out at once
			// (one binary search instead of a heap operation per row).
			if end := m.runEnd(win); end > win.pos+1 {
				long := end-win.pos >= longRun
				if long && m.r.rows > 0 {
					break // the long run starts the next batch
				}
				m.add(win, win.pos, end)
				win.pos = end - 1
				if err := m.step(); err != nil {
					return nil, err
				}
				if long {
					break // and goes out alone: a slice of its input, not a copy
				}
				continue
			}
			m.add(win, win.pos, win.pos+1)
			// Advance every cursor positioned on this key (the winner first).
			if m.intKey >= 0 {
				// The winner's row stays addressable while the others step:
				// only the winner's own step can load its next batch, and it
				// steps first.
				key, null := win.ik[win.pos], win.knil != nil && win.knil.IsNull(win.pos)
				for len(m.h) > 0 && m.sameIntKey(m.h[0], key, null) {
					if err := m.step(); err != nil {
						return nil, err
					}
				}
				continue
			}
			// Copied: the winner's step may load its next batch into its keys.
			m.ensureKV(win)
			k, null := win.kv.at(win.pos)
			m.lastNull = null
			m.lastKey = append(m.lastKey[:0], k...)
			for len(m.h) > 0 && m.isLastKey(m.h[0]) {
				if err := m.step(); err != nil {
					return nil, err
				}
			}
		}
		if m.r.rows > 0 || len(m.h) == 0 {
			return m.r.Build(false)
		}
	}
}

// isLastKey reports whether c's current key is the key being decided.
func (m *Merge) isLastKey(c *cursor) bool {
	m.ensureKV(c)
	k, null := c.kv.at(c.pos)
	return null == m.lastNull && bytes.Equal(k, m.lastKey)
}

// pairs merges while two cursors hold the smallest keys (a wide newer
// segment over the older segment its keys are passing, the common merge):
// a two-way merge of their keys, newest rank winning ties, with no heap
// operation per row. It stops before either cursor's last row of its
// batch (the heap loop loads the next one), at the third cursor's key, at
// a long run (which the heap loop sends out as a view) or a full batch,
// then restores the heap. It reports whether it moved either cursor.
func (m *Merge) pairs() bool {
	a, bi := m.h[0], 1
	if len(m.h) > 2 && m.before(m.h[2], m.h[1]) {
		bi = 2
	}
	b := m.h[bi]
	if a.lazy || b.lazy {
		return false
	}
	var moved bool
	if m.intKey >= 0 {
		moved = m.pairsInt(a, b, bi)
	} else {
		moved = m.pairsKeys(a, b, bi)
	}
	if !moved {
		return false
	}
	m.down(bi)
	m.down(0)
	return true
}

// thirdKeys are the heap positions that may hold the third smallest key
// when a is at the root and b at bi: the root's other child and b's
// children.
func thirdKeys(bi int) [3]int { return [3]int{3 - bi, 2*bi + 1, 2*bi + 2} }

// pairsInt is pairs on an int64 key.
func (m *Merge) pairsInt(a, b *cursor, bi int) bool {
	if a.knil != nil || b.knil != nil {
		return false
	}
	bound, bounded := int64(0), false
	for _, i := range thirdKeys(bi) {
		if i < len(m.h) {
			c := m.h[i]
			if c.knil != nil && c.knil.IsNull(c.pos) {
				return false // sorts first: not this path's case
			}
			if k := c.ik[c.pos]; !bounded || k < bound {
				bound, bounded = k, true
			}
		}
	}
	// moved, not rows output: a winning tombstone that is dropped moves
	// both cursors and outputs nothing.
	moved := false
	for m.r.rows < m.batch && a.pos < a.n-1 && b.pos < b.n-1 {
		ka, kb := a.ik[a.pos], b.ik[b.pos]
		if bounded && min(ka, kb) >= bound {
			break
		}
		if ka == kb {
			m.addNewer(a, b)
			moved = true
			continue
		}
		lo, hi := a, kb
		if kb < ka {
			lo, hi = b, ka
		}
		if bounded && bound < hi {
			hi = bound
		}
		limit := min(lo.n-1, lo.pos+int(m.batch-m.r.rows))
		end := gallop(lo.ik, lo.pos+1, limit, hi)
		if end-lo.pos >= longRun {
			break
		}
		m.add(lo, lo.pos, end)
		lo.pos = end
		moved = true
	}
	return moved
}

// pairsKeys is pairs on any other key (raw strings and binaries, tuples
// of integers, encoded keys), compared by Merge.cmp: on a string or
// composite key, deciding through the heap (about 17 key comparisons per
// run of ten rows and its updated key) was half of a merge's CPU.
func (m *Merge) pairsKeys(a, b *cursor, bi int) bool {
	var third *cursor // the cursor holding the third smallest key
	for _, i := range thirdKeys(bi) {
		if i < len(m.h) {
			if c := m.h[i]; third == nil || m.cmp(c, c.pos, third, third.pos) < 0 {
				third = c
			}
		}
	}
	// Each cursor's rows below the third key, found once: comparing the
	// smaller of a and b with the third key at every run, and capping each
	// run's search by it, were two of the three key comparisons per run.
	aEnd, bEnd := m.below(a, third), m.below(b, third)
	moved := false
	for m.r.rows < m.batch && a.pos < a.n-1 && b.pos < b.n-1 {
		c := m.cmp(a, a.pos, b, b.pos)
		lo, loEnd, hi, hiPos := a, aEnd, b, b.pos
		if c > 0 {
			lo, loEnd, hi, hiPos = b, bEnd, a, a.pos
		}
		if lo.pos >= loEnd {
			break // the smaller key is at or above the third key
		}
		if c == 0 {
			m.addNewer(a, b)
			moved = true
			continue
		}
		// Rows of lo at or above the third key are at or after loEnd, so
		// the search for hi's key within it ends where one for the
		// smaller of the two keys would.
		limit := min(loEnd, lo.pos+int(m.batch-m.r.rows))
		end := m.gallopKeys(lo, limit, hi, hiPos)
		if end-lo.pos >= longRun {
			break
		}
		m.add(lo, lo.pos, end)
		lo.pos = end
		moved = true
	}
	return moved
}

// below returns the first row in [c.pos, c.n-1) of c whose key is at or
// above bound's current key (c.n-1 when none, or when bound is nil). The
// last row of c's batch is left to the heap, which moves c to its next
// batch.
func (m *Merge) below(c, bound *cursor) int {
	if bound == nil {
		return c.n - 1
	}
	if c.pos >= c.n-1 || m.cmp(c, c.pos, bound, bound.pos) >= 0 {
		return c.pos
	}
	return m.gallopKeys(c, c.n-1, bound, bound.pos)
}

// addNewer outputs the version of the newer-ranked of a and b, which
// stand on the same key, and moves both past it.
func (m *Merge) addNewer(a, b *cursor) {
	w := a
	if b.rank > a.rank {
		w = b
	}
	m.add(w, w.pos, w.pos+1)
	a.pos++
	b.pos++
}

// runEnd returns the end of the run of win's current batch whose keys are
// all below every other cursor's current key, capped by the batch size.
func (m *Merge) runEnd(win *cursor) int {
	var bound *cursor
	for i := 1; i <= 2 && i < len(m.h); i++ {
		if c := m.h[i]; bound == nil || m.cmp(c, c.pos, bound, bound.pos) < 0 {
			bound = c
		}
	}
	limit := min(win.n, win.pos+int(m.batch-m.r.rows))
	if bound == nil {
		return limit
	}
	if m.cmp(win, win.pos, bound, bound.pos) >= 0 {
		return win.pos // the same key is elsewhere too: the slow path decides
	}
	if m.intKey >= 0 && win.knil == nil && (bound.knil == nil || !bound.knil.IsNull(bound.pos)) {
		return gallop(win.ik, win.pos+1, limit, bound.ik[bound.pos])
	}
	return m.gallopKeys(win, limit, bound, bound.pos)
}

// gallopKeys returns the first row in [lo.pos+1, limit) of lo whose key is
// at or above row hiPos of hi (limit when none), for merges on keys other
// than a single int64. Raw 32-bit-offset keys without nulls are searched
// in place with hi's key read once: through m.cmp, each comparison read
// both keys through their views, and on a 14-byte string key the search
// was a fifth of the merge's CPU.
func (m *Merge) gallopKeys(lo *cursor, limit int, hi *cursor, hiPos int) int {
	if m.rawKey >= 0 && lo.kv.nulls == nil && lo.kv.off32 != nil {
		if b, null := hi.kv.at(hiPos); !null {
			return gallopBytes(lo.kv.off32, lo.kv.data, lo.pos+1, limit, b)
		}
	}
	if m.tuple != nil && lo.tok && hi.tok {
		// The same for a key of 64-bit integers (a fifth of a merge's CPU
		// on an (int64, int64) key went to comparing through m.cmp).
		var buf [4]int64
		b := buf[:0]
		for _, c := range hi.tk {
			b = append(b, c[hiPos])
		}
		return gallopTuple(lo.tk, lo.pos+1, limit, b)
	}
	return gallopFunc(lo.pos+1, limit, func(i int) bool { return m.cmp(lo, i, hi, hiPos) >= 0 })
}

// gallop returns the first index in [from, limit) of the sorted ks whose
// key is >= b (limit when none): exponential steps, then a binary search
// between the last two, so a run of r rows costs about 2 log r comparisons
// however long the batch (a merge's runs are short).
func gallop(ks []int64, from, limit int, b int64) int {
	lo, step := from, 1
	for {
		at := lo + step - 1
		if at >= limit {
			break
		}
		if ks[at] >= b {
			limit = at
			break
		}
		lo = at + 1
		step *= 2
	}
	for lo < limit {
		mid := int(uint(lo+limit) >> 1)
		if ks[mid] >= b {
			limit = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// gallopBytes is gallop for byte-string keys (key i is
// data[offs[i]:offs[i+1]]), compared as bytes.
func gallopBytes(offs []int32, data []byte, from, limit int, b []byte) int {
	lo, step := from, 1
	for {
		at := lo + step - 1
		if at >= limit {
			break
		}
		if bytes.Compare(data[offs[at]:offs[at+1]], b) >= 0 {
			limit = at
			break
		}
		lo = at + 1
		step *= 2
	}
	for lo < limit {
		mid := int(uint(lo+limit) >> 1)
		if bytes.Compare(data[offs[mid]:offs[mid+1]], b) >= 0 {
			limit = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// gallopTuple is gallop for keys of several int64 columns (key i is
// cols[0][i], cols[1][i], ...), compared in column order.
func gallopTuple(cols [][]int64, from, limit int, b []int64) int {
	lo, step := from, 1
	for {
		at := lo + step - 1
		if at >= limit {
			break
		}
		if tupleAtOrAbove(cols, at, b) {
			limit = at
			break
		}
		lo = at + 1
		step *= 2
	}
	for lo < limit {
		mid := int(uint(lo+limit) >> 1)
		if tupleAtOrAbove(cols, mid, b) {
			limit = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// tupleAtOrAbove reports whether key i of cols is at or above b.
func tupleAtOrAbove(cols [][]int64, i int, b []int64) bool {
	for k, c := range cols {
		if c[i] != b[k] {
			return c[i] > b[k]
		}
	}
	return true
}

// gallopFunc is gallop for any key: the first index in [from, limit) at
// which atOrAbove (false, then true over the range) is true, limit when
// none. A binary search over the whole batch took about 16 key
// comparisons per run of a merge on a string or composite key, whose runs
// are about ten rows long.
func gallopFunc(from, limit int, atOrAbove func(i int) bool) int {
	lo, step := from, 1
	for {
		at := lo + step - 1
		if at >= limit {
			break
		}
		if atOrAbove(at) {
			limit = at
			break
		}
		lo = at + 1
		step *= 2
	}
	for lo < limit {
		mid := int(uint(lo+limit) >> 1)
		if atOrAbove(mid) {
			limit = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

func (m *Merge) Close() {
	m.r.Reset()
	for _, c := range m.cursors {
		if c.rec != nil {
			c.rec.Release()
			c.rec = nil
		}
		c.src.Close()
	}
	m.cursors = nil
	m.h = nil
}

// Schema is the schema of the merged batches.
func (m *Merge) Schema() *arrow.Schema { return m.out }
