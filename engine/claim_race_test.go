package engine

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/vfs/errorfs"
)

// claimChild is a TestClaimChild process: an open of a store in another
// process, stopped at a failpoint until the test lets it go on.
type claimChild struct {
	t     *testing.T
	cmd   *exec.Cmd
	lines chan string
}

// startClaimChild starts TestClaimChild with spec (see there).
func startClaimChild(t *testing.T, spec ...string) *claimChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestClaimChild$", "-test.v")
	cmd.Env = append(os.Environ(), claimChildEnv+"="+strings.Join(spec, "|"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return &claimChild{t, cmd, lines}
}

// next returns the child's next line that starts with one of prefixes.
func (c *claimChild) next(prefixes ...string) string {
	c.t.Helper()
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				c.t.Fatalf("a child ended without a line starting %q", prefixes)
			}
			for _, p := range prefixes {
				if strings.HasPrefix(l, p) {
					return l
				}
			}
		case <-timeout:
			c.t.Fatalf("no line starting %q from a child", prefixes)
		}
	}
}

// recordedRoot is the root the storage's record names.
func recordedRoot(t *testing.T, storageDir string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(storageDir, ownerFile))
	if err != nil {
		t.Fatal(err)
	}
	var rec storageOwner
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatalf("the storage's record %q: %v", raw, err)
	}
	return rec.Root
}

// sharedSetup is a test directory whose stores share the storage
// dir/shared through opts.
func sharedSetup(t *testing.T) (dir, shared string, opts Options) {
	dir = t.TempDir()
	shared = filepath.Join(dir, "shared")
	opts = DefaultOptions()
	opts.Storage = shared
	return dir, shared, opts
}

// mustOpenWith opens the store at root with opts, failing the test if
// it cannot.
func mustOpenWith(t *testing.T, root string, opts Options) *DB {
	t.Helper()
	db, err := Open(root, opts)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// createEvents creates table name of eventsSchema, keyed by id, in db.
func createEvents(t *testing.T, db *DB, name string) {
	t.Helper()
	if _, err := db.CreateTable(name, "", eventsSchema, map[string]string{"primary_key": "id"}); err != nil {
		t.Fatal(err)
	}
}

// elsewhereRecord is the record a recover on another machine writes when
// it takes the storage shared over.
func elsewhereRecord(shared string) []byte {
	rec, _ := json.Marshal(storageOwner{StoreID: "recovered-elsewhere", Root: "/srv/kalam", Storage: shared, Host: "another-machine", ClaimedAt: nowMs()})
	return rec
}

// TestTwoRecoversOnADamagedRecordOneGetsIn: two recovers claiming storage
// whose record is damaged (the damaged-record error says to recover) each
// read it and each wrote its own over it; both got in, in 10 of 15 races
// of a verification pass. The record is now replaced only while it is
// the one read: here the second recover, in another process, claims the
// storage between the first's read and its write; the first is refused
// with Busy and the storage records the second. (Both run as on storage
// that cannot be held, another machine's view: on this machine the
// storage hold refuses the second recover before it reads the record.)
func TestTwoRecoversOnADamagedRecordOneGetsIn(t *testing.T) {
	dir := t.TempDir()
	shared := filepath.Join(dir, "shared")
	if err := os.MkdirAll(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shared, ownerFile), []byte("{not a record"), 0o644); err != nil {
		t.Fatal(err)
	}
	second := filepath.Join(dir, "second")
	var said string
	opts := DefaultOptions()
	opts.Storage = shared
	opts.Recover = true
	opts.noStorageHold = true // as from another machine (on this one, the second waits for no hold)
	opts.failpoint = func(step string) error {
		if step == "claim_storage_before_replace" {
			c := startClaimChild(t, second, shared, filepath.Join(dir, "unused"), "none", "recover")
			said = c.next("opened", "refused")
		}
		return nil
	}
	db, err := Open(filepath.Join(dir, "first"), opts)
	if said != "opened" {
		t.Fatalf("the second recover: %q; want it opened", said)
	}
	if err == nil {
		db.Close()
		t.Fatal("both recovers opened the storage")
	}
	if !kerr.Is(err, kerr.Busy) || !strings.Contains(err.Error(), "while this recover") {
		t.Fatalf("the first recover: %v; want Busy, another store's record written meanwhile", err)
	}
	if got := recordedRoot(t, shared); got != second {
		t.Fatalf("the storage records %q; want the second recover's store %s", got, second)
	}
}

