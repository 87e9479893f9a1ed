package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/linxGnu/grocksdb"

	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/manifest"
	"github.com/kalamdb/libkalam/storage"
)

// ---- step 4 of DESIGN §2.2: storage follows RocksDB -------------------------

// syncTableStorage runs on every read-write open: leftovers of interrupted
// writes (*.tmp) go, manifest.json, the version files and table.json are
// rewritten where missing, behind or not the table's, version files of
// versions no longer kept go, and segment files that no manifest entry
// references (a crash between steps 1 and 2) are deleted.
//
// Storage follows RocksDB here; nothing in it is needed to open. So a
// write or removal that fails (a full or read-only disk) does not fail the
// open, which would leave the host no way in to free space: what is left
// is the table's background error, and the next open tries again (the
// table's next commit rewrites its table.json, manifest.json and version
// file). A listing that fails does: the segment numbers found in storage
// must be known before a flush picks the next (sawSegmentNumber).
func (st *store) syncTableStorage(t *table) error {
	ctx := context.Background()
	var left []error
	for _, dir := range []string{t.prefix, t.prefix + "/" + manifest.DataDir, t.prefix + "/" + versionsDir} {
		ents, err := st.storage.List(ctx, dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if !e.IsDir && storage.IsTmp(e.Name) {
				if err := st.storage.Remove(ctx, dir+"/"+e.Name); err != nil {
					left = append(left, err)
				}
			}
		}
	}
	// table.json before manifest.json and the version files, as
	// mirrorManifest writes them: a manifest newer than its definition
	// reads in an older schema.
	defJSON, _ := json.Marshal(t.def)
	defOK := true
	if cur, err := st.storage.ReadFile(ctx, t.prefix+"/"+tableJSONName); err != nil || string(cur) != string(defJSON) {
		if err := st.storage.WriteFile(ctx, t.prefix+"/"+tableJSONName, defJSON); err != nil {
			left = append(left, fmt.Errorf("rewrite table.json: %w", err))
			defOK = false
		}
	}
	if defOK {
		t.flushMu.Lock()
		t.defMirrored = t.def
		t.flushMu.Unlock()
		man := t.currentManifest()
		onDisk, err := st.readManifestObject(ctx, t.prefix+"/"+manifest.ManifestFileName)
		if err != nil || onDisk.Version != man.Version || onDisk.TableID != man.TableID {
			data, err := manifest.Encode(man)
			if err != nil {
				return kerr.Wrap(kerr.Internal, err, "encode manifest")
			}
			if err := st.storage.WriteFile(ctx, t.prefix+"/"+manifest.ManifestFileName, data); err != nil {
				left = append(left, fmt.Errorf("rewrite manifest.json: %w", err))
			}
		}
	}
	vleft, err := st.syncVersionFiles(ctx, t, defOK)
	if err != nil {
		return err
	}
	left = append(left, vleft...)
	referenced := map[string]bool{}
	var newest uint64 // the highest segment number a version references
	for _, s := range t.currentManifest().Segments {
		referenced[s.Path] = true
		if n, ok := manifest.ParseSegmentFileName(path.Base(s.Path)); ok {
			newest = max(newest, n)
		}
	}
	ents, err := st.storage.List(ctx, t.prefix+"/"+manifest.DataDir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		n, ok := manifest.ParseSegmentFileName(e.Name)
		if !ok || e.IsDir {
			continue
		}
		t.sawSegmentNumber(n) // an orphan's number too: its upload may have been a failed one
		if n > newest && st.tookOver {
			// Storage taken over from another store in this open: a
			// segment past every version may be that store's flush,
			// committed in its catalog as the takeover landed (it reads
			// it still, and is told to copy its rows out). It stays for
			// the next open to remove; this store numbers past it.
			continue
		}
		if rel := manifest.DataDir + "/" + e.Name; !referenced[rel] {
			if err := st.storage.Remove(ctx, t.prefix+"/"+rel); err != nil {
				left = append(left, fmt.Errorf("remove orphan segment %s: %w", rel, err))
			}
		}
	}
	if len(left) > 0 {
		more := ""
		if len(left) > 1 {
			more = fmt.Sprintf(" (and %d more)", len(left)-1)
		}
		t.setBackgroundError(fmt.Errorf("open could not bring the storage of %s in step with its catalog; the next open tries again: %w%s",
			t.qname, left[0], more))
	}
	return nil
}

