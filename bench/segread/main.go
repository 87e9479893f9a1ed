// Command segread measures segment read speed by layout: the narrow reader
// (engine/segment), pqarrow (the engine's current path) and pyarrow
// read_table (pyread.py), on the same files, and the cost of a selective
// key-range read. It writes the files itself, deterministically.
//
//	go run ./bench/segread -dir /tmp/segbench -rows 10000000 -runs 5
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/memory/mallocator"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/kalamdb/libkalam/engine/segment"
)

const ts0 = 1_714_521_600_000_000 // 2024-05-01T00:00:00Z in µs, as bench.py

var categories = []string{"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"}

// schema: bench.py's five columns, a high-cardinality string, and the two
// system columns every segment carries.
var schema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	{Name: "category", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "value", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "n", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "label", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "_seq", Type: arrow.PrimitiveTypes.Int64},
	{Name: "_deleted", Type: arrow.FixedWidthTypes.Boolean},
}, nil)

// layout is one candidate file layout.
type layout struct {
	Name   string
	L      segment.Layout
	Dict   string // "engine": engine/segment.go's rule today; "rule": segment.DictionaryColumns
	Detail string
}

func layouts() []layout {
	zstd, lz4, snappy := compress.Codecs.Zstd, compress.Codecs.Lz4Raw, compress.Codecs.Snappy
	return []layout{
		{"today", segment.Layout{Compression: zstd, RowGroupRows: 131072}, "engine", "rg 128Ki, V1, engine dictionary rule, zstd"},
		{"v2", segment.Layout{Compression: zstd, RowGroupRows: 131072, DataPageV2: true}, "engine", "today + V2 pages"},
		{"v2-rule", segment.Layout{Compression: zstd, RowGroupRows: 131072, DataPageV2: true}, "rule", "v2 + dictionary by distinct count"},
		{"v2-rule-idx", segment.Layout{Compression: zstd, RowGroupRows: 131072, DataPageV2: true, PageIndex: true, DataPageSize: 256 << 10}, "rule", "v2-rule + page index, 256 KiB pages"},
		{"rg256k-idx", segment.Layout{Compression: zstd, RowGroupRows: 256 << 10, DataPageV2: true, PageIndex: true, DataPageSize: 256 << 10}, "rule", "v2-rule-idx with 256Ki-row row groups"},
		{"rg1m", segment.Layout{Compression: zstd, RowGroupRows: 1 << 20, DataPageV2: true}, "rule", "v2-rule + 1Mi-row row groups"},
		{"rg1m-idx", segment.Layout{Compression: zstd, RowGroupRows: 1 << 20, DataPageV2: true, PageIndex: true, DataPageSize: 256 << 10}, "rule", "rg1m + page index, 256 KiB pages"},
		{"rg1m-lz4", segment.Layout{Compression: lz4, RowGroupRows: 1 << 20, DataPageV2: true}, "rule", "rg1m with lz4_raw"},
		{"rg1m-snappy", segment.Layout{Compression: snappy, RowGroupRows: 1 << 20, DataPageV2: true}, "rule", "rg1m with snappy"},
	}
}

// engineDictionary is engine/segment.go's choice today: dictionary by
// default, off for _seq, floats, timestamps and the single-column key.
func engineDictionary() map[string]bool {
	return map[string]bool{"category": true, "n": true, "label": true, "_deleted": true}
}

// genBatch builds rows [lo, hi) like bench.py's rows_batch.
func genBatch(rng *rand.Rand, lo, hi int64) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	n := int(hi - lo)
	for _, f := range b.Fields() {
		f.Reserve(n)
	}
	for id := lo; id < hi; id++ {
		b.Field(0).(*array.Int64Builder).UnsafeAppend(id)
		b.Field(1).(*array.TimestampBuilder).UnsafeAppend(arrow.Timestamp(ts0 + id*1000 + rng.Int63n(1000)))
		b.Field(2).(*array.StringBuilder).Append(categories[rng.Intn(len(categories))])
		b.Field(3).(*array.Float64Builder).UnsafeAppend(rng.NormFloat64() * 100)
		b.Field(4).(*array.Int32Builder).UnsafeAppend(int32(rng.Intn(1_000_000)))
		b.Field(5).(*array.StringBuilder).Append(fmt.Sprintf("user-%08x", rng.Uint32()))
		b.Field(6).(*array.Int64Builder).UnsafeAppend(1<<40 + id)
		b.Field(7).(*array.BooleanBuilder).UnsafeAppend(false)
	}
	return b.NewRecordBatch()
}

