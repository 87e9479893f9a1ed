/*
 * kalam.h — the C interface of libkalam.
 *
 * libkalam is an embeddable table store: hot rows in RocksDB, cold Parquet
 * segments tracked by a manifest, and every read handed to the host as an
 * Arrow C stream (struct ArrowArrayStream). Build a program with
 *
 *     cc app.c $(pkg-config --cflags --libs kalam) -Wl,-rpath,"$(pkg-config --variable=libdir kalam)"
 *
 * (the rpath lets the program find libkalam at run time; or set
 * LD_LIBRARY_PATH).
 *
 * CONVENTIONS
 *   - Every function returns a kalam_status (KALAM_OK == 0) and, when `err`
 *     is not NULL, fills *err: on failure with the code and a message, on
 *     success with a zeroed error. Release a filled error with
 *     kalam_error_release before reusing the struct.
 *   - Strings the library returns (char** outputs) are malloc'ed; free them
 *     with kalam_free. Strings the host passes are NUL-terminated UTF-8 and
 *     are only read during the call.
 *   - An argument marked "consumed" is moved into the library, which marks
 *     the host's struct released (release = NULL) whether the call succeeds
 *     or fails.
 *   - Output structs (struct ArrowArrayStream*, struct ArrowSchema*) may hold
 *     junk on entry; on failure they are left released (release == NULL).
 *     On KALAM_OK every struct ArrowArrayStream and struct ArrowSchema a
 *     function returns through an out parameter is owned by the caller,
 *     who must call its release callback exactly once when done with it
 *     (a stream may be released from any thread, before its end too).
 *   - Table names are "namespace.table" or "table" (namespace "default").
 *     Names match [a-z_][a-z0-9_]{0,63} after lower-casing.
 *   - A closed or unknown kalam_db* is KALAM_CLOSED; NULL or malformed
 *     arguments are KALAM_INVALID_ARGUMENT. Bad input never crashes the
 *     process (a wild pointer cannot be defended against).
 *   - Besides the statuses each function lists: any function may return
 *     KALAM_INTERNAL (a bug in libkalam; the message says where), and any
 *     call that reads stored data — scans, writes that look up existing
 *     keys (append, delete, write, update, delete_where), flush, compact,
 *     vacuum, history — may return KALAM_CORRUPTION when a file fails
 *     validation (the message names it).
 *   - Functions documented as "libkalam extension" (kalam_vacuum_dry_run,
 *     kalam_table_history, kalam_table_dataset, kalam_dataset_release) are
 *     additions to the core ABI;
 *     other implementations of kalam.h need not provide them.
 *   - docs/REFERENCE.md (in the source repository) describes the behaviour
 *     behind these calls: write modes, the filter language, scans, explain
 *     plans, schema evolution, commits, object storage, splits.
 *
 * THREAD SAFETY
 *   - kalam_db: every function may be called concurrently on one handle
 *     from any thread.
 *   - struct ArrowArrayStream from this library: one thread at a time calls
 *     get_schema/get_next/get_last_error; release may be called from any
 *     thread at any time (before or after the end, or during a get_next on
 *     another thread: that get_next stops at its reader's next check —
 *     between batches of a segment, every few thousand hot rows, or while
 *     waiting for a scan slot — and fails with ECANCELED; release returns
 *     once it has).
 *   - kalam_error: owned by the caller; not shared.
 *   - Functions that take no kalam_db (kalam_free, kalam_error_release,
 *     kalam_scan_split, kalam_dataset_release, the version calls) may be
 *     called from any thread; a dataset id is released once.
 *
 * PROCESS RULES
 *   - libkalam embeds a Go runtime: load at most one Go-built shared library
 *     per process.
 *   - Never dlclose libkalam.
 *   - After fork(), the child must not call libkalam (Python
 *     multiprocessing: use the "spawn" or "forkserver" start method), and
 *     once any store has been opened it must end with _exit() (Python:
 *     os._exit), never exit(): exit() runs RocksDB's exit handlers, which
 *     wait forever for a timer thread that only the parent has.
 *   - Every store the process opens shares one pool of large Arrow buffers
 *     (released ones are handed out again instead of fresh pages: at most
 *     an eighth of the machine's memory kept, between 256 MiB and 2 GiB,
 *     none after ten seconds unused) and one set of object
 *     storage connections, so a worker running scan splits one after
 *     another, each through a reader of its own, reuses both.
 *
 * STREAM ERRORS (errno values returned by get_schema / get_next)
 *   0           success; get_next returns 0 with a released array
 *               (release == NULL) at the end of the stream
 *   EINVAL      invalid argument, not found (an unknown name; a version
 *               or object a vacuum removed), read-only, database closed
 *               (kalam_close), stream already released
 *   ECANCELED   scan cancelled
 *   ENOMEM      out of memory
 *   ENOSYS      a type or feature the library does not implement
 *   EIO         I/O error, corruption, busy, internal error
 *   get_last_error's text is owned by the stream and valid until the next
 *   call on the stream or its release; kalam_stream_error gives the
 *   kalam_status of the failure. A failure sticks: later get_next calls
 *   return it again. A NULL out is the exception: EINVAL, recorded as the
 *   last error (KALAM_INVALID_ARGUMENT), and the stream goes on as before.
 */
