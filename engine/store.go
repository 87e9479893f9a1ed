package engine

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/memory/mallocator"
	"github.com/google/uuid"
	"github.com/linxGnu/grocksdb"

	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/storage"
)

// Column family names of DESIGN §2.
const (
	cfDefault   = "default"
	cfManifests = "manifests"
	cfCatalog   = "catalog"
)

// storeID identifies a store directory by what it is, not by how it was
// named: two paths reaching it (a symlink, a bind mount, a relative path)
// give the same device and inode.
type storeID struct{ dev, ino uint64 }

// openStores lets a second Open of the same store in one process share it:
// two RocksDB instances on one directory would corrupt it. This is the
// engine's only process-wide state.
var (
	openStoresMu sync.Mutex
	openStores   = map[storeID]*store{}
)

// store is one open store directory, shared by every DB handle on it. It
// lives while anything holds a reference: each handle until it is closed
// and its calls have returned, and each open stream. RocksDB is closed by
// the last unref, so nothing a call or a stream uses is freed under it.
type store struct {
	id       storeID
	root     string
	readOnly bool
	// remote: a storage-only reader (remote.go): no RocksDB, the catalog is
	// what storage lists.
	remote   bool
	remoteMu sync.Mutex
	mem      memory.Allocator
	ownsMem  bool // mem is the store's own recycler, closed with it (not a shared BufferPool)
	storage  storage.Storage
	// storageLoc is storageLocation of the options the store was opened
	// with: a second open naming other storage is refused.
	storageLoc string
	// storageHold releases the storage root's hold (holdStorage), when
	// the store took one.
	storageHold    func()
	storageDefault bool // storage/ in the root (no "storage" option)

	rdb                  *grocksdb.DB
	cfData, cfMan, cfCat *grocksdb.ColumnFamilyHandle
	dbOpts               *grocksdb.Options
	walLimit             uint64 // RocksDB's max_total_wal_size (0: maxTotalWAL); tests lower it
	noStorageHold        bool   // Options.noStorageHold
	tookOver             bool   // this open took the storage over from another store (claimStorage)
	cfOpts               []*grocksdb.Options
	syncWO, asyncWO      *grocksdb.WriteOptions
	readOpts             *grocksdb.ReadOptions
	space                *spaceGuard

	refMu sync.Mutex
	refs  int
	gone  chan struct{} // closed once RocksDB is closed

	// ddlMu serialises catalog changes (creating and dropping namespaces
	// and tables) across their storage and RocksDB writes; catMu guards
	// the maps and is held exclusively only to change them, so a DDL's
	// I/O (an fsync, a PUT to object storage, a table directory's removal)
	// never stalls the calls of other tables. A DDL reads the maps under
	// ddlMu alone: every change to them holds it too.
	ddlMu sync.Mutex
	catMu sync.RWMutex // namespaces and tables maps
	// dropMu guards pendingDrops: dropped tables whose files open reads
	// still need, removed by the last of them (finishDrop). A create of the
	// same name meanwhile takes the dropped table's directory, all but the
	// segment files, and moves it to reusedDrops, whose segment files alone
	// the last read removes.
	dropMu       sync.Mutex
	pendingDrops map[string]*table
	reusedDrops  map[*table]bool
	namespaces   map[string]int64 // name -> created_at ms
	tables       map[string]*table

	seq *seqGen

	live  *liveRegistry
	slots chan struct{}

	openStreams atomic.Int64

	// flushCacheBytes is what the tables' flush caches hold
	// (flushcache.go), at most flushCacheLimit (0: the default).
	flushCacheBytes atomic.Int64
	flushCacheLimit int64

	// failpoint, when set by a test, is called at the named steps of the
	// commit protocol; a non-nil return aborts the operation there.
	failpoint func(step string) error
}

// DB is one handle on a store. Handles on the same store share it but each
// has its own session id and its own closed state.
type DB struct {
	st        *store
	sessionID string
	readOnly  bool
	// state counts the calls in flight; closedBit marks the handle closed.
	// The handle's reference on the store is dropped when it is closed and
	// no call is in flight.
	state    atomic.Int64
	closedCh chan struct{}
	// detached (set before the handle is closed by Detach): its open
	// streams go on instead of failing.
	detached atomic.Bool
}

