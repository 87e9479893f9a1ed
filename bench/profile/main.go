// Command profile runs scans of a libkalam store under the Go CPU profiler,
// so that bench/RESULTS.md can say what dominates a scan's time from a
// measurement rather than a guess. bench/bench.py runs it on the store it
// built; by hand:
//
//	go run ./bench/profile -store /tmp/store -table bench.scan10 -cpuprofile scan.pprof
//	go tool pprof -top scan.pprof
//
// Without -export the batches are drained in Go straight from the engine's
// Stream (the scan path alone). With -flush-into DIR it profiles flushes
// instead: each run copies the rows the scan returns into a fresh table of a
// new store under DIR (same schema and options), then flushes it; the
// flushes run under the pprof label phase=flush (`go tool pprof
// -tagfocus=phase=flush` keeps only them). With -export every stream goes through
// arrowexport into a C struct ArrowArrayStream and a C loop calls get_next and
// release on each batch, as a C host or pyarrow does (scan path + hand-off,
// minus the host's import).
package main

/*
#include <stdlib.h>
#include "../../arrowexport/abi.h"

// drain reads every batch of the stream as a C host would, releasing each
// one, then releases the stream. Returns the number of rows (and batches in
// *batches), or -errno.
static int64_t drain(struct ArrowArrayStream* s, int64_t* batches) {
	int64_t rows = 0;
	*batches = 0;
	for (;;) {
		struct ArrowArray a;
		int rc = s->get_next(s, &a);
		if (rc != 0) {
			s->release(s);
			return -rc;
		}
		if (a.release == NULL) break;
		rows += a.length;
		(*batches)++;
		a.release(&a);
	}
	s->release(s);
	return rows;
}
*/
import "C"

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kalamdb/libkalam/arrowexport"
	"github.com/kalamdb/libkalam/engine"
)

func main() {
	var (
		store     = flag.String("store", "", "store root directory (required unless -storage)")
		stor      = flag.String("storage", "", "open storage-only on this storage URI (s3://bucket/prefix: endpoint and keys from AWS_*) instead of -store")
		table     = flag.String("table", "", "qualified table name (required)")
		runs      = flag.Int("runs", 3, "number of full scans")
		cpu       = flag.String("cpuprofile", "", "write a CPU profile here")
		columns   = flag.String("columns", "", "comma-separated projection (default: all user columns)")
		batchRows = flag.Int64("batch-rows", 0, "rows per batch (0: engine default)")
		limit     = flag.Int64("limit", -1, "row limit (-1: none)")
		export    = flag.Bool("export", false, "drain through an exported C ArrowArrayStream")
		filter    = flag.String("filter", "", "scan filter")
		flushInto = flag.String("flush-into", "", "profile flushes of the scanned rows into a new store in this directory")
		traceOut  = flag.String("trace", "", "write a runtime execution trace of the scans here (go tool trace -pprof=sync FILE: where goroutines wait)")
	)
	flag.Parse()
	if (*store == "" && *stor == "") || *table == "" {
		fmt.Fprintln(os.Stderr, "profile: -store (or -storage) and -table are required")
		os.Exit(2)
	}
	var err error
	if *flushInto != "" {
		err = runFlush(*store, *table, *flushInto, *runs, *cpu, *traceOut, *limit)
	} else {
		err = run(*store, *stor, *table, *runs, *cpu, *traceOut, *columns, *batchRows, *limit, *export, *filter)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		os.Exit(1)
	}
}