#ifndef KALAM_H
#define KALAM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Versions ------------------------------------------------------------ */

#define KALAM_VERSION_MAJOR 0
#define KALAM_VERSION_MINOR 1
#define KALAM_VERSION_PATCH 0
#define KALAM_VERSION_NUMBER \
  (KALAM_VERSION_MAJOR * 10000 + KALAM_VERSION_MINOR * 100 + KALAM_VERSION_PATCH)
/* Bumped on any incompatible change of this header's types or functions. */
#define KALAM_ABI_VERSION 1

/* ---- Arrow C data and stream interfaces ---------------------------------- */
/* The standard definitions (https://arrow.apache.org/docs/format/CDataInterface.html),
 * guarded so that another copy (arrow/c/abi.h, nanoarrow.h, adbc.h) may come first. */

#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE

#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4

struct ArrowSchema {
  const char* format;
  const char* name;
  const char* metadata;
  int64_t flags;
  int64_t n_children;
  struct ArrowSchema** children;
  struct ArrowSchema* dictionary;
  void (*release)(struct ArrowSchema*);
  void* private_data;
};

struct ArrowArray {
  int64_t length;
  int64_t null_count;
  int64_t offset;
  int64_t n_buffers;
  int64_t n_children;
  const void** buffers;
  struct ArrowArray** children;
  struct ArrowArray* dictionary;
  void (*release)(struct ArrowArray*);
  void* private_data;
};

#endif /* ARROW_C_DATA_INTERFACE */

#ifndef ARROW_C_STREAM_INTERFACE
#define ARROW_C_STREAM_INTERFACE

struct ArrowArrayStream {
  int (*get_schema)(struct ArrowArrayStream*, struct ArrowSchema* out);
  int (*get_next)(struct ArrowArrayStream*, struct ArrowArray* out);
  const char* (*get_last_error)(struct ArrowArrayStream*);
  void (*release)(struct ArrowArrayStream*);
  void* private_data;
};

#endif /* ARROW_C_STREAM_INTERFACE */

/* ---- Status codes and errors --------------------------------------------- */

typedef int32_t kalam_status;
#define KALAM_OK 0
#define KALAM_INVALID_ARGUMENT 1 /* bad input; the message names it */
#define KALAM_NOT_FOUND 2        /* unknown table, segment, system table, version;
                                    a segment whose file was replaced */
#define KALAM_ALREADY_EXISTS 3
#define KALAM_IO 4               /* file system or RocksDB error */
#define KALAM_CORRUPTION 5       /* on-disk data fails validation */
#define KALAM_CANCELLED 6        /* a cancelled scan; an input stream whose
                                    get_next returned ECANCELED */
#define KALAM_CLOSED 7           /* closed or unknown kalam_db */
#define KALAM_READ_ONLY 8        /* write on a read-only handle; writing,
                                    deleting, flushing, compacting,
                                    vacuuming, altering or dropping a
                                    system table */
#define KALAM_BUSY 9
#define KALAM_INTERNAL 10        /* a bug in libkalam; the message says where */

/* Error details. The caller owns the struct (zero it before first use);
 * the library owns `message` until release. */
typedef struct kalam_error {
  kalam_status code;
  char* message;                         /* NUL-terminated, owned by the error */
  void (*release)(struct kalam_error*);
  void* private_data;
} kalam_error;

/* Frees err's message and zeroes it. Safe on NULL, zeroed and released errors. */
void kalam_error_release(kalam_error* err);

/* Frees a string returned by libkalam. kalam_free(NULL) does nothing. */
void kalam_free(void* p);

/* The library version, e.g. "0.1.0". Static storage; never freed. */
const char* kalam_version_string(void);

/* The ABI version the library implements; compare with KALAM_ABI_VERSION. */
int32_t kalam_abi_version(void);

/* ---- Databases ----------------------------------------------------------- */

/* An open handle on a store. Opaque. */
typedef struct kalam_db kalam_db;

