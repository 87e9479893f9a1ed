package engine

import (
	"context"
	"fmt"
	"sort"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/linxGnu/grocksdb"

	"github.com/kalamdb/libkalam/engine/exec"
	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/manifest"
)

// DefaultCompactTargetRows is the output segment size of a compaction.
const DefaultCompactTargetRows = 1_000_000

// CompactOptions configure Compact. The zero value is a full compaction.
type CompactOptions struct {
	// TargetRows splits the output into segments of about this many rows
	// (<= 0: DefaultCompactTargetRows).
	TargetRows int64
	// MinSegments skips the work when the table has fewer live segments.
	MinSegments int
}

// CompactReport says what a compaction read, wrote and removed.
type CompactReport struct {
	Table             string   `json:"table"`
	Skipped           bool     `json:"skipped"`
	Reason            string   `json:"reason,omitempty"`
	Version           uint64   `json:"version"` // the manifest version after the compaction
	InputSegments     []string `json:"input_segments"`
	OutputSegments    []string `json:"output_segments"`
	RowsRead          uint64   `json:"rows_read"`
	RowsWritten       uint64   `json:"rows_written"`
	TombstonesDropped uint64   `json:"tombstones_dropped"`
	VersionsDropped   uint64   `json:"versions_dropped"` // older versions of keys replaced by newer ones
	BytesRead         uint64   `json:"bytes_read"`
	BytesWritten      uint64   `json:"bytes_written"`
}

// Compact merges every live segment of the table into new segments holding
// only the newest version of each key. All live segments are inputs, so no
// older segment outside the input can hold a key and every tombstone is
// dropped (hot rows are always newer than segments, so they need no mask).
// Inputs stay in the manifest as tombstoned segments, readable by scans that
// pinned them, until Vacuum removes them.
func (db *DB) Compact(table string, opts CompactOptions) (*CompactReport, error) {
	exit, err := db.enter(true)
	if err != nil {
		return nil, err
	}
	defer exit()
	t, err := db.st.lookupTable(table)
	if err != nil {
		return nil, err
	}
	return db.st.compact(t, opts)
}

func (st *store) compact(t *table, opts CompactOptions) (*CompactReport, error) {
	return withOlderLayoutFallback(t, func() (*CompactReport, error) { return st.compactOnce(t, opts) })
}

