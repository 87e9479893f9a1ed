package engine

import (
	"bufio"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

const stepChildEnv = "KALAM_STEP_CHILD"

// stepOps are the operations killed at each of their commit-protocol steps.
var stepOps = map[string]struct {
	steps []string
	run   func(db *DB) error
}{
	"flush": {[]string{"flush_frozen", "flush_read_batch", "segment_written", "before_commit", "before_mirror"},
		func(db *DB) error { _, err := db.Flush("f"); return err }},
	"compact": {[]string{"segment_written", "before_commit", "before_mirror"},
		func(db *DB) error { _, err := db.Compact("f", CompactOptions{TargetRows: 2}); return err }},
	"vacuum": {[]string{"before_commit", "before_mirror", "vacuum_before_delete"},
		func(db *DB) error { _, err := db.Vacuum("f", 0, false); return err }},
	"create": {[]string{"create_table_written", "before_mirror"},
		func(db *DB) error {
			_, err := db.CreateTable("g", "", eventsSchema, map[string]string{"primary_key": "id"})
			return err
		}},
	"drop": {[]string{"drop_before_remove", "drop_manifest_removed", "drop_before_remove+table.json"},
		func(db *DB) error { return db.DropTable("d") }},
	"update_where": {[]string{"rewhere_before_commit"}, func(db *DB) error {
		_, err := db.UpdateWhere("f", "id < 12", stepValues())
		return err
	}},
	"delete_where": {[]string{"rewhere_before_commit"}, func(db *DB) error {
		_, err := db.DeleteWhere("f", "id >= 10")
		return err
	}},
	"alter": {[]string{"alter_before_commit", "before_mirror"}, func(db *DB) error {
		return db.RenameColumn("f", "kind", "category")
	}},
	"recover": {[]string{"recover_before_rename", "recover_after_rename"}, nil},
}

// TestStepChild is the process TestSIGKILLAtEveryStep kills: it runs one
// operation and, at the named step, says so and waits to be killed.
func TestStepChild(t *testing.T) {
	spec := os.Getenv(stepChildEnv)
	if spec == "" {
		t.Skip("not a test on its own: the process TestSIGKILLAtEveryStep starts and kills (it sets " + stepChildEnv + ")")
	}
	parts := strings.SplitN(spec, ":", 3) // dir:op:step
	dir, op, step := parts[0], parts[1], parts[2]
	opts := DefaultOptions()
	opts.failpoint = func(s string) error {
		if s == step {
			fmt.Println("at", s)
			os.Stdout.Sync()
			time.Sleep(time.Hour)
		}
		return nil
	}
	if op == "recover" {
		opts.Recover = true
		_, err := Open(dir, opts)
		fmt.Println("done", err)
		return
	}
	db, err := Open(dir, opts)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	fmt.Println("done", stepOps[op].run(db))
}

// stepValues is the one-row values record of the update_where case.
func stepValues() arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.NewGoAllocator(), arrow.NewSchema([]arrow.Field{{Name: "kind", Type: arrow.BinaryTypes.String, Nullable: true}}, nil))
	defer b.Release()
	b.Field(0).(*array.StringBuilder).Append("updated")
	return b.NewRecordBatch()
}

