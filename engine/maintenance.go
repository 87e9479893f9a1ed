package engine

import (
	"fmt"
	"os"
	"sort"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/google/uuid"
	"github.com/linxGnu/grocksdb"

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
	if err := db.check(true); err != nil {
		return nil, err
	}
	t, err := db.st.lookupTable(table)
	if err != nil {
		return nil, err
	}
	return db.st.compact(t, opts)
}

func (st *store) compact(t *table, opts CompactOptions) (rep *CompactReport, err error) {
	target := opts.TargetRows
	if target <= 0 {
		target = DefaultCompactTargetRows
	}
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	if t.dropped.Load() {
		return nil, kerr.New(kerr.NotFound, "table %s was dropped", t.qname)
	}
	prev := t.currentManifest()
	live := prev.LiveSegments()
	rep = &CompactReport{Table: t.qname, Version: prev.Version, InputSegments: []string{}, OutputSegments: []string{}}
	if len(live) == 0 || len(live) < opts.MinSegments {
		rep.Skipped = true
		rep.Reason = fmt.Sprintf("%d live segments, fewer than min_segments=%d", len(live), max(opts.MinSegments, 1))
		return rep, nil
	}
	// Plan a full scan of exactly these segments: all columns plus _seq and
	// _deleted, merged by key, newest version wins.
	snap := &snapshot{man: prev}
	st.pinSegments(t, snap)
	defer snap.release(st)
	p := &plan{st: st, t: t, snap: snap, work: t.segmentSchema(), batch: 64 * 1024, req: ScanRequest{Limit: -1}}
	var srcs []source
	defer func() {
		for _, s := range srcs {
			s.close()
		}
	}()
	for i := range live {
		s := &live[i]
		rep.InputSegments = append(rep.InputSegments, s.ID)
		rep.RowsRead += s.RowCount
		rep.BytesRead += s.SizeBytes
		src, err := p.newSegSource(&planInput{seg: s}, p.work, false)
		if err != nil {
			return nil, fmt.Errorf("compact %s: %w", t.qname, err)
		}
		srcs = append(srcs, src)
	}
	merged := p.newMergeSource(srcs)
	srcs = nil // owned by merged
	defer merged.close()
	k := p.newKeyer()
	delIdx := p.work.NumFields() - 1
	seqIdx := p.work.NumFields() - 2

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
				os.Remove(f)
			}
		}
	}()
	finishOne := func() error {
		meta, err := sw.finish()
		if err != nil {
			return err
		}
		written = append(written, sw.final)
		sw = nil
		meta.ID = uuid.NewString()
		outs = append(outs, meta)
		return nil
	}
	var kbuf []byte
	var keys [][]byte
	filt := &runs{schema: p.work, mem: st.mem}
	for {
		rec, err := merged.next()
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
				filt.add(rec, int64(start), int64(i))
				start = -1
			}
		}
		rec.Release()
		kept, err := filt.build(false)
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
				seqNo++
				if sw, err = st.newSegWriter(t, seqNo); err != nil {
					kept.Release()
					return nil, fmt.Errorf("compact %s: %w", t.qname, err)
				}
			}
			take := min(kept.NumRows()-off, target-int64(sw.meta.RowCount))
			part := kept.NewSlice(off, off+take)
			kbuf, keys, err = k.keys(part, kbuf, keys)
			if err == nil {
				seqs := part.Column(seqIdx).(*array.Int64).Int64Values()
				err = sw.write(part, keys, seqs)
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
	if err := st.commitManifest(t, prev, next, wb); err != nil {
		return nil, fmt.Errorf("compact %s: %w", t.qname, err)
	}
	st.mirrorManifest(t, next)
	rep.Version = next.Version
	return rep, nil
}

