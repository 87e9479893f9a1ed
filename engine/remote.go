package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/google/uuid"

	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/manifest"
)

// Storage-only readers (DESIGN §10): a store opened from what storage/
// holds, with no RocksDB — on another machine, or beside the writer. The
// catalog is the table directories storage lists (table.json), each scan
// starts from the table's manifest.json at that moment, older versions come
// from _versions/, and there are no hot rows (the writer publishes them by
// flushing). Nothing is pinned: the writer's vacuum retention protects
// remote readers, and a scan that meets a removed object fails with
// NotFound naming it.

// openRemote opens a storage-only store.
func openRemote(opts Options) (*DB, error) {
	return openRemoteWith(opts, func(st *store) error { return st.refreshRemote() })
}

// openRemoteTable opens a storage-only store that has loaded only the table
// qname ("ns.table") at manifest version version: what a scan split needs.
// It reads that table's table.json and that version's file, where
// openRemote lists the whole storage root and reads every table's
// manifest.json (each split of a distributed read opens one, so every
// request saved here is saved once per split). Other tables appear when
// the store is refreshed (Tables).
func openRemoteTable(opts Options, qname string, version uint64) (*DB, error) {
	return openRemoteWith(opts, func(st *store) error {
		ns, name, err := splitTableName(qname)
		if err != nil {
			return err
		}
		t, err := st.loadRemoteTableAt(context.Background(), ns, name, version)
		if err != nil {
			return fmt.Errorf("table %s: %w", qname, err)
		}
		st.catMu.Lock()
		st.tables[ns+"."+name] = t
		st.namespaces[ns] = t.def.CreatedAt
		st.catMu.Unlock()
		return nil
	})
}

// openRemoteWith opens a storage-only store and loads its catalog with
// load.
func openRemoteWith(opts Options, load func(*store) error) (*DB, error) {
	if opts.Storage == "" {
		return nil, kerr.New(kerr.InvalidArgument, "open: no root directory and no \"storage\" to read")
	}
	if !opts.ReadOnly {
		return nil, kerr.New(kerr.InvalidArgument,
			"open %q without a root directory: a storage-only reader must be read_only (the writer keeps its catalog and hot rows in RocksDB under its root)", opts.Storage)
	}
	if opts.Recover {
		return nil, kerr.New(kerr.InvalidArgument, "open %q: recover needs the writer's root directory", opts.Storage)
	}
	stor, err := openStorage("", opts)
	if err != nil {
		return nil, err
	}
	mem, ownsMem := storeAllocator(opts)
	maxScans := opts.MaxConcurrentScans
	if maxScans <= 0 {
		maxScans = 64
	}
	st := &store{
		root:       stor.String(),
		readOnly:   true,
		remote:     true,
		mem:        mem,
		ownsMem:    ownsMem,
		storage:    stor,
		refs:       1,
		gone:       make(chan struct{}),
		namespaces: map[string]int64{defaultNamespace: 0},
		tables:     map[string]*table{},
		live:       newLiveRegistry(),
		slots:      make(chan struct{}, maxScans),
		failpoint:  opts.failpoint,
	}
	if err := load(st); err != nil {
		return nil, fmt.Errorf("open %s: %w", stor, err)
	}
	sweepDatasets(datasetParent(st)) // what readers that crashed left
	session := opts.SessionID
	if session == "" {
		session = uuid.NewString()
	}
	return &DB{st: st, sessionID: session, readOnly: true, closedCh: make(chan struct{})}, nil
}

// refreshRemote re-lists the tables storage holds: new ones appear,
// dropped ones go, changed definitions (alters) are reloaded.
func (st *store) refreshRemote() error {
	st.remoteMu.Lock()
	defer st.remoteMu.Unlock()
	ctx := context.Background()
	found, err := st.storageTables(ctx)
	if err != nil {
		return err
	}
	tables := map[string]*table{}
	nss := map[string]int64{defaultNamespace: 0}
	for _, nt := range found {
		qn := nt[0] + "." + nt[1]
		t, err := st.loadRemoteTable(ctx, nt[0], nt[1])
		if err != nil {
			if kerr.Is(err, kerr.NotFound) {
				continue // dropped between the listing and the read
			}
			return fmt.Errorf("table %s: %w", qn, err)
		}
		tables[qn] = t
		if c, ok := nss[nt[0]]; !ok || t.def.CreatedAt < c {
			nss[nt[0]] = t.def.CreatedAt
		}
	}
	st.catMu.Lock()
	st.tables, st.namespaces = tables, nss
	st.catMu.Unlock()
	return nil
}

// loadRemoteTable reads one table's definition and current manifest, and
// reuses the loaded table when its definition did not change.
func (st *store) loadRemoteTable(ctx context.Context, ns, name string) (*table, error) {
	return st.loadRemoteTableAt(ctx, ns, name, 0)
}