/* Opens (or creates) the store at directory `root` and sets *out (NULL on
 * failure); give the handle back with kalam_close (the handle itself is
 * never freed: see kalam_close). With root NULL it opens a storage-only
 * reader (docs/REFERENCE.md, "Storage-only readers") of options_json's
 * "storage" (then "read_only" must be true): every read
 * works on the cold data of what storage/ holds — each scan starts from the
 * table's manifest.json at that moment; hot rows live only with the writer
 * (it publishes them by flushing); writes are KALAM_READ_ONLY; a scan that
 * meets an object the writer's vacuum removed is KALAM_NOT_FOUND naming it. `root` holds RocksDB (catalog, manifests, hot rows) and, unless
 * "storage" says otherwise, storage/. The same directory opened again in
 * this process (through any path: a symlink, a relative path, a bind mount)
 * shares the open store; each handle has its own session and closed state
 * (its "session_id" and "read_only"), while the store's own options —
 * "max_concurrent_scans", "node_id", "storage_options" — are those of the
 * first open and the later ones' are not used ("storage" naming other
 * storage, or "recover", is refused). A ".." in root after a symbolic link
 * goes to the link target's parent, as the kernel resolves it.
 * The storage root records which store writes it (_kalam_store.json): a
 * read-write open of a store whose storage another store writes is refused
 * (two stores writing one storage overwrite each other's segments).
 * options_json: NULL or an object with
 *   "read_only": bool, "create_if_missing": bool (default true),
 *   "session_id": str, "max_concurrent_scans": int (>= 1, default 64),
 *   "node_id": int (0..1023), "recover": bool — rebuild the catalog from
 *   storage/ when rocksdb/ is missing or damaged, or restore what RocksDB
 *   lost (see RELIABILITY.md),
 *   "storage": str — where storage/ lives: a path or "s3://bucket/prefix",
 *   "storage_options": {"endpoint", "region", "access_key_id",
 *   "secret_access_key", "session_token": str, "allow_http": bool}.
 * Statuses: KALAM_OK; KALAM_INVALID_ARGUMENT (NULL/empty root, a root that
 * is a URL, a bad option, naming the key; "storage" other than the
 * store's when it is open in this process); KALAM_NOT_FOUND (no store and
 * create_if_missing false, or read_only; root a symbolic link to nothing);
 * KALAM_BUSY (another process has the store open — read-write, for a
 * read-only open too: read such a store through a storage-only reader —,
 * or it is open read-only in this process and a read-write open is asked
 * for, or open in this process and a recover is asked for, or a recover
 * would take over the storage of another store that is open);
 * KALAM_CORRUPTION (damaged RocksDB files, rocksdb/
 * missing while storage/ holds tables, storage/ holding tables or versions
 * the catalog lacks, storage another store writes — a recover takes it
 * over once that store is gone —, or a recover that could not read some
 * tables — the message names them and says what to do); KALAM_IO. */
kalam_status kalam_open(const char* root, const char* options_json, kalam_db** out, kalam_error* err);

/* Closes the handle. Later calls on it are KALAM_CLOSED; calls already
 * running on other threads finish (nothing they use is freed under them);
 * get_next on the handle's open streams fails with EINVAL
 * (kalam_stream_error: KALAM_CLOSED), and a scan waiting for a slot wakes
 * with it. RocksDB is closed when the last handle, call and stream of the
 * store are done; a writer first writes RocksDB's in-memory tables to
 * disk (at most a few 64 MiB write buffers of hot rows), so that the next
 * open replays no log. The handle's memory is never freed, so a late call
 * fails cleanly. Statuses: KALAM_OK; KALAM_INVALID_ARGUMENT (db NULL);
 * KALAM_CLOSED (already closed). */
kalam_status kalam_close(kalam_db* db, kalam_error* err);

/* Closes the handle as kalam_close does, except that the streams it
 * already opened go on reading until they are released (RocksDB is closed
 * after the last of them). For bindings whose garbage collector gives a
 * handle back while a stream it opened lives on elsewhere (moved into a
 * query engine through the Arrow PyCapsule interface, say). Later calls
 * on the handle are KALAM_CLOSED. Thread safety as kalam_close. Statuses:
 * KALAM_OK; KALAM_INVALID_ARGUMENT (db NULL); KALAM_CLOSED (already
 * closed: its streams stay failed). */
kalam_status kalam_detach(kalam_db* db, kalam_error* err);

/* ---- Catalog --------------------------------------------------------------- */

/* Creates namespace `ns`. Statuses: KALAM_OK; KALAM_INVALID_ARGUMENT (bad
 * or reserved name); KALAM_ALREADY_EXISTS; KALAM_READ_ONLY; KALAM_CLOSED;
 * KALAM_IO (including a full disk). */
kalam_status kalam_create_namespace(kalam_db* db, const char* ns, kalam_error* err);

/* Creates `table` of type `type` ("shared" when NULL, or "user") with the
 * columns of `schema` (a struct whose children are the columns; consumed).
 * options_json: NULL or a JSON object whose values are strings (numbers and
 * booleans are converted). Understood, and checked here: "primary_key"
 * ("a,b"), "user_column" (user tables; default "user_id"), "compression"
 * (zstd, lz4_raw, snappy, none), "row_group_rows" (>= 1), "flush_rows"
 * (>= 0; 0: no automatic flush), "auto_compact_segments" (>= 0); others are
 * kept as given. Statuses: KALAM_OK; KALAM_INVALID_ARGUMENT (name, type, a
 * column type the store cannot hold, an option value — naming it);
 * KALAM_NOT_FOUND (namespace); KALAM_ALREADY_EXISTS; KALAM_READ_ONLY;
 * KALAM_CLOSED; KALAM_IO. */
