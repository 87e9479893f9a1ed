package engine

import (
	"encoding/json"
	"time"

	"github.com/linxGnu/grocksdb"

	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/manifest"
)

// readState is what one read sees (in the spirit of Pebble's read state):
// a manifest version and, for reads of the latest version, a RocksDB
// snapshot of the hot rows taken atomically with it. It pins the version's
// live segments until released. Pinning and vacuum's choice of what to
// delete happen under the same lock (table.mu), so a segment is either
// pinned before vacuum looks, and kept, or taken by vacuum first, and the
// read fails with NotFound — never a read of a deleted file.
type readState struct {
	t      *table
	man    *manifest.Manifest
	view   *schemaView        // the schema of man's version
	rsnap  *grocksdb.Snapshot // nil for time travel (no hot rows)
	hotLo  uint64
	pinned []string // segment ids
}

// resolveVersion turns a request's as_of_version / as_of_time_ms into a
// manifest version (0: the latest).
func (st *store) resolveVersion(t *table, req ScanRequest) (uint64, error) {
	switch {
	case req.AsOfVersion < 0:
		return 0, kerr.New(kerr.InvalidArgument, "table %s: negative as_of_version %d", t.qname, req.AsOfVersion)
	case req.AsOfTimeMs < 0:
		return 0, kerr.New(kerr.InvalidArgument, "table %s: negative as_of_time_ms %d", t.qname, req.AsOfTimeMs)
	case req.AsOfVersion > 0 && req.AsOfTimeMs > 0:
		return 0, kerr.New(kerr.InvalidArgument, "table %s: as_of_version and as_of_time_ms are exclusive", t.qname)
	case req.AsOfTimeMs > 0:
		return st.versionAt(t, req.AsOfTimeMs)
	}
	return uint64(req.AsOfVersion), nil
}

// versionAt is the newest kept version committed at or before ms.
func (st *store) versionAt(t *table, ms int64) (uint64, error) {
	kept, err := st.versionsOf(t)
	if err != nil {
		return 0, err
	}
	var best *manifest.Manifest
	for _, m := range kept {
		if m.UpdatedAt <= ms && (best == nil || m.Version > best.Version) {
			best = m
		}
	}
	if best == nil {
		when := time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
		if len(kept) == 0 || ms < t.def.CreatedAt {
			return 0, kerr.New(kerr.NotFound, "table %s: no version at %s: the table was created at %s", t.qname, when,
				time.UnixMilli(t.def.CreatedAt).UTC().Format(time.RFC3339Nano))
		}
		return 0, kerr.New(kerr.NotFound, "table %s: no kept version at %s: the oldest kept version %d was committed at %s", t.qname,
			when, kept[0].Version, time.UnixMilli(kept[0].UpdatedAt).UTC().Format(time.RFC3339Nano))
	}
	// best is the version current at ms only if the one after it was
	// committed later: when that one was vacuumed, it may have been the
	// current one, and best's rows would be another version's (DESIGN §6:
	// NotFound when vacuumed, never wrong data).
	next := best.Version + 1
	newer := false
	for _, m := range kept {
		if m.Version == next {
			return best.Version, nil // kept, so committed after ms
		}
		newer = newer || m.Version > best.Version
	}
	if !newer {
		return best.Version, nil // the latest version
	}
	at, known, err := st.commitTime(t, next)
	if err != nil {
		return 0, err
	}
	if !known || at <= ms {
		when := time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
		return 0, kerr.New(kerr.NotFound, "table %s: the version current at %s was vacuumed (version %d is kept, version %d after it is not)",
			t.qname, when, best.Version, next)
	}
	return best.Version, nil
}

// commitTime is when version v of t was committed, from its history entry
// (kept across vacuum); known is false where there is none (a storage-only
// reader has only the versions storage keeps).
func (st *store) commitTime(t *table, v uint64) (ms int64, known bool, err error) {
	if st.remote {
		return 0, false, nil
	}
	b, err := st.getCat(historyKey(t.qname, v))
	if err != nil || b == nil {
		return 0, false, err
	}
	var h HistoryEntry
	if err := json.Unmarshal(b, &h); err != nil {
		return 0, false, kerr.Wrap(kerr.Corruption, err, "history of %s", t.qname)
	}
	return h.Time, true, nil
}