const closedBit = int64(1) << 62

// Open opens (or creates) the store at root. A second Open of the same store
// in this process returns a new handle on the same store.
func Open(root string, opts Options) (*DB, error) {
	if root == "" {
		if opts.Storage != "" {
			return openRemote(opts)
		}
		return nil, kerr.New(kerr.InvalidArgument, "open: empty root path (and no \"storage\" for a storage-only reader)")
	}
	if storage.HasScheme(root) {
		return nil, kerr.New(kerr.InvalidArgument,
			"open %q: the store root is a local directory (RocksDB lives there); object storage goes in the \"storage\" option", root)
	}
	if opts.NodeID < 0 || opts.NodeID > 1023 {
		return nil, kerr.New(kerr.InvalidArgument, "open %q: node_id %d out of range 0..1023", root, opts.NodeID)
	}
	abs, err := physicalAbs(root)
	if err != nil {
		return nil, kerr.Wrap(kerr.InvalidArgument, err, "open %q", root)
	}
	id, err := rootID(abs, opts)
	if err != nil {
		return nil, err
	}
	// The directory exists now: name it by its resolved path.
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	session := opts.SessionID
	if session == "" {
		session = uuid.NewString()
	}
	for {
		openStoresMu.Lock()
		st, ok := openStores[id]
		if ok {
			if !st.tryRef() {
				// Its last reference is going: wait until RocksDB is closed,
				// then open afresh.
				gone := st.gone
				openStoresMu.Unlock()
				<-gone
				continue
			}
			openStoresMu.Unlock()
			if st.readOnly && !opts.ReadOnly {
				st.unref()
				return nil, kerr.New(kerr.Busy, "open %q: already open read-only in this process", root)
			}
			// A handle on the open store would silently ignore these.
			if loc := storageLocation(abs, opts); !st.sameStorage(loc, opts) {
				st.unref()
				return nil, kerr.New(kerr.InvalidArgument, "open %q: the store is open in this process with storage %s, and this open names %s", root, st.storageLoc, loc)
			}
			if opts.Recover {
				st.unref()
				return nil, kerr.New(kerr.Busy, "open %q with recover: the store is open in this process; recover rebuilds a closed store", root)
			}
		} else {
			st, err = openStore(abs, id, opts)
			if err != nil {
				openStoresMu.Unlock()
				return nil, err
			}
			openStores[id] = st
			openStoresMu.Unlock()
		}
		return &DB{st: st, sessionID: session, readOnly: opts.ReadOnly || st.readOnly, closedCh: make(chan struct{})}, nil
	}
}

// physicalAbs is root made absolute without cleaning it: the kernel, which
// resolves the path, applies a ".." after a symbolic link to the link's
// target, while filepath.Abs drops the link and the ".." together ("b/link/../s"
// became "b/s", another directory than the one the path names).
func physicalAbs(root string) (string, error) {
	if filepath.IsAbs(root) {
		return root, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return wd + string(filepath.Separator) + root, nil
}

// rootID stats root, creating it when the options allow.
func rootID(abs string, opts Options) (storeID, error) {
	fi, err := os.Stat(abs)
	if errors.Is(err, os.ErrNotExist) {
		if target, lerr := os.Readlink(abs); lerr == nil {
			// MkdirAll would fail on the link itself with "file exists".
			return storeID{}, kerr.New(kerr.NotFound, "open %q: it is a symbolic link to %q, which does not exist", abs, target)
		}
		if opts.ReadOnly {
			return storeID{}, kerr.New(kerr.NotFound, "open %q read-only: no store there", abs)
		}
		if !opts.CreateIfMissing && !opts.Recover {
			return storeID{}, kerr.New(kerr.NotFound, "open %q: no store there and create_if_missing is false", abs)
		}
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return storeID{}, kerr.Wrap(kerr.IO, err, "open %q", abs)
		}
		fi, err = os.Stat(abs)
	}
	if err != nil {
		return storeID{}, kerr.Wrap(kerr.IO, err, "open %q", abs)
	}
	if !fi.IsDir() {
		return storeID{}, kerr.Wrap(kerr.IO, syscall.ENOTDIR, "open %q", abs)
	}
	sys, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return storeID{}, kerr.New(kerr.Internal, "open %q: no device and inode for the directory", abs)
	}
	return storeID{dev: uint64(sys.Dev), ino: uint64(sys.Ino)}, nil
}