kalam_status kalam_create_table(kalam_db* db, const char* table, const char* type,
                                struct ArrowSchema* schema, const char* options_json,
                                kalam_error* err);

/* Drops a table (shared or user), its hot rows, manifests and files; a
 * system table cannot be dropped (KALAM_READ_ONLY). Open streams of
 * the table finish reading: its segment files go when the last of them is
 * released (a table created under the same name meanwhile leaves them to
 * those streams). Once the drop has committed it reports KALAM_OK: a file
 * that cannot be removed then (a full or read-only disk) stays until the
 * next open removes it. Statuses: KALAM_OK; KALAM_INVALID_ARGUMENT;
 * KALAM_NOT_FOUND; KALAM_READ_ONLY (a read-only handle, or a system
 * table); KALAM_CLOSED; KALAM_IO (nothing was dropped). */
kalam_status kalam_drop_table(kalam_db* db, const char* table, kalam_error* err);

/* Writes the table's user-column schema to *out (owned by the caller:
 * release it).
 * Statuses: KALAM_OK; KALAM_INVALID_ARGUMENT; KALAM_NOT_FOUND; KALAM_CLOSED. */
kalam_status kalam_table_schema(kalam_db* db, const char* table, struct ArrowSchema* out,
                                kalam_error* err);

/* The table's metadata as a JSON object (*info_json, kalam_free):
 *   {"namespace", "table_name", "type", "user_column" (or null),
 *    "primary_key": [...], "key_columns": [...] (the row key's components:
 *    user column, primary key, or "_seq"), "options": {...},
 *    "created_at" (Unix ms), "schema_version", "version" (manifest),
 *    "hot_rows" (unflushed row versions, tombstones included),
 *    "columns": [{"name", "field_id", "type" (Arrow format string),
 *    "nullable", "key", "names_by_schema_version" ({"1": "amount", "3":
 *    "value"}: its name in each schema version that has it — segment
 *    statistics are keyed by the names a segment was written with)}],
 *    "background_error" (the last failure of an
 *    automatic flush or compaction, or null)}.
 * Fields may be added. Works on system tables. Statuses: KALAM_OK;
 * KALAM_INVALID_ARGUMENT; KALAM_NOT_FOUND; KALAM_CLOSED; on a storage-only
 * reader also KALAM_IO and KALAM_CORRUPTION (it reads manifest.json from
 * storage). */
kalam_status kalam_table_info(kalam_db* db, const char* table, char** info_json, kalam_error* err);

/* ---- Writes ----------------------------------------------------------------- */
/* A write is acknowledged once it is in RocksDB's write-ahead log: a killed
 * process loses nothing acknowledged; a power loss may lose the last
 * writes before a synced commit (RELIABILITY.md). A write that committed
 * reports KALAM_OK even when an automatic flush or compaction after it
 * fails (that failure is kalam_table_info's background_error). Writes are
 * refused with KALAM_IO ("disk full") while the disk holding RocksDB has
 * less than a small reserve free, and work again once space is freed. */

/* Appends (upserts) every row of stream `in` (consumed); columns match by
 * name. Each batch is committed atomically: on an error, batches already
 * committed stay written. *rows_written (may be NULL) gets the rows written,
 * on failure too. Statuses: KALAM_OK; KALAM_INVALID_ARGUMENT (a malformed
 * batch, an unknown column, a missing non-nullable column, a type that
 * cannot be cast losslessly — naming the column); KALAM_NOT_FOUND;
 * KALAM_READ_ONLY; KALAM_CLOSED; KALAM_IO (including a failing get_next of
 * `in`, with its get_last_error text, and a full disk; a get_next failing
 * with EINVAL is KALAM_INVALID_ARGUMENT and with ECANCELED
 * KALAM_CANCELLED). */
kalam_status kalam_append(kalam_db* db, const char* table, struct ArrowArrayStream* in,
                          int64_t* rows_written, kalam_error* err);

/* Deletes the rows whose keys are in stream `keys` (consumed): exactly the
 * key columns (kalam_table_info's "key_columns"). *rows_deleted (may be
 * NULL) counts keys that had a live row. Statuses: as kalam_append; a
 * missing key column or a column that is not a key is
 * KALAM_INVALID_ARGUMENT naming it. */
kalam_status kalam_delete(kalam_db* db, const char* table, struct ArrowArrayStream* keys,
                          int64_t* rows_deleted, kalam_error* err);

/* Write modes of kalam_write (docs/REFERENCE.md, "Write modes"): how a
 * row whose key has a live row (and one whose key has none) is written;
 * rows_written counts rows that produced a new version.
 *   UPSERT  live: the input row is the whole new version; none: inserted
 *   INSERT  live: skipped (not counted);                   none: inserted
 *   UPDATE  live: the current row with the input's columns replaced;
 *           none: skipped
 *   MERGE   live: as UPDATE;                                none: inserted
 * Columns absent from the input are null in a new or upserted row and kept
 * in an updated one. UPDATE and MERGE read the current rows under the
 * table's write lock: no concurrent write to the same key is lost. A table
 * without a primary key has no key to match: every row is new (INSERT is
 * UPSERT) and UPDATE/MERGE are KALAM_INVALID_ARGUMENT. */
