package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"

	"github.com/google/uuid"
	"github.com/linxGnu/grocksdb"

	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/storage"
)

// A storage root is written by one store. Two stores whose storage is one
// root (a shared "storage" option, a storage/ symlinked into another
// store, one S3 prefix) each number their segments from what their own
// catalog knows: a flush of the second wrote segment_001 over the first's
// committed segment, whose rows the first had already deleted from
// RocksDB. The check at open that storage holds no table the catalog does
// not know misses every store that has not flushed yet.
//
// So each store has an id in its catalog, and the storage root names the
// store that writes it (ownerFile): its id, its root and where it found
// this storage. A read-write open (claimStorage) refuses storage that
// names another store, and storage whose store of the same id (a copy of
// this one) still has its root elsewhere. Recover takes storage over under
// a new id, so the store it replaces is refused if it comes back; it does
// not take over the storage of a store that is open. A record that names
// other storage came with a copy of the files (a whole store copied): the
// copy goes on as a store of its own, under a new id. Readers (read-only
// and storage-only) only read, and do not look.

// ownerFile is the storage root's record of its store. Its name is no
// namespace name (it holds a '.'), so listings of namespaces skip it.
const ownerFile = "_kalam_store.json"

// catStoreID is the catalog key of the store's id.
const catStoreID = "ctr\x00store_id"

// storageOwner is ownerFile's content.
type storageOwner struct {
	StoreID string `json:"store_id"`
	// Root is the store's root directory when it claimed the storage: for
	// messages, and to tell a copy of the store from the store moved.
	Root string `json:"root"`
	// Storage is where that store found this storage (storageLocation):
	// a record naming other storage was copied with the files.
	Storage string `json:"storage"`
	// Host is the machine the store ran on (os.Hostname): a root or
	// storage path of another machine says nothing here.
	Host      string `json:"host"`
	ClaimedAt int64  `json:"claimed_at"`
}

// claimStorage checks that the store's storage is its own (see above) and
// records it there. recover is a recover asked for or one being redone.
// Writing the record is best effort: storage that refuses writes (a full
// disk) must not keep the store from opening; the next open writes it.
//
// Storage that has no record yet is claimed with an exclusive create: two
// stores opening it for the first time at once both found no record, and
// both went on to write segment_001 of their first tables. The one that
// loses the create decides again on the winner's record.
func (st *store) claimStorage(recover bool) error {
	for attempt := 0; ; attempt++ {
		lost, err := st.claimStorageOnce(recover, false)
		if !lost || err != nil {
			return err
		}
		if attempt == 2 {
			// Records created and gone again, three times over: something
			// else keeps removing it; this store does not win a race with
			// it.
			return kerr.New(kerr.Busy, "storage %s: its record %s keeps changing while this store claims it; open again when nothing else writes there", st.storage, ownerFile)
		}
	}
}

// holdStorage holds the storage root while the store is open
// (storage.HoldRoot), before its claim: a recover here found the store it
// replaces open or not by the RocksDB lock at the root its record names,
// and a store whose root was renamed while open was not found there; the
// recover got in, and both wrote. The root's own hold is found whatever
// the store's root is called now. Storage that cannot be held (a full or
// read-only disk, no locks, object storage) leaves the record to decide.
func (st *store) holdStorage() error {
	if st.noStorageHold {
		return nil
	}
	release, err := rawStorage(st.storage).HoldRoot(context.Background())
	switch {
	case kerr.Is(err, kerr.Busy):
		return st.storageInUseError(err)
	case err != nil:
		return nil
	}
	st.storageHold = release
	return nil
}

func (st *store) storageInUseError(err error) error {
	return kerr.Wrap(kerr.Busy, err,
		"storage %s is in use by another store open read-write on this machine: two stores writing one storage overwrite each other's segments; close that store first",
		st.storage)
}

// storageInUse is holdStorage's refusal, nil when the storage could be
// held now; it holds nothing. An open about to refuse for what storage
// holds (tables no catalog here knows) says first that another store has
// it open: the advice it would give (recover) is refused too meanwhile.
func (st *store) storageInUse() error {
	if st.noStorageHold {
		return nil
	}
	release, err := rawStorage(st.storage).HoldRoot(context.Background())
	if kerr.Is(err, kerr.Busy) {
		return st.storageInUseError(err)
	}
	if err == nil {
		release()
	}
	return nil
}

