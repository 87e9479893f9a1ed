package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/memory/mallocator"
	"github.com/google/uuid"
	"github.com/linxGnu/grocksdb"

	"github.com/kalamdb/libkalam/kerr"
)

// Column family names of DESIGN §2.
const (
	cfDefault   = "default"
	cfManifests = "manifests"
	cfCatalog   = "catalog"
)

// openStores lets a second Open of the same root in one process share the
// store: RocksDB holds an exclusive lock on its directory, so two independent
// opens would fail. This is the engine's only process-wide state.
var (
	openStoresMu sync.Mutex
	openStores   = map[string]*store{}
)

// store is one open store directory, shared by every DB handle on it.
type store struct {
	root     string
	readOnly bool
	mem      memory.Allocator

	rdb                  *grocksdb.DB
	cfData, cfMan, cfCat *grocksdb.ColumnFamilyHandle
	dbOpts               *grocksdb.Options
	cfOpts               []*grocksdb.Options
	syncWO, asyncWO      *grocksdb.WriteOptions
	readOpts             *grocksdb.ReadOptions

	refs int // handles + open streams; guarded by openStoresMu

	catMu      sync.RWMutex     // namespaces and tables maps
	namespaces map[string]int64 // name -> created_at ms
	tables     map[string]*table

	seq *seqGen

	live  *liveRegistry
	slots chan struct{}

	pinMu sync.Mutex
	pins  map[string]int // absolute segment path -> open scans reading it

	openStreams atomic.Int64

	// failpoint, when set by a test, is called at the named steps of the
	// commit protocol; a non-nil return aborts the operation there.
	failpoint func(step string) error
}

// DB is one handle on a store. Handles on the same root share the store but
// each has its own session id and its own closed state.
type DB struct {
	st        *store
	sessionID string
	readOnly  bool
	closed    atomic.Bool
}

// Open opens (or creates) the store at root. A second Open of the same root in
// this process returns a new handle on the same store.
func Open(root string, opts Options) (*DB, error) {
	if root == "" {
		return nil, kerr.New(kerr.InvalidArgument, "open: empty root path")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, kerr.Wrap(kerr.InvalidArgument, err, "open %q", root)
	}
	if opts.NodeID < 0 || opts.NodeID > 1023 {
		return nil, kerr.New(kerr.InvalidArgument, "open %q: node_id %d out of range 0..1023", root, opts.NodeID)
	}
	session := opts.SessionID
	if session == "" {
		session = uuid.NewString()
	}
	openStoresMu.Lock()
	defer openStoresMu.Unlock()
	st, ok := openStores[abs]
	if ok {
		if st.readOnly && !opts.ReadOnly {
			return nil, kerr.New(kerr.Busy, "open %q: already open read-only in this process", root)
		}
	} else {
		st, err = openStore(abs, opts)
		if err != nil {
			return nil, err
		}
		openStores[abs] = st
	}
	st.refs++
	return &DB{st: st, sessionID: session, readOnly: opts.ReadOnly || st.readOnly}, nil
}

// Close closes this handle. Open streams of the handle then fail with
// kerr.Closed; the store itself closes when its last handle and stream are
// gone. Closing twice is a no-op.
func (db *DB) Close() error {
	if db == nil || !db.closed.CompareAndSwap(false, true) {
		return nil
	}
	db.st.unref()
	return nil
}

// SessionID is this handle's session id.
func (db *DB) SessionID() string { return db.sessionID }

// OpenStreams counts the streams of the store not yet closed.
func (db *DB) OpenStreams() int64 { return db.st.openStreams.Load() }

func (db *DB) check(write bool) error {
	if db == nil {
		return kerr.New(kerr.InvalidArgument, "nil database handle")
	}
	if db.closed.Load() {
		return kerr.New(kerr.Closed, "database handle is closed")
	}
	if write && db.readOnly {
		return kerr.New(kerr.ReadOnly, "database %q is open read-only", db.st.root)
	}
	return nil
}

func (st *store) ref() {
	openStoresMu.Lock()
	st.refs++
	openStoresMu.Unlock()
}

func (st *store) unref() {
	openStoresMu.Lock()
	defer openStoresMu.Unlock()
	st.refs--
	if st.refs > 0 {
		return
	}
	delete(openStores, st.root)
	st.closeRocks()
}

