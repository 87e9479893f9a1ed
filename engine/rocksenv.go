package engine

/*
#cgo CXXFLAGS: -std=c++17 -O2
#cgo LDFLAGS: -lrocksdb -lstdc++
#include <stdlib.h>
#include "rocks_shim.h"
*/
import "C"

import (
	"os"
	"path/filepath"
	"unsafe"

	"github.com/linxGnu/grocksdb"
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
