package exec

import "github.com/apache/arrow-go/v18/arrow"

// Mem replays records it was given (system tables are computed whole).
type Mem struct{ recs []arrow.RecordBatch }

// NewMem replays recs, which it owns from now on.
func NewMem(recs []arrow.RecordBatch) *Mem { return &Mem{recs: recs} }

func (m *Mem) Next() (arrow.RecordBatch, error) {
	if len(m.recs) == 0 {
		return nil, nil
	}
	r := m.recs[0]
	m.recs = m.recs[1:]
	return r, nil
}

func (m *Mem) Close() {
	for _, r := range m.recs {
		r.Release()
	}
	m.recs = nil
}
