package engine

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/linxGnu/grocksdb"
)

// TestOnDiskLayout checks DESIGN §2: paths, manifest.json content and the
// RocksDB column families after create, append and flush.
func TestOnDiskLayout(t *testing.T) {
	db, mem, dir := testDB(t)
	if err := db.CreateNamespace("App"); err != nil { // names are lower-cased
		t.Fatal(err)
	}
	if _, err := db.CreateTable("app.Events", "", eventsSchema, map[string]string{"primary_key": "id"}); err != nil {
		t.Fatal(err)
	}
	tdir := filepath.Join(dir, "storage", "app", "events")
	m0, err := readManifestFile(tdir)
	if err != nil {
		t.Fatalf("manifest.json after create: %v", err)
	}
	if m0.Version != 1 || len(m0.Segments) != 0 || m0.TableID.NamespaceID != "app" || m0.TableID.TableName != "events" {
		t.Fatalf("manifest after create: %+v", m0)
	}
	var segIDs []string
	for i := 0; i < 2; i++ {
		rec := eventsBatch(mem, []int64{int64(10*i + 1), int64(10*i + 2)}, []string{"a", "b"}, []float64{1, 2})
		if _, err := db.AppendRecord("app.events", rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
		id, err := db.Flush("app.events")
		if err != nil {
			t.Fatal(err)
		}
		segIDs = append(segIDs, id)
	}
	for _, name := range []string{"segment_001.parquet", "segment_002.parquet"} {
		if _, err := os.Stat(filepath.Join(tdir, "data", name)); err != nil {
			t.Fatalf("missing %s: %v", name, err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(tdir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	// The seed's serde fields, with their JSON types.
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"table_id", "version", "created_at", "updated_at", "segments", "last_sequence_number"} {
		if _, ok := doc[k]; !ok {
			t.Fatalf("manifest.json lacks %q: %s", k, raw)
		}
	}
	if doc["version"].(float64) != 3 || doc["last_sequence_number"].(float64) != 2 {
		t.Fatalf("version/last_sequence_number: %s", raw)
	}
	segs := doc["segments"].([]any)
	if len(segs) != 2 {
		t.Fatalf("segments: %s", raw)
	}
	s0 := segs[0].(map[string]any)
	if s0["id"] != segIDs[0] || s0["path"] != "data/segment_001.parquet" || s0["row_count"].(float64) != 2 || s0["tombstone"] != false {
		t.Fatalf("segment 0: %v", s0)
	}
	mk, ok := s0["min_key"].([]any)
	if !ok || len(mk) == 0 {
		t.Fatalf("min_key must be an array of integers: %v", s0["min_key"])
	}
	for _, b := range mk {
		if v, ok := b.(float64); !ok || v < 0 || v > 255 || v != float64(int(v)) {
			t.Fatalf("min_key element %v is not an integer 0-255", b)
		}
	}
	if bytes.Contains(raw, []byte(" ")) || bytes.Contains(raw, []byte("\n")) {
		t.Fatalf("manifest.json must be compact: %s", raw)
	}
	// The file is exactly the manifest RocksDB holds.
	js, err := db.ManifestJSON("app.events")
	if err != nil || !bytes.Equal(js, raw) {
		t.Fatalf("ManifestJSON differs from manifest.json (%v)", err)
	}
	// No leftovers of the commit protocol.
	ents, _ := os.ReadDir(filepath.Join(tdir, "data"))
	for _, e := range ents {
		if filepath.Ext(e.Name()) == ".tmp" {
			t.Fatalf("leftover %s", e.Name())
		}
	}
	db.Close()
	cfs, err := grocksdb.ListColumnFamilies(grocksdb.NewDefaultOptions(), filepath.Join(dir, "rocksdb"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(cfs)
	if got := cfs; len(got) != 3 || got[0] != "catalog" || got[1] != "default" || got[2] != "manifests" {
		t.Fatalf("column families: %v", got)
	}
}

func TestNameRules(t *testing.T) {
	db, _, _ := testDB(t)
	for _, bad := range []string{"", "..", "a/b", `a\b`, "a\x00b", "9abc", "x-y",
		"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklm"} {
		err := db.CreateNamespace(bad)
		if err == nil {
			t.Fatalf("namespace %q accepted", bad)
		}
		if !bytes.Contains([]byte(err.Error()), []byte(`"`)) {
			t.Fatalf("error for %q does not quote the name: %v", bad, err)
		}
	}
	if err := db.CreateNamespace("system"); err == nil {
		t.Fatal("namespace system accepted")
	}
	if _, err := db.CreateTable("t1", "", eventsSchema, nil); err != nil {
		t.Fatalf("bare table name in default: %v", err)
	}
	if _, err := db.Table("default.t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateTable("t1", "", eventsSchema, nil); err == nil {
		t.Fatal("duplicate table accepted")
	}
	if _, err := db.CreateTable("t2", "stream", eventsSchema, nil); err == nil {
		t.Fatal("stream type accepted")
	}
}
