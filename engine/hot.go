package engine

import (
	"bytes"
	"encoding/binary"

	"github.com/linxGnu/grocksdb"

	"github.com/kalamdb/libkalam/kerr"
)

// Hot rows live in the default column family under
// {table uid, 8}{generation, 8}{key}{^_seq, 8} (DESIGN §3, with the flush
// generation the design allows). Writes go to the table's current
// generation; a flush first moves writes to the next one, so the
// generations it reads are frozen, and its commit removes exactly them with
// one range deletion. Readers seek past flushed generations instead of
// stepping over their deleted entries, and a write racing a flush can never
// be removed by it.

// Hot-row value flags (first byte of a default-family value).
const (
	flagLive      = 0
	flagTombstone = 1
)

// hotKey builds the key of one hot version.
func hotKey(dst []byte, uid, gen uint64, key []byte, seq int64) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uid)
	dst = binary.BigEndian.AppendUint64(dst, gen)
	dst = append(dst, key...)
	return binary.BigEndian.AppendUint64(dst, ^uint64(seq))
}

// hotGenPrefix is the first key of a generation.
func hotGenPrefix(uid, gen uint64) []byte {
	return binary.BigEndian.AppendUint64(u64be(uid), gen)
}

// hotKeyFixed is the length of a hot-row key's fixed parts: table uid,
// generation and ^_seq.
const hotKeyFixed = 24

// splitHotKey returns the key part and _seq of a hot-row key; a key
// shorter than its fixed parts is corruption.
func splitHotKey(k []byte) (key []byte, seq int64, err error) {
	if len(k) < hotKeyFixed {
		return nil, 0, kerr.New(kerr.Corruption, "hot row key of %d bytes", len(k))
	}
	return k[16 : len(k)-8], int64(^binary.BigEndian.Uint64(k[len(k)-8:])), nil
}

// hotView is the hot rows of one table as one reader sees them: the
// generations from lo on, at a RocksDB snapshot (nil: the latest state).
type hotView struct {
	st   *store
	uid  uint64
	lo   uint64
	snap *grocksdb.Snapshot
}

// gens lists the generations that hold rows, oldest first (usually one;
// two while a flush runs; more after failed flushes).
func (v hotView) gens() ([]uint64, error) {
	ro := grocksdb.NewDefaultReadOptions()
	defer ro.Destroy()
	if v.snap != nil {
		ro.SetSnapshot(v.snap)
	}
	ro.SetIterateUpperBound(u64be(v.uid + 1))
	it := v.st.rdb.NewIteratorCF(ro, v.st.cfData)
	defer it.Close()
	var out []uint64
	for g := v.lo; ; {
		it.Seek(hotGenPrefix(v.uid, g))
		if !it.Valid() {
			break
		}
		k := it.Key().Data()
		if len(k) < hotKeyFixed {
			return nil, kerr.New(kerr.Corruption, "hot row key of %d bytes", len(k))
		}
		g = binary.BigEndian.Uint64(k[8:16])
		out = append(out, g)
		g++
	}
	if err := it.Err(); err != nil {
		return nil, kerr.Wrap(kerr.IO, err, "read hot rows")
	}
	return out, nil
}

// upper is the exclusive upper bound of a generation's keys below keyHi
// (nil: the whole generation).
func (v hotView) upper(gen uint64, keyHi []byte) []byte {
	if keyHi != nil {
		return append(hotGenPrefix(v.uid, gen), keyHi...)
	}
	return hotGenPrefix(v.uid, gen+1)
}

// iter returns an iterator over the hot versions with keyLo <= key < keyHi
// (nil: unbounded) of the given generations, in key order with the newest
// version of a key first.
func (v hotView) iter(gens []uint64, keyLo, keyHi []byte) *hotIter {
	return v.iterCache(gens, keyLo, keyHi, true)
}

// iterCache is iter that leaves RocksDB's block cache alone when
// fillCache is false: a flush reads its rows once and then deletes them.
func (v hotView) iterCache(gens []uint64, keyLo, keyHi []byte, fillCache bool) *hotIter {
	h := &hotIter{uid: v.uid, cur: -1}
	for _, g := range gens {
		ro := grocksdb.NewDefaultReadOptions()
		if v.snap != nil {
			ro.SetSnapshot(v.snap)
		}
		ro.SetFillCache(fillCache)
		p := hotGenPrefix(v.uid, g)
		ro.SetIterateLowerBound(append(append([]byte(nil), p...), keyLo...))
		if keyHi != nil {
			ro.SetIterateUpperBound(append(append([]byte(nil), p...), keyHi...))
		} else {
			ro.SetIterateUpperBound(hotGenPrefix(v.uid, g+1))
		}
		h.its = append(h.its, &genReader{it: v.st.rdb.NewIteratorCF(ro, v.st.cfData), ro: ro, gen: g})
	}
	return h
}