// TestRecoverReadingBeforeAnotherRecoverTookOver: two recovers taking
// over the storage of a closed store: the second read the record (naming
// the closed store) before the first wrote its own, and took the closed
// store's lock after the first let it go: it wrote over the first's
// record and both got in (10 of 20 races of a verification pass). Now
// the second's write is refused, as the record changed since it read it.
// (As on storage that cannot be held; here the hold would refuse it too.)
func TestRecoverReadingBeforeAnotherRecoverTookOver(t *testing.T) {
	dir, shared, opts := sharedSetup(t)
	old := mustOpenWith(t, filepath.Join(dir, "old"), opts)
	old.Close()
	gofile := filepath.Join(dir, "go")
	second := startClaimChild(t, filepath.Join(dir, "second"), shared, gofile, "claim_storage_read", "recover")
	second.next("at claim_storage_read")
	o := opts
	o.Recover = true
	o.noStorageHold = true // as from another machine than the second recover's
	first, err := Open(filepath.Join(dir, "first"), o)
	if err != nil {
		t.Fatalf("the first recover: %v", err)
	}
	defer first.Close()
	if err := os.WriteFile(gofile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := second.next("opened", "refused"); !strings.HasPrefix(got, "refused BUSY") || !strings.Contains(got, "while this recover") {
		t.Fatalf("the second recover: %q; want refused Busy, the record written meanwhile", got)
	}
	if got := recordedRoot(t, shared); got != filepath.Join(dir, "first") {
		t.Fatalf("the storage records %q; want the first recover's store", got)
	}
}

// TestMovedStoreLosingItsRecordToARecover: a store moved to a new root
// rewrites the record at its first open there; a recover elsewhere that
// wrote its record between that open's read and write was overwritten,
// and both stores got in (7 of 25 races of a verification pass). Now the
// moved store decides again on the recover's record and is refused.
func TestMovedStoreLosingItsRecordToARecover(t *testing.T) {
	dir, shared, opts := sharedSetup(t)
	db := mustOpenWith(t, filepath.Join(dir, "a"), opts)
	db.Close()
	if err := os.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "moved")); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	other, _ := json.Marshal(storageOwner{StoreID: "a-recover-elsewhere", Root: filepath.Join(dir, "elsewhere"), Storage: shared, Host: host, ClaimedAt: nowMs()})
	o := opts
	wrote := false
	o.failpoint = func(step string) error {
		if step == "claim_storage_before_replace" && !wrote {
			wrote = true
			// What the recover's takeover writes, landing now.
			return os.WriteFile(filepath.Join(shared, ownerFile), other, 0o644)
		}
		return nil
	}
	moved, err := Open(filepath.Join(dir, "moved"), o)
	if err == nil {
		moved.Close()
		t.Fatal("the moved store opened over the recover's record")
	}
	if !wrote || !kerr.Is(err, kerr.Corruption) || !strings.Contains(err.Error(), "another store") || !strings.Contains(err.Error(), "elsewhere") {
		t.Fatalf("the moved store's open: %v (record written meanwhile: %v); want refused as another store's storage", err, wrote)
	}
	if got := recordedRoot(t, shared); got != filepath.Join(dir, "elsewhere") {
		t.Fatalf("the storage records %q; want the recover's store", got)
	}
}