// releaseStorage gives the storage root's hold back.
func (st *store) releaseStorage() {
	if st.storageHold != nil {
		st.storageHold()
		st.storageHold = nil
	}
}

// openOwnerError refuses a recover the storage of the store at root,
// whose RocksDB is locked: that store is open, or another recover, taking
// the storage over from it, holds its lock (lockStoreRoot) until its own
// record is written.
func openOwnerError(s storage.Storage, root string) error {
	return kerr.New(kerr.Busy,
		"storage %s belongs to the store at %q, which is open, or which another recover is taking the storage over from right now (it holds that store's lock): recover does not take over the storage of an open store; open again (without recover) to see whose the storage is",
		s, root)
}

// strangerStorageError is the refusal of an open that finds no store at
// its root (no rocksdb/) but storage that holds tables and records
// another store, nil when the record names no other store: the advice to
// recover, right for a store that lost its catalog, would take that
// store's storage over.
func (st *store) strangerStorageError(tables int) error {
	raw, err := st.storage.ReadFile(context.Background(), ownerFile)
	if err != nil {
		return nil
	}
	var owner storageOwner
	if json.Unmarshal(raw, &owner) != nil || owner.StoreID == "" {
		return nil
	}
	host, _ := os.Hostname()
	here := owner.Host == "" || owner.Host == host
	if here && (sameDir(owner.Root, st.root) || !holdsStore(owner.Root)) || !here && owner.Root == st.root {
		return nil // this store's storage (or its store gone from there): a lost catalog
	}
	if owner.Storage != "" && otherStorage(owner.Storage, st.storageLoc, here) {
		return nil // copied with the files: a store copied whole
	}
	return kerr.New(kerr.Corruption,
		"storage %s belongs to another store (id %s, root %q on %s) and holds %d table(s) of it; there is no store at %s (no rocksdb/). Give this store storage of its own, or, if that store is gone for good, open with {\"recover\": true} to take its storage over",
		st.storage, owner.StoreID, owner.Root, orNone(owner.Host), tables, st.root)
}

// storageOwnerError is the refusal a read-write open would give because
// the storage is another store's, nil when it would give none; it writes
// nothing. A read-only open, which does not claim storage, reports it
// rather than what the other store's tables look like to this catalog
// ("RocksDB lost commits ... recover", which would take the storage over).
func (st *store) storageOwnerError() error {
	_, err := st.claimStorageOnce(false, true)
	if kerr.Is(err, kerr.Corruption) {
		return err
	}
	return nil
}

