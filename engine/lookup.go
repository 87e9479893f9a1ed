package engine

import (
	"bytes"
	"context"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/kalamdb/libkalam/manifest"
)

type version struct {
	seq     int64
	deleted bool
}

// newer reports whether v wins over o by the merge rule (higher _seq, a
// tombstone on a tie).
func (v version) newer(o version) bool {
	return v.seq > o.seq || (v.seq == o.seq && v.deleted && !o.deleted)
}

// lookupSegments finds the newest segment version of each pending key. Only
// segments whose key range can hold one of the keys are read, and of those
// only the key columns, _seq and _deleted.
func (st *store) lookupSegments(t *table, man *manifest.Manifest, pending map[string][]int) (map[string]version, error) {
	var lo, hi []byte
	for k := range pending {
		kb := []byte(k)
		if lo == nil || bytes.Compare(kb, lo) < 0 {
			lo = kb
		}
		if hi == nil || bytes.Compare(kb, hi) > 0 {
			hi = kb
		}
	}
	found := map[string]version{}
	sv := t.view() // the caller holds writeMu: no alter runs
	rc := newReadCtx(context.Background(), st, t, nil, sv, 64*1024)
	var wf []arrow.Field
	seg := sv.segmentSchema()
	for _, kc := range sv.keyCols {
		wf = append(wf, seg.Field(kc))
	}
	wf = append(wf, seg.Field(seg.NumFields()-2), seg.Field(seg.NumFields()-1))
	work := arrow.NewSchema(wf, nil)
	k := sv.keyer(work)
	kr := manifest.KeyRange{Lo: lo, Hi: hi, HiInclusive: true}
	for _, s := range man.LiveSegments() {
		s := s
		if s.RowCount == 0 || !s.Overlaps(kr) {
			continue
		}
		src, err := rc.newSegSource(&planInput{seg: &s}, work, false, 0)
		if err != nil {
			return nil, err
		}
		var kbuf []byte
		var keys [][]byte
		for {
			rec, err := src.Next()
			if err != nil {
				src.Close()
				return nil, err
			}
			if rec == nil {
				break
			}
			kbuf, keys, err = k.Keys(rec, kbuf, keys)
			if err != nil {
				rec.Release()
				src.Close()
				return nil, err
			}
			seqs := rec.Column(rec.Schema().FieldIndices(colSeq)[0]).(*array.Int64).Int64Values()
			dels := rec.Column(rec.Schema().FieldIndices(colDeleted)[0]).(*array.Boolean)
			for i, key := range keys {
				if _, ok := pending[string(key)]; !ok {
					continue
				}
				v := version{seqs[i], dels.Value(i)}
				if old, ok := found[string(key)]; !ok || v.newer(old) {
					found[string(key)] = v
				}
			}
			rec.Release()
		}
		src.Close()
	}
	return found, nil
}