func writeFiles(dir string, l layout, rows, perFile int64) ([]string, map[string]bool, error) {
	if err := os.MkdirAll(filepath.Join(dir, l.Name), 0o755); err != nil {
		return nil, nil, err
	}
	var files []string
	var dict map[string]bool
	side := filepath.Join(dir, l.Name, "dictionary.json")
	if b, err := os.ReadFile(side); err == nil && json.Unmarshal(b, &dict) == nil {
		for f := int64(0); f*perFile < rows; f++ {
			files = append(files, filepath.Join(dir, l.Name, fmt.Sprintf("segment_%03d.parquet", f+1)))
		}
		return files, dict, nil // written by an earlier run
	}
	for f := int64(0); f*perFile < rows; f++ {
		path := filepath.Join(dir, l.Name, fmt.Sprintf("segment_%03d.parquet", f+1))
		files = append(files, path)
		rng := rand.New(rand.NewSource(20240502 + f)) // same rows for every layout
		lo, hi := f*perFile, min((f+1)*perFile, rows)
		rec := genBatch(rng, lo, hi)
		if l.Dict == "engine" {
			dict = engineDictionary()
		} else {
			dict = segment.DictionaryColumns(rec)
		}
		props := parquet.NewWriterProperties(segment.WriterProperties(l.L, schema, dict)...)
		out, err := os.Create(path + ".tmp")
		if err != nil {
			return nil, nil, err
		}
		w, err := pqarrow.NewFileWriter(schema, out, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
		if err != nil {
			return nil, nil, err
		}
		for off := int64(0); off < rec.NumRows(); off += l.L.RowGroupRows {
			part := rec.NewSlice(off, min(off+l.L.RowGroupRows, rec.NumRows()))
			if err := w.Write(part); err != nil {
				return nil, nil, err
			}
			part.Release()
		}
		if err := w.Close(); err != nil {
			return nil, nil, err
		}
		rec.Release()
		if err := os.Rename(path+".tmp", path); err != nil {
			return nil, nil, err
		}
	}
	b, _ := json.Marshal(dict)
	if err := os.WriteFile(side, b, 0o644); err != nil {
		return nil, nil, err
	}
	return files, dict, nil
}

// readNarrow reads every column of every file through one
// segment.ReadTasks window spanning all the files, as a scan would.
func readNarrow(files []string, mem memory.Allocator, window int) (int64, error) {
	var tasks []segment.Task
	for _, p := range files {
		fh, err := os.Open(p)
		if err != nil {
			return 0, err
		}
		defer fh.Close()
		st, _ := fh.Stat()
		f, err := segment.Open(fh, st.Size(), p)
		if err != nil {
			return 0, err
		}
		for rg := 0; rg < f.NumRowGroups(); rg++ {
			tasks = append(tasks, segment.Task{File: f, RowGroup: rg})
		}
	}
	r := segment.ReadTasks(context.Background(), tasks, mem, segment.ReadOptions{Window: window})
	defer r.Close()
	var rows int64
	for {
		rec, err := r.Next()
		if err != nil {
			return 0, err
		}
		if rec == nil {
			return rows, nil
		}
		rows += rec.NumRows()
		rec.Release()
	}
}

// readPqarrow reads like engine/segment.go's openSegment + reader.
func readPqarrow(files []string, mem memory.Allocator) (int64, error) {
	var rows int64
	for _, p := range files {
		props := parquet.NewReaderProperties(mem)
		props.BufferedStreamEnabled = true
		props.BufferSize = 1 << 20
		pf, err := file.OpenParquetFile(p, false, file.WithReadProps(props))
		if err != nil {
			return 0, err
		}
		fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 64 * 1024, Parallel: true}, mem)
		if err != nil {
			return 0, err
		}
		rr, err := fr.GetRecordReader(context.Background(), nil, nil)
		if err != nil {
			return 0, err
		}
		for rr.Next() {
			rows += rr.RecordBatch().NumRows()
		}
		if err := rr.Err(); err != nil {
			return 0, err
		}
		rr.Release()
		pf.Close()
	}
	return rows, nil
}

