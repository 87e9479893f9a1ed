package engine

/*
#cgo CXXFLAGS: -std=c++17 -O2
#cgo LDFLAGS: -lrocksdb -lstdc++
#include <stdlib.h>
#include "rocks_shim.h"
*/
import "C"

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"unsafe"

	"github.com/linxGnu/grocksdb"

	"github.com/kalamdb/libkalam/kerr"
)

// grocksdb keeps the C handle as the first field of Options and DB and does
// not export it; the shim needs it. TestRocksShim checks both by use.
func rawOptions(o *grocksdb.Options) *C.rocksdb_options_t {
	return *(**C.rocksdb_options_t)(unsafe.Pointer(o))
}

func rawDB(db *grocksdb.DB) *C.rocksdb_t {
	return *(**C.rocksdb_t)(unsafe.Pointer(db))
}

// rocksLogCap bounds RocksDB's info log (two files of this size at most).
const rocksLogCap = 16 << 20

// setSafeLogger replaces RocksDB's file logger (see rocks_shim.h) and makes
// recovery from background errors the store's (checkSpace). A log file that
// cannot be opened only turns logging off.
func setSafeLogger(o *grocksdb.Options, path string) {
	os.MkdirAll(filepath.Dir(path), 0o755) // RocksDB creates it too; the log opens first
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	C.kalam_rocks_set_logger(rawOptions(o), cp, C.longlong(rocksLogCap))
	C.kalam_rocks_set_manual_recovery(rawOptions(o))
}

// rawWriteBatch and rawColumnFamily are the C handles of grocksdb objects
// (their first fields, as rawIterator).
func rawWriteBatch(wb *grocksdb.WriteBatch) *C.rocksdb_writebatch_t {
	return *(**C.rocksdb_writebatch_t)(unsafe.Pointer(wb))
}

func rawColumnFamily(cf *grocksdb.ColumnFamilyHandle) *C.rocksdb_column_family_handle_t {
	return *(**C.rocksdb_column_family_handle_t)(unsafe.Pointer(cf))
}

// packedPuts packs write-batch entries for one cgo call: begin an entry,
// append its key to buf, call keyEnd, append its value, call end.
type packedPuts struct {
	buf    []byte
	at, kl int // the entry being packed: its offset and key length
}

func (p *packedPuts) begin() {
	p.at = len(p.buf)
	p.buf = append(p.buf, 0, 0, 0, 0, 0, 0, 0, 0)
}

func (p *packedPuts) keyEnd() { p.kl = len(p.buf) - p.at - 8 }

func (p *packedPuts) end() {
	binary.LittleEndian.PutUint32(p.buf[p.at:], uint32(p.kl))
	binary.LittleEndian.PutUint32(p.buf[p.at+4:], uint32(len(p.buf)-p.at-8-p.kl))
}

// putPacked puts the packed entries into wb under cf in one cgo call (see
// kalam_writebatch_put_packed) and empties p. buf is Go memory, pinned for
// the call; C keeps no pointer to it (the batch copies).
func (p *packedPuts) putPacked(wb *grocksdb.WriteBatch, cf *grocksdb.ColumnFamilyHandle) error {
	if len(p.buf) == 0 {
		return nil
	}
	rc := C.kalam_writebatch_put_packed(rawWriteBatch(wb), rawColumnFamily(cf),
		(*C.char)(unsafe.Pointer(unsafe.SliceData(p.buf))), C.size_t(len(p.buf)))
	p.buf = p.buf[:0]
	if rc != 0 {
		return kerr.New(kerr.Internal, "write batch refused packed entries")
	}
	return nil
}

// rocksResume clears RocksDB's background error once its cause is gone.
func rocksResume(db *grocksdb.DB) error {
	msg := C.kalam_rocks_resume(rawDB(db))
	if msg == nil {
		return nil
	}
	defer C.free(unsafe.Pointer(msg))
	return rocksError(C.GoString(msg))
}

// rocksLastError is the last error line RocksDB logged ("" if none).
func rocksLastError(o *grocksdb.Options) string {
	var buf [512]C.char
	n := C.kalam_rocks_last_error(rawOptions(o), &buf[0], C.int(len(buf)))
	return C.GoStringN(&buf[0], n)
}

type rocksError string

func (e rocksError) Error() string { return string(e) }

// rawIterator is the C handle of a grocksdb iterator (its first field, as
// for Options and DB; TestHotIter* check it by use).
func rawIterator(it *grocksdb.Iterator) *C.rocksdb_iterator_t {
	return *(**C.rocksdb_iterator_t)(unsafe.Pointer(it))
}

// iterNextBatch copies the entries of it from its position on into buf
// (see kalam_iter_next_batch) and moves it past them: n entries in
// buf[:used]; when n is 0, need is the size the next entry takes, or 0
// when it is exhausted. buf is Go memory, pinned for the call; C keeps no
// pointer to it.
func iterNextBatch(it *grocksdb.Iterator, buf []byte) (n, used, need int) {
	var u, nd C.size_t
	c := C.kalam_iter_next_batch(rawIterator(it), (*C.char)(unsafe.Pointer(unsafe.SliceData(buf))), C.size_t(len(buf)), &u, &nd)
	return int(c), int(u), int(nd)
}