// compactOnce is compact, failing when a column's values do not fit
// today's layout.
func (st *store) compactOnce(t *table, opts CompactOptions) (rep *CompactReport, err error) {
	target := opts.TargetRows
	if target <= 0 {
		target = DefaultCompactTargetRows
	}
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	if t.dropped.Load() {
		return nil, kerr.New(kerr.NotFound, "table %s was dropped", t.qname)
	}
	if err := st.checkSpace(0); err != nil {
		return nil, fmt.Errorf("compact %s: %w", t.qname, err)
	}
	rs, err := st.acquire(t, 0)
	if err != nil {
		return nil, err
	}
	defer rs.release(st)
	prev := rs.man
	live := prev.LiveSegments()
	rep = &CompactReport{Table: t.qname, Version: prev.Version, InputSegments: []string{}, OutputSegments: []string{}}
	if len(live) == 0 || len(live) < opts.MinSegments {
		rep.Skipped = true
		rep.Reason = fmt.Sprintf("%d live segments, fewer than min_segments=%d", len(live), max(opts.MinSegments, 1))
		return rep, nil
	}
	// Plan a full scan of exactly these segments: all columns plus _seq and
	// _deleted, merged by key, newest version wins.
	// Compaction rewrites into the current schema: dropped columns' data
	// goes, widened columns are written wide.
	rc := newReadCtx(context.Background(), st, t, rs, rs.view, 64*1024)
	work := rs.view.segmentSchema()
	var srcs []exec.Source
	defer func() {
		for _, s := range srcs {
			s.Close()
		}
	}()
	for i := range live {
		s := &live[i]
		rep.InputSegments = append(rep.InputSegments, s.ID)
		rep.RowsRead += s.RowCount
		rep.BytesRead += s.SizeBytes
		src, err := rc.newSegSource(&planInput{seg: s}, work, false, len(live))
		if err != nil {
			return nil, fmt.Errorf("compact %s: %w", t.qname, err)
		}
		srcs = append(srcs, src)
	}
	// Tombstones stay in the merge's output: the loop below counts them.
	// Inputs open as the merge reaches their keys: compacting many
	// segments holds a few of them in memory at a time, not all.
	minKeys := make([][]byte, len(live))
	for i := range live {
		minKeys[i] = live[i].MinKey
	}
	merged := exec.NewMerge(srcs, rs.view.keyer(work), exec.MergeOptions{Work: work, BySeq: true, MinKeys: minKeys}, rc.batch, st.mem)
	srcs = nil // owned by merged
	defer merged.Close()
	k := rs.view.keyer(work)
	delIdx := work.NumFields() - 1
	seqIdx := work.NumFields() - 2

	next := prev.Clone()
	seqNo := prev.LastSequenceNumber
	var (
		sw      *segWriter
		outs    []*manifest.SegmentMetadata
		written []string
	)
	defer func() {
		if sw != nil {
			sw.abort()
		}
		if err != nil {
			for _, f := range written {
				_ = st.storage.Remove(context.Background(), f)
			}
		}
	}()
	finishOne := func() error {
		meta, err := sw.finish()
		if err != nil {
			return err
		}
		written = append(written, sw.name)
		sw = nil
		outs = append(outs, meta)
		return nil
	}
	var kbuf []byte
	var keys [][]byte
	filt := exec.NewRuns(work, st.mem)
	for {
		rec, err := merged.Next()
		if err != nil {
			return nil, fmt.Errorf("compact %s: %w", t.qname, err)
		}
		if rec == nil {
			break
		}
		// Drop tombstones; count what the merge dropped.
		del := rec.Column(delIdx).(*array.Boolean)
		start := -1
		n := int(rec.NumRows())
		for i := 0; i <= n; i++ {
			keep := i < n && !del.Value(i)
			if i < n && !keep {
				rep.TombstonesDropped++
			}
			if keep && start < 0 {
				start = i
			} else if !keep && start >= 0 {
				filt.Add(rec, int64(start), int64(i))
				start = -1
			}
		}
		rec.Release()
		kept, err := filt.Build(false)
		if err != nil {
			return nil, err
		}
		if kept == nil {
			continue
		}
		// Split across output segments at target rows.
		var off int64
		for off < kept.NumRows() {
			if sw == nil {
				seqNo = t.nextSegmentNumber(prev)
				if sw, err = st.newSegWriter(t, rs.view, seqNo); err != nil {
					kept.Release()
					return nil, fmt.Errorf("compact %s: %w", t.qname, err)
				}
			}
			take := min(kept.NumRows()-off, target-int64(sw.meta.RowCount))
			part := kept.NewSlice(off, off+take)
			kbuf, keys, err = k.Keys(part, kbuf, keys)
			if err == nil {
				seqs := part.Column(seqIdx).(*array.Int64).Int64Values()
				err = sw.write(part, keys[0], keys[len(keys)-1], seqs)
			}
			part.Release()
			if err != nil {
				kept.Release()
				return nil, fmt.Errorf("compact %s: %w", t.qname, err)
			}
			rep.RowsWritten += uint64(take)
			off += take
			if int64(sw.meta.RowCount) >= target {
				if err := finishOne(); err != nil {
					kept.Release()
					return nil, fmt.Errorf("compact %s: %w", t.qname, err)
				}
			}
		}
		kept.Release()
	}
	if sw != nil {
		if err := finishOne(); err != nil {
			return nil, fmt.Errorf("compact %s: %w", t.qname, err)
		}
	}
	rep.VersionsDropped = rep.RowsRead - rep.RowsWritten - rep.TombstonesDropped
	now := nowMs()
	for i := range next.Segments {
		if !next.Segments[i].Tombstone {
			next.Segments[i].Tombstone = true
			ts := now
			next.Segments[i].TombstonedAt = &ts
		}
	}
	for _, o := range outs {
		next.Segments = append(next.Segments, *o)
		rep.OutputSegments = append(rep.OutputSegments, o.ID)
		rep.BytesWritten += o.SizeBytes
	}
	next.Version = prev.Version + 1
	next.UpdatedAt = now
	next.LastSequenceNumber = seqNo
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	st.putHistory(wb, t, HistoryEntry{Version: next.Version, Time: now, Operation: opCompact,
		SegmentsAdded: uint64(len(outs)), SegmentsRemoved: uint64(len(live))})
	if err := st.commitManifest(t, prev, next, wb, 0); err != nil {
		return nil, fmt.Errorf("compact %s: %w", t.qname, err)
	}
	if err := st.mirrorManifest(t, next); err != nil {
		return nil, fmt.Errorf("compact %s: %w", t.qname, err)
	}
	rep.Version = next.Version
	return rep, nil
}

