package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/linxGnu/grocksdb"

	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/vfs"
)

// walMode is how RocksDB replays its write-ahead log at open.
//
// A normal open tolerates only an incomplete last record (what a power loss
// leaves after acknowledged-but-unsynced appends) and refuses any other
// damage with kerr.Corruption: replaying to the damage and dropping the rest
// (RocksDB's default, point-in-time recovery) would silently lose synced
// commits and acknowledged appends after it. An open with recover salvages
// what the log holds up to the damage, then restores from storage whatever
// commits the log lost.
type walMode int

const (
	walTolerateTail walMode = iota
	walPointInTime
)

func (m walMode) rocks() grocksdb.WALRecoveryMode {
	if m == walPointInTime {
		return grocksdb.PointInTimeRecovery
	}
	return grocksdb.TolerateCorruptedTailRecordsRecovery
}

// open brings a store up: RocksDB (rebuilt from storage by recover when it
// is missing or beyond repair), the catalog, the check that the catalog
// holds everything storage holds, and step 4 of DESIGN §2.2.
func (st *store) open(rdir string, opts Options) error {
	if opts.Recover && opts.ReadOnly {
		return kerr.New(kerr.InvalidArgument, "recover needs a read-write open")
	}
	rep := &recoverReport{}
	_, statErr := os.Stat(rdir)
	rocksMissing := errors.Is(statErr, os.ErrNotExist)
	recoverDir := rdir + ".recover"
	_, rerr := os.Stat(recoverDir)
	interrupted := rerr == nil
	rebuilt := false // the catalog is rebuilt from storage (a recover, or one redone)
	switch {
	case rocksMissing && opts.ReadOnly:
		return kerr.New(kerr.NotFound, "no store there (no rocksdb/)")
	case rocksMissing && (opts.Recover || interrupted):
		rebuilt = true
		// A recover asked for, or one that did not finish: rebuild aside.
		if err := st.rebuildInto(rdir, rep); err != nil {
			return err
		}
	case rocksMissing:
		tables, err := st.storageTables(context.Background())
		if err != nil {
			return err
		}
		if !opts.CreateIfMissing {
			return kerr.New(kerr.NotFound, "no store there (no rocksdb/; storage/ holds %d table(s), which {\"recover\": true} rebuilds the catalog from) and create_if_missing is false", len(tables))
		}
		if len(tables) > 0 {
			if err := st.strangerStorageError(len(tables)); err != nil {
				return err
			}
			if err := st.storageInUse(); err != nil {
				return err
			}
			return kerr.New(kerr.Corruption,
				"rocksdb/ is missing but storage/ holds %d table(s); open with {\"recover\": true} to rebuild the catalog from them", len(tables))
		}
	case interrupted:
		// RocksDB is in place, so the leftover is from before a finished rename.
		if err := os.RemoveAll(recoverDir); err != nil {
			return kerr.Wrap(kerr.IO, err, "remove %s", recoverDir)
		}
	}
	if opts.ReadOnly {
		if pid, held := rocksLockHolder(rdir); held {
			return kerr.New(kerr.Busy, "the store is open read-write in another process (pid %d): its hot rows and catalog change under a read-only open, which would read them inconsistently; read what its storage holds with a storage-only reader ({\"storage\": URI, \"read_only\": true})", pid)
		}
	}
	err := st.openRocks(rdir, opts.ReadOnly, walTolerateTail)
	if err != nil && opts.Recover && kerr.Is(err, kerr.Corruption) {
		err = st.salvage(rdir, err, rep)
	}
	if err != nil {
		return err
	}
	if err := st.loadCatalog(); err != nil {
		return err
	}
	if !opts.ReadOnly {
		// Refused storage is refused before its tables are looked at: a
		// store pointed at another's storage hears whose it is.
		if _, err := st.claimStorageOnce(opts.Recover || rebuilt, true); err != nil {
			return err
		}
	}
	issues, strays, err := st.checkStorage(opts.Recover)
	if err != nil {
		return err
	}
	if len(issues) > 0 && !opts.Recover {
		if opts.ReadOnly {
			if err := st.storageOwnerError(); err != nil {
				return err
			}
		} else if err := st.storageInUse(); err != nil {
			// Storage another store has open holds what this catalog
			// lacks: that, not a recover, is the answer.
			return err
		}
		// No claim is written for an open that fails: an existing store
		// given another store's storage by mistake (a copy not yet
		// opened, storage with no record) left its record there, and the
		// storage's own store was refused at its next open.
		return issuesError(issues)
	}
	if !opts.ReadOnly {
		if err := st.holdStorage(); err != nil {
			return err
		}
		// Before anything is repaired from storage or written to it.
		if err := st.claimStorage(opts.Recover || rebuilt); err != nil {
			return err
		}
	}
	if len(issues) > 0 {
		if err := st.repairFromStorage(issues, rep); err != nil {
			return err
		}
		st.namespaces, st.tables = map[string]int64{}, map[string]*table{}
		if err := st.loadCatalog(); err != nil {
			return err
		}
	}

	global, err := st.getUint64([]byte(catSeqHighWater))
	if err != nil {
		return err
	}
	hwm := int64(global)
	for _, t := range st.tables {
		hwm = max(hwm, t.hwm)
	}
	st.seq = newSeqGen(int64(opts.NodeID), hwm)
	if !opts.ReadOnly {
		if err := st.ensureDefaultNamespace(); err != nil {
			return err
		}
		if err := st.finishDrops(); err != nil {
			return err
		}
		if err := st.sweepUncommittedCreates(strays); err != nil {
			return err
		}
		for _, t := range st.sortedTables() {
			if err := st.syncTableStorage(t); err != nil {
				return fmt.Errorf("table %s: %w", t.qname, err)
			}
		}
	}
	return rep.err()
}