// claimStorageOnce is one claim (with check, only its decision: nothing
// is written); lost reports an exclusive create of the record that
// another writer won.
func (st *store) claimStorageOnce(recover, check bool) (lost bool, err error) {
	ctx := context.Background()
	mineRaw, err := st.getCat([]byte(catStoreID))
	if err != nil {
		return false, err
	}
	mine := string(mineRaw)
	var owner storageOwner
	present, absent := false, false
	raw, err := st.storage.ReadFile(ctx, ownerFile)
	if !check {
		if err := st.hit("claim_storage_read"); err != nil {
			return false, err
		}
	}
	switch {
	case kerr.Is(err, kerr.NotFound):
		absent = true
	case err != nil:
		return false, fmt.Errorf("read %s: %w", ownerFile, err)
	default:
		present = json.Unmarshal(raw, &owner) == nil && owner.StoreID != ""
		if !present && !recover {
			// No write of ours leaves one damaged (a record is created or
			// replaced whole): something else wrote it. Replacing it is
			// not exclusive, so stores opening at once would all get in.
			return false, kerr.New(kerr.Corruption,
				"storage %s holds a damaged %s (%d bytes, not a store's record): it cannot tell which store writes this storage. If no other store does, open with {\"recover\": true} to claim it",
				st.storage, ownerFile, len(raw))
		}
	}
	host, _ := os.Hostname()
	// Paths in the record mean something only on the machine that wrote
	// it (a record from before Host was kept: this one).
	here := present && (owner.Host == "" || owner.Host == host)
	if present && owner.Storage != "" && otherStorage(owner.Storage, st.storageLoc, here) {
		// Copied with the files from the storage it names: this store is
		// a fork, not the store the record names.
		present = false
		if mine == owner.StoreID {
			mine = ""
		}
	}
	// From another machine, the same root path with the same id is taken
	// for this store on a machine whose name changed (a container moved):
	// a copy at that path there cannot be told apart.
	ownRoot := here && sameDir(owner.Root, st.root) || !here && owner.Root == st.root
	switch {
	case !present:
	case owner.StoreID == mine && (ownRoot || here && !holdsStore(owner.Root)):
		// This store, maybe moved: its old root holds no store any more.
	case owner.StoreID == mine && !recover:
		return false, kerr.New(kerr.Corruption,
			"storage %s is written by the store at %q on %s, a copy of this store (the same store id %s) that may still be in use: two copies writing one storage overwrite each other's segments. Remove the other copy or open it instead; or, to make this one the storage's store (a store moved to this machine, say), open with {\"recover\": true}",
			st.storage, owner.Root, orNone(owner.Host), mine)
	case !recover:
		return false, kerr.New(kerr.Corruption,
			"storage %s belongs to another store (id %s, root %q on %s; this store's id is %s): two stores writing one storage overwrite each other's segments. Give this store storage of its own, or, if that store is gone for good, open with {\"recover\": true} to take its storage over",
			st.storage, owner.StoreID, owner.Root, orNone(owner.Host), orNone(mine))
	case here && !ownRoot && ownerIsOpen(owner.Root):
		return false, openOwnerError(st.storage, owner.Root)
	case ownRoot:
		// A recover in this store's own root keeps its id (the rebuild
		// took it over: adoptStorageID).
		mine = owner.StoreID
		if check {
			break
		}
		if err := st.putStoreID(mine); err != nil {
			return false, err
		}
	default:
		// Taken over under a new id: the store it replaces, should it
		// come back, is another store to this storage.
		mine = ""
	}
	if check {
		return false, nil
	}
	if present && owner.StoreID != mine && here && !ownRoot {
		// The store taken over must not open until the record names
		// this one: checking that it is not open and then writing left
		// a window in which it opened, read itself in the record and
		// wrote on (both stores in, a flush overwriting the other's
		// segment). Its RocksDB lock, held here, keeps its open out.
		release, ok := lockStoreRoot(owner.Root)
		if !ok {
			return false, openOwnerError(st.storage, owner.Root)
		}
		defer release()
	}
	if mine == "" {
		mine = uuid.NewString()
		if err := st.putStoreID(mine); err != nil {
			return false, err
		}
	}
	cs, _ := st.storage.(*claimedStorage)
	if present && owner.StoreID == mine && owner.Root == st.root && owner.Storage == st.storageLoc && owner.Host == host {
		if cs != nil {
			cs.hold(raw)
		}
		return false, nil
	}
	rec, err := json.Marshal(storageOwner{StoreID: mine, Root: st.root, Storage: st.storageLoc, Host: host, ClaimedAt: nowMs()})
	if err != nil {
		return false, kerr.Wrap(kerr.Internal, err, "encode %s", ownerFile)
	}
	if absent {
		if err := st.hit("claim_storage_before_create"); err != nil {
			return false, err
		}
		raw := rawStorage(st.storage)
		err := raw.CreateExclusive(ctx, ownerFile, rec)
		if kerr.Is(err, kerr.AlreadyExists) {
			return true, nil
		}
		switch {
		case cs == nil:
		case err != nil:
			cs.defer_(rec, true, nil, mine, st.root)
		default:
			cs.hold(rec)
		}
		return false, nil
	}
	takeover := present && owner.StoreID != mine
	if takeover {
		if err := st.hit("claim_storage_before_takeover"); err != nil {
			return false, err
		}
	}
	if err := st.hit("claim_storage_before_replace"); err != nil {
		return false, err
	}
	// Replaced only if it is still the record read above: two recovers
	// at once (or a recover and a moved store's first open) each read
	// the old record, each wrote its own over it, and both got in.
	err = rawStorage(st.storage).ReplaceIf(ctx, ownerFile, raw, rec)
	switch {
	case err == nil:
		if cs != nil {
			cs.hold(rec)
		}
		st.tookOver = takeover
	case kerr.Is(err, kerr.AlreadyExists) || kerr.Is(err, kerr.NotFound):
		if recover {
			// Another store claimed it while this one decided: a recover
			// takes storage over from a store that is gone, not from one
			// claiming it now.
			return false, kerr.New(kerr.Busy,
				"storage %s: another store wrote its record (%s) while this recover was taking the storage over; open again (without recover) to see whose it is",
				st.storage, ownerFile)
		}
		return true, nil
	case takeover:
		// A takeover that storage does not show is none: the store it
		// replaces, opened again, would find itself named there and
		// write on.
		return false, kerr.Wrap(kerr.CodeOfOr(err, kerr.IO), err,
			"take storage %s over from the store at %q: write %s (free space, or make the storage writable, and open again)",
			st.storage, owner.Root, ownerFile)
	case cs != nil:
		cs.defer_(rec, false, raw, mine, st.root)
	}
	return false, nil
}