// maybeAutoCompact runs a compaction after a flush when the table option
// auto_compact_segments is set and that many live segments exist. Its
// failure is recorded as the table's background error, never returned: the
// flush that triggered it is committed.
func (st *store) maybeAutoCompact(t *table) {
	n := t.opts.autoCompactSegments
	if n <= 0 || len(t.currentManifest().LiveSegments()) < int(n) {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			t.setBackgroundError(kerr.New(kerr.Internal, "automatic compaction (auto_compact_segments=%d): panic: %v", n, r))
		}
	}()
	if _, err := st.compact(t, CompactOptions{MinSegments: int(n)}); err != nil {
		t.setBackgroundError(fmt.Errorf("automatic compaction (auto_compact_segments=%d): %w", n, err))
		return
	}
	t.setBackgroundError(nil)
}

// DefaultVacuumRetentionMs is delta-rs's default: 7 days.
const DefaultVacuumRetentionMs = 7 * 24 * 3600 * 1000

// Vacuum deletes the files of tombstoned segments whose tombstoned_at is
// older than retentionMs and that no open scan reads, removes them from the
// manifest, and drops the manifest versions that needed them. It returns the
// relative paths removed (or, with dryRun, that would be; nothing changes).
func (db *DB) Vacuum(name string, retentionMs int64, dryRun bool) ([]string, error) {
	exit, err := db.enter(!dryRun)
	if err != nil {
		return nil, err
	}
	defer exit()
	if retentionMs < 0 {
		return nil, kerr.New(kerr.InvalidArgument, "vacuum %q: negative retention %d ms", name, retentionMs)
	}
	// A vacuum of a system table is a refused write; a dry run, a read.
	var t *table
	if dryRun {
		t, err = db.st.storedTable(name, "vacuum dry run")
	} else {
		t, err = db.st.lookupTable(name)
	}
	if err != nil {
		return nil, err
	}
	return db.st.vacuum(t, retentionMs, dryRun)
}

func (st *store) vacuum(t *table, retentionMs int64, dryRun bool) ([]string, error) {
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	if t.dropped.Load() {
		return nil, kerr.New(kerr.NotFound, "table %s was dropped", t.qname)
	}
	if !dryRun {
		// What an earlier vacuum committed but could not remove.
		st.finishVacuum(t)
	}
	prev := t.currentManifest()
	now := nowMs()
	cutoff := now - retentionMs
	var expired []string
	for _, s := range prev.Segments {
		if !s.Tombstone {
			continue
		}
		at := s.CreatedAt
		if s.TombstonedAt != nil {
			at = *s.TombstonedAt
		}
		if at <= cutoff {
			expired = append(expired, s.ID)
		}
	}
	var took []string
	if dryRun {
		took = t.unpinned(expired)
	} else {
		took = t.takeForVacuum(expired)
	}
	removed := map[string]bool{}
	for _, id := range took {
		removed[id] = true
	}
	paths := []string{}
	for _, s := range prev.Segments {
		if removed[s.ID] {
			paths = append(paths, s.Path)
		}
	}
	sort.Strings(paths)
	if dryRun || len(removed) == 0 {
		return paths, nil
	}
	committed := false
	defer func() {
		if !committed {
			t.giveBack(took)
		}
	}()
	next := prev.Clone()
	next.Segments = next.Segments[:0]
	for _, s := range prev.Segments {
		if !removed[s.ID] {
			next.Segments = append(next.Segments, s)
		}
	}
	next.Version = prev.Version + 1
	next.UpdatedAt = now
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	// Older versions that reference a removed file can no longer be read.
	dropped, err := st.dropVersionsNeeding(t, removed, wb)
	if err != nil {
		return nil, err
	}
	st.putHistory(wb, t, HistoryEntry{Version: next.Version, Time: now, Operation: opVacuum, SegmentsRemoved: uint64(len(removed))})
	if err := st.commitManifest(t, prev, next, wb, 0); err != nil {
		return nil, fmt.Errorf("vacuum %s: %w", t.qname, err)
	}
	committed = true
	if err := st.mirrorManifest(t, next); err != nil {
		return nil, fmt.Errorf("vacuum %s: %w", t.qname, err)
	}
	if err := st.hit("vacuum_before_delete"); err != nil {
		return nil, err
	}
	// After the commit: a crash from here on leaves orphans that open
	// deletes, and a failure leaves them to the next vacuum or open. The
	// vacuum itself has happened: it reports success (DESIGN §6).
	t.vacuumLeft.versions = append(t.vacuumLeft.versions, dropped...)
	t.vacuumLeft.paths = append(t.vacuumLeft.paths, paths...)
	st.finishVacuum(t)
	return paths, nil
}