// stepSetup builds the store every step test starts from: table f with
// three flushed segments, a compaction (so vacuum has work) and hot rows,
// and table d to drop.
func stepSetup(t *testing.T, dir string) {
	db, err := Open(dir, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewGoAllocator()
	db.CreateTable("f", "", eventsSchema, map[string]string{"primary_key": "id"})
	db.CreateTable("d", "", eventsSchema, map[string]string{"primary_key": "id"})
	for i := int64(0); i < 3; i++ {
		appendEvents(t, db, mem, "f", i, i+10)
		db.Flush("f")
	}
	db.Compact("f", CompactOptions{})
	appendEvents(t, db, mem, "f", 20)
	appendEvents(t, db, mem, "d", 1)
	db.Close()
}

// TestSIGKILLAtEveryStep kills a process inside flush, compaction, vacuum,
// create table, drop table and recover, at each step of the commit
// protocol, and checks after each kill that the store opens with every row,
// that its storage matches its catalog, and that it keeps working.
func TestSIGKILLAtEveryStep(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process per step (about 3 s); -short leaves it out, make test runs it")
	}
	kills := 0
	for op, spec := range stepOps {
		for _, step := range spec.steps {
			dir := t.TempDir()
			stepSetup(t, dir)
			if op == "recover" {
				os.RemoveAll(filepath.Join(dir, "rocksdb"))
			}
			// "+table.json": killed at the step, then table.json removed — what
			// a kill inside the file removal of an older library left
			// (table.json went first, in listing order).
			step, thenRemove, _ := strings.Cut(step, "+")
			if stepKill(t, dir, op, step, 0) {
				kills++
			}
			if thenRemove != "" {
				if err := os.Remove(filepath.Join(dir, "storage", "default", "d", thenRemove)); err != nil {
					t.Fatal(err)
				}
			}
			db, err := Open(dir, DefaultOptions())
			if err != nil {
				t.Fatalf("%s killed at %s: reopen: %v", op, step, err)
			}
			want := map[string]string{"f": "[0 1 2 10 11 12 20]", "d": "[1]", "g": ""}
			if op == "recover" {
				// The hot rows went with RocksDB.
				want["f"], want["d"] = "[0 1 2 10 11 12]", "[]"
			}
			if op == "drop" {
				want["d"] = ""
			}
			what := fmt.Sprintf("%s killed at %s (then removed: %q)", op, step, thenRemove)
			if op == "delete_where" {
				// All of it or none of it.
				if got := fmt.Sprint(scanIDs(t, db, "f")); got != want["f"] && got != "[0 1 2]" {
					t.Fatalf("%s: rows %s: neither all nor none of the delete", what, got)
				}
				want["f"] = ""
			}
			if op == "update_where" {
				checkAllOrNone(t, db, what)
			}
			checkRows(t, db, want, what)
			checkStorageConsistent(t, db, what)
			if op != "recover" {
				if _, err := db.Flush("f"); err != nil {
					t.Fatalf("%s: flush afterwards: %v", what, err)
				}
			}
			db.Close()
		}
	}
	// Updates by filter killed at random moments: all or none, every time.
	for i := 0; i < 5; i++ {
		dir := t.TempDir()
		stepSetup(t, dir)
		if stepKill(t, dir, "update_where", "none", time.Duration(rand.Intn(30))*time.Millisecond) {
			kills++
		}
		db, err := Open(dir, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		checkAllOrNone(t, db, "update_where killed at random")
		db.Close()
	}
	// A recover killed at random moments, again and again, then left to
	// finish: the next open has every table.
	dir := t.TempDir()
	stepSetup(t, dir)
	os.RemoveAll(filepath.Join(dir, "rocksdb"))
	r := rand.New(rand.NewSource(3))
	for i := 0; i < 6; i++ {
		if stepKill(t, dir, "recover", "none", time.Duration(r.Intn(60))*time.Millisecond) {
			kills++
		}
	}
	db, err := Open(dir, DefaultOptions())
	if err != nil {
		o := DefaultOptions()
		o.Recover = true
		if db, err = Open(dir, o); err != nil {
			t.Fatalf("open after killed recovers: %v", err)
		}
	}
	checkRows(t, db, map[string]string{"f": "[0 1 2 10 11 12]", "d": "[]"}, "after killed recovers")
	checkStorageConsistent(t, db, "after killed recovers")
	db.Close()
	t.Logf("%d processes killed inside an operation", kills)
}

// checkAllOrNone checks that the update_where case changed every matching
// row or none.
func checkAllOrNone(t *testing.T, db *DB, what string) {
	t.Helper()
	s, err := db.Scan("f", ScanRequest{Filter: "id < 12", Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	updated, kept := 0, 0
	for _, r := range collect(t, s) {
		if r["kind"] == "updated" {
			updated++
		} else {
			kept++
		}
	}
	if updated != 0 && kept != 0 {
		t.Fatalf("%s: %d rows updated and %d not: the update was not atomic", what, updated, kept)
	}
}

// stepKill runs the child on dir and kills it at step (or after delay when
// step is "none"); it reports whether the kill landed before the child
// finished.
func stepKill(t *testing.T, dir, op, step string, delay time.Duration) bool {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestStepChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), stepChildEnv+"="+dir+":"+op+":"+step)
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
	timeout := time.After(30 * time.Second)
	var tick <-chan time.Time
	if step == "none" {
		tick = time.After(delay)
	}
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				break wait
			}
			if strings.HasPrefix(l, "at ") {
				cmd.Process.Signal(syscall.SIGKILL)
				killed = true
				break wait
			}
			if strings.HasPrefix(l, "error") {
				t.Fatalf("child %s: %s", op, l)
			}
			if strings.HasPrefix(l, "done") {
				if step != "none" {
					t.Fatalf("child %s finished without reaching step %s: %s", op, step, l)
				}
				break wait
			}
		case <-tick:
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
			break wait
		case <-timeout:
			cmd.Process.Kill()
			t.Fatalf("child %s at %s: no answer in 30 s", op, step)
		}
	}
	cmd.Wait()
	return killed
}