// syncVersionFiles makes _versions/ hold exactly the kept versions: it
// returns the writes and removals that failed (error: a listing or the
// catalog failed). With writeVersions false (table.json could not be
// written) it writes none.
func (st *store) syncVersionFiles(ctx context.Context, t *table, writeVersions bool) ([]error, error) {
	kept, err := st.keptVersions(t)
	if err != nil {
		return nil, err
	}
	ents, err := st.storage.List(ctx, t.prefix+"/"+versionsDir)
	if err != nil {
		return nil, err
	}
	var left []error
	have := map[uint64]bool{}
	want := map[uint64]bool{}
	for _, m := range kept {
		want[m.Version] = true
	}
	mirrored := false
	var mirrorErr error
	for _, e := range ents {
		v, ok := parseVersionFileName(e.Name)
		if !ok || e.IsDir {
			continue
		}
		if !want[v] {
			if !mirrored && mirrorErr == nil {
				// The history of the versions that go stays readable; if
				// it cannot be written, they stay too.
				if mirrorErr = st.mirrorHistory(ctx, t); mirrorErr != nil {
					left = append(left, mirrorErr)
				}
				mirrored = mirrorErr == nil
			}
			if !mirrored {
				continue
			}
			if err := st.storage.Remove(ctx, t.prefix+"/"+versionsDir+"/"+e.Name); err != nil {
				left = append(left, err)
			}
			continue
		}
		have[v] = true
	}
	if !writeVersions {
		return left, nil
	}
	for _, m := range kept {
		if have[m.Version] {
			continue
		}
		data, err := manifest.Encode(m)
		if err != nil {
			return nil, kerr.Wrap(kerr.Internal, err, "encode manifest version %d", m.Version)
		}
		if err := st.storage.WriteFile(ctx, t.prefix+"/"+versionFileName(m.Version), data); err != nil {
			left = append(left, fmt.Errorf("rewrite version file %d: %w", m.Version, err))
		}
	}
	return left, nil
}

// ---- open's check: the catalog holds at least what storage holds -----------

// storageIssue is a table whose storage is ahead of the catalog: RocksDB
// lost commits (a damaged write-ahead log) or the whole table.
type storageIssue struct {
	ns, name string
	reason   string
}

func (i storageIssue) qname() string { return i.ns + "." + i.name }

// storageTables lists the table directories of storage (those holding a
// manifest.json), as "ns.table" -> (ns, table).
func (st *store) storageTables(ctx context.Context) ([][2]string, error) {
	var out [][2]string
	err := st.forEachTableDir(ctx, func(ns, name string, files []storage.Entry) error {
		if holdsManifest(files) {
			out = append(out, [2]string{ns, name})
		}
		return nil
	})
	return out, err
}

// holdsManifest reports whether a table directory's listing holds
// manifest.json: what makes it a table of storage.
func holdsManifest(files []storage.Entry) bool {
	for _, f := range files {
		if !f.IsDir && f.Name == manifest.ManifestFileName {
			return true
		}
	}
	return false
}