// maybeAutoCompact runs a compaction after a flush when the table option
// auto_compact_segments is set and that many live segments exist.
func (st *store) maybeAutoCompact(t *table) error {
	n, err := intOption(t.def.Options, "auto_compact_segments", 0)
	if err != nil || n <= 0 {
		return err
	}
	if len(t.currentManifest().LiveSegments()) < int(n) {
		return nil
	}
	_, err = st.compact(t, CompactOptions{MinSegments: int(n)})
	if err != nil {
		return fmt.Errorf("automatic compaction (auto_compact_segments=%d): %w", n, err)
	}
	return nil
}

// DefaultVacuumRetentionMs is delta-rs's default: 7 days.
const DefaultVacuumRetentionMs = 7 * 24 * 3600 * 1000

// Vacuum deletes the files of tombstoned segments whose tombstoned_at is
// older than retentionMs and that no open scan reads, removes them from the
// manifest, and drops the manifest versions that needed them. It returns the
// relative paths removed (or, with dryRun, that would be; nothing changes).
func (db *DB) Vacuum(table string, retentionMs int64, dryRun bool) ([]string, error) {
	if err := db.check(!dryRun); err != nil {
		return nil, err
	}
	if retentionMs < 0 {
		return nil, kerr.New(kerr.InvalidArgument, "vacuum %q: negative retention %d ms", table, retentionMs)
	}
	t, err := db.st.lookupTable(table)
	if err != nil {
		return nil, err
	}
	return db.st.vacuum(t, retentionMs, dryRun)
}

func (st *store) vacuum(t *table, retentionMs int64, dryRun bool) ([]string, error) {
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	prev := t.currentManifest()
	now := nowMs()
	cutoff := now - retentionMs
	removed := map[string]bool{}
	paths := []string{}
	for _, s := range prev.Segments {
		if !s.Tombstone {
			continue
		}
		at := s.CreatedAt
		if s.TombstonedAt != nil {
			at = *s.TombstonedAt
		}
		if at > cutoff || st.pinned(segmentAbsPath(t, s.Path)) {
			continue
		}
		removed[s.ID] = true
		paths = append(paths, s.Path)
	}
	sort.Strings(paths)
	if dryRun || len(removed) == 0 {
		return paths, nil
	}
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
	if err := st.dropVersionsNeeding(t, removed, wb); err != nil {
		return nil, err
	}
	st.putHistory(wb, t, HistoryEntry{Version: next.Version, Time: now, Operation: opVacuum, SegmentsRemoved: uint64(len(removed))})
	if err := st.commitManifest(t, prev, next, wb); err != nil {
		return nil, fmt.Errorf("vacuum %s: %w", t.qname, err)
	}
	st.mirrorManifest(t, next)
	if err := st.hit("vacuum_before_delete"); err != nil {
		return nil, err
	}
	for _, p := range paths {
		// After the commit: a crash here leaves orphans that the next open deletes.
		if err := os.Remove(segmentAbsPath(t, p)); err != nil && !os.IsNotExist(err) {
			return nil, kerr.Wrap(kerr.IO, err, "vacuum %s: remove %s", t.qname, p)
		}
	}
	if err := manifest.SyncDir(segmentAbsPath(t, manifest.DataDir)); err != nil {
		return nil, kerr.Wrap(kerr.IO, err, "vacuum %s", t.qname)
	}
	return paths, nil
}

func (st *store) dropVersionsNeeding(t *table, removed map[string]bool, wb *grocksdb.WriteBatch) error {
	prefix := []byte(t.ns + "." + t.name + "\x00")
	ro := grocksdb.NewDefaultReadOptions()
	defer ro.Destroy()
	it := st.rdb.NewIteratorCF(ro, st.cfMan)
	defer it.Close()
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		m, err := manifest.Decode(it.Value().Data())
		if err != nil {
			return fmt.Errorf("manifest version of %s: %w", t.qname, err)
		}
		for _, s := range m.LiveSegments() {
			if removed[s.ID] {
				wb.DeleteCF(st.cfMan, append([]byte(nil), it.Key().Data()...))
				break
			}
		}
	}
	return it.Err()
}
