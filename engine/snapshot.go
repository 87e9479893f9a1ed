package engine

import (
	"github.com/linxGnu/grocksdb"

	"github.com/kalamdb/libkalam/manifest"
)

// snapshot is what a read sees: one manifest version and, for reads of the
// latest version, a RocksDB snapshot of the hot rows taken atomically with it.
// It pins the manifest's segment files so vacuum leaves them alone until the
// read releases the snapshot.
type snapshot struct {
	man    *manifest.Manifest
	rsnap  *grocksdb.Snapshot // nil for time travel
	pinned []string
}

func (st *store) takeSnapshot(t *table) *snapshot {
	t.mu.Lock()
	s := &snapshot{man: t.man, rsnap: st.rdb.NewSnapshot()}
	t.mu.Unlock()
	st.pinSegments(t, s)
	return s
}

func (st *store) pinSegments(t *table, s *snapshot) {
	st.pinMu.Lock()
	defer st.pinMu.Unlock()
	for _, seg := range s.man.Segments {
		p := segmentAbsPath(t, seg.Path)
		st.pins[p]++
		s.pinned = append(s.pinned, p)
	}
}

func (s *snapshot) release(st *store) {
	if s == nil {
		return
	}
	if s.rsnap != nil {
		st.rdb.ReleaseSnapshot(s.rsnap)
		s.rsnap = nil
	}
	st.pinMu.Lock()
	for _, p := range s.pinned {
		if st.pins[p]--; st.pins[p] <= 0 {
			delete(st.pins, p)
		}
	}
	st.pinMu.Unlock()
	s.pinned = nil
}

// pinned reports whether an open read uses the segment file at path.
func (st *store) pinned(path string) bool {
	st.pinMu.Lock()
	defer st.pinMu.Unlock()
	return st.pins[path] > 0
}