// forEachTableDir calls fn with each directory of storage that is named
// like a user table under a namespace directory, and its listing.
func (st *store) forEachTableDir(ctx context.Context, fn func(ns, name string, files []storage.Entry) error) error {
	nss, err := st.storage.List(ctx, "")
	if err != nil {
		return err
	}
	for _, ns := range nss {
		if !ns.IsDir {
			continue
		}
		if n, err := normalizeName("namespace", ns.Name); err != nil || n != ns.Name || ns.Name == systemNamespace {
			continue
		}
		ts, err := st.storage.List(ctx, ns.Name)
		if err != nil {
			return err
		}
		for _, tb := range ts {
			if !tb.IsDir {
				continue
			}
			if n, err := normalizeName("table", tb.Name); err != nil || n != tb.Name {
				continue
			}
			files, err := st.storage.List(ctx, ns.Name+"/"+tb.Name)
			if err != nil {
				return err
			}
			if err := fn(ns.Name, tb.Name, files); err != nil {
				return err
			}
		}
	}
	return nil
}

// uncommittedCreate reports whether a table directory's listing is what a
// create leaves before its commit: table.json, its temporary file while
// being written, or nothing.
func uncommittedCreate(files []storage.Entry) bool {
	for _, f := range files {
		if f.IsDir || (f.Name != tableJSONName && f.Name != tableJSONName+storage.TmpSuffix) {
			return false
		}
	}
	return true
}

// sweepUncommittedCreates removes, at a writable open, the directories
// checkStorage found holding only table.json (or its temporary file), or
// nothing (strays), under a
// name the catalog does not hold: a create writes table.json before its
// commit, and a process killed in between left it there for good.
func (st *store) sweepUncommittedCreates(strays [][2]string) error {
	ctx := context.Background()
	for _, nt := range strays {
		st.catMu.RLock()
		t := st.tables[nt[0]+"."+nt[1]]
		st.catMu.RUnlock()
		if t != nil {
			continue
		}
		// On failure (a full or read-only disk) the next open tries again:
		// the leftover is no table, and a create of the name clears it.
		_ = st.storage.RemoveAll(ctx, nt[0]+"/"+nt[1])
	}
	return nil
}

