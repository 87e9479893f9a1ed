package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/uuid"
	"github.com/linxGnu/grocksdb"

	"github.com/kalamdb/libkalam/kerr"
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
// store that writes it (ownerFile). A read-write open refuses a root that
// names another store; recover, which rebuilds a catalog from storage,
// takes the root's id over (unless the store it names is open). Readers
// (read-only and storage-only) only read, and do not look.

// ownerFile is the storage root's record of its store. Its name is no
// namespace name (it holds a '.'), so listings of namespaces skip it.
const ownerFile = "_kalam_store.json"

// catStoreID is the catalog key of the store's id.
const catStoreID = "ctr\x00store_id"

// storageOwner is ownerFile's content.
type storageOwner struct {
	StoreID string `json:"store_id"`
	// Root is the store's root directory when it claimed the storage: for
	// the message that names it, and to tell whether it is open.
	Root      string `json:"root"`
	ClaimedAt int64  `json:"claimed_at"`
}

// claimStorage checks that the store's storage root is its own and records
// it there when the root names no store yet, or a store of the same root
// directory (this one, made again there). With recover a root naming
// another store is taken over, unless that store is open (its root is
// known on this machine and its RocksDB locked, or it is open in this
// process). Writing the record is best effort: a full or read-only storage
// must not keep the store from opening (the next open writes it).
func (st *store) claimStorage(recover bool) error {
	ctx := context.Background()
	mineRaw, err := st.getCat([]byte(catStoreID))
	if err != nil {
		return err
	}
	mine := string(mineRaw)
	var owner storageOwner
	present := false
	raw, err := st.storage.ReadFile(ctx, ownerFile)
	switch {
	case kerr.Is(err, kerr.NotFound):
	case err != nil:
		return fmt.Errorf("read %s: %w", ownerFile, err)
	default:
		// A damaged record holds no data: it is written again below.
		present = json.Unmarshal(raw, &owner) == nil && owner.StoreID != ""
	}
	// A store made again in the same root (rocksdb/ removed, or its
	// catalog rebuilt by a recover that was interrupted) is that root's
	// store: two stores cannot hold one root at once (RocksDB's lock).
	sameRoot := present && sameDir(owner.Root, st.root)
	if present && owner.StoreID != mine && sameRoot && mine != "" {
		present = false // rewritten with this catalog's id below
	}
	if present && owner.StoreID != mine {
		if !recover && !sameRoot {
			return kerr.New(kerr.Corruption,
				"storage %s belongs to another store (id %s, root %q; this store's id is %s): two stores writing one storage overwrite each other's segments. Give this store storage of its own, or, if that store is gone for good, open with {\"recover\": true} to take its storage over",
				st.storage, owner.StoreID, owner.Root, orNone(mine))
		}
		if !sameRoot && ownerIsOpen(owner.Root) {
			return kerr.New(kerr.Busy, "storage %s belongs to the store at %q, which is open: recover does not take over the storage of an open store", st.storage, owner.Root)
		}
		mine = owner.StoreID
		if err := st.putStoreID(mine); err != nil {
			return err
		}
	}
	if mine == "" {
		mine = uuid.NewString()
		if err := st.putStoreID(mine); err != nil {
			return err
		}
	}
	if present && owner.StoreID == mine && owner.Root == st.root {
		return nil
	}
	rec, err := json.Marshal(storageOwner{StoreID: mine, Root: st.root, ClaimedAt: nowMs()})
	if err != nil {
		return kerr.Wrap(kerr.Internal, err, "encode %s", ownerFile)
	}
	_ = st.storage.WriteFile(ctx, ownerFile, rec)
	return nil
}

func (st *store) putStoreID(id string) error {
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	wb.PutCF(st.cfCat, []byte(catStoreID), []byte(id))
	return st.writeSync(wb, "record the store's id")
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
