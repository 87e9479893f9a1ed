package exec

import (
	"bytes"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// KeyRange keeps the rows whose encoded key is in [lo, hi) (nil:
// unbounded): a scan split's share of its inputs.
type KeyRange struct {
	in     Source
	k      *Keyer
	lo, hi []byte
	r      Runs
	kbuf   []byte
	keys   [][]byte
}

// NewKeyRange keeps the rows of in (records of schema work, keyed by k)
// whose key is in [lo, hi).
func NewKeyRange(in Source, k *Keyer, lo, hi []byte, work *arrow.Schema, mem memory.Allocator) *KeyRange {
	return &KeyRange{in: in, k: k, lo: lo, hi: hi, r: Runs{schema: work, mem: mem}}
}

func (s *KeyRange) Next() (arrow.RecordBatch, error) {
	for {
		rec, err := s.in.Next()
		if err != nil || rec == nil {
			return nil, err
		}
		s.kbuf, s.keys, err = s.k.Keys(rec, s.kbuf, s.keys)
		if err != nil {
			rec.Release()
			return nil, err
		}
		start := -1
		for i := 0; i <= len(s.keys); i++ {
			keep := i < len(s.keys) && (s.lo == nil || bytes.Compare(s.keys[i], s.lo) >= 0) &&
				(s.hi == nil || bytes.Compare(s.keys[i], s.hi) < 0)
			if keep && start < 0 {
				start = i
			} else if !keep && start >= 0 {
				s.r.Add(rec, int64(start), int64(i))
				start = -1
			}
		}
		out, err := s.r.Build(false)
		rec.Release()
		if err != nil || out != nil {
			return out, err
		}
	}
}

func (s *KeyRange) Close() {
	s.in.Close()
	s.r.Reset()
}
