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

// splitHotKey returns the key part and _seq of a hot-row key.
func splitHotKey(k []byte) (key []byte, seq int64) {
	return k[16 : len(k)-8], int64(^binary.BigEndian.Uint64(k[len(k)-8:]))
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
		if len(k) < 24 {
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
	h := &hotIter{uid: v.uid, cur: -1}
	for _, g := range gens {
		ro := grocksdb.NewDefaultReadOptions()
		if v.snap != nil {
			ro.SetSnapshot(v.snap)
		}
		p := hotGenPrefix(v.uid, g)
		ro.SetIterateLowerBound(append(append([]byte(nil), p...), keyLo...))
		if keyHi != nil {
			ro.SetIterateUpperBound(append(append([]byte(nil), p...), keyHi...))
		} else {
			ro.SetIterateUpperBound(hotGenPrefix(v.uid, g+1))
		}
		h.its = append(h.its, genIter{it: v.st.rdb.NewIteratorCF(ro, v.st.cfData), ro: ro, gen: g})
	}
	return h
}

type genIter struct {
	it  *grocksdb.Iterator
	ro  *grocksdb.ReadOptions
	gen uint64
}

// hotIter merges the iterators of several generations. A key's versions are
// ordered newest first across generations by _seq (a tombstone wins a tie:
// a table without a primary key deletes a row at the row's own _seq).
type hotIter struct {
	uid uint64
	its []genIter
	cur int // index of the current iterator, -1 at the end
	// visited counts the entries moved past (every version, not only the
	// newest of each key): a flush removes exactly that many.
	visited int64
}

func (h *hotIter) key(i int) ([]byte, int64) { return splitHotKey(h.its[i].it.Key().Data()) }

func (h *hotIter) tomb(i int) bool { return isHotTombstone(h.its[i].it.Value().Data()) }

// pick points cur at the iterator holding the smallest (key, newest) entry.
func (h *hotIter) pick() {
	h.cur = -1
	var bk []byte
	var bs int64
	for i := range h.its {
		if !h.its[i].it.Valid() {
			continue
		}
		k, s := h.key(i)
		if h.cur < 0 {
			h.cur, bk, bs = i, k, s
			continue
		}
		c := bytes.Compare(k, bk)
		if c < 0 || c == 0 && (s > bs || s == bs && h.tomb(i) && !h.tomb(h.cur)) {
			h.cur, bk, bs = i, k, s
		}
	}
}

// First positions at the first entry.
func (h *hotIter) First() {
	for _, g := range h.its {
		g.it.SeekToFirst()
	}
	h.pick()
}

// Seek positions at the first entry whose key is >= key.
func (h *hotIter) Seek(key []byte) {
	for _, g := range h.its {
		g.it.Seek(append(hotGenPrefix(h.uid, g.gen), key...))
	}
	h.pick()
}

// Valid reports whether the iterator is at an entry.
func (h *hotIter) Valid() bool { return h.cur >= 0 }

// Next moves to the next entry.
func (h *hotIter) Next() {
	h.its[h.cur].it.Next()
	h.visited++
	h.pick()
}

// NextKey moves past every remaining version of the current key.
func (h *hotIter) NextKey() {
	k, _ := h.key(h.cur)
	k = append([]byte(nil), k...)
	for i := range h.its {
		for h.its[i].it.Valid() {
			ki, _ := h.key(i)
			if !bytes.Equal(ki, k) {
				break
			}
			h.its[i].it.Next()
			h.visited++
		}
	}
	h.pick()
}

// Entry returns the current key (valid until the next move), _seq, value
// (flag byte first) and generation.
func (h *hotIter) Entry() (key []byte, seq int64, val []byte, gen uint64) {
	g := h.its[h.cur]
	key, seq = splitHotKey(g.it.Key().Data())
	return key, seq, g.it.Value().Data(), g.gen
}

// Err is the first error of any generation's iterator.
func (h *hotIter) Err() error {
	for _, g := range h.its {
		if err := g.it.Err(); err != nil {
			return kerr.Wrap(kerr.IO, err, "read hot rows")
		}
	}
	return nil
}

// Close releases the iterators.
func (h *hotIter) Close() {
	for _, g := range h.its {
		g.it.Close()
		g.ro.Destroy()
	}
	h.its = nil
	h.cur = -1
}
