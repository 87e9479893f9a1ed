package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/storage"
	"github.com/kalamdb/libkalam/storage/storagetest"
)

// The engine on object storage (DESIGN §10), end to end against the real
// S3 test server (s3proxy through scripts/s3-server.sh; state directory
// build/s3-server/engine). The server is started by the first test that
// needs it and stopped by TestMain; tests skip, saying why, when
// KALAM_S3_TESTS=0 or the server is not installed (scripts/s3-bootstrap.sh;
// make test runs it). Each test works under a prefix of its own.

var (
	s3Once   sync.Once
	s3Srv    *storagetest.S3Server
	s3Err    error
	s3PrefN  atomic.Int64
	s3Prefix = fmt.Sprintf("engine-%d", time.Now().UnixNano()%1e9)
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(writerChildEnv); dir != "" {
		os.Exit(writerChild(dir))
	}
	code := m.Run()
	if s3Srv != nil {
		if err := s3Srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "engine tests: stopping the S3 server:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// needS3 starts the test server once (child processes of the tests are
// given its settings instead, and never start one).
func needS3(t testing.TB) *storagetest.S3Server {
	t.Helper()
	s3Once.Do(func() { s3Srv, s3Err = storagetest.StartS3Server("engine") })
	if errors.Is(s3Err, storagetest.ErrS3Skipped) {
		t.Skip(s3Err.Error())
	}
	if s3Err != nil {
		t.Fatalf("S3 test server: %v", s3Err)
	}
	return s3Srv
}

// s3Root returns a fresh s3:// storage root for one store and removes it
// when the test ends.
func s3Root(t testing.TB, srv *storagetest.S3Server) string {
	t.Helper()
	rel := fmt.Sprintf("%s/%d", s3Prefix, s3PrefN.Add(1))
	t.Cleanup(func() {
		root, err := storage.NewS3(srv.URI(s3Prefix), srv.Options())
		if err == nil {
			err = root.RemoveAll(context.Background(), strings.TrimPrefix(rel, s3Prefix+"/"))
		}
		if err != nil {
			t.Errorf("removing the test's objects: %v", err)
		}
	})
	return srv.URI(rel)
}

// s3Opts are the options of a writer (or reader) of uri through endpoint
// ("" = the server itself).
func s3Opts(srv *storagetest.S3Server, uri, endpoint string) Options {
	o := DefaultOptions()
	o.Storage = uri
	o.StorageOptions = srv.Options()
	if endpoint != "" {
		o.StorageOptions.Endpoint = endpoint
	}
	o.Allocator = memory.NewGoAllocator()
	return o
}

// listObjects lists every object under dir of s, recursively, as names
// relative to the storage root.
func listObjects(s storage.Storage, dir string) ([]string, error) {
	ents, err := s.List(context.Background(), dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		name := e.Name
		if dir != "" {
			name = dir + "/" + e.Name
		}
		if e.IsDir {
			sub, err := listObjects(s, name)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		} else {
			out = append(out, name)
		}
	}
	return out, nil
}

// s3Consistent checks, after an open, that storage holds exactly what the
// catalog accounts for: per table its table.json, a manifest.json of the
// current version, one version file per kept version and the segments the
// manifest references — no orphan, no temporary object, nothing missing.
func s3Consistent(db *DB) error {
	ctx := context.Background()
	st := db.st
	want := map[string]bool{}
	for _, tb := range st.sortedTables() {
		m := tb.currentManifest()
		want[tb.prefix+"/"+tableJSONName] = true
		want[tb.prefix+"/manifest.json"] = true
		for _, s := range m.Segments {
			want[tb.prefix+"/"+s.Path] = true
		}
		kept, err := st.keptVersions(tb)
		if err != nil {
			return err
		}
		for _, k := range kept {
			want[tb.prefix+"/"+versionFileName(k.Version)] = true
		}
		if h, _ := st.storedHistory(ctx, tb.prefix); h != nil {
			want[tb.prefix+"/"+historyFileName] = true // after a vacuum that dropped versions
		}
		on, err := st.readManifestObject(ctx, tb.prefix+"/manifest.json")
		if err != nil || on.Version != m.Version {
			return fmt.Errorf("manifest.json of %s: %v (error %v), catalog has version %d", tb.qname, on, err, m.Version)
		}
	}
	have, err := listObjects(st.storage, "")
	if err != nil {
		return err
	}
	var extra, missing []string
	seen := map[string]bool{}
	for _, o := range have {
		seen[o] = true
		if !want[o] && o != ownerFile { // written when storage takes it (claimStorage)
			extra = append(extra, o)
		}
	}
	for o := range want {
		if !seen[o] {
			missing = append(missing, o)
		}
	}
	sort.Strings(missing)
	if len(extra) > 0 || len(missing) > 0 {
		return fmt.Errorf("storage %s: orphan objects %v, missing objects %v", st.storage, extra, missing)
	}
	return nil
}

// idsOf is scanIDs returning its error (for goroutines).
func idsOf(db *DB, table string, version uint64) (string, error) {
	s, err := db.Scan(table, ScanRequest{Columns: []string{"id"}, Limit: -1, AsOfVersion: int64(version)})
	if err != nil {
		return "", err
	}
	defer s.Close()
	var ids []int64
	for {
		rec, err := s.Next()
		if err != nil {
			return "", err
		}
		if rec == nil {
			break
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			ids = append(ids, goValue(rec.Column(0), i).(int64))
		}
		rec.Release()
	}
	return fmt.Sprint(ids), nil
}

// rowsErr checks every table's rows (want "" : the table may be absent).
func rowsErr(db *DB, rows map[string]string) error {
	for table, want := range rows {
		if _, err := db.st.lookupTable(table); err != nil {
			if want == "" {
				continue
			}
			return fmt.Errorf("table %s: %v", table, err)
		}
		got, err := idsOf(db, table, 0)
		if err != nil {
			return fmt.Errorf("rows of %s: %w", table, err)
		}
		if want != "" && got != want {
			return fmt.Errorf("rows of %s: %s, want %s", table, got, want)
		}
	}
	return nil
}

// ---- (a) the commit protocol with a failing server -----------------------------

// s3FaultMode is how the server fails from a chosen request on.
type s3FaultMode struct {
	name string
	// fault returns what the proxy does with the k-th request (1-based,
	// S3 operation op) of the operation when the fault is at request i.
	fault func(i, k int, op string) storagetest.Fault
	// mayFail: the operation may return an error (a kerr.IO); otherwise
	// the client's retries must hide the fault.
	mayFail bool
}

var s3FaultModes = []s3FaultMode{
	// One request fails and is retried: a write's reply is lost after the
	// server carried it out (so the retry repeats it), a read gets a 500
	// or a dropped connection.
	{"blip", func(i, k int, op string) storagetest.Fault {
		switch {
		case k != i:
			return storagetest.Pass
		case op == "PutObject" || op == "DeleteObject" || op == "DeleteObjects":
			return storagetest.LoseReply
		case i%2 == 0:
			return storagetest.Drop
		}
		return storagetest.Status500
	}, false},
	// The server goes down at request i (500s, or every connection
	// dropped) and stays down until the operation has returned.
	{"down", func(i, k int, _ string) storagetest.Fault {
		if k < i {
			return storagetest.Pass
		}
		if i%2 == 0 {
			return storagetest.Drop
		}
		return storagetest.Status500
	}, true},
}

// TestS3FaultsAtEveryRequest is TestFaultsAtEveryStep on object storage:
// flush, compaction, vacuum, create and drop table run with the S3 server
// failing at each of their storage requests in turn (s3FaultModes).
// After each: the call succeeded (retries, or a fault after the commit
// point) or failed with kerr.IO; every table has exactly its rows; the
// version before the call reads as before; the store keeps working (a
// flush); and after a reopen (through the server directly) storage holds
// no orphan and lacks nothing (s3Consistent).
//
// A "down" fault costs the client's whole retry budget (8 attempts with
// backoff, about 2.5 s) for each request that meets it, so the runs go 8
// at a time: they wait, they do not compute.
func TestS3FaultsAtEveryRequest(t *testing.T) {
	if raceBuild {
		t.Skip("the race detector adds nothing to these sequential commits and multiplies their time; make test runs them without -race")
	}
	srv := needS3(t)
	type job struct {
		fc   faultCase
		i    int
		op   string
		mode s3FaultMode
	}
	var jobs []job
	for _, fc := range faultCases {
		if fc.reopen != nil {
			continue // recover: RocksDB rebuilt from storage, tested on S3 by TestS3SIGKILLAtEveryStep
		}
		t0 := time.Now()
		ops, err := s3FaultRun(t, srv, fc, nil, nil)
		if os.Getenv("KALAM_S3_TIMING") != "" {
			t.Logf("%s without faults: %v", fc.name, time.Since(t0))
		}
		if err != nil {
			t.Fatalf("%s without faults: %v", fc.name, err)
		}
		if len(ops) == 0 {
			t.Fatalf("%s made no storage request: nothing to test", fc.name)
		}
		t.Logf("%s: %d storage requests: %s", fc.name, len(ops), strings.Join(ops, " "))
		for i := range ops {
			for _, m := range s3FaultModes {
				jobs = append(jobs, job{fc, i + 1, ops[i], m})
			}
		}
	}
	var (
		mu       sync.Mutex
		failures []string
		failed   atomic.Int64
		wg       sync.WaitGroup
	)
	sem := make(chan struct{}, 8)
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			what := fmt.Sprintf("%s with the server %s at request %d (%s)", j.fc.name, j.mode.name, j.i, j.op)
			t0 := time.Now()
			_, err := s3FaultRun(t, srv, j.fc, &j.mode, &j.i)
			if os.Getenv("KALAM_S3_TIMING") != "" {
				t.Logf("%s: %v", what, time.Since(t0))
			}
			if err != nil {
				failed.Add(1)
				mu.Lock()
				failures = append(failures, what+": "+err.Error())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Strings(failures)
	for _, f := range failures {
		t.Error(f)
	}
	t.Logf("%d faults injected, %d failed checks", len(jobs), failed.Load())
}

// s3FaultRun builds a fresh store on S3 behind a fault proxy, runs the
// case's setup, then the operation with the fault (none: mode nil) and
// checks the outcome. It returns the S3 operations of the requests the
// operation made.
func s3FaultRun(t *testing.T, srv *storagetest.S3Server, fc faultCase, mode *s3FaultMode, at *int) ([]string, error) {
	proxy, err := storagetest.NewFaultProxy(srv.Endpoint)
	if err != nil {
		return nil, err
	}
	defer proxy.Close()
	dir, err := os.MkdirTemp("", "kalam-s3fault-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	uri := s3Root(t, srv)
	opts := s3Opts(srv, uri, proxy.URL)
	db, err := Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	defer func() {
		if db != nil {
			db.Close()
		}
	}()
	fc.setup(t, db, opts.Allocator)
	// What each table read before the operation, at its version then.
	before := map[string][2]string{}
	for table, want := range fc.rows {
		if want == "" {
			continue
		}
		m, err := db.Manifest(table)
		if err != nil {
			return nil, err
		}
		ids, err := idsOf(db, table, m.Version)
		if err != nil {
			return nil, err
		}
		before[table] = [2]string{fmt.Sprint(m.Version), ids}
	}
	proxy.Reset()
	var n atomic.Int64
	if mode != nil {
		i := *at
		proxy.SetFault(func(op string, _ *http.Request) storagetest.Fault { return mode.fault(i, int(n.Add(1)), op) })
	}
	runErr := fc.run(db)
	proxy.SetFault(nil)
	ops := proxy.Ops()
	if mode == nil || !mode.mayFail {
		if runErr != nil {
			return ops, fmt.Errorf("the call failed: %v", runErr)
		}
	} else if runErr != nil && !kerr.Is(runErr, kerr.IO) {
		return ops, fmt.Errorf("the call failed with %v (code %v), want kerr.IO", runErr, kerr.CodeOf(runErr))
	}
	if mode != nil && int(n.Load()) < *at {
		return ops, fmt.Errorf("the operation made %d requests this time, the fault was at %d", n.Load(), *at)
	}
	if err := rowsErr(db, fc.rows); err != nil {
		return ops, fmt.Errorf("after the call (error %v): %w", runErr, err)
	}
	for table, b := range before {
		if _, err := db.st.lookupTable(table); err != nil {
			continue // dropped by the operation
		}
		var v uint64
		fmt.Sscan(b[0], &v)
		got, err := idsOf(db, table, v)
		if err != nil || got != b[1] {
			return ops, fmt.Errorf("%s at the previous version %d: %s (error %v), before the call %s", table, v, got, err, b[1])
		}
	}
	if _, ok := fc.rows["f"]; ok {
		if _, err := db.Flush("f"); err != nil {
			return ops, fmt.Errorf("flush afterwards: %w", err)
		}
	}
	db.Close()
	db = nil
	// Reopen straight on the server: open completes what the failure left.
	db2, err := Open(dir, s3Opts(srv, uri, ""))
	if err != nil {
		return ops, fmt.Errorf("reopen: %w", err)
	}
	defer db2.Close()
	if err := rowsErr(db2, fc.rows); err != nil {
		return ops, fmt.Errorf("reopened: %w", err)
	}
	if err := s3Consistent(db2); err != nil {
		return ops, fmt.Errorf("reopened (the call returned %v): %w", runErr, err)
	}
	return ops, nil
}

// ---- (b) a writer on S3 killed at each step of the commit protocol --------------

const s3StepChildEnv = "KALAM_S3_STEP_CHILD"

// s3ChildSpec tells a child process which store to open and what to do.
type s3ChildSpec struct {
	Dir      string          `json:"dir"`
	Op       string          `json:"op"`
	Step     string          `json:"step"`
	Storage  string          `json:"storage"`
	Options  storage.Options `json:"options"`
	Table    string          `json:"table,omitempty"`
	Versions []uint64        `json:"versions,omitempty"`
}

func childSpecEnv(srv *storagetest.S3Server, spec s3ChildSpec) string {
	spec.Options = srv.Options()
	b, _ := json.Marshal(spec)
	return string(b)
}

// TestS3StepChild is the process TestS3SIGKILLAtEveryStep kills: it opens
// the store whose storage is on S3, runs one operation and, at the named
// step, says so and waits to be killed.
func TestS3StepChild(t *testing.T) {
	env := os.Getenv(s3StepChildEnv)
	if env == "" {
		t.Skip("not a test on its own: the process TestS3SIGKILLAtEveryStep starts and kills (it sets " + s3StepChildEnv + ")")
	}
	var spec s3ChildSpec
	if err := json.Unmarshal([]byte(env), &spec); err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	opts := DefaultOptions()
	opts.Storage, opts.StorageOptions = spec.Storage, spec.Options
	opts.failpoint = func(s string) error {
		if s == spec.Step {
			fmt.Println("at", s)
			os.Stdout.Sync()
			time.Sleep(time.Hour)
		}
		return nil
	}
	if spec.Op == "recover" {
		opts.Recover = true
		_, err := Open(spec.Dir, opts)
		fmt.Println("done", err)
		return
	}
	db, err := Open(spec.Dir, opts)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	fmt.Println("done", stepOps[spec.Op].run(db))
}

// s3StepSetup is stepSetup on S3 storage: table f with three flushed
// segments, a compaction and hot rows, and table d to drop.
func s3StepSetup(t *testing.T, dir string, opts Options) {
	db, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewGoAllocator()
	db.CreateTable("f", "", eventsSchema, map[string]string{"primary_key": "id"})
	db.CreateTable("d", "", eventsSchema, map[string]string{"primary_key": "id"})
	for i := int64(0); i < 3; i++ {
		appendEvents(t, db, mem, "f", i, i+10)
		if _, err := db.Flush("f"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Compact("f", CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, db, mem, "f", 20)
	appendEvents(t, db, mem, "d", 1)
	db.Close()
}

// s3StepKill runs TestS3StepChild on the store and kills it at its step
// (or after delay when the step is "none"); it reports whether the kill
// landed before the child finished.
func s3StepKill(t *testing.T, srv *storagetest.S3Server, spec s3ChildSpec, delay time.Duration) bool {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestS3StepChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), s3StepChildEnv+"="+childSpecEnv(srv, spec))
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	killed := false
	timeout := time.After(60 * time.Second)
	var tick <-chan time.Time
	if spec.Step == "none" {
		tick = time.After(delay)
	}
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				break wait
			}
			switch {
			case strings.HasPrefix(l, "at "):
				cmd.Process.Signal(syscall.SIGKILL)
				killed = true
				break wait
			case strings.HasPrefix(l, "error"):
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("child %s: %s", spec.Op, l)
			case strings.HasPrefix(l, "done"):
				if spec.Step != "none" {
					t.Fatalf("child %s finished without reaching step %s: %s", spec.Op, spec.Step, l)
				}
				break wait
			}
		case <-tick:
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
			break wait
		case <-timeout:
			cmd.Process.Kill()
			t.Fatalf("child %s at %s: no answer in 60 s", spec.Op, spec.Step)
		}
	}
	cmd.Wait()
	return killed
}

// TestS3SIGKILLAtEveryStep is TestSIGKILLAtEveryStep with storage on S3:
// a writer process is killed inside flush, compaction, vacuum, create,
// drop, update/delete by filter, alter and recover at each step of the
// commit protocol — between the segment upload and the RocksDB commit
// among them — and the next open must lose nothing committed, remove the
// objects no manifest references and keep working. Then compactions killed
// at random moments (mid-upload included).
func TestS3SIGKILLAtEveryStep(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process per step (about 30 s on S3); -short leaves it out, make test runs it")
	}
	if raceBuild {
		t.Skip("the race detector adds nothing to single-threaded crash recovery and multiplies its time; make test runs it without -race")
	}
	srv := needS3(t)
	ops := make([]string, 0, len(stepOps))
	for op := range stepOps {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	kills := 0
	check := func(dir, uri, op, what string) {
		t.Helper()
		db, err := Open(dir, s3Opts(srv, uri, ""))
		if err != nil {
			t.Fatalf("%s: reopen: %v", what, err)
		}
		defer db.Close()
		want := map[string]string{"f": "[0 1 2 10 11 12 20]", "d": "[1]", "g": ""}
		switch op {
		case "recover":
			want["f"], want["d"] = "[0 1 2 10 11 12]", "[]" // the hot rows went with RocksDB
		case "drop":
			want["d"] = ""
		case "delete_where":
			if got := fmt.Sprint(scanIDs(t, db, "f")); got != want["f"] && got != "[0 1 2]" {
				t.Fatalf("%s: rows %s: neither all nor none of the delete", what, got)
			}
			want["f"] = ""
		case "update_where":
			checkAllOrNone(t, db, what)
		}
		if err := rowsErr(db, want); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if err := s3Consistent(db); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if op != "recover" {
			if _, err := db.Flush("f"); err != nil {
				t.Fatalf("%s: flush afterwards: %v", what, err)
			}
		}
	}
	for _, op := range ops {
		for _, step := range stepOps[op].steps {
			dir, uri := t.TempDir(), s3Root(t, srv)
			s3StepSetup(t, dir, s3Opts(srv, uri, ""))
			if op == "recover" {
				os.RemoveAll(filepath.Join(dir, "rocksdb"))
			}
			// "+table.json": then that object removed, as TestSIGKILLAtEveryStep.
			step, thenRemove, _ := strings.Cut(step, "+")
			if s3StepKill(t, srv, s3ChildSpec{Dir: dir, Op: op, Step: step, Storage: uri}, 0) {
				kills++
			}
			if thenRemove != "" {
				o := s3Opts(srv, uri, "")
				stor, err := openStorage(dir, o)
				if err != nil {
					t.Fatal(err)
				}
				if err := stor.Remove(context.Background(), "default/d/"+thenRemove); err != nil {
					t.Fatal(err)
				}
			}
			check(dir, uri, op, fmt.Sprintf("%s killed at %s (then removed: %q)", op, step, thenRemove))
		}
	}
	for i := 0; i < 4; i++ {
		dir, uri := t.TempDir(), s3Root(t, srv)
		s3StepSetup(t, dir, s3Opts(srv, uri, ""))
		// Setup's flushes left hot row 20 and three compacted-away
		// segments: a compaction of one segment has little to do, so
		// start from fresh overlapping segments.
		db, err := Open(dir, s3Opts(srv, uri, ""))
		if err != nil {
			t.Fatal(err)
		}
		for j := int64(0); j < 3; j++ {
			appendEvents(t, db, memory.NewGoAllocator(), "f", j, j+10, 20)
			db.Flush("f")
		}
		db.Close()
		delay := time.Duration(20+i*40) * time.Millisecond
		if s3StepKill(t, srv, s3ChildSpec{Dir: dir, Op: "compact", Step: "none", Storage: uri}, delay) {
			kills++
		}
		check(dir, uri, "compact", fmt.Sprintf("compact killed after %v", delay))
	}
	t.Logf("%d processes killed inside an operation", kills)
}

// ---- (c) a storage-only reader following a busy writer -------------------------

const s3ReaderChildEnv = "KALAM_S3_READER_CHILD"

// renderAt renders table c of db at version v (0: the latest) as
// "id:kind:amount" rows: kind and amount change with every rewrite of a
// key, so a stale or mixed version shows.
func renderAt(db *DB, table string, v uint64) (string, error) {
	s, err := db.Scan(table, ScanRequest{Columns: []string{"id", "kind", "amount"}, Limit: -1, AsOfVersion: int64(v)})
	if err != nil {
		return "", err
	}
	defer s.Close()
	var b strings.Builder
	for {
		rec, err := s.Next()
		if err != nil {
			return "", err
		}
		if rec == nil {
			return b.String(), nil
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			fmt.Fprintf(&b, "%v:%v:%v ", goValue(rec.Column(0), i), goValue(rec.Column(1), i), goValue(rec.Column(2), i))
		}
		rec.Release()
	}
}

// TestS3ReaderChild is the process TestS3ReaderFollowsTheWriter starts: a
// storage-only reader in another process that scans the given versions and
// the latest one, printing what it read.
func TestS3ReaderChild(t *testing.T) {
	env := os.Getenv(s3ReaderChildEnv)
	if env == "" {
		t.Skip("not a test on its own: the process TestS3ReaderFollowsTheWriter starts (it sets " + s3ReaderChildEnv + ")")
	}
	var spec s3ChildSpec
	if err := json.Unmarshal([]byte(env), &spec); err != nil {
		t.Fatal(err)
	}
	opts := DefaultOptions()
	opts.Storage, opts.StorageOptions, opts.ReadOnly = spec.Storage, spec.Options, true
	r, err := Open("", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, v := range append(spec.Versions, 0) {
		rows, err := renderAt(r, spec.Table, v)
		switch {
		case kerr.Is(err, kerr.NotFound):
			fmt.Printf("version %d notfound %v\n", v, err)
		case err != nil:
			fmt.Printf("version %d error %v\n", v, err)
		default:
			fmt.Printf("version %d rows %s\n", v, rows)
		}
	}
}

// TestS3ReaderFollowsTheWriter: while a writer on S3 keeps appending,
// deleting, flushing, compacting and vacuuming (with no retention), a
// storage-only reader in this process — and, once, one in another
// process — scans the latest version and random older ones. Every scan
// must equal the writer's own scan of the same version (a latest scan: of
// a version committed since it started); NotFound is allowed only for a
// version that vacuum removed (the writer cannot read it either), and for
// a latest scan only while a vacuum ran.
func TestS3ReaderFollowsTheWriter(t *testing.T) {
	srv := needS3(t)
	dir, uri := t.TempDir(), s3Root(t, srv)
	w, err := Open(dir, s3Opts(srv, uri, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.CreateTable("c", "", eventsSchema, map[string]string{"primary_key": "id", "row_group_rows": "16"}); err != nil {
		t.Fatal(err)
	}
	ropts := s3Opts(srv, uri, "")
	ropts.ReadOnly = true
	r, err := Open("", ropts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	var (
		mu        sync.Mutex
		versions  = map[uint64]string{} // the writer's rows at each committed version
		latest    atomic.Uint64
		vacStart  atomic.Int64
		vacDone   atomic.Int64
		writerErr error
	)
	// record reads, right after a commit, every version committed since
	// the last call.
	record := func() error {
		m, err := w.Manifest("c")
		if err != nil {
			return err
		}
		for v := latest.Load() + 1; v <= m.Version; v++ {
			rows, err := renderAt(w, "c", v)
			if err != nil {
				return fmt.Errorf("writer at version %d: %w", v, err)
			}
			mu.Lock()
			versions[v] = rows
			mu.Unlock()
		}
		latest.Store(m.Version)
		return nil
	}
	if err := record(); err != nil {
		t.Fatal(err)
	}
	const ops = 24
	done := make(chan struct{})
	go func() {
		defer close(done)
		rng := rand.New(rand.NewSource(11))
		mem := memory.NewGoAllocator()
		writerErr = func() error {
			for i := 0; i < ops; i++ {
				ids := make([]int64, 20+rng.Intn(40))
				kinds := make([]string, len(ids))
				amts := make([]float64, len(ids))
				for j := range ids {
					ids[j] = int64(rng.Intn(300))
					kinds[j] = fmt.Sprintf("g%d", i)
					amts[j] = float64(i*1000 + j)
				}
				rec := eventsBatch(mem, ids, kinds, amts)
				_, err := w.AppendRecord("c", rec)
				rec.Release()
				if err != nil {
					return err
				}
				if i%4 == 3 {
					if err := deleteKeys(w, mem, "c", int64(rng.Intn(300)), int64(rng.Intn(300)), ids[0]); err != nil {
						return err
					}
				}
				if _, err := w.Flush("c"); err != nil {
					return err
				}
				if err := record(); err != nil {
					return err
				}
				if i%5 == 4 {
					if _, err := w.Compact("c", CompactOptions{TargetRows: 100}); err != nil {
						return err
					}
					if err := record(); err != nil {
						return err
					}
				}
				if i%7 == 6 {
					vacStart.Add(1)
					_, err := w.Vacuum("c", 0, false)
					vacDone.Add(1)
					if err != nil {
						return err
					}
					if err := record(); err != nil {
						return err
					}
				}
			}
			return nil
		}()
	}()

	type read struct {
		version   uint64 // 0: latest
		from      uint64 // latest: the writer's version when the scan started
		rows      string
		err       error
		vacuumRan bool // latest: a vacuum ran during the scan
	}
	var reads []read
	var child *exec.Cmd
	var childOut strings.Builder
	rng := rand.New(rand.NewSource(12))
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		from, vd := latest.Load(), vacDone.Load()
		rows, err := renderAt(r, "c", 0)
		reads = append(reads, read{0, from, rows, err, vacStart.Load() > vd})
		v := 1 + uint64(rng.Int63n(int64(latest.Load())))
		rows, err = renderAt(r, "c", v)
		reads = append(reads, read{version: v, rows: rows, err: err})
		if child == nil && latest.Load() >= ops/2 {
			// Another process reads every version committed so far while
			// the writer goes on.
			spec := s3ChildSpec{Storage: uri, Table: "c"}
			for v := uint64(1); v <= latest.Load(); v++ {
				spec.Versions = append(spec.Versions, v)
			}
			child = exec.Command(os.Args[0], "-test.run=^TestS3ReaderChild$", "-test.count=1")
			child.Env = append(os.Environ(), s3ReaderChildEnv+"="+childSpecEnv(srv, spec))
			child.Stdout = &childOut
			child.Stderr = os.Stderr
			if err := child.Start(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if writerErr != nil {
		t.Fatalf("writer: %v", writerErr)
	}
	if child == nil {
		t.Fatal("the writer finished before the child reader started")
	}
	if err := child.Wait(); err != nil {
		t.Fatalf("child reader: %v\n%s", err, childOut.String())
	}
	final := latest.Load()
	// vacuumed reports whether the writer itself can no longer read v.
	vacuumed := func(v uint64) bool {
		_, err := renderAt(w, "c", v)
		return kerr.Is(err, kerr.NotFound)
	}
	check := func(who string, rd read) {
		t.Helper()
		if rd.err != nil {
			switch {
			case !kerr.Is(rd.err, kerr.NotFound):
				t.Fatalf("%s at version %d: %v", who, rd.version, rd.err)
			case rd.version != 0 && !vacuumed(rd.version):
				t.Fatalf("%s at version %d: %v, but the writer still reads it", who, rd.version, rd.err)
			case rd.version == 0 && !rd.vacuumRan:
				t.Fatalf("%s latest scan: %v with no vacuum running", who, rd.err)
			}
			return
		}
		if rd.version != 0 {
			if rd.rows != versions[rd.version] {
				t.Fatalf("%s at version %d:\n got  %s\n want %s", who, rd.version, rd.rows, versions[rd.version])
			}
			return
		}
		for v := rd.from; v <= final; v++ {
			if rd.rows == versions[v] {
				return
			}
		}
		t.Fatalf("%s latest scan (writer at version %d then) equals no version since: %s", who, rd.from, rd.rows)
	}
	notFound := 0
	for _, rd := range reads {
		check("reader", rd)
		if rd.err != nil {
			notFound++
		}
	}
	lines := strings.Split(strings.TrimSpace(childOut.String()), "\n")
	childReads := 0
	for _, l := range lines {
		var v uint64
		var what string
		if n, _ := fmt.Sscanf(l, "version %d %s", &v, &what); n != 2 {
			continue
		}
		rest := strings.TrimPrefix(l, fmt.Sprintf("version %d %s ", v, what))
		rd := read{version: v, rows: rest}
		switch what {
		case "notfound":
			rd.err = kerr.New(kerr.NotFound, "%s", rest)
		case "error":
			t.Fatalf("child reader at version %d: %s", v, rest)
		}
		if v == 0 {
			// The child's latest scan ran after every version it listed.
			rd.from, rd.vacuumRan = uint64(len(lines)-1), true
		}
		check("child reader", rd)
		childReads++
	}
	if childReads < ops/2 {
		t.Fatalf("the child reader printed %d reads:\n%s", childReads, childOut.String())
	}
	if len(versions) != int(final) {
		t.Fatalf("recorded %d versions of %d", len(versions), final)
	}
	t.Logf("%d versions; %d scans in this process (%d NotFound for vacuumed versions), %d in the child", final, len(reads), notFound, childReads)
}

// deleteKeys deletes ids from table (an error instead of t.Fatal, for
// goroutines).
func deleteKeys(db *DB, mem memory.Allocator, table string, ids ...int64) error {
	_, err := deleteIDsN(db, mem, table, ids...)
	return err
}

// ---- (d) splits on S3 -------------------------------------------------------------

// TestS3SplitsEqualTheScan is TestSplitsEqualTheScan with storage on S3:
// for random filters, projections, split sizes and versions of a table
// with overlapping segments and tombstones, the splits, each run through
// its own storage-only reader of the bucket, return the writer's scan at
// that version row for row.
func TestS3SplitsEqualTheScan(t *testing.T) {
	srv := needS3(t)
	dir, uri := t.TempDir(), s3Root(t, srv)
	w, err := Open(dir, s3Opts(srv, uri, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.CreateTable("s", "", eventsSchema, map[string]string{"primary_key": "id", "row_group_rows": "16"})
	r := rand.New(rand.NewSource(7))
	mem := memory.NewGoAllocator()
	var versions []uint64
	for i := 0; i < 8; i++ {
		// Staggered key ranges, each overlapping its neighbours, and one
		// key anywhere.
		ids := make([]int64, 20+r.Intn(40))
		for j := range ids {
			ids[j] = int64(i*45 + r.Intn(100))
			if j == 7 {
				ids[j] = int64(r.Intn(400))
			}
		}
		appendEvents(t, w, mem, "s", ids...)
		if r.Intn(2) == 0 {
			deleteIDs(t, w, mem, "s", int64(r.Intn(400)), int64(r.Intn(400)), ids[0])
		}
		if _, err := w.Flush("s"); err != nil {
			t.Fatal(err)
		}
		m, _ := w.Manifest("s")
		versions = append(versions, m.Version)
	}
	appendEvents(t, w, mem, "s", 1000) // hot: in no split
	filters := []string{"", "id < 100", "id >= 150 AND id < 260", "kind != 'k7'", "amount > 100 OR id < 20"}
	ro := s3Opts(srv, "", "")
	nsplits := 0
	for trial := 0; trial < 12; trial++ {
		v := versions[r.Intn(len(versions))]
		req := ScanRequest{Filter: filters[r.Intn(len(filters))], Limit: -1, AsOfVersion: int64(v)}
		if r.Intn(3) == 0 {
			req.Columns = []string{"kind", "id"}
		}
		want := scanRows(t, w, "s", req)
		splits, err := w.ScanSplits("s", req, r.Intn(4), int64(1+r.Intn(120)))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, sp := range splits {
			if sp.Version != v || sp.Storage != uri {
				t.Fatalf("split %+v: want version %d, storage %s", sp, v, uri)
			}
			s, err := OpenSplit(sp, ro)
			if part := rowsOf(t, s, err); part != "" {
				got = append(got, part)
			}
		}
		nsplits += len(splits)
		if g := strings.Join(got, " "); g != want {
			t.Fatalf("trial %d (version %d, %+v, %d splits):\n splits %s\n scan   %s", trial, v, req, len(splits), g, want)
		}
	}
	// Splits planned by a storage-only reader equal the writer's.
	rop := s3Opts(srv, uri, "")
	rop.ReadOnly = true
	rd, err := Open("", rop)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	req := ScanRequest{Filter: "id >= 50", Limit: -1}
	a, err := w.ScanSplits("s", req, 0, 40)
	if err != nil {
		t.Fatal(err)
	}
	b, err := rd.ScanSplits("s", req, 0, 40)
	if err != nil {
		t.Fatal(err)
	}
	if ja, jb := fmt.Sprint(a), fmt.Sprint(b); ja != jb || len(a) < 2 {
		t.Fatalf("splits planned by the writer and by a storage-only reader differ:\n %s\n %s", ja, jb)
	}
	t.Logf("%d splits run", nsplits)
}

// TestS3SplitOpensOnlyItsTable: a split reads its own table's definition
// and version from storage, not the whole store: no listing, and no other
// table's objects (each split of a distributed read pays this open).
func TestS3SplitOpensOnlyItsTable(t *testing.T) {
	srv := needS3(t)
	dir, uri := t.TempDir(), s3Root(t, srv)
	w, err := Open(dir, s3Opts(srv, uri, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	mem := memory.NewGoAllocator()
	w.CreateNamespace("other")
	for _, n := range []string{"a", "b", "other.c"} {
		w.CreateTable(n, "", eventsSchema, map[string]string{"primary_key": "id"})
		appendEvents(t, w, mem, n, 1, 2, 3)
		if _, err := w.Flush(n); err != nil {
			t.Fatal(err)
		}
	}
	splits, err := w.ScanSplits("a", ScanRequest{Limit: -1}, 0, 0)
	if err != nil || len(splits) != 1 {
		t.Fatalf("%d splits, %v", len(splits), err)
	}
	proxy, err := storagetest.NewFaultProxy(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	// A split carries its table's definition and manifest: it reads
	// nothing but its segments.
	s, err := OpenSplit(splits[0], s3Opts(srv, "", proxy.URL))
	if got := rowsOf(t, s, err); got != "1:k1 2:k2 3:k3" {
		t.Fatalf("split rows: %s", got)
	}
	ops := proxy.Ops()
	if n := proxy.Count("ListObjectsV2") + proxy.Count("GetObject"); n != 0 {
		t.Fatalf("a self-contained split listed or read %d metadata objects: %v", n, ops)
	}
	t.Logf("split requests: %v", ops)
	// Splits opened with one HTTP client share its connections: the second
	// opens none (each opened its own before).
	shared := s3Opts(srv, "", proxy.URL)
	shared.StorageOptions.HTTPClient = storage.NewHTTPClient()
	for i := 0; i < 2; i++ {
		if i == 1 {
			proxy.Reset()
		}
		s, err = OpenSplit(splits[0], shared)
		if got := rowsOf(t, s, err); got != "1:k1 2:k2 3:k3" {
			t.Fatalf("split rows: %s", got)
		}
	}
	if n := proxy.Conns(); n != 0 {
		t.Fatalf("a split on a shared client opened %d connections", n)
	}
	// A split without them (an older library's) reads table.json and its
	// version file; not manifest.json (the newest), not other tables'.
	bare := splits[0]
	bare.TableDef, bare.Manifest = nil, nil
	proxy.Reset()
	s, err = OpenSplit(bare, s3Opts(srv, "", proxy.URL))
	if got := rowsOf(t, s, err); got != "1:k1 2:k2 3:k3" {
		t.Fatalf("bare split rows: %s", got)
	}
	ops = proxy.Ops()
	if n := proxy.Count("ListObjectsV2"); n != 0 {
		t.Fatalf("a split listed storage %d times: %v", n, ops)
	}
	if n := proxy.Count("GetObject"); n != 2 {
		t.Fatalf("a bare split read %d whole objects (table.json and its version file): %v", n, ops)
	}
	// A split of a table dropped since: NotFound naming it.
	if err := w.DropTable("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenSplit(bare, s3Opts(srv, "", "")); !kerr.Is(err, kerr.NotFound) || !strings.Contains(err.Error(), "a/table.json") {
		t.Fatalf("bare split of a dropped table: %v", err)
	}
	// A self-contained split opens without a request and fails at its
	// first read, naming the segment that is gone.
	s, err = OpenSplit(splits[0], s3Opts(srv, "", ""))
	if err != nil {
		t.Fatalf("open a self-contained split of a dropped table: %v", err)
	}
	_, err = s.Next()
	s.Close()
	if !kerr.Is(err, kerr.NotFound) || !strings.Contains(err.Error(), "/default/a/data/segment_") {
		t.Fatalf("read a split of a dropped table: %v", err)
	}
}

// TestReadWorkersFollowTheStorage: a read decodes on one worker per core
// from a local disk and on three per core from object storage (where each
// worker spends much of its time waiting for a GET); a scan from S3 with
// every worker busy still returns every row in key order.
func TestReadWorkersFollowTheStorage(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	local, _, _ := testDB(t)
	if got := (&readCtx{st: local.st}).readWorkers(); got != procs {
		t.Errorf("local store: %d read workers, want %d", got, procs)
	}
	srv := needS3(t)
	dir, uri := t.TempDir(), s3Root(t, srv)
	w, err := Open(dir, s3Opts(srv, uri, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if got := (&readCtx{st: w.st}).readWorkers(); got != 3*procs {
		t.Errorf("S3 store: %d read workers, want %d", got, 3*procs)
	}
	w.CreateTable("s", "", eventsSchema, map[string]string{"primary_key": "id", "row_group_rows": "8"})
	var want []int64
	for seg := 0; seg < 3; seg++ {
		ids := make([]int64, 40)
		for i := range ids {
			ids[i] = int64(seg*40 + i)
		}
		want = append(want, ids...)
		appendEvents(t, w, memory.NewGoAllocator(), "s", ids...)
		if _, err := w.Flush("s"); err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprint(scanIDs(t, w, "s")); got != fmt.Sprint(want) {
		t.Fatalf("scan from S3: %s, want %v", got, want)
	}
}

// TestS3CopyOfAStoreSpellingItsStorageOtherwiseIsRefused: a copy of a
// store (the same store id) opened on its original's S3 prefix spelled
// another way (a doubled slash, an upper-case scheme) is refused while the
// original's root holds the store, and a recover onto it while the
// original is open is Busy: the spellings were taken for other storage,
// the copy went on as a store of its own and the two overwrote each
// other's segments (found by a verification pass).
func TestS3CopyOfAStoreSpellingItsStorageOtherwiseIsRefused(t *testing.T) {
	srv := needS3(t)
	root, uri := t.TempDir(), s3Root(t, srv)
	a, err := Open(filepath.Join(root, "a"), s3Opts(srv, uri, ""))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateTable("c", "", eventsSchema, map[string]string{"primary_key": "id"}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if out, err := exec.Command("cp", "-a", filepath.Join(root, "a"), filepath.Join(root, "b")).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	a, err = Open(filepath.Join(root, "a"), s3Opts(srv, uri, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	bucket, prefix, _ := strings.Cut(strings.TrimPrefix(uri, "s3://"), "/")
	for _, spelled := range []string{"s3://" + bucket + "//" + prefix, "S3://" + bucket + "/" + prefix + "/"} {
		b, err := Open(filepath.Join(root, "b"), s3Opts(srv, spelled, ""))
		if err == nil {
			b.Close()
			t.Fatalf("a copy of the store opened on %s beside it", spelled)
		}
		if kerr.CodeOf(err) != kerr.Corruption || !strings.Contains(err.Error(), "copy of this store") {
			t.Fatalf("a copy on %s: %v, want Corruption saying it is a copy", spelled, err)
		}
		o := s3Opts(srv, spelled, "")
		o.Recover = true
		c, err := Open(filepath.Join(root, "c"), o)
		if err == nil {
			c.Close()
			t.Fatalf("a recover onto %s took the storage of the open store over", spelled)
		}
		if kerr.CodeOf(err) != kerr.Busy {
			t.Fatalf("a recover onto %s while its store is open: %v, want Busy", spelled, err)
		}
	}
}

// TestS3ClaimOfStorageWithNoRecord: a store that finds no record on its S3
// storage creates its own with a conditional PUT. Another store's record
// written between its read and its PUT (a store of another process or
// machine opening at the same time) wins: this one is refused as another
// store's storage; before, it overwrote the record and both went on to
// write segment_001. A conditional PUT whose reply is lost is retried,
// refused (the object exists), and the store finds its own record there
// and opens.
func TestS3ClaimOfStorageWithNoRecord(t *testing.T) {
	srv := needS3(t)
	dir := t.TempDir()
	uri := s3Root(t, srv)
	st, err := storage.NewS3(uri, srv.Options())
	if err != nil {
		t.Fatal(err)
	}
	other, _ := json.Marshal(storageOwner{StoreID: "other-store", Root: "/elsewhere/store", Storage: uri, Host: "elsewhere"})
	opts := s3Opts(srv, uri, "")
	opts.failpoint = func(step string) error {
		if step == "claim_storage_before_create" {
			return st.WriteFile(context.Background(), ownerFile, other)
		}
		return nil
	}
	db, err := Open(filepath.Join(dir, "a"), opts)
	if err == nil {
		db.Close()
		t.Fatal("a store opened on storage another store claimed while it opened")
	}
	if !kerr.Is(err, kerr.Corruption) || !strings.Contains(err.Error(), "another store") || !strings.Contains(err.Error(), "/elsewhere/store") {
		t.Fatalf("open: %v; want Corruption naming the other store", err)
	}
	if raw, _ := st.ReadFile(context.Background(), ownerFile); string(raw) != string(other) {
		t.Fatalf("the record is %s; want the other store's, untouched", raw)
	}

	uri = s3Root(t, srv)
	proxy, err := storagetest.NewFaultProxy(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	var puts atomic.Int32
	proxy.SetFault(func(op string, r *http.Request) storagetest.Fault {
		if op == "PutObject" && strings.HasSuffix(r.URL.Path, ownerFile) && puts.Add(1) == 1 {
			return storagetest.LoseReply
		}
		return storagetest.Pass
	})
	db, err = Open(filepath.Join(dir, "b"), s3Opts(srv, uri, proxy.URL))
	if err != nil {
		t.Fatalf("open after the record PUT's reply was lost: %v", err)
	}
	db.Close()
	if puts.Load() < 2 {
		t.Fatalf("the record was PUT %d times; want the lost reply's retry", puts.Load())
	}
	st, _ = storage.NewS3(uri, srv.Options())
	raw, err := st.ReadFile(context.Background(), ownerFile)
	var rec storageOwner
	if err != nil || json.Unmarshal(raw, &rec) != nil || rec.Root != filepath.Join(dir, "b") {
		t.Fatalf("record %s, %v; want this store's", raw, err)
	}
}