// enter starts a call on the handle: it fails once the handle is closed,
// and until the returned function runs it keeps the store (and RocksDB)
// open even if another thread closes the handle.
func (db *DB) enter(write bool) (func(), error) {
	if db == nil {
		return nil, kerr.New(kerr.InvalidArgument, "nil database handle")
	}
	for {
		v := db.state.Load()
		if v&closedBit != 0 {
			return nil, kerr.New(kerr.Closed, "database handle is closed")
		}
		if db.state.CompareAndSwap(v, v+1) {
			break
		}
	}
	if write && db.readOnly {
		db.exit()
		return nil, kerr.New(kerr.ReadOnly, "database %q is open read-only", db.st.root)
	}
	return db.exit, nil
}

func (db *DB) exit() {
	if db.state.Add(-1) == closedBit {
		db.st.unref()
	}
}

// Close closes this handle. Later calls fail with kerr.Closed; calls in
// flight on other goroutines finish; open streams of the handle fail with
// kerr.Closed. The store closes when its last handle, call and stream are
// gone. Closing twice is a no-op.
func (db *DB) Close() error {
	if db == nil {
		return nil
	}
	for {
		v := db.state.Load()
		if v&closedBit != 0 {
			return nil
		}
		if db.state.CompareAndSwap(v, v|closedBit) {
			close(db.closedCh)
			if v == 0 {
				db.st.unref()
			}
			return nil
		}
	}
}

// Detach closes this handle as Close does — later calls fail with
// kerr.Closed — except that the streams it already opened go on reading
// until they are released; each holds the store, which closes after the
// last of them. It is what a host language's garbage collector does with
// a handle nothing references any more: the streams it handed out may
// live on elsewhere (an Arrow stream moved into a query engine), and
// failing them would break a read the host never abandoned. Detaching a
// closed handle is a no-op (its streams stay failed).
func (db *DB) Detach() error {
	if db == nil {
		return nil
	}
	if !db.closed() {
		db.detached.Store(true)
	}
	return db.Close()
}

// closed reports whether Close was called.
func (db *DB) closed() bool { return db.state.Load()&closedBit != 0 }

// failsStreams reports whether the handle's open streams fail: closed, and
// not by Detach.
func (db *DB) failsStreams() bool { return db.closed() && !db.detached.Load() }

// SessionID is this handle's session id.
func (db *DB) SessionID() string { return db.sessionID }

// OpenStreams counts the streams of the store not yet closed.
func (db *DB) OpenStreams() int64 { return db.st.openStreams.Load() }

// tryRef takes a reference unless the store is already closing.
func (st *store) tryRef() bool {
	st.refMu.Lock()
	defer st.refMu.Unlock()
	if st.refs == 0 {
		return false
	}
	st.refs++
	return true
}

// ref takes a reference; the caller already holds one.
func (st *store) ref() {
	st.refMu.Lock()
	st.refs++
	st.refMu.Unlock()
}

func (st *store) unref() {
	st.refMu.Lock()
	st.refs--
	last := st.refs == 0
	st.refMu.Unlock()
	if !last {
		return
	}
	// The store stays in openStores until RocksDB is closed: an open of
	// the same root meanwhile finds it, cannot take a reference, and waits
	// for gone. Taken out first, that open went to RocksDB while this one
	// still held its lock and failed with Busy (the last stream of a
	// handle released on another thread, and the store opened again).
	_ = st.hit("store_closing")
	st.flushMemtables()
	st.closeRocks()
	st.releaseStorage()
	if r, ok := st.mem.(*recycler); ok && st.ownsMem {
		r.close()
	}
	openStoresMu.Lock()
	if openStores[st.id] == st {
		delete(openStores, st.id)
	}
	openStoresMu.Unlock()
	close(st.gone)
}