// TestSchemaChangeRefusedWhenTheClaimWasLost: a store whose record could
// not be written at open (moved to a new root, opened on a full storage)
// and whose storage a recover on another machine then took over has
// every write to storage
// refused; but a schema change, whose storage write is a best-effort
// mirror after its commit, was acknowledged: kept in its catalog, never in
// storage (found by a verification pass). It is now refused before its
// commit, and the table keeps its schema.
func TestSchemaChangeRefusedWhenTheClaimWasLost(t *testing.T) {
	dir := t.TempDir()
	shared := filepath.Join(dir, "shared")
	sw := &errorfs.Switch{}
	opts := fullStorageOpts(shared, sw)
	b := mustOpenWith(t, filepath.Join(dir, "b"), opts)
	createEvents(t, b, "t")
	b.Close()
	if err := os.Rename(filepath.Join(dir, "b"), filepath.Join(dir, "moved")); err != nil {
		t.Fatal(err)
	}
	sw.Set(fullUnder(shared))
	b, err := Open(filepath.Join(dir, "moved"), opts)
	if err != nil {
		t.Fatalf("the moved store on a full storage: %v", err)
	}
	defer b.Close()
	sw.Set(nil) // space freed; a recover on another machine takes the storage over
	host, _ := os.Hostname()
	seen, err := os.ReadFile(filepath.Join(shared, ownerFile))
	if err != nil {
		t.Fatal(err)
	}
	var rec storageOwner
	if err := json.Unmarshal(seen, &rec); err != nil || rec.Root != filepath.Join(dir, "b") || rec.Host != host {
		t.Fatalf("the record before the takeover: %q (%v); want the moved store's old one", seen, err)
	}
	other := elsewhereRecord(shared)
	if err := os.WriteFile(filepath.Join(shared, ownerFile), other, 0o644); err != nil {
		t.Fatal(err)
	}
	err = b.AddColumns("t", []arrow.Field{{Name: "extra", Type: arrow.PrimitiveTypes.Int64, Nullable: true}})
	if !kerr.Is(err, kerr.Corruption) || !strings.Contains(err.Error(), "taken by another store") {
		t.Fatalf("a schema change of the store that lost the claim: %v; want Corruption, the storage taken", err)
	}
	info, err := b.Table("t")
	if err != nil {
		t.Fatal(err)
	}
	if info.Schema.HasField("extra") || info.SchemaVersion != 1 {
		t.Fatalf("after the refused change the table has schema %v (version %d); want it unchanged (version 1)", info.Schema, info.SchemaVersion)
	}
}

// TestRecordRemovedByHandWhileOpen: the record of an open store removed
// by hand let another store open on its storage (it found no record);
// both wrote there, and a later flush of one overwrote the other's
// segment. Now another store's open on this machine is refused while the
// store holds the storage (storage.HoldRoot), and the store puts its
// record back before its next write, after which that open is refused by
// the record too.
func TestRecordRemovedByHandWhileOpen(t *testing.T) {
	dir, shared, opts := sharedSetup(t)
	a := mustOpenWith(t, filepath.Join(dir, "a"), opts)
	defer a.Close()
	createEvents(t, a, "t")
	if err := os.Remove(filepath.Join(shared, ownerFile)); err != nil {
		t.Fatal(err)
	}
	// A new store there (no rocksdb/, storage holding a's table) was told
	// to recover, which the hold refuses too: it hears the storage is in
	// use. So does a store with a catalog of its own.
	for _, root := range []string{"b", "c"} {
		if root == "c" {
			c, err := Open(filepath.Join(dir, "c"), DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
		}
		db, err := Open(filepath.Join(dir, root), opts)
		if err == nil {
			db.Close()
			t.Fatalf("store %s opened on the storage of an open store whose record was removed", root)
		}
		if !kerr.Is(err, kerr.Busy) || !strings.Contains(err.Error(), "in use by another store") {
			t.Fatalf("store %s's open: %v; want Busy, the storage in use", root, err)
		}
	}
	if _, err := os.Stat(filepath.Join(shared, ownerFile)); !os.IsNotExist(err) {
		t.Fatalf("the refused opens left a record: %v", err)
	}
	createEvents(t, a, "u")
	if got := recordedRoot(t, shared); got != filepath.Join(dir, "a") {
		t.Fatalf("the storage records %q; want the store put back", got)
	}
	a.Close()
	if b, err := Open(filepath.Join(dir, "b"), opts); err == nil {
		b.Close()
		t.Fatal("another store opened on the storage after its record was put back")
	} else if !kerr.Is(err, kerr.Corruption) || !strings.Contains(err.Error(), "another store") {
		t.Fatalf("another store's open once the first closed: %v; want refused by the record", err)
	}
}

const holdChildEnv = "KALAM_HOLD_CHILD"

// TestHoldChild is a process of TestRecoverOfAStoreWhoseOpenRootWasRenamed:
// it opens the store ROOT on STORAGE, says "open", and keeps it open until
// the file GO exists. KALAM_HOLD_CHILD is ROOT|STORAGE|GO.
func TestHoldChild(t *testing.T) {
	spec := os.Getenv(holdChildEnv)
	if spec == "" {
		t.Skip("not a test on its own: the process TestRecoverOfAStoreWhoseOpenRootWasRenamed starts (it sets " + holdChildEnv + ")")
	}
	parts := strings.Split(spec, "|")
	opts := DefaultOptions()
	opts.Storage = parts[1]
	db, err := Open(parts[0], opts)
	if err != nil {
		fmt.Println("refused", err)
		return
	}
	defer db.Close()
	fmt.Println("open")
	os.Stdout.Sync()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(parts[2]); err == nil {
			return
		}
	}
}