// claimedStorage is a read-write store's storage as its writes see it.
//
// A record that could not be written at open (a full or read-only disk:
// the open goes on, best effort) is written before the store's first
// write to storage: two stores opened on a full disk, one after the
// other, both got in without a record and the second's first flush wrote
// over the first's segment_001 once space was freed.
//
// And every write checks first that the record still names this store:
// a recover on another machine (which cannot see this store's lock), or
// another store opened after the record was removed by hand, took the
// storage while this store was open, and both wrote. A write of a store
// whose record names another is refused, and so is every later one.
type claimedStorage struct {
	storage.Storage
	mu     sync.Mutex
	rec    []byte // the record still to write
	create bool   // exclusively: the storage had no record at open
	seen   []byte // else the record found at open, which rec replaces
	id     string
	root   string
	held   []byte // the record in storage naming this store, once there
	lost   error  // another store claimed the storage: every write is refused
}

func newClaimedStorage(s storage.Storage) *claimedStorage {
	return &claimedStorage{Storage: s}
}

// rawStorage is the storage under a claimedStorage (s itself otherwise).
func rawStorage(s storage.Storage) storage.Storage {
	if c, ok := s.(*claimedStorage); ok {
		return c.Storage
	}
	return s
}

// defer_ makes the record rec (of store id at root) wait for the first
// write: created exclusively, or replacing seen, the record found at open
// (damaged, or copied from other storage), only if that is still there.
func (c *claimedStorage) defer_(rec []byte, create bool, seen []byte, id, root string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rec, c.create, c.seen, c.id, c.root = rec, create, seen, id, root
	c.held = nil
}

// hold notes rec as the record in storage that names this store: from
// now on each write checks that it is still there.
func (c *claimedStorage) hold(rec []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held = slices.Clone(rec)
}

// claim writes the pending record, if any, or checks the one held.
func (c *claimedStorage) claim(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lost != nil {
		return c.lost
	}
	if c.rec == nil {
		return c.check(ctx)
	}
	var err error
	if c.create {
		err = c.Storage.CreateExclusive(ctx, ownerFile, c.rec)
	} else {
		// Replaced only if it is still the record found at open: another
		// store that wrote its own since has claimed the storage.
		err = c.Storage.ReplaceIf(ctx, ownerFile, c.seen, c.rec)
		if kerr.Is(err, kerr.NotFound) {
			err = c.Storage.CreateExclusive(ctx, ownerFile, c.rec)
		}
	}
	held := c.rec
	if kerr.Is(err, kerr.AlreadyExists) {
		raw, rerr := c.Storage.ReadFile(ctx, ownerFile)
		if rerr != nil {
			return fmt.Errorf("read %s: %w", ownerFile, rerr)
		}
		var o storageOwner
		if json.Unmarshal(raw, &o) != nil || o.StoreID != c.id || o.Root != c.root {
			c.lost = kerr.New(kerr.Corruption,
				"storage %s was taken by another store (id %s, root %q on %s) while this store could not write its record there (at open): two stores writing one storage overwrite each other's segments, so this store writes nothing there; close it",
				c.Storage, o.StoreID, o.Root, orNone(o.Host))
			return c.lost
		}
		held, err = raw, nil
	}
	if err != nil {
		return fmt.Errorf("record this store in its storage (%s) before writing there: %w", ownerFile, err)
	}
	c.rec, c.held = nil, held
	return nil
}