// selective reads keys [lo, hi) with the narrow reader: prune row groups
// by the id statistics, decode id of the rest, find the row range by binary
// search (ids are sorted, as segments are), then read that row range of
// the other columns (only its pages).
func selective(files []string, mem memory.Allocator, lo, hi int64) (int64, int64, error) {
	var rows, decoded int64
	ctx := context.Background()
	for _, p := range files {
		fh, err := os.Open(p)
		if err != nil {
			return 0, 0, err
		}
		st, _ := fh.Stat()
		f, err := segment.Open(fh, st.Size(), p)
		if err != nil {
			return 0, 0, err
		}
		idc := f.ColumnIndex("id")
		for rg := 0; rg < f.NumRowGroups(); rg++ {
			s, ok := f.Statistics(rg, idc)
			if ok && s.HasMinMax {
				mn, _ := f.Column(idc).StatValue(s.Min)
				mx, _ := f.Column(idc).StatValue(s.Max)
				if mx.(int64) < lo || mn.(int64) >= hi {
					continue
				}
			}
			// The key rows to decode: the whole chunk, or with a page
			// index only the pages whose bounds meet [lo, hi).
			from, count := int64(0), f.RowGroupNumRows(rg)
			if pages, ok, err := f.PageIndex(rg, idc); err != nil {
				return 0, 0, err
			} else if ok {
				first, last := -1, -1
				for i, pg := range pages {
					if !pg.HasMinMax {
						continue
					}
					mn, _ := f.Column(idc).StatValue(pg.Min)
					mx, _ := f.Column(idc).StatValue(pg.Max)
					if mx.(int64) >= lo && mn.(int64) < hi {
						if first < 0 {
							first = i
						}
						last = i
					}
				}
				if first < 0 {
					continue
				}
				from = pages[first].FirstRow
				count = pages[last].FirstRow + pages[last].NumRows - from
			}
			ids, err := f.ReadColumnRows(ctx, rg, idc, from, count, mem)
			if err != nil {
				return 0, 0, err
			}
			v := ids.(*array.Int64).Int64Values()
			a := sort.Search(len(v), func(i int) bool { return v[i] >= lo })
			b := sort.Search(len(v), func(i int) bool { return v[i] >= hi })
			decoded += int64(len(v))
			ids.Release()
			a += int(from)
			b += int(from)
			if a == b {
				continue
			}
			for c := 0; c < f.NumColumns(); c++ {
				if c == idc {
					continue
				}
				arr, err := f.ReadColumnRows(ctx, rg, c, int64(a), int64(b-a), mem)
				if err != nil {
					return 0, 0, err
				}
				arr.Release()
			}
			rows += int64(b - a)
		}
		fh.Close()
	}
	return rows, decoded, nil
}

// profiling starts and stops the CPU profile (a no-op without -cpuprofile).
// Only one layout may be profiled per run: pprof takes one profile.
var profiling = func(bool) {}