// TestRecoverOfAStoreWhoseOpenRootWasRenamed: a store open in another
// process whose root directory was renamed meanwhile was taken for closed
// by a recover (no RocksDB lock at the root its record names): the
// recover got in, and both flushed into one storage (found by a
// verification pass; the store's later flush lost the recover's rows).
// The store holds its storage while open, so the recover is refused.
func TestRecoverOfAStoreWhoseOpenRootWasRenamed(t *testing.T) {
	dir := t.TempDir()
	shared := filepath.Join(dir, "shared")
	gofile := filepath.Join(dir, "go")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHoldChild$", "-test.v")
	cmd.Env = append(os.Environ(), holdChildEnv+"="+filepath.Join(dir, "a")+"|"+shared+"|"+gofile)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = os.WriteFile(gofile, nil, 0o644); _ = cmd.Wait() }()
	sc := bufio.NewScanner(out)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "open") && !strings.HasPrefix(sc.Text(), "refused") {
	}
	if sc.Text() != "open" {
		t.Fatalf("the store in the other process: %q", sc.Text())
	}
	if err := os.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "a-renamed")); err != nil {
		t.Fatal(err)
	}
	opts := DefaultOptions()
	opts.Storage = shared
	opts.Recover = true
	db, err := Open(filepath.Join(dir, "r"), opts)
	if err == nil {
		db.Close()
		t.Fatal("a recover took over the storage of a store open in another process")
	}
	if !kerr.Is(err, kerr.Busy) || !strings.Contains(err.Error(), "in use by another store") {
		t.Fatalf("the recover: %v; want Busy, the storage in use", err)
	}
	if got := recordedRoot(t, shared); got != filepath.Join(dir, "a") {
		t.Fatalf("the storage records %q; want the open store still", got)
	}
}

