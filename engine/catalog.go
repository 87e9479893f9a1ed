package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/linxGnu/grocksdb"

	"github.com/kalamdb/libkalam/engine/keyenc"
	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/manifest"
)

// Keys of the catalog column family.
const (
	catNamespacePrefix = "ns\x00"
	catTablePrefix     = "tbl\x00"
	catTableUID        = "ctr\x00table_uid"
	// catSeqHighWater is the _seq high-water mark of dropped tables and of
	// stores written before per-table marks; open takes the maximum of it,
	// every table's mark and every segment's max_seq.
	catSeqHighWater = "ctr\x00seq_hwm"
	catTableHWM     = "hwm\x00"   // + uid: a table's _seq high-water mark
	catHotLo        = "hotlo\x00" // + uid: the table's lowest unflushed generation
	catDropped      = "drop\x00"  // + uid: a dropped table whose files may remain
	catQuarantine   = "quar\x00"  // + "ns.table": storage recover could not read
	// catSegFloor + "ns.table": the highest segment number a dropped table
	// of that name used; a table made again under the name numbers its
	// segments above it (nextSegmentNumber), so that a file a reader of the
	// old table still names (an S3 dataset's fragment) is never another
	// file of the new one.
	catSegFloor = "segfloor\x00"
	catFormat   = "fmt\x00hot" // hot-row key layout version
)

// hotFormat is the hot-row key layout: 2 = {uid}{generation}{key}{^_seq}.
const hotFormat = "2"

// tableDef is the persisted table definition (catalog value and the
// storage/{ns}/{table}/table.json mirror, DESIGN §10).
type tableDef struct {
	UID       uint64            `json:"uid"`
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	Type      string            `json:"type"`
	Options   map[string]string `json:"options"`
	CreatedAt int64             `json:"created_at"`
	// Schema, SchemaVersion and FieldIDs are the current schema version
	// (the last of Schemas), kept at the top for readers of table.json.
	Schema        []byte  `json:"schema"` // Arrow IPC schema message stream
	SchemaVersion int64   `json:"schema_version"`
	FieldIDs      []int32 `json:"field_ids,omitempty"`
	// Schemas are every schema version, oldest first (DESIGN §3.2): old
	// manifest versions read with the schema of their time.
	Schemas []schemaVersionDef `json:"schemas,omitempty"`
	// KeyFieldIDs are the key columns, user column first; UserFieldID the
	// user column (user tables). Ids, so that renames keep the key.
	KeyFieldIDs []int32 `json:"key_field_ids,omitempty"`
	UserFieldID int32   `json:"user_field_id,omitempty"`
	// NextFieldID is the id the next added column gets; ids are never reused.
	NextFieldID int32 `json:"next_field_id,omitempty"`
}

// complete fills what definitions written before schema versions lack
// (one schema version, columns numbered from 1, the key from the options)
// and checks the key columns of a new table.
func (d *tableDef) complete(opts tableOptions) error {
	if len(d.Schemas) == 0 {
		s, err := decodeSchema(d.Schema)
		if err != nil {
			return kerr.Wrap(kerr.InvalidArgument, err, "schema")
		}
		ids := d.FieldIDs
		if len(ids) == 0 {
			for i := range s.Fields() {
				ids = append(ids, int32(i+1))
			}
		}
		d.Schemas = []schemaVersionDef{{Version: max(d.SchemaVersion, 1), ManifestVersion: 1, Schema: d.Schema, FieldIDs: ids}}
	}
	first := d.Schemas[0]
	if d.KeyFieldIDs == nil {
		s, err := decodeSchema(first.Schema)
		if err != nil {
			return kerr.Wrap(kerr.InvalidArgument, err, "schema")
		}
		if d.KeyFieldIDs, d.UserFieldID, err = keyFieldIDs(d.Type, opts, s, first.FieldIDs); err != nil {
			return err
		}
		if d.KeyFieldIDs == nil {
			d.KeyFieldIDs = []int32{}
		}
	}
	for _, v := range d.Schemas {
		for _, id := range v.FieldIDs {
			d.NextFieldID = max(d.NextFieldID, id+1)
		}
	}
	last := d.Schemas[len(d.Schemas)-1]
	d.Schema, d.SchemaVersion, d.FieldIDs = last.Schema, last.Version, last.FieldIDs
	return nil
}

func nowMs() int64 { return time.Now().UnixMilli() }

func encodeSchema(s *arrow.Schema) ([]byte, error) {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(s), ipc.WithAllocator(memory.NewGoAllocator()))
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func decodeSchema(b []byte) (*arrow.Schema, error) {
	r, err := ipc.NewReader(bytes.NewReader(b), ipc.WithAllocator(memory.NewGoAllocator()))
	if err != nil {
		return nil, err
	}
	defer r.Release()
	return r.Schema(), nil
}

