package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/linxGnu/grocksdb"

	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/manifest"
)

// recoverTables is step 4 of DESIGN §2.2, run on every read-write open:
// manifest.json follows RocksDB, *.tmp files go, and segment files that no
// manifest entry references (a crash between steps 1 and 2) are deleted.
func (st *store) recoverTables() error {
	for _, t := range st.sortedTables() {
		if err := st.recoverTable(t); err != nil {
			return fmt.Errorf("table %s: %w", t.qname, err)
		}
	}
	return nil
}

func (st *store) recoverTable(t *table) error {
	if err := os.MkdirAll(filepath.Join(t.dir, manifest.DataDir), 0o755); err != nil {
		return kerr.Wrap(kerr.IO, err, "create %s", t.dir)
	}
	for _, dir := range []string{t.dir, filepath.Join(t.dir, manifest.DataDir)} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return kerr.Wrap(kerr.IO, err, "list %s", dir)
		}
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), manifest.TmpSuffix) {
				if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
					return kerr.Wrap(kerr.IO, err, "remove %s", e.Name())
				}
			}
		}
	}
	man := t.currentManifest()
	onDisk, err := manifest.ReadManifestFile(t.dir)
	if err != nil || onDisk.Version != man.Version {
		if err := manifest.WriteManifestFile(t.dir, man); err != nil {
			return kerr.Wrap(kerr.IO, err, "rewrite manifest.json")
		}
	}
	if _, err := os.Stat(filepath.Join(t.dir, "table.json")); errors.Is(err, os.ErrNotExist) {
		def, _ := json.Marshal(t.def)
		if err := manifest.WriteFileAtomic(filepath.Join(t.dir, "table.json"), def, 0o644); err != nil {
			return kerr.Wrap(kerr.IO, err, "rewrite table.json")
		}
	}
	referenced := map[string]bool{}
	for _, s := range man.Segments {
		referenced[filepath.Clean(filepath.FromSlash(s.Path))] = true
	}
	dataDir := filepath.Join(t.dir, manifest.DataDir)
	ents, err := os.ReadDir(dataDir)
	if err != nil {
		return kerr.Wrap(kerr.IO, err, "list %s", dataDir)
	}
	removed := false
	for _, e := range ents {
		if _, ok := manifest.ParseSegmentFileName(e.Name()); !ok {
			continue
		}
		rel := filepath.Join(manifest.DataDir, e.Name())
		if referenced[rel] {
			continue
		}
		if err := os.Remove(filepath.Join(dataDir, e.Name())); err != nil {
			return kerr.Wrap(kerr.IO, err, "remove orphan segment %s", e.Name())
		}
		removed = true
	}
	if removed {
		return manifest.SyncDir(dataDir)
	}
	return nil
}

// rebuildFromStorage is step 5: RocksDB is gone but storage/ is intact.
// The catalog and the current manifests come back from table.json,
// manifest.json and the Parquet footers; hot rows that were never flushed
// are lost with RocksDB, and older manifest versions are not recoverable.
func (st *store) rebuildFromStorage() error {
	base := filepath.Join(st.root, "storage")
	nsEnts, err := os.ReadDir(base)
	if err != nil {
		return kerr.Wrap(kerr.IO, err, "list %s", base)
	}
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	now := nowMs()
	var uid uint64
	var hwm int64
	nsSeen := map[string]bool{defaultNamespace: true}
	wb.PutCF(st.cfCat, []byte(catNamespacePrefix+defaultNamespace), []byte(fmt.Sprintf(`{"created_at":%d}`, now)))
	sort.Slice(nsEnts, func(i, j int) bool { return nsEnts[i].Name() < nsEnts[j].Name() })
	for _, nse := range nsEnts {
		if !nse.IsDir() {
			continue
		}
		ns := nse.Name()
		if _, err := normalizeName("namespace", ns); err != nil || ns == systemNamespace {
			continue
		}
		tEnts, err := os.ReadDir(filepath.Join(base, ns))
		if err != nil {
			return kerr.Wrap(kerr.IO, err, "list %s", ns)
		}
		for _, te := range tEnts {
			if !te.IsDir() {
				continue
			}
			dir := filepath.Join(base, ns, te.Name())
			man, err := manifest.ReadManifestFile(dir)
			if err != nil {
				if kerr.Is(err, kerr.NotFound) {
					continue // not a table directory
				}
				return fmt.Errorf("table %s.%s: %w", ns, te.Name(), err)
			}
			def, err := readTableDef(dir, man)
			if err != nil {
				return fmt.Errorf("table %s.%s: %w", ns, te.Name(), err)
			}
			uid++
			def.UID = uid
			def.Namespace, def.Name = ns, te.Name()
			defJSON, _ := json.Marshal(def)
			manJSON, err := manifest.Encode(man)
			if err != nil {
				return err
			}
			if !nsSeen[ns] {
				nsSeen[ns] = true
				wb.PutCF(st.cfCat, []byte(catNamespacePrefix+ns), []byte(fmt.Sprintf(`{"created_at":%d}`, now)))
			}
			wb.PutCF(st.cfCat, []byte(catTablePrefix+ns+"."+te.Name()), defJSON)
			wb.PutCF(st.cfMan, manifestKey(ns, te.Name()), manJSON)
			wb.PutCF(st.cfMan, versionKey(ns, te.Name(), man.Version), manJSON)
			for _, s := range man.Segments {
				hwm = max(hwm, s.MaxSeq)
			}
		}
	}
	wb.PutCF(st.cfCat, []byte(catTableUID), u64be(uid))
	wb.PutCF(st.cfCat, []byte(catSeqHighWater), u64be(uint64(hwm)))
	if err := st.rdb.Write(st.syncWO, wb); err != nil {
		return kerr.Wrap(kerr.IO, err, "write rebuilt catalog")
	}
	return nil
}

// readTableDef reads table.json, or, when it is missing, infers a shared
// table without a primary key from the newest segment's schema.
func readTableDef(dir string, man *manifest.Manifest) (*tableDef, error) {
	b, err := os.ReadFile(filepath.Join(dir, "table.json"))
	if err == nil {
		var def tableDef
		if err := json.Unmarshal(b, &def); err != nil {
			return nil, kerr.Wrap(kerr.Corruption, err, "table.json")
		}
		return &def, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, kerr.Wrap(kerr.IO, err, "read table.json")
	}
	live := man.LiveSegments()
	if len(live) == 0 {
		return nil, kerr.New(kerr.Corruption, "no table.json and no segment to infer the schema from")
	}
	sf, err := openSegment(filepath.Join(dir, filepath.FromSlash(live[len(live)-1].Path)), memory.DefaultAllocator)
	if err != nil {
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