#define KALAM_WRITE_UPSERT 0
#define KALAM_WRITE_INSERT 1
#define KALAM_WRITE_UPDATE 2
#define KALAM_WRITE_MERGE 3
/* Schema modes: STRICT refuses an input column the table lacks; MERGE first
 * adds such columns (nullable) in one alter commit, then writes. */
#define KALAM_SCHEMA_STRICT 0
#define KALAM_SCHEMA_MERGE 1

typedef struct kalam_write_options {
  uint32_t struct_size;                            /* sizeof(kalam_write_options) */
  int32_t mode;                                    /* KALAM_WRITE_* */
  int32_t schema_mode;                             /* KALAM_SCHEMA_* */
} kalam_write_options;
#define KALAM_WRITE_OPTIONS_INIT {sizeof(kalam_write_options), KALAM_WRITE_UPSERT, KALAM_SCHEMA_STRICT}

/* Writes every row of stream `in` (consumed) in opts' mode (NULL: UPSERT,
 * STRICT). Columns match by name (exactly, else the one column equal
 * ignoring case, as projections and filters do); integer columns narrower
 * than the table's are widened, wider ones accepted when every value fits (else
 * KALAM_INVALID_ARGUMENT naming the column, the row — 0-based within the
 * call — and the value). Each batch is atomic: a refused batch stores
 * nothing; batches committed before an error stay, and *rows_written (may
 * be NULL) counts them. Statuses: as kalam_append; an unknown mode is
 * KALAM_INVALID_ARGUMENT. */
kalam_status kalam_write(kalam_db* db, const char* table, struct ArrowArrayStream* in,
                         const kalam_write_options* opts, int64_t* rows_written, kalam_error* err);

/* Deletes every row matching `filter` (NULL or "TRUE": every row) at the
 * call's snapshot, in one atomic write (all of them or none, also across a
 * crash); writes to the table wait meanwhile, rows written after it are not
 * touched. *rows_deleted (may be NULL) counts them. Statuses: KALAM_OK;
 * KALAM_INVALID_ARGUMENT (a filter that does not parse or names an unknown
 * column: the message says where; an empty or blank filter — not NULL —
 * too, rather than every row); KALAM_NOT_FOUND; KALAM_READ_ONLY;
 * KALAM_CLOSED; KALAM_IO. The write is held in memory until it commits:
 * very large deletes need memory in proportion. */
kalam_status kalam_delete_where(kalam_db* db, const char* table, const char* filter, int64_t* rows_deleted,
                                kalam_error* err);

/* For every row matching `filter` (NULL: every row), writes a new version
 * with the columns of `values` (consumed; exactly one row in all) set to its
 * values and the others kept — atomically, as kalam_delete_where. Key
 * columns and the user column cannot be set. *rows_updated (may be NULL)
 * counts the matched rows (each gets a new version even when a value is
 * unchanged). Statuses: as kalam_delete_where, and a failing get_next of
 * `values` as for kalam_append's input; values of more or fewer than
 * one row, an unknown column, a key column, or a value the column cannot
 * take is KALAM_INVALID_ARGUMENT naming it. */
kalam_status kalam_update(kalam_db* db, const char* table, const char* filter, struct ArrowArrayStream* values,
                          int64_t* rows_updated, kalam_error* err);

/* Writes the table's hot rows into a new Parquet segment (one commit).
 * *segment_id (may be NULL) gets its id (kalam_free), or NULL if there was
 * nothing to flush. Writes racing the flush are kept as hot rows. Statuses:
 * KALAM_OK; KALAM_INVALID_ARGUMENT; KALAM_NOT_FOUND; KALAM_READ_ONLY;
 * KALAM_CLOSED; KALAM_IO (the previous version stays intact). */
kalam_status kalam_flush(kalam_db* db, const char* table, char** segment_id, kalam_error* err);

/* ---- Schema evolution (docs/REFERENCE.md, "Schema evolution") ------------------- */
/* Each call is one commit: a new manifest version with the same segments,
 * schema_version + 1, history operation "alter", in one synced write.
 * Columns keep a field id for life; segments written under any earlier
 * schema stay readable (read by field id), statistics keep pruning after a
 * rename, a scan at an older version returns that version's schema. Writes
 * to the table wait while an alter runs. Statuses of each: KALAM_OK;
 * KALAM_INVALID_ARGUMENT (unknown column, a key column dropped or widened,
 * a narrowing, a non-nullable added column, a bad name — naming it);
 * KALAM_ALREADY_EXISTS (a name in use); KALAM_NOT_FOUND (table);
 * KALAM_READ_ONLY; KALAM_CLOSED; KALAM_IO. */