func u64be(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func uidKey(prefix string, uid uint64) []byte { return append([]byte(prefix), u64be(uid)...) }

// manifestKey is the manifests-family key of a table's current manifest;
// versionKey that of one version (DESIGN §2).
func manifestKey(ns, table string) []byte { return []byte(ns + "." + table) }

func versionKey(ns, table string, version uint64) []byte {
	return append([]byte(ns+"."+table+"\x00"), u64be(version)...)
}

func versionPrefix(ns, table string) []byte { return []byte(ns + "." + table + "\x00") }

func (st *store) putNamespace(wb *grocksdb.WriteBatch, ns string, createdAt int64) {
	val, _ := json.Marshal(map[string]int64{"created_at": createdAt})
	wb.PutCF(st.cfCat, []byte(catNamespacePrefix+ns), val)
}

func (st *store) ensureDefaultNamespace() error {
	st.ddlMu.Lock()
	defer st.ddlMu.Unlock()
	if _, ok := st.namespaces[defaultNamespace]; ok {
		return nil
	}
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	now := nowMs()
	st.putNamespace(wb, defaultNamespace, now)
	if err := st.writeSync(wb, "create namespace default"); err != nil {
		return err
	}
	st.catMu.Lock()
	st.namespaces[defaultNamespace] = now
	st.catMu.Unlock()
	return nil
}

// getCat reads a catalog value (nil when missing).
func (st *store) getCat(key []byte) ([]byte, error) {
	s, err := st.rdb.GetCF(st.readOpts, st.cfCat, key)
	if err != nil {
		return nil, kerr.Wrap(kerr.IO, err, "read catalog %q", key)
	}
	defer s.Free()
	if !s.Exists() {
		return nil, nil
	}
	return append([]byte{}, s.Data()...), nil
}

func (st *store) getUint64(key []byte) (uint64, error) {
	v, err := st.getCat(key)
	if err != nil || v == nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, kerr.New(kerr.Corruption, "catalog %q: %d bytes, want 8", key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// loadCatalog reads namespaces, tables and their current manifests, and
// each table's hot generations, hot-row count and _seq mark.
func (st *store) loadCatalog() error {
	it := st.rdb.NewIteratorCF(st.readOpts, st.cfCat)
	defer it.Close()
	for it.SeekToFirst(); it.Valid(); it.Next() {
		k := string(it.Key().Data())
		v := append([]byte(nil), it.Value().Data()...)
		switch {
		case strings.HasPrefix(k, catNamespacePrefix):
			var m map[string]int64
			if err := json.Unmarshal(v, &m); err != nil {
				return kerr.Wrap(kerr.Corruption, err, "catalog namespace %q", k[len(catNamespacePrefix):])
			}
			st.namespaces[k[len(catNamespacePrefix):]] = m["created_at"]
		case strings.HasPrefix(k, catTablePrefix):
			var def tableDef
			if err := json.Unmarshal(v, &def); err != nil {
				return kerr.Wrap(kerr.Corruption, err, "catalog table %q", k[len(catTablePrefix):])
			}
			t, err := st.newTable(&def)
			if err != nil {
				return kerr.Wrap(kerr.Corruption, err, "catalog table %q", k[len(catTablePrefix):])
			}
			man, err := st.loadCurrentManifest(t)
			if err != nil {
				return err
			}
			t.man = man
			st.tables[t.qname] = t
		}
	}
	if err := it.Err(); err != nil {
		return kerr.Wrap(kerr.IO, err, "read catalog")
	}
	if err := st.migrateHotFormat(); err != nil {
		return err
	}
	for _, t := range st.tables {
		if err := st.loadHotState(t); err != nil {
			return fmt.Errorf("table %s: %w", t.qname, err)
		}
	}
	return nil
}

// loadHotState reads the table's generations, counts its hot versions (for
// the flush_rows trigger and kalam_table_info) and its _seq mark.
func (st *store) loadHotState(t *table) error {
	lo, err := st.getUint64(uidKey(catHotLo, t.uid))
	if err != nil {
		return err
	}
	t.hotLo = max(lo, 1)
	hwm, err := st.getUint64(uidKey(catTableHWM, t.uid))
	if err != nil {
		return err
	}
	t.hwm = int64(hwm)
	ro := grocksdb.NewDefaultReadOptions()
	defer ro.Destroy()
	ro.SetIterateLowerBound(hotGenPrefix(t.uid, t.hotLo))
	ro.SetIterateUpperBound(u64be(t.uid + 1))
	ro.SetFillCache(false)
	it := st.rdb.NewIteratorCF(ro, st.cfData)
	defer it.Close()
	var n int64
	t.gen = t.hotLo
	for it.SeekToFirst(); it.Valid(); it.Next() {
		n++
		k := it.Key().Data()
		key, seq, err := splitHotKey(k)
		if err != nil {
			return err
		}
		g := binary.BigEndian.Uint64(k[8:16])
		if g > t.gen {
			t.gen = g
		}
		t.hwm = max(t.hwm, seq)
		if cur := t.genMax[g]; cur == nil || bytes.Compare(key, cur) > 0 {
			t.genMax[g] = append(cur[:0], key...) // keys come in order: the last is the largest
		}
	}
	if err := it.Err(); err != nil {
		return kerr.Wrap(kerr.IO, err, "count hot rows")
	}
	t.hotRows.Store(n)
	if n == 0 {
		st.startFlushCache(t, t.gen) // a generation without versions
	}
	for _, s := range t.man.Segments {
		t.hwm = max(t.hwm, s.MaxSeq)
	}
	return nil
}

// migrateHotFormat rewrites hot rows written before generations existed
// ({uid}{key}{^_seq}) into generation 1, in one batch with the format
// marker, so a crash leaves either layout but never a mix.
func (st *store) migrateHotFormat() error {
	v, err := st.getCat([]byte(catFormat))
	if err != nil || string(v) == hotFormat {
		return err
	}
	if st.readOnly {
		if len(st.tables) == 0 {
			return nil
		}
		return kerr.New(kerr.Busy, "the store's hot rows use an older layout; open it read-write once to convert them")
	}
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	ro := grocksdb.NewDefaultReadOptions()
	defer ro.Destroy()
	ro.SetFillCache(false)
	it := st.rdb.NewIteratorCF(ro, st.cfData)
	defer it.Close()
	wb.DeleteRangeCF(st.cfData, u64be(0), bytes.Repeat([]byte{0xff}, 9))
	var k2 []byte
	for it.SeekToFirst(); it.Valid(); it.Next() {
		k := it.Key().Data()
		if len(k) < 16 {
			return kerr.New(kerr.Corruption, "hot row key of %d bytes", len(k))
		}
		k2 = append(append(append(k2[:0], k[:8]...), u64be(1)...), k[8:]...)
		wb.PutCF(st.cfData, k2, it.Value().Data())
	}
	if err := it.Err(); err != nil {
		return kerr.Wrap(kerr.IO, err, "convert hot rows")
	}
	wb.PutCF(st.cfCat, []byte(catFormat), []byte(hotFormat))
	return st.writeSync(wb, "convert hot rows to generations")
}

func (st *store) loadCurrentManifest(t *table) (*manifest.Manifest, error) {
	s, err := st.rdb.GetCF(st.readOpts, st.cfMan, manifestKey(t.ns, t.name))
	if err != nil {
		return nil, kerr.Wrap(kerr.IO, err, "read manifest of %s", t.qname)
	}
	defer s.Free()
	if !s.Exists() {
		return nil, kerr.New(kerr.Corruption, "table %s has no manifest in rocksdb", t.qname)
	}
	m, err := manifest.Decode(s.Data())
	if err != nil {
		return nil, kerr.Wrap(kerr.Corruption, err, "manifest of %s", t.qname)
	}
	return m, nil
}

// loadManifestVersion reads a kept manifest version (time travel).
func (st *store) loadManifestVersion(t *table, version uint64) (*manifest.Manifest, error) {
	s, err := st.rdb.GetCF(st.readOpts, st.cfMan, versionKey(t.ns, t.name, version))
	if err != nil {
		return nil, kerr.Wrap(kerr.IO, err, "read manifest version %d of %s", version, t.qname)
	}
	defer s.Free()
	if !s.Exists() {
		return nil, st.versionNotFound(t, version)
	}
	m, err := manifest.Decode(s.Data())
	if err != nil {
		return nil, kerr.Wrap(kerr.Corruption, err, "manifest version %d of %s", version, t.qname)
	}
	return m, nil
}

// versionNotFound names the oldest version still readable and, when the
// requested one lies between kept versions, the next one after it (the empty
// version 1 survives every vacuum, so "oldest" alone can mislead).
func (st *store) versionNotFound(t *table, version uint64) error {
	oldest, next := st.versionsAround(t, version)
	msg := fmt.Sprintf("table %s: manifest version %d not found (oldest available version is %d", t.qname, version, oldest)
	if next > oldest {
		msg += fmt.Sprintf("; the first available after %d is %d", version, next)
	}
	return kerr.New(kerr.NotFound, "%s)", msg)
}

// versionsAround returns the oldest kept manifest version of t and the
// first kept version after `after` (0 when none).
func (st *store) versionsAround(t *table, after uint64) (oldest, next uint64) {
	if st.remote {
		vs, _ := st.remoteVersions(t)
		for _, m := range vs {
			if oldest == 0 {
				oldest = m.Version
			}
			if next == 0 && m.Version > after {
				next = m.Version
			}
		}
		return oldest, next
	}
	prefix := versionPrefix(t.ns, t.name)
	it := st.rdb.NewIteratorCF(st.readOpts, st.cfMan)
	defer it.Close()
	it.Seek(prefix)
	if it.ValidForPrefix(prefix) && len(it.Key().Data()) == len(prefix)+8 {
		oldest = binary.BigEndian.Uint64(it.Key().Data()[len(prefix):])
	}
	it.Seek(versionKey(t.ns, t.name, after+1))
	if it.ValidForPrefix(prefix) && len(it.Key().Data()) == len(prefix)+8 {
		next = binary.BigEndian.Uint64(it.Key().Data()[len(prefix):])
	}
	return oldest, next
}

// keptVersions lists the manifest versions RocksDB keeps for t.
func (st *store) keptVersions(t *table) ([]*manifest.Manifest, error) {
	prefix := versionPrefix(t.ns, t.name)
	it := st.rdb.NewIteratorCF(st.readOpts, st.cfMan)
	defer it.Close()
	var out []*manifest.Manifest
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		m, err := manifest.Decode(it.Value().Data())
		if err != nil {
			return nil, kerr.Wrap(kerr.Corruption, err, "manifest version of %s", t.qname)
		}
		out = append(out, m)
	}
	if err := it.Err(); err != nil {
		return nil, kerr.Wrap(kerr.IO, err, "read manifest versions of %s", t.qname)
	}
	return out, nil
}

// syncWALAhead starts fsyncing RocksDB's log on a goroutine and returns a
// function that waits for it (safe to call more than once). A flush calls
// it as it starts: the appends before it put their rows in the log without
// syncing (asyncWO), so its synced commit (writeSync) would otherwise wait
// for all of them to reach the disk — 7–35 ms after a 1 M-row append,
// while the flush's encoding leaves the disk idle. Its error is not
// reported: the commit's own synced write must succeed, and reports why
// not. The caller waits before returning, so that the store cannot close
// under the sync.
func (st *store) syncWALAhead() func() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = st.rdb.FlushWAL(true)
	}()
	return func() { <-done }
}