// loadRemoteTableAt is loadRemoteTable with the manifest of version (0:
// the current one, manifest.json) as the table's manifest.
func (st *store) loadRemoteTableAt(ctx context.Context, ns, name string, version uint64) (*table, error) {
	prefix := ns + "/" + name
	// The manifest first, then table.json: the writer mirrors table.json
	// before the manifests that need it (mirrorManifest), so the
	// definition read second knows every schema version up to the
	// manifest's. Read the other way round, an alter committed in between
	// paired the old definition with the new manifest, and the version
	// was read in the old schema (a dropped column's values back).
	var m *manifest.Manifest
	var merr error
	if version != 0 {
		m, merr = st.readVersionObject(ctx, prefix, version)
	} else {
		m, merr = st.readManifestObject(ctx, prefix+"/"+manifest.ManifestFileName)
	}
	missing := kerr.Is(merr, kerr.NotFound) && version != 0
	if merr != nil && !missing {
		return nil, merr
	}
	b, err := st.storage.ReadFile(ctx, prefix+"/"+tableJSONName)
	if err != nil {
		return nil, err
	}
	st.catMu.RLock()
	old := st.tables[ns+"."+name]
	st.catMu.RUnlock()
	if old != nil {
		cur, _ := json.Marshal(old.currentDef())
		if string(cur) == string(b) {
			if missing {
				return nil, st.versionNotFound(old, version)
			}
			if version == 0 {
				// The table's info (version, segments) follows the newest
				// manifest; scans read manifest.json themselves.
				old.mu.Lock()
				if m.Version > old.man.Version {
					old.man = m
				}
				old.mu.Unlock()
			}
			return old, nil
		}
	}
	var def tableDef
	if err := json.Unmarshal(b, &def); err != nil {
		return nil, kerr.Wrap(kerr.Corruption, err, "%s/%s", prefix, tableJSONName)
	}
	def.Namespace, def.Name = ns, name
	if m != nil {
		if err := defCovers(&def, m, prefix+"/"+tableJSONName); err != nil {
			return nil, err
		}
	}
	t, err := st.newTable(&def)
	if err != nil {
		return nil, kerr.Wrap(kerr.Corruption, err, "%s/%s", prefix, tableJSONName)
	}
	if missing {
		return nil, st.versionNotFound(t, version)
	}
	t.man = m
	return t, nil
}

// acquireRemote is acquire for a storage-only store: the manifest.json of
// this moment, or a version file. A manifest newer than the table's loaded
// definition reloads it (an alter may have added a schema version); the
// read state then holds the reloaded table.
func (st *store) acquireRemote(t *table, version uint64) (*readState, error) {
	ctx := context.Background()
	var m *manifest.Manifest
	var err error
	switch cur := t.currentManifest(); {
	case version == 0:
		m, err = st.readManifestObject(ctx, t.prefix+"/"+manifest.ManifestFileName)
	case cur != nil && cur.Version == version:
		// A version's manifest never changes once committed: the one the
		// table was loaded with (a split's) need not be read again.
		m = cur
	default:
		m, err = st.readVersionObject(ctx, t.prefix, version)
		if kerr.Is(err, kerr.NotFound) {
			return nil, st.versionNotFound(t, version)
		}
	}
	if err != nil {
		return nil, err
	}
	if m.TableID.NamespaceID != t.ns || m.TableID.TableName != t.name {
		return nil, kerr.New(kerr.Corruption, "%s: manifest names table %s", t.prefix, m.TableID)
	}
	// A newer version may come with a new definition; so may a table
	// dropped and made again under the name, whose versions start over at
	// 1 (its creation time tells it apart): read with the definition
	// loaded before, its files came back with columns missing or renamed.
	cur := t.currentManifest()
	again := m.CreatedAt != cur.CreatedAt
	if version == 0 {
		// The latest version never goes back, and a version's manifest
		// never changes: either is a table made again.
		again = again || m.Version < cur.Version || (m.Version == cur.Version && m.UpdatedAt != cur.UpdatedAt)
	}
	if m.Version > cur.Version || again {
		if t, err = st.reloadRemote(ctx, t); err != nil {
			return nil, err
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return &readState{t: t, man: m, view: t.viewAtLocked(m.Version)}, nil
}

// reloadRemote reloads a table of a storage-only store and puts the new
// copy in the catalog.
func (st *store) reloadRemote(ctx context.Context, t *table) (*table, error) {
	st.remoteMu.Lock()
	defer st.remoteMu.Unlock()
	t2, err := st.loadRemoteTable(ctx, t.ns, t.name)
	if err != nil {
		return nil, err
	}
	st.catMu.Lock()
	st.tables[t.qname] = t2
	st.catMu.Unlock()
	return t2, nil
}

// remoteVersions lists the versions a storage-only reader can read.
func (st *store) remoteVersions(t *table) ([]*manifest.Manifest, error) {
	ctx := context.Background()
	ents, err := st.storage.List(ctx, t.prefix+"/"+versionsDir)
	if err != nil {
		return nil, err
	}
	var out []*manifest.Manifest
	for _, e := range ents {
		v, ok := parseVersionFileName(e.Name)
		if !ok || e.IsDir {
			continue
		}
		m, err := st.readManifestObject(ctx, t.prefix+"/"+versionFileName(v))
		if err != nil {
			if kerr.Is(err, kerr.NotFound) {
				continue // vacuumed meanwhile
			}
			return nil, err
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}