// acquire returns the read state of a table at version (0: the latest).
func (st *store) acquire(t *table, version uint64) (*readState, error) {
	if st.remote {
		return st.acquireRemote(t, version)
	}
	if version == 0 {
		// Not between a commit's write and its publish (commitMu): the
		// snapshot and the manifest must be of the same moment.
		t.commitMu.RLock()
		defer t.commitMu.RUnlock()
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.dropped.Load() {
			return nil, kerr.New(kerr.NotFound, "table %s was dropped", t.qname)
		}
		rs := &readState{t: t, man: t.man, view: t.cur.Load(), rsnap: st.rdb.NewSnapshot(), hotLo: t.hotLo}
		rs.pinLocked()
		return rs, nil
	}
	m, err := st.loadManifestVersion(t, version)
	if err != nil {
		return nil, err
	}
	if err := st.hit("acquire_loaded"); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dropped.Load() {
		return nil, kerr.New(kerr.NotFound, "table %s was dropped", t.qname)
	}
	for _, s := range m.LiveSegments() {
		if t.removed[s.ID] {
			return nil, st.versionNotFound(t, version)
		}
	}
	rs := &readState{t: t, man: m, view: t.viewAtLocked(m.Version)}
	rs.pinLocked()
	return rs, nil
}

func (rs *readState) pinLocked() {
	for _, s := range rs.man.LiveSegments() {
		rs.t.pins[s.ID]++
		rs.pinned = append(rs.pinned, s.ID)
	}
}

// versionsOf lists the versions a reader can read: those RocksDB keeps,
// or, for a storage-only reader, the version files.
func (st *store) versionsOf(t *table) ([]*manifest.Manifest, error) {
	if st.remote {
		return st.remoteVersions(t)
	}
	return st.keptVersions(t)
}

// hot is the read's view of the hot rows (time travel has none).
func (rs *readState) hot(st *store) (hotView, bool) {
	if rs.rsnap == nil {
		return hotView{}, false
	}
	return hotView{st: st, uid: rs.t.uid, lo: rs.hotLo, snap: rs.rsnap}, true
}

// release unpins the segments and releases the snapshot; safe on nil and
// more than once.
func (rs *readState) release(st *store) {
	if rs == nil {
		return
	}
	if rs.rsnap != nil {
		st.rdb.ReleaseSnapshot(rs.rsnap)
		rs.rsnap = nil
	}
	if rs.pinned == nil {
		return
	}
	t := rs.t
	t.mu.Lock()
	for _, id := range rs.pinned {
		if t.pins[id]--; t.pins[id] <= 0 {
			delete(t.pins, id)
		}
	}
	last := t.dropped.Load() && len(t.pins) == 0
	t.mu.Unlock()
	rs.pinned = nil
	if last {
		st.finishDrop(t) // the last read of a dropped table's files
	}
}

// takeForVacuum marks the given segments removed unless a reader pins one;
// it returns the ones it took. A taken segment is never pinned again.
func (t *table) takeForVacuum(ids []string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var took []string
	for _, id := range ids {
		if t.pins[id] > 0 {
			continue
		}
		t.removed[id] = true
		took = append(took, id)
	}
	return took
}

// pinIfKept pins one more (tombstoned) segment for rs, unless vacuum took
// it; segment scans read tombstoned segments the current version lists.
func (t *table) pinIfKept(rs *readState, id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.removed[id] {
		return false
	}
	t.pins[id]++
	rs.pinned = append(rs.pinned, id)
	return true
}

// unpinned returns the given segments no reader pins (vacuum's dry run).
func (t *table) unpinned(ids []string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, id := range ids {
		if t.pins[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

// giveBack undoes takeForVacuum after a failed vacuum commit.
func (t *table) giveBack(ids []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range ids {
		delete(t.removed, id)
	}
}

// publish makes m the table's current manifest and hotLo its lowest
// unflushed generation, after their commit, and runs also (nil: nothing)
// in the same critical section. The caller holds t.commitMu (and held it
// across the commit's write: commitManifestWith).
func (t *table) publish(m *manifest.Manifest, hotLo uint64, also func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.man = m
	if hotLo > t.hotLo {
		t.hotLo = hotLo
	}
	if also != nil {
		also()
	}
}