// writeSync commits a batch durably (DESIGN §2.2 step 2, and DDL).
func (st *store) writeSync(wb *grocksdb.WriteBatch, what string) error {
	if err := st.checkSpace(int64(len(wb.Data()))); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := st.rdb.Write(st.syncWO, wb); err != nil {
		return st.writeError(err, what)
	}
	return nil
}

// CreateNamespace creates a namespace; kerr.AlreadyExists if it exists.
func (db *DB) CreateNamespace(name string) error {
	exit, err := db.enter(true)
	if err != nil {
		return err
	}
	defer exit()
	ns, err := normalizeName("namespace", name)
	if err != nil {
		return err
	}
	if ns == systemNamespace {
		return kerr.New(kerr.InvalidArgument, "namespace %q is reserved", name)
	}
	st := db.st
	st.ddlMu.Lock()
	defer st.ddlMu.Unlock()
	if _, ok := st.namespaces[ns]; ok {
		return kerr.New(kerr.AlreadyExists, "namespace %q already exists", ns)
	}
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	now := nowMs()
	st.putNamespace(wb, ns, now)
	if err := st.writeSync(wb, fmt.Sprintf("create namespace %q", ns)); err != nil {
		return err
	}
	st.catMu.Lock()
	st.namespaces[ns] = now
	st.catMu.Unlock()
	return nil
}