// vacuumLeft is what vacuums of a table committed to remove and have not
// removed yet (under flushMu): manifest versions whose files go, and
// segment files (relative to the table's prefix). Only the vacuum that
// listed them, or a later one, removes them: a general sweep for
// unreferenced files would also take the segment files a dropped table of
// the same name leaves to its open readers (reusedDrops).
type vacuumLeft struct {
	versions []uint64
	paths    []string
	// failed is the background error finishVacuum recorded, cleared when a
	// later one succeeds (unless other work recorded a newer one).
	failed *string
}

// finishVacuum removes what t.vacuumLeft lists (under flushMu). A failure
// becomes the table's background error; what is left stays listed, and
// open removes it too (syncTableStorage).
func (st *store) finishVacuum(t *table) {
	left := &t.vacuumLeft
	if len(left.versions) == 0 && len(left.paths) == 0 {
		return
	}
	if err := st.removeVacuumed(t); err != nil {
		left.failed = t.setBackgroundError(fmt.Errorf("vacuum %s committed but could not remove the files it replaced "+
			"(the next vacuum or open does): %w", t.qname, err))
		return
	}
	if left.failed != nil {
		t.bgErr.CompareAndSwap(left.failed, nil)
		left.failed = nil
	}
}

// removeVacuumed removes the files in t.vacuumLeft, each dropped from the
// list once it is gone.
func (st *store) removeVacuumed(t *table) error {
	ctx := context.Background()
	left := &t.vacuumLeft
	// Segment files first: removing them frees the space a full disk
	// lacks, and the history mirror the version files wait for needs it.
	for len(left.paths) > 0 {
		if err := st.storage.Remove(ctx, t.prefix+"/"+left.paths[0]); err != nil {
			return err
		}
		left.paths = left.paths[1:]
	}
	if len(left.versions) > 0 {
		// Before the version files go: their history stays readable after
		// a recover (historyFileName).
		if err := st.mirrorHistory(ctx, t); err != nil {
			return err
		}
		for len(left.versions) > 0 {
			if err := st.storage.Remove(ctx, t.prefix+"/"+versionFileName(left.versions[0])); err != nil {
				return err
			}
			left.versions = left.versions[1:]
		}
	}
	return nil
}

// dropVersionsNeeding stages the removal of every kept version that reads
// one of the removed segments, and returns their numbers.
func (st *store) dropVersionsNeeding(t *table, removed map[string]bool, wb *grocksdb.WriteBatch) ([]uint64, error) {
	kept, err := st.keptVersions(t)
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, m := range kept {
		for _, s := range m.LiveSegments() {
			if removed[s.ID] {
				wb.DeleteCF(st.cfMan, versionKey(t.ns, t.name, m.Version))
				out = append(out, m.Version)
				break
			}
		}
	}
	return out, nil
}