/* Appends the children of `columns` (a struct schema; consumed), each
 * nullable, after the existing columns; existing rows read them as null. */
kalam_status kalam_add_columns(kalam_db* db, const char* table, struct ArrowSchema* columns, kalam_error* err);

/* Drops columns (not key columns nor the user column). Their data is no
 * longer returned (compaction drops it); a later column of the same name is
 * a new column and never shows the old values. */
kalam_status kalam_drop_columns(kalam_db* db, const char* table, const char* const* names, int64_t n_names,
                                kalam_error* err);

/* Renames a column (key columns included); data is kept. */
kalam_status kalam_rename_column(kalam_db* db, const char* table, const char* from, const char* to,
                                 kalam_error* err);

/* Widens a column to the type of `type` (consumed; e.g. format "l"):
 * int8→int16→int32→int64 and unsigned likewise, float32→float64,
 * utf8→large_utf8, binary→large_binary; not for key columns. */
kalam_status kalam_widen_column(kalam_db* db, const char* table, const char* name, struct ArrowSchema* type,
                                kalam_error* err);

/* ---- Scans -------------------------------------------------------------------- */

typedef struct kalam_scan_options {
  uint32_t struct_size;                            /* sizeof(kalam_scan_options) */
  const char* const* columns; int64_t n_columns;   /* n_columns < 0: all user columns */
  const char* filter;                              /* NULL: none */
  int64_t limit;                                   /* < 0: none */
  int64_t batch_rows;                              /* <= 0: default (65536) */
  int64_t as_of_version;                           /* <= 0: latest; else that version's
                                                      segments only, no hot rows */
  const char* sql;                                 /* label for system.live_queries; NULL: generated */
  /* Fields below were added after the first release; the library reads a
   * field only when struct_size covers it. */
  int64_t as_of_time_ms;                           /* > 0: newest version committed at or before
                                                      this Unix time (ms); <= 0: unused */
} kalam_scan_options;

/* Initialiser with every default: kalam_scan_options o = KALAM_SCAN_OPTIONS_INIT;
 * struct_size is the size the program was compiled with: a program built
 * against an older, smaller kalam_scan_options keeps working (the library
 * defaults the fields it lacks); a size smaller than the first release's
 * struct is KALAM_INVALID_ARGUMENT. */
#define KALAM_SCAN_OPTIONS_INIT {sizeof(kalam_scan_options), NULL, -1, NULL, -1, 0, 0, NULL, 0}

/* Starts a scan of `table` (a user or system table) and writes the stream to
 * *out (owned by the caller: release it). opts may be NULL (defaults); the
 * options are described in docs/REFERENCE.md, "Scans". The scan reads one
 * snapshot (the manifest version and hot rows at the call; the files it needs stay until
 * the stream is released, whatever vacuum does). Never blocks: a scan
 * waiting for a slot (max_concurrent_scans) waits in its first get_next,
 * cancellably. The stream keeps its store open until released. Statuses:
 * KALAM_OK; KALAM_INVALID_ARGUMENT (unknown column, a filter that does not
 * parse — naming the column or position —, bad options, as_of_version and
 * as_of_time_ms together); KALAM_NOT_FOUND (table, or a version vacuum
 * removed: the message names the oldest version kept); KALAM_CLOSED;
 * KALAM_CORRUPTION (a damaged segment, manifest or hot row); KALAM_IO. */
kalam_status kalam_scan(kalam_db* db, const char* table, const kalam_scan_options* opts,
                        struct ArrowArrayStream* out, kalam_error* err);

/* Reads one segment file of `table` as stored (all versions and tombstones;
 * default columns: user columns, _seq, _deleted). as_of_version /
 * as_of_time_ms select the manifest version that must list the segment.
 * Statuses: as kalam_scan; KALAM_NOT_FOUND also for an unknown segment id. */
kalam_status kalam_scan_segment(kalam_db* db, const char* table, const char* segment_id,
                                const kalam_scan_options* opts, struct ArrowArrayStream* out,
                                kalam_error* err);

/* Full scan of a system table: name is "system.tables" or "tables" (also
 * live_queries, namespaces, manifests, segments). Takes no scan slot.
 * system.tables also has "schema_version" (int64) and "schema" (utf8, a
 * JSON array of the columns), returned by kalam_scan when named in
 * opts->columns; the default columns are table_name, namespace, type,
 * created_at and options.
 * The stream keeps the store open until it is released, as kalam_scan's.
 * Statuses: KALAM_OK; KALAM_INVALID_ARGUMENT; KALAM_NOT_FOUND; KALAM_CLOSED;
 * on a storage-only reader also KALAM_IO and KALAM_CORRUPTION (it reads
 * manifests from storage). */
kalam_status kalam_system_table(kalam_db* db, const char* name, struct ArrowArrayStream* out,
                                kalam_error* err);