// rebuildInto builds a catalog from storage in rdir.recover and renames it
// to rdir when complete, so that an interrupted recover leaves no RocksDB
// that opens half-empty (the next open redoes it).
func (st *store) rebuildInto(rdir string, rep *recoverReport) error {
	tmp := rdir + ".recover"
	if err := os.RemoveAll(tmp); err != nil {
		return kerr.Wrap(kerr.IO, err, "remove %s", tmp)
	}
	if err := st.openRocks(tmp, false, walTolerateTail); err != nil {
		return err
	}
	err := st.rebuildFromStorage(rep)
	if err == nil {
		err = st.adoptStorageID()
	}
	st.closeRocks()
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	if err := st.hit("recover_before_rename"); err != nil {
		return err
	}
	if err := os.Rename(tmp, rdir); err != nil {
		return kerr.Wrap(kerr.IO, err, "recover: rename %s", tmp)
	}
	if err := vfs.Default.SyncDir(filepath.Dir(rdir)); err != nil {
		return kerr.Wrap(kerr.IO, err, "recover")
	}
	return st.hit("recover_after_rename")
}

// salvage opens a RocksDB whose log a normal open refused: point-in-time
// recovery keeps what the log holds up to the damage (open's storage check
// then restores lost commits). When even that fails, the damaged directory
// is kept aside, untouched, and the catalog is rebuilt from storage.
func (st *store) salvage(rdir string, cause error, rep *recoverReport) error {
	if err := st.openRocks(rdir, false, walPointInTime); err == nil {
		return nil
	}
	aside := fmt.Sprintf("%s.damaged-%s", rdir, time.Now().UTC().Format("20060102T150405"))
	if err := os.Rename(rdir, aside); err != nil {
		return kerr.Wrap(kerr.IO, err, "recover: move damaged %s aside (%v)", rdir, cause)
	}
	if err := st.rebuildInto(rdir, rep); err != nil {
		return err
	}
	return st.openRocks(rdir, false, walTolerateTail)
}

// rocksLockHolder reports whether another process holds RocksDB's lock on
// the store in rdir (a writable open; RocksDB locks its LOCK file with
// fcntl), and its pid. A read-only open takes no lock, so without this it
// went ahead beside a writer and, catching a flush between reading RocksDB
// and reading storage, reported a healthy store as damaged. Locks of this
// process are not reported (fcntl), nor is anything when LOCK cannot be
// opened (no store yet, or no permission: the open reports those).
func rocksLockHolder(rdir string) (int, bool) {
	f, err := os.Open(filepath.Join(rdir, "LOCK"))
	if err != nil {
		return 0, false
	}
	defer f.Close()
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: 0, Len: 0}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_GETLK, &lk); err != nil {
		return 0, false
	}
	return int(lk.Pid), lk.Type != syscall.F_UNLCK
}