// NamespaceInfo describes a namespace.
type NamespaceInfo struct {
	Name       string
	CreatedAt  int64
	TableCount int
}

// Namespaces lists namespaces (system included), sorted by name.
func (db *DB) Namespaces() []NamespaceInfo {
	st := db.st
	st.catMu.RLock()
	defer st.catMu.RUnlock()
	counts := map[string]int{}
	for _, t := range st.tables {
		counts[t.ns]++
	}
	out := []NamespaceInfo{{Name: systemNamespace, CreatedAt: st.namespaces[defaultNamespace], TableCount: numSystemTables}}
	for ns, c := range st.namespaces {
		out = append(out, NamespaceInfo{Name: ns, CreatedAt: c, TableCount: counts[ns]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

var validTypes = map[string]bool{"shared": true, "user": true}

// CreateTable creates "ns.table" (or "table" in namespace default). typ "" is
// "shared". Options are kept as given; primary_key, user_column, compression,
// row_group_rows, flush_rows and auto_compact_segments are understood and
// checked (DESIGN §3).
func (db *DB) CreateTable(name, typ string, schema *arrow.Schema, options map[string]string) (*TableInfo, error) {
	exit, err := db.enter(true)
	if err != nil {
		return nil, err
	}
	defer exit()
	ns, tname, err := splitTableName(name)
	if err != nil {
		return nil, err
	}
	if ns == systemNamespace {
		return nil, kerr.New(kerr.InvalidArgument, "create table %q: namespace system is reserved", name)
	}
	typ = strings.ToLower(typ)
	if typ == "" {
		typ = "shared"
	}
	if typ == "stream" {
		return nil, kerr.New(kerr.InvalidArgument, "create table %q: table type \"stream\" is reserved and not supported yet", name)
	}
	if !validTypes[typ] {
		return nil, kerr.New(kerr.InvalidArgument, "create table %q: unknown table type %q (want shared or user)", name, typ)
	}
	if schema == nil || schema.NumFields() == 0 {
		return nil, kerr.New(kerr.InvalidArgument, "create table %q: schema has no columns", name)
	}
	opts := map[string]string{}
	for k, v := range options {
		opts[k] = v
	}
	// Schema metadata is dropped: a table's schema is its columns.
	schema = arrow.NewSchema(schema.Fields(), nil)
	for _, f := range schema.Fields() {
		if err := checkNewColumn(f); err != nil {
			return nil, kerr.Wrap(kerr.CodeOf(err), err, "create table %q", name)
		}
	}
	def := &tableDef{Namespace: ns, Name: tname, Type: typ, Options: opts, CreatedAt: nowMs(), SchemaVersion: 1}
	for i := range schema.Fields() {
		def.FieldIDs = append(def.FieldIDs, int32(i+1))
	}
	if def.Schema, err = encodeSchema(schema); err != nil {
		return nil, kerr.Wrap(kerr.InvalidArgument, err, "create table %q: schema", name)
	}
	def.Schemas = []schemaVersionDef{{Version: 1, ManifestVersion: 1, Schema: def.Schema, FieldIDs: def.FieldIDs}}
	// Validate by building the runtime table before anything is written.
	if _, err := db.st.newTable(def); err != nil {
		return nil, kerr.Wrap(kerr.CodeOf(err), err, "create table %q", name)
	}
	st := db.st
	st.ddlMu.Lock()
	defer st.ddlMu.Unlock()
	if _, ok := st.namespaces[ns]; !ok {
		return nil, kerr.New(kerr.NotFound, "create table %q: namespace %q does not exist", name, ns)
	}
	qn := ns + "." + tname
	if _, ok := st.tables[qn]; ok {
		return nil, kerr.New(kerr.AlreadyExists, "table %q already exists", qn)
	}
	if q, err := st.getCat([]byte(catQuarantine + qn)); err != nil {
		return nil, err
	} else if q != nil {
		return nil, kerr.New(kerr.AlreadyExists,
			"create table %q: storage holds a table of that name that recover could not read (%s); fix or remove its directory first", qn, q)
	}
	uid, err := st.getUint64([]byte(catTableUID))
	if err != nil {
		return nil, err
	}
	uid++
	def.UID = uid
	t, err := st.newTable(def)
	if err != nil {
		return nil, err
	}
	man := manifest.New(ns, tname, def.CreatedAt)
	floor, err := st.getUint64([]byte(catSegFloor + qn))
	if err != nil {
		return nil, err
	}
	man.LastSequenceNumber = floor
	t.man = man
	t.hotLo, t.gen = 1, 1
	st.startFlushCache(t, 1)
	defJSON, _ := json.Marshal(def)
	manJSON, err := manifest.Encode(man)
	if err != nil {
		return nil, kerr.Wrap(kerr.Internal, err, "create table %q: encode manifest", qn)
	}
	ctx := context.Background()
	// A dropped table of this name whose files open reads still use (scans,
	// datasets): they keep its segment files, whose numbers the new table's
	// never reach (segfloor), until the last is released (finishDrop); the
	// rest of its files go now (dropMu: no late removal takes the new
	// table's). They went all at once, and those reads failed.
	st.dropMu.Lock()
	defer st.dropMu.Unlock()
	keep := map[string]bool{}
	old := st.pendingDrops[qn]
	if old != nil {
		delete(st.pendingDrops, qn)
		for _, seg := range old.currentManifest().Segments {
			keep[seg.Path] = true
		}
		if st.reusedDrops == nil {
			st.reusedDrops = map[*table]bool{}
		}
		st.reusedDrops[old] = true
	}
	// Until the commit, a failure takes back what storage got (the
	// directory, table.json); a process killed meanwhile leaves it to the
	// next open (sweepUncommittedCreates).
	committed := false
	defer func() {
		if !committed {
			// Under dropMu still (deferred before): the dropped table of
			// the name is pending again, its segment files kept.
			_ = st.removeAllBut(ctx, t.prefix, keep)
			if old != nil {
				delete(st.reusedDrops, old)
				st.pendingDrops[qn] = old
			}
		}
	}()
	// Leftovers under the name belong to no table of the catalog (an
	// earlier drop whose file removal failed): they must not become this
	// table's files. Then table.json, harmless if the commit fails.
	if err := st.removeAllBut(ctx, t.prefix, keep); err != nil {
		return nil, fmt.Errorf("create table %q: %w", qn, err)
	}
	if err := st.storage.WriteFile(ctx, t.prefix+"/"+tableJSONName, defJSON); err != nil {
		return nil, fmt.Errorf("create table %q: %w", qn, err)
	}
	if err := st.hit("create_table_written"); err != nil {
		return nil, err
	}
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	wb.PutCF(st.cfCat, []byte(catTableUID), u64be(uid))
	wb.PutCF(st.cfCat, []byte(catTablePrefix+qn), defJSON)
	wb.PutCF(st.cfCat, uidKey(catHotLo, uid), u64be(1))
	wb.PutCF(st.cfMan, manifestKey(ns, tname), manJSON)
	wb.PutCF(st.cfMan, versionKey(ns, tname, man.Version), manJSON)
	st.putHistory(wb, t, HistoryEntry{Version: 1, Time: def.CreatedAt, Operation: opCreate})
	if err := st.writeSync(wb, fmt.Sprintf("create table %q", qn)); err != nil {
		return nil, err
	}
	committed = true
	t.defMirrored = t.def // written above
	st.catMu.Lock()
	st.tables[qn] = t
	st.catMu.Unlock()
	// Under flushMu, like every mirror: a flush of the new table may run
	// already.
	t.flushMu.Lock()
	err = st.mirrorManifest(t, man)
	t.flushMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("create table %q: %w", qn, err)
	}
	return t.info(), nil
}

// DropTable drops a user table, its hot rows, manifests and files.
func (db *DB) DropTable(name string) error {
	exit, err := db.enter(true)
	if err != nil {
		return err
	}
	defer exit()
	t, err := db.st.lookupTable(name)
	if err != nil {
		return err
	}
	st := db.st
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	st.ddlMu.Lock()
	defer st.ddlMu.Unlock()
	if t.dropped.Load() {
		return kerr.New(kerr.NotFound, "table %q not found", name)
	}
	global, err := st.getUint64([]byte(catSeqHighWater))
	if err != nil {
		return err
	}
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	wb.DeleteCF(st.cfCat, []byte(catTablePrefix+t.qname))
	wb.DeleteCF(st.cfMan, manifestKey(t.ns, t.name))
	prefix := versionPrefix(t.ns, t.name)
	wb.DeleteRangeCF(st.cfMan, prefix, keyenc.PrefixEnd(prefix))
	wb.DeleteRangeCF(st.cfData, u64be(t.uid), u64be(t.uid+1))
	hp := historyPrefix(t.qname)
	wb.DeleteRangeCF(st.cfCat, hp, keyenc.PrefixEnd(hp))
	wb.DeleteCF(st.cfCat, uidKey(catHotLo, t.uid))
	wb.DeleteCF(st.cfCat, uidKey(catTableHWM, t.uid))
	// _seq stays increasing across the drop; the record lets open finish
	// removing the files if this process dies before it does.
	wb.PutCF(st.cfCat, []byte(catSeqHighWater), u64be(max(global, uint64(t.hwm))))
	wb.PutCF(st.cfCat, uidKey(catDropped, t.uid), []byte(t.qname))
	wb.PutCF(st.cfCat, []byte(catSegFloor+t.qname), u64be(max(t.segNo, t.currentManifest().LastSequenceNumber)))
	// A store whose storage another store took keeps its tables: their
	// rows (hot ones too) are readable only here now, and the drop's
	// files would be refused anyway.
	if err := st.storageClaimLost(); err != nil {
		return fmt.Errorf("drop table %s: %w", t.qname, err)
	}
	if err := st.writeSync(wb, "drop table "+t.qname); err != nil {
		return err
	}
	st.catMu.Lock()
	delete(st.tables, t.qname)
	st.catMu.Unlock()
	t.dropped.Store(true)
	t.endFlushCache()
	// Files go after the commit, and only once no read needs them: open
	// streams of the table finish reading (kalam.h), then the last one
	// removes them (finishDrop).
	if err := st.hit("drop_before_remove"); err != nil {
		return err
	}
	if st.deferDropRemoval(t) {
		return nil
	}
	// The drop has committed and reports success (DESIGN §6) whatever
	// happens to its files: the drop record stays until they are gone, and
	// open finishes the removal (finishDrops); a table created under the
	// name meanwhile clears them first (removeAllBut).
	_ = st.removeDroppedFiles(t.uid, t.prefix)
	return nil
}

// deferDropRemoval leaves the files of the dropped table t to its last
// reader when a read pins any (reports true); acquire refuses new reads of
// a dropped table, so the pins only go down.
func (st *store) deferDropRemoval(t *table) bool {
	st.dropMu.Lock()
	defer st.dropMu.Unlock()
	t.mu.Lock()
	pinned := len(t.pins) > 0
	t.mu.Unlock()
	if pinned {
		if st.pendingDrops == nil {
			st.pendingDrops = map[string]*table{}
		}
		st.pendingDrops[t.qname] = t
	}
	return pinned
}

// finishDrop removes the files of the dropped table t once its last pin
// is gone: all of them, or, when a create took its name meanwhile, its
// segment files. A failure leaves the drop record: the next open removes
// them (an orphan segment file of the new table's directory, or the
// directory of a drop).
func (st *store) finishDrop(t *table) {
	st.dropMu.Lock()
	defer st.dropMu.Unlock()
	if st.reusedDrops[t] {
		delete(st.reusedDrops, t)
		_ = st.removeReusedDropFiles(t)
		return
	}
	if st.pendingDrops[t.qname] != t {
		return
	}
	delete(st.pendingDrops, t.qname)
	_ = st.removeDroppedFiles(t.uid, t.prefix)
}

// removeReusedDropFiles removes the segment files of the dropped table t,
// whose directory a table of the same name has since taken (never one
// that table lists), then its drop record.
func (st *store) removeReusedDropFiles(t *table) error {
	ctx := context.Background()
	st.catMu.RLock()
	now := st.tables[t.qname]
	st.catMu.RUnlock()
	var theirs map[string]bool
	if now != nil {
		theirs = map[string]bool{}
		for _, seg := range now.currentManifest().Segments {
			theirs[seg.Path] = true
		}
	}
	for _, seg := range t.currentManifest().Segments {
		if theirs[seg.Path] {
			continue
		}
		if err := st.storage.Remove(ctx, t.prefix+"/"+seg.Path); err != nil {
			return err
		}
	}
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	wb.DeleteCF(st.cfCat, uidKey(catDropped, t.uid))
	return st.writeSync(wb, "forget dropped table "+t.qname)
}

// removeAllBut removes everything under prefix except the files keep
// names (paths relative to prefix, under data/).
func (st *store) removeAllBut(ctx context.Context, prefix string, keep map[string]bool) error {
	if len(keep) == 0 {
		return st.storage.RemoveAll(ctx, prefix)
	}
	ents, err := st.storage.List(ctx, prefix)
	if err != nil {
		return err
	}
	for _, e := range ents {
		p := prefix + "/" + e.Name
		switch {
		case e.IsDir && e.Name == manifest.DataDir:
			files, err := st.storage.List(ctx, p)
			if err != nil {
				return err
			}
			for _, f := range files {
				if rel := manifest.DataDir + "/" + f.Name; !keep[rel] {
					if err := st.storage.RemoveAll(ctx, prefix+"/"+rel); err != nil {
						return err
					}
				}
			}
		case e.IsDir:
			if err := st.storage.RemoveAll(ctx, p); err != nil {
				return err
			}
		default:
			if err := st.storage.Remove(ctx, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeDroppedFiles deletes a dropped table's storage and then its drop
// record. manifest.json goes first: a directory without it is no table to
// open (storageTables), so a process killed while the rest goes leaves
// leftovers that open sweeps (finishDrops), not a table storage holds and
// the catalog does not. In listing order, table.json — through which open
// matches a table directory to its drop record — went before
// manifest.json, and a kill in between left a store no open accepted.
func (st *store) removeDroppedFiles(uid uint64, prefix string) error {
	ctx := context.Background()
	if err := st.storage.Remove(ctx, prefix+"/"+manifest.ManifestFileName); err != nil {
		return err
	}
	if err := st.hit("drop_manifest_removed"); err != nil {
		return err
	}
	if err := st.storage.RemoveAll(ctx, prefix); err != nil {
		return err
	}
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	wb.DeleteCF(st.cfCat, uidKey(catDropped, uid))
	return st.writeSync(wb, "forget dropped table")
}

// droppedTables returns the drop records (dropped tables whose files may
// remain): uid → qualified name.
func (st *store) droppedTables() (map[uint64]string, error) {
	out := map[uint64]string{}
	it := st.rdb.NewIteratorCF(st.readOpts, st.cfCat)
	defer it.Close()
	for it.Seek([]byte(catDropped)); it.Valid(); it.Next() {
		k := it.Key().Data()
		if !bytes.HasPrefix(k, []byte(catDropped)) {
			break
		}
		if len(k) != len(catDropped)+8 {
			return nil, kerr.New(kerr.Corruption, "catalog drop record %q: bad key", k)
		}
		out[binary.BigEndian.Uint64(k[len(catDropped):])] = string(it.Value().Data())
	}
	if err := it.Err(); err != nil {
		return nil, kerr.Wrap(kerr.IO, err, "read catalog drop records")
	}
	return out, nil
}

// finishDrops, at a writable open, finishes the drops whose file removal
// a process did not finish: a table directory without manifest.json under
// a dropped name that the catalog does not hold again is removed with its
// record. One with manifest.json is checkStorage's. A record whose name
// was made again only goes: the create removed the dropped files first.
func (st *store) finishDrops() error {
	drops, err := st.droppedTables()
	if err != nil {
		return err
	}
	ctx := context.Background()
	for uid, qn := range drops {
		ns, name, ok := strings.Cut(qn, ".")
		if !ok {
			return kerr.New(kerr.Corruption, "catalog drop record of %q: not a qualified name", qn)
		}
		prefix := ns + "/" + name
		st.catMu.RLock()
		again := st.tables[qn] != nil
		st.catMu.RUnlock()
		if !again {
			files, err := st.storage.List(ctx, prefix)
			if err != nil {
				return fmt.Errorf("finish dropping %s: %w", qn, err)
			}
			if holdsManifest(files) {
				continue
			}
			if err := st.storage.RemoveAll(ctx, prefix); err != nil {
				// A full or read-only disk: the record stays and the next
				// open tries again; this one goes on (the drop committed).
				continue
			}
		}
		wb := grocksdb.NewWriteBatch()
		wb.DeleteCF(st.cfCat, uidKey(catDropped, uid))
		_ = st.writeSync(wb, "forget dropped table "+qn) // on failure the next open forgets it
		wb.Destroy()
	}
	return nil
}

// Table returns a table's description, system tables included.
func (db *DB) Table(name string) (*TableInfo, error) {
	exit, err := db.enter(false)
	if err != nil {
		return nil, err
	}
	defer exit()
	if sys, ok := lookupSystemTable(name); ok {
		return sys.info(), nil
	}
	t, err := db.st.lookupTable(name)
	if err != nil {
		return nil, err
	}
	if db.st.remote {
		// A storage-only reader's description follows what storage holds
		// now (Python's Table.refresh reads it), as its scans do.
		if t, err = db.st.reloadRemote(context.Background(), t); err != nil {
			return nil, err
		}
	}
	return t.info(), nil
}

// Tables lists user tables sorted by qualified name.
func (db *DB) Tables() []*TableInfo {
	if db.st.remote {
		_ = db.st.refreshRemote() // on failure, the tables last listed
	}
	out := []*TableInfo{}
	for _, t := range db.st.sortedTables() {
		out = append(out, t.info())
	}
	return out
}

// storedTable is lookupTable for a call that reads what storage holds of
// a table (its manifest, history, segments, files): a system table, which
// is computed when scanned, has none, and the call is InvalidArgument —
// not ReadOnly, which says a write was refused. what names the call.
func (st *store) storedTable(name, what string) (*table, error) {
	if _, ok := lookupSystemTable(name); ok {
		return nil, kerr.New(kerr.InvalidArgument, "%s of %q: system tables are computed when scanned, not stored", what, name)
	}
	return st.lookupTable(name)
}

func (st *store) lookupTable(name string) (*table, error) {
	ns, tname, err := splitTableName(name)
	if err != nil {
		return nil, err
	}
	st.catMu.RLock()
	t, ok := st.tables[ns+"."+tname]
	st.catMu.RUnlock()
	if !ok && st.remote {
		// Created since this storage-only reader listed storage?
		if err := st.refreshRemote(); err != nil {
			return nil, err
		}
		st.catMu.RLock()
		t, ok = st.tables[ns+"."+tname]
		st.catMu.RUnlock()
	}
	if !ok {
		if _, sys := lookupSystemTable(name); sys {
			// Scans of system tables do not come here: whatever does wants
			// a user table's data or catalog entry.
			return nil, kerr.New(kerr.ReadOnly, "%s is a system table: it can be scanned, not written, flushed, compacted, altered or dropped", name)
		}
		return nil, kerr.New(kerr.NotFound, "table %q not found", name)
	}
	return t, nil
}

// latestManifest is the table's current manifest: the catalog's, or for a
// storage-only reader its manifest.json now.
func (st *store) latestManifest(t *table) (*manifest.Manifest, error) {
	if st.remote {
		return st.readManifestObject(context.Background(), t.prefix+"/"+manifest.ManifestFileName)
	}
	return t.currentManifest(), nil
}

// ManifestJSON returns the table's current manifest, encoded exactly as
// manifest.json holds it.
func (db *DB) ManifestJSON(table string) ([]byte, error) {
	exit, err := db.enter(false)
	if err != nil {
		return nil, err
	}
	defer exit()
	t, err := db.st.storedTable(table, "manifest")
	if err != nil {
		return nil, err
	}
	m, err := db.st.latestManifest(t)
	if err != nil {
		return nil, err
	}
	return manifest.Encode(m)
}

// Manifest returns a copy of the table's current manifest.
func (db *DB) Manifest(table string) (*manifest.Manifest, error) {
	exit, err := db.enter(false)
	if err != nil {
		return nil, err
	}
	defer exit()
	t, err := db.st.storedTable(table, "manifest")
	if err != nil {
		return nil, err
	}
	m, err := db.st.latestManifest(t)
	if err != nil {
		return nil, err
	}
	return m.Clone(), nil
}
