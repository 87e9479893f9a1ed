package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/manifest"
)

// testDB opens a store in a temp dir with a checked allocator that must be
// back at zero when the test ends.
func testDB(t *testing.T) (*DB, *memory.CheckedAllocator, string) {
	t.Helper()
	dir := t.TempDir()
	db, mem := openAt(t, dir)
	return db, mem, dir
}

func openAt(t *testing.T, dir string) (*DB, *memory.CheckedAllocator) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	opts := DefaultOptions()
	opts.Allocator = mem
	db, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	t.Cleanup(func() {
		db.Close()
		mem.AssertSize(t, 0)
	})
	return db, mem
}

func allRows() ScanRequest { return ScanRequest{Limit: -1} }

// collect reads a whole stream into rows of Go values keyed by column name.
func collect(t *testing.T, s Stream) []map[string]any {
	t.Helper()
	defer s.Close()
	var rows []map[string]any
	for {
		rec, err := s.Next()
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		if rec == nil {
			return rows
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			row := map[string]any{}
			for c, f := range rec.Schema().Fields() {
				row[f.Name] = goValue(rec.Column(c), i)
			}
			rows = append(rows, row)
		}
		rec.Release()
	}
}

func goValue(a arrow.Array, i int) any {
	if a.IsNull(i) {
		return nil
	}
	switch x := a.(type) {
	case *array.Int64:
		return x.Value(i)
	case *array.Int32:
		return int64(x.Value(i))
	case *array.Uint64:
		return x.Value(i)
	case *array.Float64:
		return x.Value(i)
	case *array.String:
		return strings.Clone(x.Value(i)) // Value aliases the Arrow buffer
	case *array.Boolean:
		return x.Value(i)
	case *array.Timestamp:
		return int64(x.Value(i))
	case *array.Binary:
		return string(x.Value(i))
	}
	return a.ValueStr(i)
}

func rowsString(rows []map[string]any, cols ...string) string {
	var out []string
	for _, r := range rows {
		var parts []string
		for _, c := range cols {
			parts = append(parts, fmt.Sprint(r[c]))
		}
		out = append(out, strings.Join(parts, ","))
	}
	return strings.Join(out, ";")
}

func recordReader(t *testing.T, rec arrow.RecordBatch) array.RecordReader {
	t.Helper()
	rdr, err := array.NewRecordReader(rec.Schema(), []arrow.RecordBatch{rec})
	if err != nil {
		t.Fatal(err)
	}
	return rdr
}

// countHotEntries counts a table's hot versions in RocksDB (every
// generation), independently of the table's counter.
func countHotEntries(st *store, t *table) (int64, error) {
	hv := hotView{st: st, uid: t.uid, lo: 1}
	gens, err := hv.gens()
	if err != nil {
		return 0, err
	}
	it := hv.iter(gens, nil, nil)
	defer it.Close()
	var n int64
	for it.First(); it.Valid(); it.Next() {
		n++
	}
	return n, it.Err()
}

// readManifestFile reads and validates a table's manifest.json.
func readManifestFile(tableDir string) (*manifest.Manifest, error) {
	b, err := os.ReadFile(filepath.Join(tableDir, manifest.ManifestFileName))
	if err != nil {
		return nil, err
	}
	m, err := manifest.Decode(b)
	if err != nil {
		return nil, err
	}
	return m, m.Validate()
}