/* Plans a scan without running it; *plan_json (kalam_free) gets the plan,
 * a JSON object (its keys: docs/REFERENCE.md, "Explain plans"). Statuses:
 * as kalam_scan; system tables have no plan (KALAM_INVALID_ARGUMENT). */
kalam_status kalam_explain(kalam_db* db, const char* table, const kalam_scan_options* opts,
                           char** plan_json, kalam_error* err);

/* The table's current manifest.json; *json is freed with kalam_free.
 * Statuses: KALAM_OK; KALAM_INVALID_ARGUMENT (also a system table: it has
 * no manifest); KALAM_NOT_FOUND; KALAM_CLOSED; on a storage-only reader
 * also KALAM_IO and KALAM_CORRUPTION (it reads manifest.json from
 * storage). */
kalam_status kalam_manifest_json(kalam_db* db, const char* table, char** json, kalam_error* err);

/* Divides a scan of `table` (opts as for kalam_scan; NULL: defaults; no
 * limit) into key-range splits (docs/REFERENCE.md, "Scan splits and
 * distributed reads"): *splits_json (kalam_free) gets
 * a JSON array of split objects {"storage", "table", "version", "key_lo",
 * "key_hi" (hex, null: unbounded), "columns", "filter" (absent: none),
 * "batch_rows" (absent: the default), "segments",
 * "rows", "table_def" (the table's definition), "manifest" (the version's
 * manifest with only the segments the split reads)}: with the last two a
 * split reads no metadata object before its data; a split without them
 * reads table.json and its version file. The splits read the scan's version (as_of_version /
 * as_of_time_ms, else the latest committed one; hot rows are not part of
 * it): each key is in exactly one split, and their results in order equal
 * the scan row for row. split_options_json: NULL or {"max_splits": int,
 * "target_rows": int (rows per split, default 1048576)}. Statuses: as
 * kalam_scan; a limit or a system table is KALAM_INVALID_ARGUMENT. */
kalam_status kalam_scan_splits(kalam_db* db, const char* table, const kalam_scan_options* opts,
                               const char* split_options_json, char** splits_json, kalam_error* err);

/* libkalam extension (docs/REFERENCE.md, "An exact pyarrow dataset",
 * describes the behaviour; Python's Table.to_pyarrow_dataset uses this call).
 * Exports a version of `table` as Parquet files a query engine reads by
 * itself, exactly: reading every file with *schema (missing
 * columns null, stored types cast to it, extra columns ignored — what
 * pyarrow.dataset does) gives the rows kalam_scan gives. opts selects the
 * version (as_of_version / as_of_time_ms; NULL or neither: the latest, hot
 * rows included); columns, filter and limit must be left at their defaults.
 * A segment nothing else can hold keys of, with no tombstone and its
 * columns under their current names, is listed as it is; so are the row
 * groups of such a segment that no hot key can fall in (by the key's
 * statistics) when a few hot keys fall in its range. The rest is merged
 * into temporary files under {root}/tmp/datasets/ (bounded memory). On an
 * object-storage backend segments are listed by their s3://bucket/key URI
 * (the engine reads them with its own client and credentials); a
 * storage-only reader pins nothing, so it merges every part locally.
 *
 * Outputs (all required): *schema (owned by the caller: release it),
 * *dataset_json (kalam_free):
 * {"table", "version", "dir" (the temporary files' directory, or null),
 * "files": [{"path" (absolute, or an s3:// URI), "rows", "segment_id" (absent for a merged
 * file), "row_groups" (absent: the whole file; else read only these row
 * groups of it — the others' keys have newer versions elsewhere),
 * "key_bounds" (absent, or {"column", "min", "max"}: every row's value of
 * the key's first column lies in [min, max]; an engine may skip the file
 * for a filter outside it)}]},
 * *dataset_id for kalam_dataset_release. Until then the listed
 * segments are pinned (this process's vacuum leaves them, while the store
 * stays open) and the temporary files exist. The call can take as long as
 * a scan of the merged parts. Thread-safe.
 * Statuses: as kalam_scan; columns, filter or limit given, or a system
 * table, is KALAM_INVALID_ARGUMENT; KALAM_IO when the temporary files
 * cannot be written (nothing is left behind). */
kalam_status kalam_table_dataset(kalam_db* db, const char* table, const kalam_scan_options* opts,
                                 struct ArrowSchema* schema, char** dataset_json, uint64_t* dataset_id,
                                 kalam_error* err);

/* libkalam extension. Releases a dataset of kalam_table_dataset: unpins its segments and removes
 * its temporary files. Valid after kalam_close of the handle that made it.
 * A process that dies leaves the files; the next open of the store removes
 * them. Statuses: KALAM_OK; KALAM_NOT_FOUND (unknown or released id);
 * KALAM_IO (a file could not be removed). */
kalam_status kalam_dataset_release(uint64_t dataset_id, kalam_error* err);