// check makes sure the record held still names this store (c.mu held).
// A record gone (removed by hand) is put back, exclusively.
func (c *claimedStorage) check(ctx context.Context) error {
	if c.held == nil {
		return nil // not claimed yet: the open is still deciding
	}
	cur, err := c.Storage.ReadFile(ctx, ownerFile)
	if kerr.Is(err, kerr.NotFound) {
		err = c.Storage.CreateExclusive(ctx, ownerFile, c.held)
		if err == nil {
			return nil
		}
		if !kerr.Is(err, kerr.AlreadyExists) {
			return fmt.Errorf("put back this store's record %s, which is gone from its storage, before writing there: %w", ownerFile, err)
		}
		cur, err = c.Storage.ReadFile(ctx, ownerFile)
	}
	if err != nil {
		return fmt.Errorf("check this store's record %s before writing to its storage: %w", ownerFile, err)
	}
	if bytes.Equal(cur, c.held) {
		return nil
	}
	var o storageOwner
	if json.Unmarshal(cur, &o) != nil || o.StoreID == "" {
		c.lost = kerr.New(kerr.Corruption,
			"storage %s: its record %s was overwritten while this store was open (%d bytes, not a store's record), so this store writes nothing there; close it",
			c.Storage, ownerFile, len(cur))
		return c.lost
	}
	c.lost = kerr.New(kerr.Corruption,
		"storage %s was taken by another store (id %s, root %q on %s) while this store was open (a recover elsewhere, or this store's record removed and another store opened there): two stores writing one storage overwrite each other's segments, so this store writes nothing there; close it",
		c.Storage, o.StoreID, o.Root, orNone(o.Host))
	return c.lost
}

func (c *claimedStorage) Create(ctx context.Context, name string) (storage.Writer, error) {
	if err := c.claim(ctx); err != nil {
		return nil, err
	}
	return c.Storage.Create(ctx, name)
}

func (c *claimedStorage) WriteFile(ctx context.Context, name string, data []byte) error {
	if err := c.claim(ctx); err != nil {
		return err
	}
	return c.Storage.WriteFile(ctx, name, data)
}

func (c *claimedStorage) CreateExclusive(ctx context.Context, name string, data []byte) error {
	if err := c.claim(ctx); err != nil {
		return err
	}
	return c.Storage.CreateExclusive(ctx, name, data)
}

// lostClaim is the refusal of every write when another store claimed the
// storage while this one's record waited (nil otherwise: the claim made
// now, or still waiting for a storage that refuses writes).
func (c *claimedStorage) lostClaim(ctx context.Context) error {
	if err := c.claim(ctx); kerr.Is(err, kerr.Corruption) {
		return err
	}
	return nil
}

// storageClaimLost is claimedStorage.lostClaim for the store's storage:
// a commit whose storage writes are best effort (a schema change: its
// mirror) asks it first, or it would be acknowledged in a catalog whose
// storage this store may no longer write.
func (st *store) storageClaimLost() error {
	if c, ok := st.storage.(*claimedStorage); ok {
		return c.lostClaim(context.Background())
	}
	return nil
}

// Remove and RemoveAll wait for the claim only when it is lost: a store
// that cannot write its record (a full disk) can still free space (a
// vacuum, a drop) in storage it opened as its own.
func (c *claimedStorage) Remove(ctx context.Context, name string) error {
	if err := c.lostClaim(ctx); err != nil {
		return err
	}
	return c.Storage.Remove(ctx, name)
}

func (c *claimedStorage) RemoveAll(ctx context.Context, dir string) error {
	if err := c.lostClaim(ctx); err != nil {
		return err
	}
	return c.Storage.RemoveAll(ctx, dir)
}