func openStore(root string, opts Options) (*store, error) {
	rdir := filepath.Join(root, "rocksdb")
	_, statErr := os.Stat(rdir)
	rocksMissing := errors.Is(statErr, os.ErrNotExist)
	if rocksMissing {
		if opts.ReadOnly {
			return nil, kerr.New(kerr.NotFound, "open %q read-only: no store there", root)
		}
		if !opts.CreateIfMissing && !opts.Recover {
			return nil, kerr.New(kerr.NotFound, "open %q: no store there and create_if_missing is false", root)
		}
		// A fresh catalog over existing table files would orphan them for good.
		if !opts.Recover {
			if m, _ := filepath.Glob(filepath.Join(root, "storage", "*", "*", "manifest.json")); len(m) > 0 {
				return nil, kerr.New(kerr.Corruption,
					"open %q: rocksdb/ is missing but storage/ holds %d tables; open with recover to rebuild the catalog from them", root, len(m))
			}
		}
		if err := os.MkdirAll(filepath.Join(root, "storage"), 0o755); err != nil {
			return nil, kerr.Wrap(kerr.IO, err, "open %q", root)
		}
	}
	mem := opts.Allocator
	if mem == nil {
		mem = mallocator.NewMallocator()
	}
	maxScans := opts.MaxConcurrentScans
	if maxScans <= 0 {
		maxScans = 64
	}
	st := &store{
		root:       root,
		readOnly:   opts.ReadOnly,
		mem:        mem,
		namespaces: map[string]int64{},
		tables:     map[string]*table{},
		live:       newLiveRegistry(),
		slots:      make(chan struct{}, maxScans),
		pins:       map[string]int{},
	}
	if err := st.openRocks(rdir, opts.ReadOnly); err != nil {
		return nil, err
	}
	fail := func(err error) (*store, error) {
		st.closeRocks()
		return nil, err
	}
	if rocksMissing && opts.Recover {
		if err := st.rebuildFromStorage(); err != nil {
			return fail(fmt.Errorf("recover %q: %w", root, err))
		}
	}
	if err := st.loadCatalog(); err != nil {
		return fail(fmt.Errorf("open %q: %w", root, err))
	}
	hwm, err := st.loadSeqHighWater()
	if err != nil {
		return fail(fmt.Errorf("open %q: %w", root, err))
	}
	st.seq = newSeqGen(int64(opts.NodeID), hwm)
	if !opts.ReadOnly {
		if err := st.ensureDefaultNamespace(); err != nil {
			return fail(fmt.Errorf("open %q: %w", root, err))
		}
		if err := st.recoverTables(); err != nil {
			return fail(fmt.Errorf("open %q: recovery: %w", root, err))
		}
	}
	return st, nil
}

func (st *store) openRocks(dir string, readOnly bool) error {
	opts := grocksdb.NewDefaultOptions()
	opts.SetCreateIfMissing(true)
	opts.SetCreateIfMissingColumnFamilies(true)
	names := []string{cfDefault, cfManifests, cfCatalog}
	cfOpts := []*grocksdb.Options{grocksdb.NewDefaultOptions(), grocksdb.NewDefaultOptions(), grocksdb.NewDefaultOptions()}
	var (
		db      *grocksdb.DB
		handles []*grocksdb.ColumnFamilyHandle
		err     error
	)
	if readOnly {
		db, handles, err = grocksdb.OpenDbForReadOnlyColumnFamilies(opts, dir, names, cfOpts, false)
	} else {
		db, handles, err = grocksdb.OpenDbColumnFamilies(opts, dir, names, cfOpts)
	}
	if err != nil {
		opts.Destroy()
		for _, o := range cfOpts {
			o.Destroy()
		}
		code := kerr.IO
		if isLockError(err) {
			code = kerr.Busy
		}
		return kerr.Wrap(code, err, "open rocksdb %q", dir)
	}
	st.rdb, st.dbOpts, st.cfOpts = db, opts, cfOpts
	st.cfData, st.cfMan, st.cfCat = handles[0], handles[1], handles[2]
	st.syncWO = grocksdb.NewDefaultWriteOptions()
	st.syncWO.SetSync(true)
	// Appends are acknowledged once in the WAL (in the OS page cache): a killed
	// process loses nothing; commits of the protocol in §2.2 use syncWO.
	st.asyncWO = grocksdb.NewDefaultWriteOptions()
	st.readOpts = grocksdb.NewDefaultReadOptions()
	return nil
}

func isLockError(err error) bool {
	return strings.Contains(strings.ToLower(err.Error()), "lock")
}

func (st *store) closeRocks() {
	if st.rdb == nil {
		return
	}
	st.cfData.Destroy()
	st.cfMan.Destroy()
	st.cfCat.Destroy()
	st.rdb.Close()
	st.rdb = nil
	st.dbOpts.Destroy()
	for _, o := range st.cfOpts {
		o.Destroy()
	}
	st.syncWO.Destroy()
	st.asyncWO.Destroy()
	st.readOpts.Destroy()
}

// hit calls the test failpoint of a commit-protocol step.
func (st *store) hit(step string) error {
	if st.failpoint == nil {
		return nil
	}
	if err := st.failpoint(step); err != nil {
		return kerr.Wrap(kerr.IO, err, "failpoint %s", step)
	}
	return nil
}

func (st *store) storageDir(ns, table string) string {
	return filepath.Join(st.root, "storage", ns, table)
}