// storeAllocator is the allocator of a store opened with opts, writer or
// storage-only reader alike: the shared pool of opts.Buffers, or the
// caller's allocator (mallocator when none) behind a recycler of the
// store's own (recycle.go), which its last unref closes (owned).
func storeAllocator(opts Options) (mem *recycler, owned bool) {
	if opts.Buffers != nil {
		return opts.Buffers.r, false
	}
	base := opts.Allocator
	if base == nil {
		base = mallocator.NewMallocator()
	}
	return newRecycler(base), true
}

func openStore(root string, id storeID, opts Options) (*store, error) {
	rdir := filepath.Join(root, "rocksdb")
	stor, err := openStorage(root, opts)
	if err != nil {
		return nil, err
	}
	if !opts.ReadOnly {
		stor = newClaimedStorage(stor)
	}
	mem, ownsMem := storeAllocator(opts)
	maxScans := opts.MaxConcurrentScans
	if maxScans <= 0 {
		maxScans = 64
	}
	st := &store{
		id:             id,
		root:           root,
		storageLoc:     storageLocation(root, opts),
		storageDefault: opts.Storage == "",
		readOnly:       opts.ReadOnly,
		mem:            mem,
		ownsMem:        ownsMem,
		storage:        stor,
		refs:           1,
		gone:           make(chan struct{}),
		namespaces:     map[string]int64{},
		tables:         map[string]*table{},
		live:           newLiveRegistry(),
		slots:          make(chan struct{}, maxScans),
		space:          newSpaceGuard(rdir),
		failpoint:      opts.failpoint,
		walLimit:       opts.walLimit,
		noStorageHold:  opts.noStorageHold,
	}
	if err := st.open(rdir, opts); err != nil {
		st.closeRocks()
		st.releaseStorage()
		return nil, fmt.Errorf("open %q: %w", root, err)
	}
	sweepDatasets(filepath.Join(root, datasetDir))
	return st, nil
}

// storageLocation names where a store at root opened with opts keeps its
// storage, the same for every spelling of it: a local directory by its
// resolved absolute path, an object store by its URI.
func storageLocation(root string, opts Options) string {
	if opts.Storage == "" {
		return storage.Location(filepath.Join(root, "storage"))
	}
	return storage.Location(opts.Storage)
}

// sameStorage reports whether loc (storageLocation of another open's
// options) is where the store keeps its storage. The default storage/ of
// the same root is, whatever path named the root (a bind mount).
func (st *store) sameStorage(loc string, opts Options) bool {
	if opts.Storage == "" && st.storageDefault {
		return true
	}
	if loc == st.storageLoc {
		return true
	}
	return sameLocation(loc, st.storageLoc)
}

// openStorage opens where storage/ lives: {root}/storage unless the options
// name another location.
func openStorage(root string, opts Options) (storage.Storage, error) {
	loc := opts.Storage
	if loc == "" {
		loc = filepath.Join(root, "storage")
	}
	so := opts.StorageOptions
	if so.FS == nil {
		so.FS = opts.FS
	}
	return storage.Open(loc, so)
}

// maxTotalWAL bounds RocksDB's write-ahead log. The log is shared by the
// three column families, and a log file stays until every family has
// flushed the memtable that covers it: the manifest and catalog families
// take a few small writes per flush, so without a bound they kept every
// log since their last memtable flush, up to RocksDB's default bound of
// four times all write buffers (1.5 GiB), and each open replayed it all: a
// store that had taken in and flushed 10 M rows kept 581 MiB of logs and
// took 3 s to open. Past the bound RocksDB flushes the families that hold
// the oldest log.
const maxTotalWAL = 128 << 20