// TestStoreWhoseStorageARecoverTookElsewhereFlushesNothing: a recover on
// another machine cannot see an open store's RocksDB lock and takes its
// storage over; the store went on flushing into it. Its flush now finds
// the record naming the other store and is refused before writing a
// segment; its rows stay readable where they are.
func TestStoreWhoseStorageARecoverTookElsewhereFlushesNothing(t *testing.T) {
	dir, shared, opts := sharedSetup(t)
	a := mustOpenWith(t, filepath.Join(dir, "a"), opts)
	defer a.Close()
	mem := memory.NewGoAllocator()
	createEvents(t, a, "t")
	appendEvents(t, a, mem, "t", 1, 2, 3)
	other := elsewhereRecord(shared)
	if err := os.WriteFile(filepath.Join(shared, ownerFile), other, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := a.Flush("t")
	if !kerr.Is(err, kerr.Corruption) || !strings.Contains(err.Error(), "another-machine") {
		t.Fatalf("a flush into storage a recover took: %v; want Corruption naming the other store", err)
	}
	ents, err := os.ReadDir(filepath.Join(shared, "default", "t"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".parquet") {
			t.Fatalf("the refused flush wrote %s", e.Name())
		}
	}
	if got := scanRows(t, a, "t", allRows()); got != "1:k1 2:k2 3:k3" {
		t.Fatalf("the store's rows after the refused flush: %s", got)
	}
}

// TestNewStoreOnAnothersStorageWithTablesHearsWhose: a new store (no
// rocksdb/ at its root) pointed at storage where another store has tables
// was told "rocksdb/ is missing ... open with recover", advice that takes
// that store's storage over; it now hears whose storage it is. A store
// that did lose its catalog still hears to recover.
func TestNewStoreOnAnothersStorageWithTablesHearsWhose(t *testing.T) {
	dir, _, opts := sharedSetup(t)
	a := mustOpenWith(t, filepath.Join(dir, "a"), opts)
	createEvents(t, a, "t")
	a.Close()
	_, err := Open(filepath.Join(dir, "b"), opts)
	if !kerr.Is(err, kerr.Corruption) || !strings.Contains(err.Error(), "belongs to another store") || !strings.Contains(err.Error(), filepath.Join(dir, "a")) {
		t.Fatalf("a new store on another's storage: %v; want Corruption naming the store at %s", err, filepath.Join(dir, "a"))
	}
	if err := os.RemoveAll(filepath.Join(dir, "a", "rocksdb")); err != nil {
		t.Fatal(err)
	}
	_, err = Open(filepath.Join(dir, "a"), opts)
	if !kerr.Is(err, kerr.Corruption) || !strings.Contains(err.Error(), "rocksdb/ is missing") || !strings.Contains(err.Error(), "recover") {
		t.Fatalf("the store that lost its catalog: %v; want the advice to recover", err)
	}
}

// TestCommitWhoseStorageWasTakenBeforeItsMirrorFails: a flush whose storage
// a recover elsewhere took between the commit's check of the record and
// the version's mirror returned success; the recover, seeing no version
// with the new segment, removed it as an orphan, and the flushed rows were
// nowhere (found by a verification pass). The flush now fails, naming
// what happened, and its segment is still read by this store. A drop of
// a table of such a store is refused: its rows are readable only here.
func TestCommitWhoseStorageWasTakenBeforeItsMirrorFails(t *testing.T) {
	dir := t.TempDir()
	shared := filepath.Join(dir, "shared")
	other := elsewhereRecord(shared)
	var armed atomic.Bool
	opts := DefaultOptions()
	opts.Storage = shared
	opts.failpoint = func(step string) error {
		if step == "before_mirror" && armed.CompareAndSwap(true, false) {
			// The takeover lands after the commit.
			return os.WriteFile(filepath.Join(shared, ownerFile), other, 0o644)
		}
		return nil
	}
	a := mustOpenWith(t, filepath.Join(dir, "a"), opts)
	defer a.Close()
	mem := memory.NewGoAllocator()
	createEvents(t, a, "t")
	appendEvents(t, a, mem, "t", 1, 2, 3)
	armed.Store(true)
	_, err := a.Flush("t")
	if !kerr.Is(err, kerr.Corruption) || !strings.Contains(err.Error(), "committed in this store's catalog") || !strings.Contains(err.Error(), "another-machine") {
		t.Fatalf("a flush whose storage was taken before its mirror: %v; want Corruption saying so", err)
	}
	if got := scanRows(t, a, "t", allRows()); got != "1:k1 2:k2 3:k3" {
		t.Fatalf("the store's rows after the failed mirror: %s", got)
	}
	if err := a.DropTable("t"); !kerr.Is(err, kerr.Corruption) {
		t.Fatalf("a drop in the store whose storage was taken: %v; want Corruption", err)
	}
	if got := scanRows(t, a, "t", allRows()); got != "1:k1 2:k2 3:k3" {
		t.Fatalf("the table after the refused drop: %s", got)
	}
}

// TestRecoverTakingOverMidFlushKeepsTheFlushedSegment: a recover (in
// another process, the open store's root renamed so that it looked
// closed, and no storage hold: the view from another machine) took the
// storage over between a flush's commit and its mirror, and its open
// removed the flush's segment as an orphan: the flushed rows were nowhere.
// An open that takes storage over now leaves segments past every version
// it knows for a later open: the flushing store, told its storage was
// taken, still reads its rows.
func TestRecoverTakingOverMidFlushKeepsTheFlushedSegment(t *testing.T) {
	dir := t.TempDir()
	shared := filepath.Join(dir, "shared")
	var armed atomic.Bool
	var said string
	opts := DefaultOptions()
	opts.Storage = shared
	opts.noStorageHold = true
	opts.failpoint = func(step string) error {
		if step != "before_mirror" || !armed.CompareAndSwap(true, false) {
			return nil
		}
		if err := os.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "a-renamed")); err != nil {
			return err
		}
		c := startClaimChild(t, filepath.Join(dir, "r"), shared, filepath.Join(dir, "unused"), "none", "recover")
		said = c.next("opened", "refused")
		return nil
	}
	a := mustOpenWith(t, filepath.Join(dir, "a"), opts)
	defer a.Close()
	mem := memory.NewGoAllocator()
	createEvents(t, a, "t")
	appendEvents(t, a, mem, "t", 1, 2)
	if _, err := a.Flush("t"); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, a, mem, "t", 3, 4)
	armed.Store(true)
	_, err := a.Flush("t")
	if said != "opened" {
		t.Fatalf("the recover: %q; want it in", said)
	}
	if !kerr.Is(err, kerr.Corruption) || !strings.Contains(err.Error(), "committed in this store's catalog") {
		t.Fatalf("the flush the takeover landed in: %v; want Corruption saying so", err)
	}
	if got := scanRows(t, a, "t", allRows()); got != "1:k1 2:k2 3:k3 4:k4" {
		t.Fatalf("the flushing store's rows after the takeover: %s", got)
	}
}
