package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/manifest"
)

// What storage holds for a table besides its segments (DESIGN §10), so
// that a reader, or recover, needs nothing else.
const (
	tableJSONName = "table.json"
	versionsDir   = "_versions"
)

// versionFileName is the table-relative name of one version's manifest.
func versionFileName(v uint64) string { return fmt.Sprintf("%s/%020d.json", versionsDir, v) }

// parseVersionFileName returns the version of a _versions/ entry.
func parseVersionFileName(name string) (uint64, bool) {
	s, ok := strings.CutSuffix(name, ".json")
	if !ok || len(s) != 20 {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil && v > 0
}

// mirrorManifest is step 3 of the commit protocol: table.json when the
// definition changed, the version file, then manifest.json; called under
// t.flushMu. A failure does not undo the commit: the next commit's mirror
// (table.json) and open (everything, step 4) rewrite what is missing or
// behind.
//
// It returns an error only when the storage was taken by another store
// since the commit checked it (claimedStorage): no mirror will follow
// then, the other store may remove this commit's new files as orphans,
// and the call that committed must not report plain success (a flush
// did, and its rows were then nowhere but in a file the other store
// removed).
func (st *store) mirrorManifest(t *table, m *manifest.Manifest) error {
	if err := st.hit("before_mirror"); err != nil {
		return nil
	}
	err := st.writeUnmirrored(t)
	if err == nil {
		err = st.writeMirror(t, m)
	}
	if err != nil {
		// Storage-only readers see the older version meanwhile: said in
		// the table's background error until a mirror succeeds, which
		// writes this version's file too.
		t.unmirrored = append(t.unmirrored, m.Version)
		t.mirrorFailed = t.setBackgroundError(fmt.Errorf("version %d of %s committed, but its mirror in storage "+
			"could not be written (storage-only readers see an older version until the next commit or open): %w",
			m.Version, t.qname, err))
		if kerr.Is(err, kerr.Corruption) {
			return kerr.Wrap(kerr.Corruption, err,
				"version %d of %s is committed in this store's catalog, but its storage was taken by another store before the version could be recorded there (that store may remove the version's new files); copy what this store holds out (scans still read it) and close it",
				m.Version, t.qname)
		}
		return nil
	}
	if t.mirrorFailed != nil {
		t.bgErr.CompareAndSwap(t.mirrorFailed, nil)
		t.mirrorFailed = nil
	}
	return nil
}

// writeUnmirrored writes the version files of earlier commits whose
// mirror failed (t.unmirrored, under flushMu) and the catalog still
// keeps: without them a storage-only reader's history had a gap, and time
// travel there failed, until the writer's next open.
func (st *store) writeUnmirrored(t *table) error {
	if len(t.unmirrored) == 0 {
		return nil
	}
	kept, err := st.keptVersions(t)
	if err != nil {
		return err
	}
	want := map[uint64]*manifest.Manifest{}
	for _, k := range kept {
		want[k.Version] = k
	}
	ctx := context.Background()
	for len(t.unmirrored) > 0 {
		if k := want[t.unmirrored[0]]; k != nil {
			data, err := manifest.Encode(k)
			if err != nil {
				return kerr.Wrap(kerr.Internal, err, "encode manifest version %d", k.Version)
			}
			if err := st.storage.WriteFile(ctx, t.prefix+"/"+versionFileName(k.Version), data); err != nil {
				return err
			}
		}
		t.unmirrored = t.unmirrored[1:]
	}
	return nil
}

// writeMirror writes mirrorManifest's files.
func (st *store) writeMirror(t *table, m *manifest.Manifest) error {
	data, err := manifest.Encode(m)
	if err != nil {
		return kerr.Wrap(kerr.Internal, err, "encode manifest")
	}
	ctx := context.Background()
	// table.json first: a storage-only reader reads manifest.json and then
	// table.json, and a definition older than its manifest reads the
	// version in an older schema (a dropped column's values back). An
	// alter whose table.json write failed is repaired here, by the next
	// commit's mirror, and no manifest.json goes out before it.
	if def := t.def; t.defMirrored != def {
		defJSON, err := json.Marshal(def)
		if err != nil {
			return kerr.Wrap(kerr.Internal, err, "encode table definition")
		}
		if err := st.storage.WriteFile(ctx, t.prefix+"/"+tableJSONName, defJSON); err != nil {
			return err
		}
		t.defMirrored = def
	}
	if err := st.storage.WriteFile(ctx, t.prefix+"/"+versionFileName(m.Version), data); err != nil {
		return err
	}
	if m.Version < t.currentManifest().Version {
		return nil // a later commit's mirror has written (or will write) manifest.json
	}
	return st.storage.WriteFile(ctx, t.prefix+"/"+manifest.ManifestFileName, data)
}

// readManifestObject reads and validates a manifest object; a missing one
// is kerr.NotFound, one that does not decode or validate kerr.Corruption.
// readVersionObject reads version v's manifest from its version file
// under prefix: a file holding another version (copied or renamed by hand)
// is Corruption naming it, never that other version's rows.
func (st *store) readVersionObject(ctx context.Context, prefix string, v uint64) (*manifest.Manifest, error) {
	name := prefix + "/" + versionFileName(v)
	m, err := st.readManifestObject(ctx, name)
	if err == nil && m.Version != v {
		return nil, kerr.New(kerr.Corruption, "%s holds manifest version %d", name, m.Version)
	}
	return m, err
}

// defCovers checks that a table definition read from storage knows every
// schema version the segments of m were written with: table.json is
// mirrored before the manifests that need it, so an older one (put back
// by hand, or another table's) would read them without their newer
// columns, silently. Corruption naming what.
func defCovers(def *tableDef, m *manifest.Manifest, what string) error {
	for _, seg := range m.Segments {
		if seg.SchemaVersion > def.SchemaVersion {
			return kerr.New(kerr.Corruption, "%s has schema version %d, older than segment %s of manifest version %d (schema version %d)",
				what, def.SchemaVersion, seg.Path, m.Version, seg.SchemaVersion)
		}
	}
	return nil
}

func (st *store) readManifestObject(ctx context.Context, name string) (*manifest.Manifest, error) {
	data, err := st.storage.ReadFile(ctx, name)
	if err != nil {
		return nil, err
	}
	m, err := manifest.Decode(data)
	if err != nil {
		return nil, kerr.Wrap(kerr.Corruption, err, "%s", name)
	}
	if err := m.Validate(); err != nil {
		return nil, kerr.Wrap(kerr.Corruption, err, "%s", name)
	}
	return m, nil
}