func median(xs []float64) float64 {
	s := append([]float64{}, xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

type result struct {
	Layout         string             `json:"layout"`
	Detail         string             `json:"detail"`
	Bytes          int64              `json:"bytes"`
	Dictionary     []string           `json:"dictionary_columns"`
	Seconds        map[string]float64 `json:"median_seconds"`
	RowsPerSec     map[string]float64 `json:"rows_per_s"`
	SelectiveMs    map[string]float64 `json:"selective_ms,omitempty"`
	SelectiveCPUMs map[string]float64 `json:"selective_cpu_ms,omitempty"`
	CPUSeconds     map[string]float64 `json:"median_cpu_seconds"`
	RowsPerCPUSec  map[string]float64 `json:"rows_per_cpu_s"`
	SelDecoded     int64              `json:"selective_key_rows_decoded"`
}

func main() {
	dir := flag.String("dir", "/tmp/segbench", "where the files go")
	rows := flag.Int64("rows", 10_000_000, "rows per layout")
	perFile := flag.Int64("per-file", 1_000_000, "rows per segment file (bench.py: 10 segments)")
	runs := flag.Int("runs", 5, "timed runs per contestant (median reported)")
	only := flag.String("layouts", "", "comma-separated layout names (default all)")
	python := flag.String("python", "/work/main/.venv/bin/python", "python with pyarrow (skipped if missing)")
	out := flag.String("out", "", "write JSON results here")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the narrow reader's full reads here")
	flag.Parse()
	if *cpuprofile != "" {
		pf, err := os.Create(*cpuprofile)
		if err != nil {
			fail(err)
		}
		started := false
		profiling = func(on bool) {
			if on && !started {
				started = true
				pprof.StartCPUProfile(pf)
			} else if !on && started {
				pprof.StopCPUProfile()
				profiling = func(bool) {} // one profile per process
			}
		}
		defer pf.Close()
	}
	mem := mallocator.NewMallocator()
	// Every layout's contestants run interleaved: run r of each contestant
	// of each layout, then run r+1, so that load from other processes on
	// a shared machine hits layouts and readers alike.
	type contestant struct {
		name string
		fn   func() (rows int64, wall, cpu float64, err error)
		want int64
	}
	type state struct {
		l     layout
		r     result
		py    *pyProc
		cs    []contestant
		wall  map[string][]float64
		cpu   map[string][]float64
		files []string
	}
	var states []*state
	// 1% of the keys, in the middle of the table.
	lo := *rows/2 + 12345
	hi := lo + *rows/100
	goTimed := func(fn func() (int64, error)) func() (int64, float64, float64, error) {
		return func() (int64, float64, float64, error) {
			c0, t0 := cpuSeconds(), time.Now()
			n, err := fn()
			return n, time.Since(t0).Seconds(), cpuSeconds() - c0, err
		}
	}
	for _, l := range layouts() {
		if *only != "" && !strings.Contains(","+*only+",", ","+l.Name+",") {
			continue
		}
		files, dict, err := writeFiles(*dir, l, *rows, *perFile)
		if err != nil {
			fail(err)
		}
		st := &state{l: l, files: files, wall: map[string][]float64{}, cpu: map[string][]float64{}}
		st.r = result{Layout: l.Name, Detail: l.Detail, Seconds: map[string]float64{}, RowsPerSec: map[string]float64{}, SelectiveMs: map[string]float64{},
			SelectiveCPUMs: map[string]float64{}, CPUSeconds: map[string]float64{}, RowsPerCPUSec: map[string]float64{}}
		for _, p := range files {
			fi, _ := os.Stat(p)
			st.r.Bytes += fi.Size()
		}
		for c, on := range dict {
			if on {
				st.r.Dictionary = append(st.r.Dictionary, c)
			}
		}
		sort.Strings(st.r.Dictionary)
		if st.py, err = startPython(*python, files); err != nil {
			fail(err)
		}
		if st.py != nil {
			st.r.Detail += fmt.Sprintf(" (pyarrow %s, cpu_count %d)", st.py.hello.Pyarrow, st.py.hello.CPUCount)
		}
		st.cs = []contestant{
			{"narrow", goTimed(func() (int64, error) {
				profiling(true)
				defer profiling(false)
				return readNarrow(files, mem, runtime.GOMAXPROCS(0))
			}), *rows},
			{"pqarrow", goTimed(func() (int64, error) { return readPqarrow(files, mem) }), *rows},
			{"narrow-1pct", goTimed(func() (int64, error) {
				n, dec, err := selective(files, mem, lo, hi)
				st.r.SelDecoded = dec
				return n, err
			}), hi - lo},
		}
		if st.py != nil {
			st.cs = append(st.cs, contestant{"pyarrow", st.py.run("full"), *rows},
				contestant{"pyarrow-1pct", st.py.run(fmt.Sprintf("sel %d %d", lo, hi)), hi - lo})
		}
		states = append(states, st)
	}
	for run := 0; run <= *runs; run++ { // run 0 warms the page cache
		for _, st := range states {
			for _, c := range st.cs {
				n, w, u, err := c.fn()
				if err != nil {
					fail(fmt.Errorf("%s %s: %w", st.l.Name, c.name, err))
				}
				if n != c.want {
					fail(fmt.Errorf("%s %s: read %d rows, want %d", st.l.Name, c.name, n, c.want))
				}
				if run > 0 {
					st.wall[c.name] = append(st.wall[c.name], w)
					st.cpu[c.name] = append(st.cpu[c.name], u)
				}
			}
		}
		fmt.Fprintf(os.Stderr, "run %d of %d done, load %s\n", run, *runs, loadavg())
	}
	var results []result
	for _, st := range states {
		st.py.close()
		r := &st.r
		for name := range st.wall {
			if strings.HasSuffix(name, "-1pct") {
				r.SelectiveMs[strings.TrimSuffix(name, "-1pct")] = median(st.wall[name]) * 1000
				r.SelectiveCPUMs[strings.TrimSuffix(name, "-1pct")] = median(st.cpu[name]) * 1000
				continue
			}
			r.Seconds[name] = median(st.wall[name])
			r.RowsPerSec[name] = float64(*rows) / median(st.wall[name])
			r.CPUSeconds[name] = median(st.cpu[name])
			r.RowsPerCPUSec[name] = float64(*rows) / median(st.cpu[name])
		}
		fmt.Printf("%-12s %6.1f MB | M rows/s wall: narrow %5.1f pqarrow %5.1f pyarrow %5.1f (narrow/pyarrow %.2fx) | M rows/CPU-s: narrow %5.1f pqarrow %5.1f pyarrow %5.1f (%.2fx) | 1%% keys: narrow %.1f ms (%.1f CPU-ms, %d key rows decoded) pyarrow %.1f ms (%.1f CPU-ms) | dict %v\n",
			st.l.Name, float64(r.Bytes)/1e6, r.RowsPerSec["narrow"]/1e6, r.RowsPerSec["pqarrow"]/1e6, r.RowsPerSec["pyarrow"]/1e6,
			safeDiv(r.RowsPerSec["narrow"], r.RowsPerSec["pyarrow"]),
			r.RowsPerCPUSec["narrow"]/1e6, r.RowsPerCPUSec["pqarrow"]/1e6, r.RowsPerCPUSec["pyarrow"]/1e6,
			safeDiv(r.RowsPerCPUSec["narrow"], r.RowsPerCPUSec["pyarrow"]),
			r.SelectiveMs["narrow"], r.SelectiveCPUMs["narrow"], r.SelDecoded, r.SelectiveMs["pyarrow"], r.SelectiveCPUMs["pyarrow"], r.Dictionary)
		results = append(results, *r)
	}
	if *out != "" {
		b, _ := json.MarshalIndent(map[string]any{"interleaved": "layouts and readers, per run", "gomaxprocs": runtime.GOMAXPROCS(0), "rows": *rows, "runs": *runs, "results": results}, "", "  ")
		if err := os.WriteFile(*out, b, 0o644); err != nil {
			fail(err)
		}
	}
}

// pyProc is the pyarrow coprocess (pyread.py).
type pyProc struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
	hello struct {
		CPUCount int    `json:"cpu_count"`
		Pyarrow  string `json:"pyarrow"`
	}
}

func startPython(python string, files []string) (*pyProc, error) {
	if _, err := os.Stat(python); err != nil {
		return nil, nil // no python: pyarrow is left out
	}
	script := os.Getenv("SEGREAD_PY")
	if script == "" {
		script = filepath.Join("bench", "segread", "pyread.py")
	}
	p := &pyProc{cmd: exec.Command(python, append([]string{script}, files...)...)}
	p.cmd.Stderr = os.Stderr
	var err error
	if p.in, err = p.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	p.out = bufio.NewScanner(stdout)
	if !p.out.Scan() {
		return nil, fmt.Errorf("pyread.py did not start")
	}
	if err := json.Unmarshal(p.out.Bytes(), &p.hello); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *pyProc) run(cmd string) func() (int64, float64, float64, error) {
	return func() (int64, float64, float64, error) {
		if _, err := fmt.Fprintln(p.in, cmd); err != nil {
			return 0, 0, 0, err
		}
		if !p.out.Scan() {
			return 0, 0, 0, fmt.Errorf("pyread.py exited")
		}
		var r struct {
			Rows    int64   `json:"rows"`
			Seconds float64 `json:"seconds"`
			CPU     float64 `json:"cpu_seconds"`
		}
		err := json.Unmarshal(p.out.Bytes(), &r)
		return r.Rows, r.Seconds, r.CPU, err
	}
}

func (p *pyProc) close() {
	if p != nil {
		p.in.Close()
		p.cmd.Wait()
	}
}

// cpuSeconds is this process's user + system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// loadavg is the 1-minute load average (Linux), for the log.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "segread:", err)
	os.Exit(1)
}
