/* The parts of RocksDB's C++ API that its C API (7.8) lacks and the store
 * needs: an info logger that cannot abort the process on a full disk,
 * DB::Resume, and reading many iterator entries or putting many write-batch
 * entries in one call. Debian's librocksdb keeps its assertions, and its file-based
 * info logger asserts when it writes again after a failed write
 * (WritableFileWriter::AssertFalseAndGetStatusForPrevError). */
#ifndef KALAM_ROCKS_SHIM_H
#define KALAM_ROCKS_SHIM_H

#include <rocksdb/c.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Makes the database log to `path` with plain write(2) calls whose failures
 * are ignored (at most `cap_bytes` per file; the previous file is kept as
 * path.old). Returns 0, or -1 when the file cannot be opened (the logger is
 * installed anyway and drops lines, which is harmless). */
int kalam_rocks_set_logger(rocksdb_options_t* opts, const char* path, long long cap_bytes);

/* Turns off RocksDB's automatic recovery from background errors: the store
 * calls kalam_rocks_resume before its next write instead. */
void kalam_rocks_set_manual_recovery(rocksdb_options_t* opts);

/* DB::Resume: clears a background error (after a failed write) once its
 * cause is gone. Returns NULL or a malloc'ed message. */
char* kalam_rocks_resume(rocksdb_t* db);

/* Copies the last error-level line the logger saw (at most n-1 bytes plus
 * NUL); returns its length, 0 when there was none. */
int kalam_rocks_last_error(rocksdb_options_t* opts, char* buf, int n);

/* Copies the entries of `it` from its position on into buf (cap bytes),
 * each as a 4-byte key length and a 4-byte value length (little endian),
 * then the key and value bytes, and moves the iterator past each entry
 * copied: one call instead of several per entry (Valid, key, value, Next).
 * Stops when the iterator is exhausted or the next entry does not fit.
 * Returns the number of entries copied and sets *used to the bytes used.
 * When none fit, *need is the size the next entry takes (the caller grows
 * buf and calls again); it is 0 when the iterator is exhausted (the caller
 * checks rocksdb_iter_get_error then). */
int kalam_iter_next_batch(rocksdb_iterator_t* it, char* buf, size_t cap, size_t* used, size_t* need);

/* Puts the entries packed in buf[0:len] into the write batch under column
 * family cf, each as a 4-byte key length and a 4-byte value length (little
 * endian) followed by the key and value bytes: one call instead of one per
 * entry. Returns 0, or -1 when buf is malformed or the batch refuses an
 * entry (entries before it stay put: the caller discards the batch). */
int kalam_writebatch_put_packed(rocksdb_writebatch_t* wb, rocksdb_column_family_handle_t* cf, const char* buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
