package segment

import (
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// pythonWithPyarrow returns a python interpreter that has pyarrow, or
// skips the test saying why.
func pythonWithPyarrow(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("KALAM_PYTHON"), "/work/main/.venv/bin/python", "python3"}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		p, err := exec.LookPath(c)
		if err != nil {
			continue
		}
		if exec.Command(p, "-c", "import pyarrow.parquet").Run() == nil {
			return p
		}
	}
	t.Skip("no python with pyarrow (tried $KALAM_PYTHON, /work/main/.venv/bin/python, python3)")
	return ""
}

func readIPC(t *testing.T, path string) arrow.Table {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r, err := ipc.NewFileReader(fh)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var recs []arrow.RecordBatch
	for i := 0; i < r.NumRecords(); i++ {
		rec, err := r.RecordBatchAt(i)
		if err != nil {
			t.Fatal(err)
		}
		rec.Retain()
		recs = append(recs, rec)
	}
	tbl := array.NewTableFromRecords(r.Schema(), recs)
	for _, rec := range recs {
		rec.Release()
	}
	return tbl
}

// TestPyarrow: pyarrow reads the segments the way hosts will, and must see
// exactly what the narrow reader decodes; and the narrow reader must read
// pyarrow-written files (V2 pages, RLE booleans, pyarrow's dictionary and
// page choices) back to the values that went in.
func TestPyarrow(t *testing.T) {
	py := pythonWithPyarrow(t)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	os.Mkdir(in, 0o755)
	os.Mkdir(out, 0o755)
	recs := map[string]arrow.RecordBatch{}
	for seed := 0; seed < 8; seed++ {
		rng := rand.New(rand.NewSource(int64(1000 + seed)))
		rec := randomTable(rng, memory.DefaultAllocator, []int{1, 40, 300, 900}[seed%4])
		defer rec.Release()
		name := "seg" + itoa(int64(seed))
		recs[name] = rec
		if err := os.WriteFile(filepath.Join(in, name+".parquet"), writeSegment(t, rec, randomVariant(rng)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(py, filepath.Join("testdata", "pyarrow_compare.py"), in, out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pyarrow_compare.py: %v\n%s", err, b)
	}
	for name, rec := range recs {
		data, err := os.ReadFile(filepath.Join(in, name+".parquet"))
		if err != nil {
			t.Fatal(err)
		}
		f := openBytes(t, data)
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		parts := readAllNarrow(t, f, mem)
		pa := readIPC(t, filepath.Join(out, name+".arrow"))
		for c := range parts {
			if parts[c] == nil {
				continue
			}
			compareColumn(t, name+"/"+f.Column(c).Name+" vs pyarrow", parts[c], rec.Column(c), pa.Column(c).Data())
			for _, a := range parts[c] {
				a.Release()
			}
		}
		pa.Release()
		mem.AssertSize(t, 0)

		// The pyarrow-written copy.
		data, err = os.ReadFile(filepath.Join(out, name+".pyarrow.parquet"))
		if err != nil {
			t.Fatal(err)
		}
		g := openBytes(t, data)
		if !strings.Contains(g.CreatedBy(), "parquet-cpp") {
			t.Fatalf("%s: created_by %q, want pyarrow's", name, g.CreatedBy())
		}
		parts = readAllNarrow(t, g, mem)
		for c := range parts {
			if parts[c] == nil {
				continue
			}
			compareColumn(t, name+"/"+g.Column(c).Name+" written by pyarrow", parts[c], rec.Column(c), nil)
			for _, a := range parts[c] {
				a.Release()
			}
		}
		mem.AssertSize(t, 0)
	}
}