// Batches of hot entries read in one cgo call start small, so that a scan
// that wants a few rows copies little, and double up to genBatchMax, which
// bounds a reader's memory (an entry larger than that gets a buffer of its
// own size).
const (
	genBatchMin = 32 << 10
	genBatchMax = 1 << 20
)

// hotEntry is one hot version of a batch; key and val point into the
// batch buffer.
type hotEntry struct {
	key []byte // the key part, without uid, generation and _seq
	val []byte // flag byte first
	seq int64
}

// genReader reads one generation's entries a batch at a time
// (kalam_iter_next_batch): one cgo call per batch instead of four per entry.
// Once its batches have grown to genBatchMax (a long read: a flush, a full
// scan of hot rows), it reads the next batch on another goroutine while
// the current one is consumed, so that RocksDB's iteration overlaps the
// decoding of rows: in a flush they were each about half of the reading.
type genReader struct {
	it   *grocksdb.Iterator
	ro   *grocksdb.ReadOptions
	gen  uint64
	buf  []byte
	ents []hotEntry // the current batch
	pos  int        // current entry in ents; len(ents) when exhausted
	done bool       // the RocksDB iterator has nothing after this batch
	err  error

	// pending delivers the batch being read ahead (nil: none is); while it
	// is, only that goroutine touches it. spare and spareEnts are the
	// buffers of the batch before the current one, for the next read.
	pending   chan genBatch
	spare     []byte
	spareEnts []hotEntry
}

// genBatch is one batch read by readGenBatch.
type genBatch struct {
	buf  []byte
	ents []hotEntry
	done bool
	err  error
}

func (g *genReader) valid() bool { return g.pos < len(g.ents) }

func (g *genReader) entry() *hotEntry { return &g.ents[g.pos] }

// settle waits for a read ahead to end and drops its batch: the RocksDB
// iterator is the caller's again (to seek or close it).
func (g *genReader) settle() {
	if g.pending == nil {
		return
	}
	b := <-g.pending
	g.pending = nil
	g.spare, g.spareEnts = b.buf, b.ents[:0]
}

// seekFirst positions the iterator at the generation's first entry.
func (g *genReader) seekFirst() {
	g.settle()
	g.it.SeekToFirst()
	g.reset()
}

// seek positions the iterator at the first entry >= target (a full
// RocksDB key).
func (g *genReader) seek(target []byte) {
	g.settle()
	g.it.Seek(target)
	g.reset()
}

// close releases the iterator once no read ahead uses it.
func (g *genReader) close() {
	g.settle()
	g.it.Close()
	g.ro.Destroy()
}

// reset drops the batch after the RocksDB iterator was positioned anew.
func (g *genReader) reset() {
	g.ents, g.pos, g.done = g.ents[:0], 0, false
	g.fill()
}

// next moves to the next entry, reading the next batch at the end of one.
func (g *genReader) next() {
	g.pos++
	if g.pos == len(g.ents) && !g.done {
		g.fill()
	}
}

// fill makes the next batch current. The previous batch's entries (and
// the slices handed out from them) are overwritten.
func (g *genReader) fill() {
	g.pos = 0
	if g.err != nil {
		g.ents = g.ents[:0]
		return
	}
	var b genBatch
	if g.pending != nil {
		b = <-g.pending
		g.pending = nil
		g.spare, g.spareEnts = g.buf, g.ents[:0]
	} else {
		if g.buf == nil {
			g.buf = make([]byte, genBatchMin)
		} else if len(g.buf) < genBatchMax {
			g.buf = make([]byte, min(2*len(g.buf), genBatchMax))
		}
		b = readGenBatch(g.it, g.buf, g.ents[:0])
	}
	g.buf, g.ents, g.done, g.err = b.buf, b.ents, b.done, b.err
	if g.done || g.err != nil || len(g.buf) < genBatchMax {
		return
	}
	buf, ents := g.spare, g.spareEnts
	if len(buf) < genBatchMax {
		buf = make([]byte, genBatchMax)
	}
	g.spare, g.spareEnts = nil, nil
	ch := make(chan genBatch, 1)
	g.pending = ch
	it := g.it
	go func() {
		defer func() {
			// A panic here would take the host process down.
			if r := recover(); r != nil {
				ch <- genBatch{buf: buf, done: true, err: kerr.New(kerr.Internal, "panic reading hot rows: %v", r)}
			}
		}()
		ch <- readGenBatch(it, buf, ents)
	}()
}