// hotWriteBuffer is the size of the data family's memtable. A flush
// range-deletes the hot rows its segment now holds; rows still in the
// memtable then cost RocksDB nothing more (retireFlushedMemtable), while
// rows it had already written to L0 files are read and rewritten by a
// compaction only to be dropped. RocksDB's default of 64 MiB holds about
// 700,000 rows of the bench's table: a 1 M-row append went to L0 as it
// arrived, and the compactions then took 0.2–0.6 CPU-s per flush on the
// host's cores, often during the next flush (docs/DESIGN-NOTES.md
// "RocksDB's share of a flush"). 256 MiB is the flush cache's bound
// (defaultFlushCacheLimit): what one flush from memory writes. The log's
// bound (maxTotalWAL) usually ends a memtable first, near 1.5 M rows.
const hotWriteBuffer = 256 << 20

func (st *store) openRocks(dir string, readOnly bool, mode walMode) error {
	opts := grocksdb.NewDefaultOptions()
	opts.SetMaxTotalWalSize(cmp.Or(st.walLimit, maxTotalWAL))
	opts.SetCreateIfMissing(true)
	opts.SetCreateIfMissingColumnFamilies(true)
	opts.SetWALRecoveryMode(mode.rocks())
	if !readOnly {
		setSafeLogger(opts, filepath.Join(dir, "LOG"))
	}
	names := []string{cfDefault, cfManifests, cfCatalog}
	cfOpts := []*grocksdb.Options{grocksdb.NewDefaultOptions(), grocksdb.NewDefaultOptions(), grocksdb.NewDefaultOptions()}
	cfOpts[0].SetWriteBufferSize(hotWriteBuffer)
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
		return rocksOpenError(dir, err)
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

// rocksOpenError classifies a failed RocksDB open: another process holds
// the lock (Busy), damaged files (Corruption, pointing to recover), or I/O.
func rocksOpenError(dir string, err error) error {
	msg := strings.ToLower(err.Error())
	switch {
	// Before "lock": RocksDB names its LOCK file in these too, and the
	// store is not busy.
	case strings.Contains(msg, "read-only file system"):
		return kerr.Wrap(kerr.IO, err, "open rocksdb %q: the file system is read-only (open the store with read_only to read it)", dir)
	case strings.Contains(msg, "permission denied"):
		return kerr.Wrap(kerr.IO, err, "open rocksdb %q: permission denied", dir)
	case strings.Contains(msg, "no space left"):
		return kerr.Wrap(kerr.IO, err, "open rocksdb %q: the disk is full", dir)
	case strings.Contains(msg, "lock"):
		return kerr.Wrap(kerr.Busy, err, "open rocksdb %q (another process has the store open)", dir)
	case strings.Contains(msg, "corrupt") || strings.Contains(msg, "checksum") || strings.Contains(msg, "no such file") ||
		strings.Contains(msg, "invalid argument") || strings.Contains(msg, "truncated") || strings.Contains(msg, "bad magic"):
		return kerr.Wrap(kerr.Corruption, err,
			"open rocksdb %q: its files are damaged; open with {\"recover\": true} to rebuild what storage/ holds and keep what RocksDB still has", dir)
	}
	return kerr.Wrap(kerr.IO, err, "open rocksdb %q", dir)
}

// retireMinRows is the smallest flush after which retireFlushedMemtable
// flushes the memtable: a memtable flush per small flush would pile up L0
// files, each a little compaction work, for little memory.
const retireMinRows = 64 << 10

// retireMaxL0 is the number of L0 files of the data family from which
// retireFlushedMemtable leaves the memtable to RocksDB.
const retireMaxL0 = 12

// retireFlushedMemtable asks RocksDB, without waiting, to flush the data
// family's memtable when a flush that removed removed hot versions has just
// range-deleted most of it (the rule is worthRetiring). RocksDB's memtable
// flush drops the rows the range deletion covers instead of writing them,
// so the rows a flush moved to its segment never reach an L0 file, and the
// log they were written to is released. The caller must have released its
// read state: a RocksDB snapshot older than the deletion makes RocksDB keep
// the rows (a concurrent reader's snapshot still may; the rows then go to
// L0 and a compaction drops them later, as before).
func (st *store) retireFlushedMemtable(removed int64) {
	if st.logCrowdsDisk() {
		// Every family: each memtable holding a write of the log keeps it.
		fo := grocksdb.NewDefaultFlushOptions()
		defer fo.Destroy()
		fo.SetWait(false)
		for _, cf := range []*grocksdb.ColumnFamilyHandle{st.cfData, st.cfMan, st.cfCat} {
			_ = st.rdb.FlushCF(cf, fo)
		}
		return
	}
	entries, ok1 := st.rdb.GetIntPropertyCF("rocksdb.num-entries-active-mem-table", st.cfData)
	imm, ok2 := st.rdb.GetIntPropertyCF("rocksdb.num-immutable-mem-table", st.cfData)
	l0, err := strconv.Atoi(st.rdb.GetPropertyCF("rocksdb.num-files-at-level0", st.cfData))
	if !ok1 || !ok2 || err != nil || !worthRetiring(removed, entries, imm, l0) {
		return
	}
	fo := grocksdb.NewDefaultFlushOptions()
	defer fo.Destroy()
	fo.SetWait(false)
	// A failure leaves the memtable to RocksDB's own triggers: nothing to
	// report, the flush is committed.
	_ = st.rdb.FlushCF(st.cfData, fo)
}

// logCrowdsDisk reports whether RocksDB's log takes a quarter of the
// free space or more (and at least 1 MiB) while there is still room to
// flush the memtables safely: on a small disk the log's bound
// (maxTotalWAL, 128 MiB) is more than the disk, and the log, which stays
// until the memtables covering it are flushed, kept 18 MiB of rows long
// since moved to segments on a 24 MiB disk, until the space reserve
// refused every write and only a reopen helped. The memtables are flushed
// here, after a flush, while there is room: a memtable flush that fails
// for want of space stops RocksDB, and DB::Resume after a resume whose own
// flush failed hung (RocksDB 7.8.3), so a flush when the reserve refuses a
// write is no remedy.
func (st *store) logCrowdsDisk() bool {
	if st.space.off {
		return false
	}
	free, total, err := statSpace(st.space.dir)
	if err != nil {
		return false
	}
	logs := logBytes(st.space.dir)
	if logs < 1<<20 || logs*4 < free {
		return false
	}
	mem, ok := st.rdb.GetIntProperty("rocksdb.cur-size-all-mem-tables")
	return ok && free-reserveFor(total) > 2*int64(mem)
}

// logBytes is the size of the write-ahead log files in a RocksDB directory.
func logBytes(dir string) int64 {
	ents, _ := os.ReadDir(dir)
	var n int64
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".log") {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
	}
	return n
}