// putStoreID records the store's id in its catalog and flushes the
// catalog's memtable: an id lost with the write-ahead log would make the
// store a stranger to its own storage.
func (st *store) putStoreID(id string) error {
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	wb.PutCF(st.cfCat, []byte(catStoreID), []byte(id))
	if err := st.writeSync(wb, "record the store's id"); err != nil {
		return err
	}
	fo := grocksdb.NewDefaultFlushOptions()
	defer fo.Destroy()
	fo.SetWait(true)
	if err := st.rdb.FlushCF(st.cfCat, fo); err != nil {
		return kerr.Wrap(kerr.IO, err, "flush the catalog")
	}
	return nil
}

// holdsStore reports whether root (a path of this machine) holds a store.
func holdsStore(root string) bool {
	if root == "" {
		return false
	}
	fi, err := os.Stat(filepath.Join(root, "rocksdb"))
	return err == nil && fi.IsDir()
}

// otherStorage reports whether the storage a record names (rec) is known
// to be another storage than this store's (mine), both storageLocation
// results: object storage by its canonical URI, a local path only on the
// machine that wrote the record (here) and when it exists. Unknown is not
// other: a record is taken for a copy only when it surely is one.
func otherStorage(rec, mine string, here bool) bool {
	if storage.HasScheme(rec) || storage.HasScheme(mine) {
		return rec != mine
	}
	if !here {
		return false
	}
	if _, err := os.Stat(rec); err != nil {
		return false
	}
	return !sameDir(rec, mine)
}

// adoptStorageID gives a catalog being rebuilt in this store's own root
// the id its storage records, before the rebuilt catalog replaces the old
// one: a recover killed after that rename then reopens as the storage's
// store, without a recover.
func (st *store) adoptStorageID() error {
	raw, err := st.storage.ReadFile(context.Background(), ownerFile)
	if err != nil {
		return nil // none, or unreadable: the claim at open decides
	}
	var owner storageOwner
	host, _ := os.Hostname()
	if json.Unmarshal(raw, &owner) != nil || owner.StoreID == "" || owner.Host != "" && owner.Host != host || !sameDir(owner.Root, st.root) {
		return nil
	}
	if owner.Storage != "" && otherStorage(owner.Storage, st.storageLoc, true) {
		return nil
	}
	return st.putStoreID(owner.StoreID)
}

// sameLocation reports whether two storageLocation results name the same
// storage.
func sameLocation(a, b string) bool {
	if a == b {
		return true
	}
	return !storage.HasScheme(a) && !storage.HasScheme(b) && sameDir(a, b)
}

// ownerIsOpen reports whether the store rooted at root is open: in this
// process, or (its RocksDB locked) in another process of this machine.
// The caller holds openStoresMu (Open holds it while opening a store).
func ownerIsOpen(root string) bool {
	if root == "" {
		return false
	}
	for _, s := range openStores {
		if s.root == root {
			return true
		}
	}
	_, held := rocksLockHolder(filepath.Join(root, "rocksdb"))
	return held
}

// lockStoreRoot takes the RocksDB lock of the store rooted at root (a
// path of this machine) as RocksDB's open takes it, so that the store
// cannot open until release; ok is false when the lock is held (the store
// is open). No lock file: no store there to keep out. The lock is this
// process's: nothing else here may open and close that file meanwhile
// (closing any descriptor of it drops the lock).
func lockStoreRoot(root string) (release func(), ok bool) {
	f, err := os.OpenFile(filepath.Join(root, "rocksdb", "LOCK"), os.O_RDWR, 0)
	if err != nil {
		return func() {}, true
	}
	lk := syscall.Flock_t{Type: syscall.F_WRLCK}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &lk); err != nil {
		f.Close()
		return nil, false
	}
	return func() { f.Close() }, true
}

// sameDir reports whether the paths a and b name one directory (the same
// path, or the same device and inode: a symlink, a bind mount).
func sameDir(a, b string) bool {
	if a == b {
		return true
	}
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

func orNone(s string) string {
	if s == "" {
		return "not set yet"
	}
	return s
}