// readGenBatch reads the next batch of entries of it into buf (grown when
// one entry needs more) and ents.
func readGenBatch(it *grocksdb.Iterator, buf []byte, ents []hotEntry) genBatch {
	n, used, need := iterNextBatch(it, buf)
	if n == 0 && need > 0 {
		buf = make([]byte, need)
		n, used, need = iterNextBatch(it, buf)
	}
	if n == 0 {
		b := genBatch{buf: buf, ents: ents, done: true}
		if need > 0 { // cannot happen: the buffer has the size asked for
			b.err = kerr.New(kerr.Internal, "hot entry of %d bytes does not fit its buffer", need)
		} else if err := it.Err(); err != nil {
			b.err = kerr.Wrap(kerr.IO, err, "read hot rows")
		}
		return b
	}
	p := buf[:used]
	for range n {
		kl := int(binary.LittleEndian.Uint32(p))
		vl := int(binary.LittleEndian.Uint32(p[4:]))
		k := p[8 : 8+kl : 8+kl]
		v := p[8+kl : 8+kl+vl : 8+kl+vl]
		p = p[8+kl+vl:]
		key, seq, err := splitHotKey(k)
		if err != nil {
			// The iteration ends at once (Err reports it).
			return genBatch{buf: buf, ents: ents[:0], done: true, err: err}
		}
		ents = append(ents, hotEntry{key: key, val: v, seq: seq})
	}
	return genBatch{buf: buf, ents: ents}
}

// hotIter merges the readers of several generations. A key's versions are
// ordered newest first across generations by _seq (a tombstone wins a tie:
// a table without a primary key deletes a row at the row's own _seq).
type hotIter struct {
	uid  uint64
	its  []*genReader
	cur  int    // index of the current reader, -1 at the end
	kbuf []byte // NextKey's copy of the current key
	// visited counts the entries moved past (every version, not only the
	// newest of each key): a flush removes exactly that many.
	visited int64
}

// pick points cur at the reader holding the smallest (key, newest) entry.
// A reader that failed ends the iteration (Err reports it).
func (h *hotIter) pick() {
	h.cur = -1
	var b *hotEntry
	for i, g := range h.its {
		if g.err != nil {
			h.cur = -1
			return
		}
		if !g.valid() {
			continue
		}
		e := g.entry()
		if h.cur < 0 {
			h.cur, b = i, e
			continue
		}
		c := bytes.Compare(e.key, b.key)
		if c < 0 || c == 0 && (e.seq > b.seq || e.seq == b.seq && isHotTombstone(e.val) && !isHotTombstone(b.val)) {
			h.cur, b = i, e
		}
	}
}

// First positions at the first entry.
func (h *hotIter) First() {
	for _, g := range h.its {
		g.seekFirst()
	}
	h.pick()
}

// Seek positions at the first entry whose key is >= key.
func (h *hotIter) Seek(key []byte) {
	for _, g := range h.its {
		g.seek(append(hotGenPrefix(h.uid, g.gen), key...))
	}
	h.pick()
}

// Valid reports whether the iterator is at an entry.
func (h *hotIter) Valid() bool { return h.cur >= 0 }

// Next moves to the next entry.
func (h *hotIter) Next() {
	h.its[h.cur].next()
	h.visited++
	h.pick()
}

// NextKey moves past every remaining version of the current key.
func (h *hotIter) NextKey() {
	// The current key lives in its reader's batch, which moving on may
	// overwrite: compare against a copy.
	h.kbuf = append(h.kbuf[:0], h.its[h.cur].entry().key...)
	for _, g := range h.its {
		for g.valid() && bytes.Equal(g.entry().key, h.kbuf) {
			g.next()
			h.visited++
		}
	}
	h.pick()
}

// Entry returns the current key and value (flag byte first; both valid
// until the next move), _seq and generation.
func (h *hotIter) Entry() (key []byte, seq int64, val []byte, gen uint64) {
	g := h.its[h.cur]
	e := g.entry()
	return e.key, e.seq, e.val, g.gen
}

// Err is the first error of any generation's reader.
func (h *hotIter) Err() error {
	for _, g := range h.its {
		if g.err != nil {
			return g.err
		}
	}
	return nil
}

// Close releases the iterators.
func (h *hotIter) Close() {
	for _, g := range h.its {
		g.close()
	}
	h.its = nil
	h.cur = -1
}