// checkStorage compares storage with the catalog. Tables of dropped tables
// whose files remain are removed (when writable); tables storage holds that
// the catalog lacks, or holds at a newer version, are returned, and so are
// the directories that look like an uncommitted create (strays, for
// sweepUncommittedCreates: one walk of storage, which on object storage
// is a request per table).
func (st *store) checkStorage(withQuarantined bool) ([]storageIssue, [][2]string, error) {
	ctx := context.Background()
	var tables, strays [][2]string
	err := st.forEachTableDir(ctx, func(ns, name string, files []storage.Entry) error {
		switch {
		case holdsManifest(files):
			tables = append(tables, [2]string{ns, name})
		case uncommittedCreate(files):
			strays = append(strays, [2]string{ns, name})
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list storage: %w", err)
	}
	var issues []storageIssue
	var drops map[uint64]string // drop records, read when needed
	for _, nt := range tables {
		ns, name := nt[0], nt[1]
		qn := ns + "." + name
		prefix := ns + "/" + name
		st.catMu.RLock()
		t := st.tables[qn]
		st.catMu.RUnlock()
		if t != nil {
			m, err := st.readManifestObject(ctx, prefix+"/"+manifest.ManifestFileName)
			if err != nil {
				continue // damaged or foreign mirror: step 4 rewrites it from the catalog
			}
			if m.TableID == t.man.TableID && m.Version > t.man.Version {
				issues = append(issues, storageIssue{ns, name, fmt.Sprintf(
					"storage holds manifest version %d, the catalog only %d", m.Version, t.man.Version)})
			}
			continue
		}
		if q, err := st.getCat([]byte(catQuarantine + qn)); err != nil {
			return nil, nil, err
		} else if q != nil {
			if withQuarantined {
				issues = append(issues, storageIssue{ns, name, "a recover could not read it: " + string(q)})
			}
			continue // reported by the recover that could not read it
		}
		uid, ok := st.storedUID(ctx, prefix)
		if ok {
			if rec, err := st.getCat(uidKey(catDropped, uid)); err != nil {
				return nil, nil, err
			} else if rec == nil {
				ok = false
			}
		} else {
			// No table.json: a drop killed while removing the files in an
			// order that took it before manifest.json (libkalam before
			// 2026-12-05). The drop record names the table.
			if drops == nil {
				if drops, err = st.droppedTables(); err != nil {
					return nil, nil, err
				}
			}
			for u, name := range drops {
				if name == qn {
					uid, ok = u, true
				}
			}
		}
		if ok {
			if !st.readOnly {
				// On failure (a full or read-only disk) the files stay for
				// the next open: they are a dropped table's, no issue.
				_ = st.removeDroppedFiles(uid, prefix)
			}
			continue
		}
		issues = append(issues, storageIssue{ns, name, "storage holds the table, the catalog does not"})
	}
	return issues, strays, nil
}

// storedUID reads the uid from a table's table.json.
func (st *store) storedUID(ctx context.Context, prefix string) (uint64, bool) {
	b, err := st.storage.ReadFile(ctx, prefix+"/"+tableJSONName)
	if err != nil {
		return 0, false
	}
	var def tableDef
	if json.Unmarshal(b, &def) != nil || def.UID == 0 {
		return 0, false
	}
	return def.UID, true
}

func issuesError(issues []storageIssue) error {
	var parts []string
	for _, i := range issues {
		parts = append(parts, i.qname()+" ("+i.reason+")")
	}
	return kerr.New(kerr.Corruption,
		"storage/ holds more than the catalog: %s; RocksDB lost commits (a damaged or truncated write-ahead log?). Open with {\"recover\": true} to restore these tables from storage",
		strings.Join(parts, "; "))
}

// ---- reading a table back from storage -------------------------------------

// storedTable is what storage holds for one table.
type storedTable struct {
	ns, name string
	def      *tableDef
	versions []*manifest.Manifest    // kept versions, oldest first, the current last
	history  map[uint64]HistoryEntry // the history mirror (nil: none)
}

func (s *storedTable) current() *manifest.Manifest { return s.versions[len(s.versions)-1] }

// readStoredTable reads a table's definition and every kept version from
// storage and checks that they belong together and that every live segment
// of the current version is present.
func (st *store) readStoredTable(ctx context.Context, ns, name string) (*storedTable, error) {
	prefix := ns + "/" + name
	cur, err := st.readManifestObject(ctx, prefix+"/"+manifest.ManifestFileName)
	if err != nil {
		return nil, err
	}
	if cur.TableID.NamespaceID != ns || cur.TableID.TableName != name {
		return nil, kerr.New(kerr.Corruption, "manifest.json names table %s", cur.TableID)
	}
	byVersion := map[uint64]*manifest.Manifest{cur.Version: cur}
	present := map[string]bool{}
	files, err := st.storage.List(ctx, prefix+"/"+manifest.DataDir)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		present[manifest.DataDir+"/"+f.Name] = true
	}
	ents, err := st.storage.List(ctx, prefix+"/"+versionsDir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		v, ok := parseVersionFileName(e.Name)
		if !ok || e.IsDir || v == cur.Version {
			continue
		}
		m, err := st.readManifestObject(ctx, prefix+"/"+versionsDir+"/"+e.Name)
		if err != nil && !kerr.Is(err, kerr.Corruption) {
			// A read that failed is not a damaged version: a recover that
			// left it out lost it for good (open then removes the version
			// files the catalog lacks). Nothing removes a listed version
			// file while the store is locked for the recover, so a 404 is
			// a failed read too.
			return nil, kerr.Wrap(kerr.IO, err, "read version %d", v)
		}
		if err != nil || m.Version != v || m.TableID != cur.TableID || m.CreatedAt != cur.CreatedAt {
			continue // a damaged version (or one of a table dropped before) is left out, not fatal
		}
		byVersion[v] = m
	}
	// A version file newer than manifest.json: the writer mirrors
	// _versions/{v}.json before manifest.json, so a mirror stopped between
	// the two (or a manifest.json put back by hand) leaves manifest.json
	// behind a committed version. The newest such version whose segments
	// are all present is the current one; a recover that took
	// manifest.json's went back a version and removed the newer segments
	// as orphans.
	var newer []uint64
	for v := range byVersion {
		if v > cur.Version {
			newer = append(newer, v)
		}
	}
	sort.Slice(newer, func(i, j int) bool { return newer[i] > newer[j] })
	for _, v := range newer {
		if m := byVersion[v]; allPresent(m, present) {
			cur = m
			break
		}
	}
	for v := range byVersion {
		if v > cur.Version {
			delete(byVersion, v)
		}
	}
	history, err := st.storedHistory(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("read the history: %w", err)
	}
	s := &storedTable{ns: ns, name: name, history: history}
	for _, m := range byVersion {
		s.versions = append(s.versions, m)
	}
	sort.Slice(s.versions, func(i, j int) bool { return s.versions[i].Version < s.versions[j].Version })
	// Only versions whose live segments the current manifest still lists
	// (live or tombstoned) can be read: vacuum removed the others' files.
	listed := map[string]bool{}
	for _, seg := range cur.Segments {
		listed[seg.ID] = true
	}
	kept := s.versions[:0]
	for _, m := range s.versions {
		ok := true
		for _, seg := range m.LiveSegments() {
			ok = ok && listed[seg.ID]
		}
		if ok {
			kept = append(kept, m)
		}
	}
	s.versions = kept
	for _, seg := range cur.Segments {
		if !present[seg.Path] {
			return nil, kerr.New(kerr.Corruption, "segment %s listed by manifest version %d is missing", seg.Path, cur.Version)
		}
	}
	if s.def, err = st.readTableDef(ctx, prefix, cur); err != nil {
		return nil, err
	}
	s.def.Namespace, s.def.Name = ns, name
	probe, err := st.newTable(s.def)
	if err != nil {
		return nil, kerr.Wrap(kerr.Corruption, err, "table.json")
	}
	_ = probe
	return s, nil
}

// allPresent reports whether every segment m lists is in present.
func allPresent(m *manifest.Manifest, present map[string]bool) bool {
	for _, seg := range m.Segments {
		if !present[seg.Path] {
			return false
		}
	}
	return true
}

// readTableDef reads table.json, or, when it is missing, infers a shared
// table without a primary key from the newest segment's schema.
func (st *store) readTableDef(ctx context.Context, prefix string, man *manifest.Manifest) (*tableDef, error) {
	b, err := st.storage.ReadFile(ctx, prefix+"/"+tableJSONName)
	if err == nil {
		var def tableDef
		if err := json.Unmarshal(b, &def); err != nil {
			return nil, kerr.Wrap(kerr.Corruption, err, "table.json")
		}
		if err := defCovers(&def, man, "table.json"); err != nil {
			return nil, err
		}
		return &def, nil
	}
	if !kerr.Is(err, kerr.NotFound) {
		return nil, err
	}
	live := man.LiveSegments()
	if len(live) == 0 {
		return nil, kerr.New(kerr.Corruption, "no table.json and no segment to infer the schema from")
	}
	obj, err := st.storage.Open(ctx, prefix+"/"+live[len(live)-1].Path)
	if err != nil {
		return nil, err
	}
	sf, err := readSegment(prefix+"/"+live[len(live)-1].Path, obj, memory.DefaultAllocator)
	if err != nil {
		obj.Close()
		return nil, err
	}
	defer sf.close()
	var fields []arrow.Field
	for _, f := range sf.sch.Fields() {
		if f.Name != colSeq && f.Name != colDeleted {
			fields = append(fields, f)
		}
	}
	sch, err := encodeSchema(arrow.NewSchema(fields, nil))
	if err != nil {
		return nil, err
	}
	return &tableDef{Type: "shared", Schema: sch, Options: map[string]string{}, CreatedAt: man.CreatedAt, SchemaVersion: 1}, nil
}

// putStoredTable stages a table read from storage into a catalog batch,
// under uid: definition, every version, history inferred from the
// versions, and the hot-generation start. It returns the highest _seq the
// segments hold.
func (st *store) putStoredTable(wb *grocksdb.WriteBatch, s *storedTable, uid uint64) int64 {
	s.def.UID = uid
	qn := s.ns + "." + s.name
	defJSON, _ := json.Marshal(s.def)
	wb.PutCF(st.cfCat, []byte(catTablePrefix+qn), defJSON)
	wb.DeleteCF(st.cfCat, []byte(catQuarantine+qn))
	wb.PutCF(st.cfCat, uidKey(catHotLo, uid), u64be(1))
	prefix := versionPrefix(s.ns, s.name)
	wb.DeleteRangeCF(st.cfMan, prefix, append(append([]byte(nil), prefix...), 0xff))
	var hwm int64
	for _, m := range s.versions {
		data, _ := manifest.Encode(m)
		wb.PutCF(st.cfMan, versionKey(s.ns, s.name, m.Version), data)
	}
	for _, h := range historyOf(s.history, s.versions) {
		if h.Version > s.current().Version {
			continue // a mirror newer than the manifest found: not this table's
		}
		b, _ := json.Marshal(h)
		wb.PutCF(st.cfCat, historyKey(qn, h.Version), b)
	}
	cur := s.current()
	data, _ := manifest.Encode(cur)
	wb.PutCF(st.cfMan, manifestKey(s.ns, s.name), data)
	for _, seg := range cur.Segments {
		hwm = max(hwm, seg.MaxSeq)
	}
	return hwm
}

// inferHistory describes the commit that made m from prev.
func inferHistory(prev, m *manifest.Manifest) HistoryEntry {
	h := HistoryEntry{Version: m.Version, Time: m.UpdatedAt}
	if prev == nil {
		h.Operation = opCreate
		if m.Version > 1 {
			h.Operation = opFlush
			h.SegmentsAdded = uint64(len(m.LiveSegments()))
		}
		return h
	}
	old := map[string]bool{}
	for _, s := range prev.LiveSegments() {
		old[s.ID] = true
	}
	listed := map[string]bool{}
	for _, s := range m.Segments {
		listed[s.ID] = true
		if !s.Tombstone && !old[s.ID] {
			h.SegmentsAdded++
		}
	}
	for _, s := range prev.Segments {
		if !listed[s.ID] || (!s.Tombstone && old[s.ID] && isTombstoned(m, s.ID)) {
			h.SegmentsRemoved++
		}
	}
	switch {
	case h.SegmentsAdded > 0 && h.SegmentsRemoved > 0:
		h.Operation = opCompact
	case h.SegmentsAdded > 0:
		h.Operation = opFlush
	case h.SegmentsRemoved > 0:
		h.Operation = opVacuum
	default:
		h.Operation = opAlter
	}
	return h
}

func isTombstoned(m *manifest.Manifest, id string) bool {
	s, ok := m.Segment(id)
	return ok && s.Tombstone
}

// ---- recover ------------------------------------------------------------------

// recoverReport is what a recover did; bad tables make open fail with
// kerr.Corruption naming them, after the others were recovered.
type recoverReport struct {
	recovered []string
	bad       []string // "ns.table: reason"
}

func (r *recoverReport) err() error {
	if len(r.bad) == 0 {
		return nil
	}
	return kerr.New(kerr.Corruption,
		"recover: %d table(s) recovered; could not recover %s. Their files are left in place: fix or remove each directory under storage/, then open with {\"recover\": true} again",
		len(r.recovered), strings.Join(r.bad, "; "))
}

// quarantine records a table recover could not read, so that later opens
// know it was reported.
func (st *store) quarantine(wb *grocksdb.WriteBatch, qn string, err error) string {
	reason := err.Error()
	wb.PutCF(st.cfCat, []byte(catQuarantine+qn), []byte(reason))
	return qn + ": " + reason
}

// rebuildFromStorage is DESIGN §2.2 step 5, into a fresh (empty) RocksDB:
// the catalog and every kept manifest version come back from table.json,
// the version files, manifest.json and the Parquet footers. Hot rows never
// flushed are lost with the old RocksDB. One synced batch: a recover that
// dies part-way leaves nothing half-written.
func (st *store) rebuildFromStorage(rep *recoverReport) error {
	ctx := context.Background()
	tables, err := st.storageTables(ctx)
	if err != nil {
		return err
	}
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	now := nowMs()
	var uid uint64
	var hwm int64
	nsSeen := map[string]bool{defaultNamespace: true}
	st.putNamespace(wb, defaultNamespace, now)
	for _, nt := range tables {
		ns, name := nt[0], nt[1]
		s, err := st.readStoredTable(ctx, ns, name)
		if err != nil {
			if kerr.Is(err, kerr.IO) {
				return fmt.Errorf("table %s.%s: %w", ns, name, err) // transient: the whole recover is redone
			}
			rep.bad = append(rep.bad, st.quarantine(wb, ns+"."+name, err))
			continue
		}
		if !nsSeen[ns] {
			nsSeen[ns] = true
			st.putNamespace(wb, ns, now)
		}
		uid++
		hwm = max(hwm, st.putStoredTable(wb, s, uid))
		rep.recovered = append(rep.recovered, ns+"."+name)
	}
	wb.PutCF(st.cfCat, []byte(catTableUID), u64be(uid))
	wb.PutCF(st.cfCat, []byte(catSeqHighWater), u64be(uint64(hwm)))
	wb.PutCF(st.cfCat, []byte(catFormat), []byte(hotFormat))
	if err := st.rdb.Write(st.syncWO, wb); err != nil {
		return st.writeError(err, "write the rebuilt catalog")
	}
	return nil
}

// repairFromStorage restores, in a RocksDB that lost commits, the tables
// whose storage is ahead of the catalog (issues): one synced batch.
func (st *store) repairFromStorage(issues []storageIssue, rep *recoverReport) error {
	ctx := context.Background()
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	uid, err := st.getUint64([]byte(catTableUID))
	if err != nil {
		return err
	}
	global, err := st.getUint64([]byte(catSeqHighWater))
	if err != nil {
		return err
	}
	hwm := int64(global)
	now := nowMs()
	for _, is := range issues {
		qn := is.qname()
		s, err := st.readStoredTable(ctx, is.ns, is.name)
		if err != nil {
			if kerr.Is(err, kerr.IO) {
				return fmt.Errorf("table %s: %w", qn, err)
			}
			rep.bad = append(rep.bad, st.quarantine(wb, qn, err))
			continue
		}
		st.catMu.RLock()
		t := st.tables[qn]
		_, nsKnown := st.namespaces[is.ns]
		st.catMu.RUnlock()
		if !nsKnown {
			st.putNamespace(wb, is.ns, now)
		}
		tuid := uint64(0)
		if t != nil {
			// Hot rows of the table survived in RocksDB under its uid; those
			// the lost commit had flushed are also in its segments, as the
			// same versions, which the merge reads as one.
			tuid = t.uid
			if s.def.SchemaVersion <= t.def.SchemaVersion {
				def := *t.def
				s.def = &def
			}
		} else {
			uid++
			tuid = uid
		}
		hwm = max(hwm, st.putStoredTable(wb, s, tuid))
		if t != nil {
			wb.PutCF(st.cfCat, uidKey(catHotLo, tuid), u64be(t.hotLo))
		}
		rep.recovered = append(rep.recovered, qn)
	}
	wb.PutCF(st.cfCat, []byte(catTableUID), u64be(uid))
	wb.PutCF(st.cfCat, []byte(catSeqHighWater), u64be(uint64(hwm)))
	return st.writeSync(wb, "repair the catalog from storage")
}