// worthRetiring is retireFlushedMemtable's rule. A flush that removed
// removed hot versions has RocksDB flush the data family's memtable (of
// entries entries, with imm immutable memtables waiting and l0 files in
// L0) when:
//   - it removed at least retireMinRows versions and half of the memtable
//     (an empty one has nothing to retire);
//   - no earlier memtable is still waiting (a manual flush would wait for
//     it);
//   - L0 is below retireMaxL0: near RocksDB's slowdown trigger (20 files by
//     default) a manual flush waits for compactions first, and this one is
//     not worth a wait.
func worthRetiring(removed int64, entries, imm uint64, l0 int) bool {
	return removed >= retireMinRows && entries > 0 && uint64(removed)*2 >= entries && imm == 0 && l0 < retireMaxL0
}

// flushMemtables writes a writer's RocksDB memtables to SST files as the
// store closes, so that the next open replays no log: without it every
// open replayed the writes since the last memtable flush (up to
// maxTotalWAL), a writer's and a read-only reader's alike. Rows the store
// already flushed to segments are range-deleted, so RocksDB's flush drops
// them rather than writing them. A failure (a full disk, say) leaves the
// log in place, which the next open replays: nothing is lost.
func (st *store) flushMemtables() {
	if st.rdb == nil || st.readOnly || st.hit("close_flush") != nil {
		return
	}
	fo := grocksdb.NewDefaultFlushOptions()
	defer fo.Destroy()
	fo.SetWait(true)
	for _, cf := range []*grocksdb.ColumnFamilyHandle{st.cfData, st.cfMan, st.cfCat} {
		if err := st.rdb.FlushCF(cf, fo); err != nil {
			return
		}
	}
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
