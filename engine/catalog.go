package engine

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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

// Catalog keys in the catalog column family.
const (
	catNamespacePrefix = "ns\x00"
	catTablePrefix     = "tbl\x00"
	catTableUID        = "ctr\x00table_uid"
	catSeqHighWater    = "ctr\x00seq_hwm"
)

// tableDef is the persisted table definition (catalog value and the
// storage/{ns}/{table}/table.json mirror used by recover).
type tableDef struct {
	UID           uint64            `json:"uid"`
	Namespace     string            `json:"namespace"`
	Name          string            `json:"name"`
	Type          string            `json:"type"`
	Schema        []byte            `json:"schema"` // Arrow IPC schema message stream
	Options       map[string]string `json:"options"`
	CreatedAt     int64             `json:"created_at"`
	SchemaVersion int64             `json:"schema_version"`
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

func (st *store) ensureDefaultNamespace() error {
	st.catMu.Lock()
	defer st.catMu.Unlock()
	if _, ok := st.namespaces[defaultNamespace]; ok {
		return nil
	}
	return st.putNamespaceLocked(defaultNamespace)
}

func (st *store) putNamespaceLocked(ns string) error {
	now := nowMs()
	val, _ := json.Marshal(map[string]int64{"created_at": now})
	if err := st.rdb.PutCF(st.syncWO, st.cfCat, []byte(catNamespacePrefix+ns), val); err != nil {
		return kerr.Wrap(kerr.IO, err, "create namespace %q", ns)
	}
	st.namespaces[ns] = now
	return nil
}

func (st *store) loadCatalog() error {
	it := st.rdb.NewIteratorCF(st.readOpts, st.cfCat)
	defer it.Close()
	for it.SeekToFirst(); it.Valid(); it.Next() {
		k := string(it.Key().Data())
		v := append([]byte(nil), it.Value().Data()...)
		it.Key().Free()
		it.Value().Free()
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
	for _, t := range st.tables {
		n, err := st.countHotRows(t)
		if err != nil {
			return err
		}
		t.hotRows.Store(n)
	}
	return nil
}

func (st *store) getUint64(key string) (uint64, error) {
	s, err := st.rdb.GetCF(st.readOpts, st.cfCat, []byte(key))
	if err != nil {
		return 0, kerr.Wrap(kerr.IO, err, "read catalog %q", key)
	}
	defer s.Free()
	if !s.Exists() {
		return 0, nil
	}
	if s.Size() != 8 {
		return 0, kerr.New(kerr.Corruption, "catalog %q: %d bytes, want 8", key, s.Size())
	}
	return binary.BigEndian.Uint64(s.Data()), nil
}

func (st *store) loadSeqHighWater() (int64, error) {
	v, err := st.getUint64(catSeqHighWater)
	return int64(v), err
}

func u64be(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

// manifestKey is the manifests-family key of a table's current manifest;
// versionKey that of one version (DESIGN §2).
func manifestKey(ns, table string) []byte { return []byte(ns + "." + table) }

func versionKey(ns, table string, version uint64) []byte {
	return append([]byte(ns+"."+table+"\x00"), u64be(version)...)
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
		return nil, fmt.Errorf("manifest of %s: %w", t.qname, err)
	}
	return m, nil
}

// loadManifestVersion reads an older manifest version (time travel).
func (st *store) loadManifestVersion(t *table, version uint64) (*manifest.Manifest, error) {
	s, err := st.rdb.GetCF(st.readOpts, st.cfMan, versionKey(t.ns, t.name, version))
	if err != nil {
		return nil, kerr.Wrap(kerr.IO, err, "read manifest version %d of %s", version, t.qname)
	}
	defer s.Free()
	if !s.Exists() {
		return nil, st.versionNotFound(t, version)
	}
	return manifest.Decode(s.Data())
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
	prefix := []byte(t.ns + "." + t.name + "\x00")
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

// CreateNamespace creates a namespace; kerr.AlreadyExists if it exists.
func (db *DB) CreateNamespace(name string) error {
	if err := db.check(true); err != nil {
		return err
	}
	ns, err := normalizeName("namespace", name)
	if err != nil {
		return err
	}
	if ns == systemNamespace {
		return kerr.New(kerr.InvalidArgument, "namespace %q is reserved", name)
	}
	st := db.st
	st.catMu.Lock()
	defer st.catMu.Unlock()
	if _, ok := st.namespaces[ns]; ok {
		return kerr.New(kerr.AlreadyExists, "namespace %q already exists", ns)
	}
	return st.putNamespaceLocked(ns)
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
// row_group_rows and flush_rows are understood (DESIGN §3).
func (db *DB) CreateTable(name, typ string, schema *arrow.Schema, options map[string]string) (*TableInfo, error) {
	if err := db.check(true); err != nil {
		return nil, err
	}
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
	def := &tableDef{Namespace: ns, Name: tname, Type: typ, Options: opts, CreatedAt: nowMs(), SchemaVersion: 1}
	// Validate by building the runtime table before anything is written.
	if def.Schema, err = encodeSchema(schema); err != nil {
		return nil, kerr.Wrap(kerr.InvalidArgument, err, "create table %q: schema", name)
	}
	if _, err := db.st.newTable(def); err != nil {
		return nil, kerr.Wrap(kerr.CodeOf(err), err, "create table %q", name)
	}
	st := db.st
	st.catMu.Lock()
	defer st.catMu.Unlock()
	if _, ok := st.namespaces[ns]; !ok {
		return nil, kerr.New(kerr.NotFound, "create table %q: namespace %q does not exist", name, ns)
	}
	qn := ns + "." + tname
	if _, ok := st.tables[qn]; ok {
		return nil, kerr.New(kerr.AlreadyExists, "table %q already exists", qn)
	}
	uid, err := st.getUint64(catTableUID)
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
	t.man = man
	defJSON, _ := json.Marshal(def)
	manJSON, err := manifest.Encode(man)
	if err != nil {
		return nil, kerr.Wrap(kerr.Internal, err, "create table %q: encode manifest", qn)
	}
	// Files first (they are derived and harmless if the commit fails), then
	// one synced batch that makes the table exist.
	dir := st.storageDir(ns, tname)
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return nil, kerr.Wrap(kerr.IO, err, "create table %q", qn)
	}
	if err := manifest.WriteFileAtomic(filepath.Join(dir, "table.json"), defJSON, 0o644); err != nil {
		return nil, kerr.Wrap(kerr.IO, err, "create table %q", qn)
	}
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	wb.PutCF(st.cfCat, []byte(catTableUID), u64be(uid))
	wb.PutCF(st.cfCat, []byte(catTablePrefix+qn), defJSON)
	wb.PutCF(st.cfMan, manifestKey(ns, tname), manJSON)
	wb.PutCF(st.cfMan, versionKey(ns, tname, man.Version), manJSON)
	st.putHistory(wb, t, HistoryEntry{Version: 1, Time: def.CreatedAt, Operation: opCreate})
	if err := st.rdb.Write(st.syncWO, wb); err != nil {
		return nil, kerr.Wrap(kerr.IO, err, "create table %q", qn)
	}
	if err := manifest.WriteManifestFile(dir, man); err != nil {
		return nil, kerr.Wrap(kerr.IO, err, "create table %q: mirror manifest.json", qn)
	}
	st.tables[qn] = t
	return t.info(), nil
}

// DropTable drops a user table, its hot rows, manifests and files.
func (db *DB) DropTable(name string) error {
	if err := db.check(true); err != nil {
		return err
	}
	t, err := db.st.lookupTable(name)
	if err != nil {
		return err
	}
	st := db.st
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	wb.DeleteCF(st.cfCat, []byte(catTablePrefix+t.qname))
	wb.DeleteCF(st.cfMan, manifestKey(t.ns, t.name))
	prefix := versionKey(t.ns, t.name, 0)[:len(t.ns)+len(t.name)+2]
	wb.DeleteRangeCF(st.cfMan, prefix, keyenc.PrefixEnd(prefix))
	wb.DeleteRangeCF(st.cfData, u64be(t.uid), u64be(t.uid+1))
	hp := historyPrefix(t.qname)
	wb.DeleteRangeCF(st.cfCat, hp, keyenc.PrefixEnd(hp))
	if err := st.rdb.Write(st.syncWO, wb); err != nil {
		return kerr.Wrap(kerr.IO, err, "drop table %s", t.qname)
	}
	st.catMu.Lock()
	delete(st.tables, t.qname)
	st.catMu.Unlock()
	t.dropped.Store(true)
	// Files of a dropped table are removed after the commit; open scans keep
	// their open file descriptors, so reads in flight finish.
	if err := os.RemoveAll(t.dir); err != nil {
		return kerr.Wrap(kerr.IO, err, "drop table %s: remove files (table is dropped)", t.qname)
	}
	return nil
}

// Table returns a table's description, system tables included.
func (db *DB) Table(name string) (*TableInfo, error) {
	if err := db.check(false); err != nil {
		return nil, err
	}
	if sys, ok := lookupSystemTable(name); ok {
		return sys.info(), nil
	}
	t, err := db.st.lookupTable(name)
	if err != nil {
		return nil, err
	}
	return t.info(), nil
}

// Tables lists user tables sorted by qualified name.
func (db *DB) Tables() []*TableInfo {
	st := db.st
	st.catMu.RLock()
	out := make([]*TableInfo, 0, len(st.tables))
	for _, t := range st.tables {
		out = append(out, t.info())
	}
	st.catMu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].QualifiedName() < out[j].QualifiedName() })
	return out
}

func (st *store) lookupTable(name string) (*table, error) {
	ns, tname, err := splitTableName(name)
	if err != nil {
		return nil, err
	}
	st.catMu.RLock()
	t, ok := st.tables[ns+"."+tname]
	st.catMu.RUnlock()
	if !ok {
		return nil, kerr.New(kerr.NotFound, "table %q not found", name)
	}
	return t, nil
}

// ManifestJSON returns the table's current manifest, encoded exactly as
// manifest.json holds it.
func (db *DB) ManifestJSON(table string) ([]byte, error) {
	if err := db.check(false); err != nil {
		return nil, err
	}
	t, err := db.st.lookupTable(table)
	if err != nil {
		return nil, err
	}
	return manifest.Encode(t.currentManifest())
}

// Manifest returns a copy of the table's current manifest.
func (db *DB) Manifest(table string) (*manifest.Manifest, error) {
	if err := db.check(false); err != nil {
		return nil, err
	}
	t, err := db.st.lookupTable(table)
	if err != nil {
		return nil, err
	}
	return t.currentManifest().Clone(), nil
}
