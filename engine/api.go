package engine

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/storage"
	"github.com/kalamdb/libkalam/vfs"
)

// Options configure Open. The zero value is not the default: use
// DefaultOptions and change what you need.
type Options struct {
	ReadOnly           bool
	CreateIfMissing    bool   // default true
	SessionID          string // "" = a fresh UUID
	MaxConcurrentScans int    // <= 0 = 64
	NodeID             int    // 0..1023, the Snowflake node id of _seq
	Recover            bool   // rebuild rocksdb/ from storage/ when rocksdb/ is missing (DESIGN §2.2 step 5)
	// Allocator is used for every Arrow buffer the engine hands out. nil means
	// mallocator (C memory), which the C ABI requires.
	Allocator memory.Allocator
	// Buffers, when set, is the pool the store takes its Arrow buffers
	// from instead of a recycler of its own over Allocator (which is then
	// not used): see BufferPool.
	Buffers *BufferPool
	// Storage is where storage/ lives (DESIGN §10): "" means {root}/storage.
	Storage        string
	StorageOptions storage.Options
	// FS is the file system of a local storage root (nil: the operating
	// system's); tests put a fault-injecting one here.
	FS vfs.FS

	// failpoint is the store's test failpoint from the start (steps of
	// open and recover happen before a test could set it).
	failpoint func(step string) error
	// walLimit replaces maxTotalWAL (tests reach the bound with little data).
	walLimit uint64
	// noStorageHold: the store does not hold its storage root, as on
	// storage that cannot be held (object storage; another machine, which
	// does not see this one's locks), so tests can race the record alone.
	noStorageHold bool
}

// DefaultOptions returns the options of a plain read-write open.
func DefaultOptions() Options {
	return Options{CreateIfMissing: true, MaxConcurrentScans: 64}
}

// TableInfo describes a table. It is a snapshot: the catalog does not change it
// after it is returned.
type TableInfo struct {
	Namespace     string
	Name          string
	Type          string // "shared", "user" or "system"
	Schema        *arrow.Schema
	Options       map[string]string
	CreatedAt     int64 // Unix ms
	SchemaVersion int64
	PrimaryKey    []string // empty: the key is _seq (or user column, _seq)
	UserColumn    string   // user tables only
	// KeyColumns are the components of the row key in order: the user
	// column (user tables), then the primary key, or _seq without one.
	KeyColumns []string
	Version    uint64 // current manifest version (0 for system tables)
	HotRows    int64  // unflushed row versions, tombstones included
	Columns    []ColumnInfo
	// BackgroundError is the last failure of an automatic flush or
	// compaction of the table ("" when none): such a failure never turns the
	// write that triggered it into an error.
	BackgroundError string
}

// ColumnInfo describes one user column.
type ColumnInfo struct {
	Name     string
	FieldID  int32 // stable id, never reused (DESIGN §3.2)
	Type     arrow.DataType
	Nullable bool
	Key      bool // a component of the row key
	// NamesByVersion is the column's name in every schema version that
	// has it (a rename changes it; before an add the column is absent):
	// segment statistics, keyed by the names a segment was written with,
	// are found through it.
	NamesByVersion map[int64]string
}

// QualifiedName returns "namespace.table".
func (t *TableInfo) QualifiedName() string { return t.Namespace + "." + t.Name }

// ScanRequest is what a scan asks for (DESIGN §4).
type ScanRequest struct {
	// Columns projects by name. nil means the default projection (user
	// columns; for segment scans user columns plus _seq and _deleted). A
	// non-nil empty slice asks for no columns (row counts only).
	Columns     []string
	Filter      string // "" = none
	Limit       int64  // < 0 = none
	BatchRows   int64  // <= 0 = 65536
	AsOfVersion int64  // <= 0 = latest
	// AsOfTimeMs (> 0) reads the newest version committed at or before this
	// Unix time in ms (DESIGN §6); not together with AsOfVersion.
	AsOfTimeMs int64
	SQL        string // label for system.live_queries; "" = generated

	// keyLo/keyHi bound the encoded keys read ([keyLo, keyHi), nil:
	// unbounded) when keyBounded: a scan split's range (splits.go).
	keyLo, keyHi []byte
	keyBounded   bool
}

// Stream is an open scan. Next returns (nil, nil) at the end; the caller owns
// (and must Release) each record it gets. Close may be called from any
// goroutine at any time, more than once; it unregisters the live query and
// unpins the snapshot. Cancel makes a pending or later Next fail with a
// kerr.Cancelled error.
type Stream interface {
	Schema() *arrow.Schema
	Next() (arrow.RecordBatch, error)
	Cancel()
	Close()
}