// cpuTime is the CPU time (user and system, every thread, C code too) the
// process has used: divided by the wall time of the scans, how many cores
// they kept busy.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func run(store, stor, table string, runs int, cpu, traceOut, columns string, batchRows, limit int64, export bool, filter string) error {
	opts := engine.DefaultOptions()
	opts.ReadOnly = true
	opts.CreateIfMissing = false
	if stor != "" {
		store, opts.Storage = "", stor
	}
	db, err := engine.Open(store, opts)
	if err != nil {
		return fmt.Errorf("open %s%s: %w", store, stor, err)
	}
	defer db.Close()
	req := engine.ScanRequest{Limit: limit, BatchRows: batchRows, Filter: filter}
	if columns != "" {
		req.Columns = strings.Split(columns, ",")
	}
	if cpu != "" {
		f, err := os.Create(cpu)
		if err != nil {
			return fmt.Errorf("create %s: %w", cpu, err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("start profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if traceOut != "" {
		f, err := os.Create(traceOut)
		if err != nil {
			return fmt.Errorf("create %s: %w", traceOut, err)
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return fmt.Errorf("start trace: %w", err)
		}
		defer trace.Stop()
	}
	var rows, batches int64
	cpu0 := cpuTime()
	start := time.Now()
	for i := 0; i < runs; i++ {
		n, b, err := scanOnce(db, table, req, export)
		if err != nil {
			return fmt.Errorf("scan %d of %s: %w", i+1, table, err)
		}
		rows += n
		batches += b
	}
	el := time.Since(start)
	mode := "engine stream"
	if export {
		mode = "C stream export"
	}
	cpuUsed := cpuTime() - cpu0
	usPerBatch := float64(el.Nanoseconds()) / 1e3 / float64(max(batches, 1))
	fmt.Printf("%s: %d scans, %d rows, %d batches in %.3f s = %.1f M rows/s, %.2f µs/batch, %.3f CPU-s (%.0f %% of a core) (%s)\n",
		table, runs, rows, batches, el.Seconds(), float64(rows)/el.Seconds()/1e6, usPerBatch,
		cpuUsed.Seconds(), 100*cpuUsed.Seconds()/el.Seconds(), mode)
	// The last line is for bench/bench.py.
	out, err := json.Marshal(map[string]any{"table": table, "runs": runs, "rows": rows, "batches": batches,
		"seconds": el.Seconds(), "us_per_batch": usPerBatch, "mode": mode, "gomaxprocs": runtime.GOMAXPROCS(0)})
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	fmt.Println(string(out))
	return nil
}

// scanOnce drains one scan and returns its rows and batches.
func scanOnce(db *engine.DB, table string, req engine.ScanRequest, export bool) (rows, batches int64, err error) {
	s, err := db.Scan(table, req)
	if err != nil {
		return 0, 0, err
	}
	if export {
		cs := C.calloc(1, C.size_t(unsafe.Sizeof(C.struct_ArrowArrayStream{})))
		defer C.free(cs)
		if err := arrowexport.ExportStream(s, cs); err != nil {
			return 0, 0, err
		}
		var nb C.int64_t
		n := int64(C.drain((*C.struct_ArrowArrayStream)(cs), &nb))
		if n < 0 {
			return 0, 0, fmt.Errorf("get_next failed with errno %d", -n)
		}
		return n, int64(nb), nil
	}
	defer s.Close()
	for {
		rec, err := s.Next()
		if err != nil {
			return rows, batches, err
		}
		if rec == nil {
			return rows, batches, nil
		}
		rows += rec.NumRows()
		batches++
		rec.Release()
	}
}

// runFlush profiles flushes: the rows of table in the store at src (its
// first limit rows; all with limit < 0) are read once, then each run appends
// them to a fresh table (same schema and options) in a new store under dir
// and flushes it. Only the flushes are timed and labelled phase=flush.
func runFlush(src, table, dir string, runs int, cpu, traceOut string, limit int64) error {
	opts := engine.DefaultOptions()
	opts.ReadOnly = true
	opts.CreateIfMissing = false
	sdb, err := engine.Open(src, opts)
	if err != nil {
		return fmt.Errorf("open %s: %w", src, err)
	}
	defer sdb.Close()
	info, err := sdb.Table(table)
	if err != nil {
		return err
	}
	s, err := sdb.Scan(table, engine.ScanRequest{Limit: limit})
	if err != nil {
		return err
	}
	var recs []arrow.RecordBatch
	var rows int64
	for {
		rec, err := s.Next()
		if err != nil {
			s.Close()
			return err
		}
		if rec == nil {
			break
		}
		recs = append(recs, rec)
		rows += rec.NumRows()
	}
	s.Close()
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	ddb, err := engine.Open(filepath.Join(dir, "flushstore"), engine.DefaultOptions())
	if err != nil {
		return err
	}
	defer ddb.Close()
	if err := ddb.CreateNamespace("p"); err != nil {
		return err
	}
	if cpu != "" {
		f, err := os.Create(cpu)
		if err != nil {
			return fmt.Errorf("create %s: %w", cpu, err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("start profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	var el time.Duration
	for i := 0; i < runs; i++ {
		name := fmt.Sprintf("p.flush%d", i)
		if _, err := ddb.CreateTable(name, info.Type, info.Schema, info.Options); err != nil {
			return err
		}
		for _, r := range recs {
			if _, err := ddb.AppendRecord(name, r); err != nil {
				return err
			}
		}
		if traceOut != "" {
			f, err := os.Create(fmt.Sprintf("%s.%d", traceOut, i))
			if err != nil {
				return err
			}
			defer f.Close()
			if err := trace.Start(f); err != nil {
				return err
			}
		}
		start := time.Now()
		pprof.Do(context.Background(), pprof.Labels("phase", "flush"), func(context.Context) {
			_, err = ddb.Flush(name)
		})
		el += time.Since(start)
		if traceOut != "" {
			trace.Stop()
		}
		if err != nil {
			return err
		}
	}
	fmt.Printf("%s: %d flushes of %d rows in %.3f s = %.2f M rows/s (flush)\n",
		table, runs, rows, el.Seconds(), float64(rows)*float64(runs)/el.Seconds()/1e6)
	out, err := json.Marshal(map[string]any{"table": table, "runs": runs, "rows": rows * int64(runs),
		"seconds": el.Seconds(), "mode": "flush", "gomaxprocs": runtime.GOMAXPROCS(0)})
	if err != nil {
		return err
	}
	fmt.Println(string(out))
	return nil
}