/* Runs one split (one object of kalam_scan_splits' array) anywhere a
 * storage-only reader could open: options_json as for kalam_open
 * ("storage_options" for credentials). The stream (owned by the caller:
 * release it) owns the reader it opened
 * and closes it when released. Statuses: KALAM_OK; KALAM_INVALID_ARGUMENT
 * (a split that does not parse, bad options, a manifest that is not the
 * split's version); KALAM_NOT_FOUND (the split's version was vacuumed: a
 * split carrying its manifest reports it from get_next, naming the segment
 * that is gone, since it reads nothing before); KALAM_IO; KALAM_CORRUPTION. */
kalam_status kalam_scan_split(const char* split_json, const char* options_json, struct ArrowArrayStream* out,
                              kalam_error* err);

/* Returns (and writes to *err) the status of the last failed get_schema or
 * get_next of `stream`, KALAM_OK if none failed. KALAM_INVALID_ARGUMENT if
 * stream is NULL, released, or not a stream of this library. */
kalam_status kalam_stream_error(struct ArrowArrayStream* stream, kalam_error* err);

/* ---- Maintenance ----------------------------------------------------------------- */
/* Compaction rewrites a table's live segments; the segments it replaces stay
 * on disk, tombstoned in the manifest, so that older versions (as_of_version)
 * and scans already open keep reading them, until kalam_vacuum deletes them.
 * Each call that changes the table commits one new manifest version.
 * Thread safety: like every kalam_db function, callable from any thread;
 * flush, compaction and vacuum of one table run one at a time (a second
 * call waits for the first), while appends, deletes and scans proceed
 * concurrently. An open stream is never disturbed: it keeps reading the
 * segments of its snapshot, and vacuum skips the files an open stream reads.
 * Statuses of every function here: KALAM_OK; KALAM_INVALID_ARGUMENT;
 * KALAM_NOT_FOUND (table); KALAM_READ_ONLY on a read-only handle (all but
 * the dry run and the history); KALAM_CLOSED; KALAM_IO when a file cannot
 * be written or removed (the previous version stays intact). */

/* Merges every live segment of `table` into new segments holding only the
 * newest version of each key; delete tombstones are dropped (no older
 * segment outside the input remains to be masked).
 * options_json: NULL or {"target_rows":int (>= 1; default 1000000: rows per
 *   output segment), "min_segments":int (>= 0: do nothing when the table has
 *   fewer live segments)}; an unknown key or a wrong type or range is
 *   KALAM_INVALID_ARGUMENT naming the key.
 * *report_json (may be NULL; kalam_free) gets the report, a JSON object:
 *   {"table":"ns.t", "skipped":bool, "reason":str (only when skipped),
 *    "version":uint (manifest version after the call), "input_segments":[ids],
 *    "output_segments":[ids], "rows_read", "rows_written",
 *    "tombstones_dropped", "versions_dropped" (older versions of keys
 *    replaced by newer ones), "bytes_read", "bytes_written": uint}.
 *   A skipped compaction (no live segment, or fewer than min_segments)
 *   changes nothing and succeeds. */
kalam_status kalam_compact(kalam_db* db, const char* table, const char* options_json, char** report_json,
                           kalam_error* err);

/* Deletes the files of `table`'s tombstoned segments that were replaced at
 * least retention_ms milliseconds ago (0: all of them) and that no open
 * stream reads, removes them from the manifest, and forgets the manifest
 * versions that needed them: a scan with such an as_of_version is then
 * KALAM_NOT_FOUND, naming the oldest version still readable.
 * retention_ms < 0 is KALAM_INVALID_ARGUMENT. *files_removed (may be NULL)
 * gets the number of segment files vacuumed (0 on failure). Once the new
 * version has committed the call reports KALAM_OK: files that cannot be
 * removed then (a full or read-only disk) are the table's background_error
 * (kalam_table_info) until the next vacuum, or open, removes them. */
kalam_status kalam_vacuum(kalam_db* db, const char* table, int64_t retention_ms, int64_t* files_removed,
                          kalam_error* err);

/* libkalam extension (not in the core ABI): what kalam_vacuum
 * with the same arguments would delete now, without changing anything.
 * *paths_json (required; kalam_free) gets a JSON array of the files' paths
 * relative to the table directory, sorted: ["data/segment_001.parquet", ...].
 * Allowed on a read-only handle. */
kalam_status kalam_vacuum_dry_run(kalam_db* db, const char* table, int64_t retention_ms, char** paths_json,
                                  kalam_error* err);

/* libkalam extension: the table's manifest versions, oldest first.
 * *history_json (required; kalam_free) gets a JSON array of
 *   {"version":uint, "time":int (Unix ms of the commit),
 *    "operation":"create"|"flush"|"compact"|"vacuum"|"alter",
 *    "segments_added":uint, "segments_removed":uint}.
 * Entries are kept after vacuum (they describe commits, not readable
 * versions). Allowed on a read-only handle. */
kalam_status kalam_table_history(kalam_db* db, const char* table, char** history_json, kalam_error* err);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* KALAM_H */
