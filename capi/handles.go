package main

/*
#include "helpers.h"
*/
import "C"

import (
	"sync"
	"unsafe"

	"github.com/kalamdb/libkalam/engine"
	"github.com/kalamdb/libkalam/kerr"
)

// handleTable maps the C handles given to the host to open engine handles.
// A kalam_db* points to a small malloc'ed block holding a magic number and
// an id, never a Go pointer (cgo rules), and the block is never freed: the
// host may use the pointer after kalam_close and must get KALAM_CLOSED, not
// a use-after-free. Ids are never reused.
type handleTable struct {
	mu     sync.RWMutex
	nextID uint64
	open   map[uint64]*engine.DB
	// blocks keeps every block reachable from Go, so that leak checkers
	// (valgrind) see the deliberate retention as reachable, not lost.
	blocks []*C.kalam_db
}

// handles is the process's table. The C ABI passes no context to an
// exported function, so the mapping from C handle to Go object must live at
// package level; it is the only mutable package state in capi.
var handles = &handleTable{open: map[uint64]*engine.DB{}}

func (t *handleTable) add(db *engine.DB) (*C.kalam_db, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nextID++
	id := t.nextID
	block := C.kc_db_new(C.uint64_t(id))
	if block == nil {
		return nil, kerr.New(kerr.Internal, "out of memory allocating a database handle")
	}
	t.open[id] = db
	t.blocks = append(t.blocks, block)
	return block, nil
}

// lookupLocked resolves a handle; t.mu must be held.
func (t *handleTable) lookupLocked(h *C.kalam_db) (uint64, *engine.DB, error) {
	if h == nil {
		return 0, nil, kerr.New(kerr.InvalidArgument, "db is NULL")
	}
	if uint64(h.magic) != uint64(C.KC_MAGIC_OPEN) {
		return 0, nil, kerr.New(kerr.Closed, "database handle %p is closed or not a kalam_db", unsafe.Pointer(h))
	}
	id := uint64(h.id)
	db, ok := t.open[id]
	if !ok {
		return 0, nil, kerr.New(kerr.Closed, "database handle %p is closed or not a kalam_db", unsafe.Pointer(h))
	}
	return id, db, nil
}

// get returns the engine handle behind h.
func (t *handleTable) get(h *C.kalam_db) (*engine.DB, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	_, db, err := t.lookupLocked(h)
	return db, err
}

// close marks h closed and returns the engine handle for the caller to close.
func (t *handleTable) close(h *C.kalam_db) (*engine.DB, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	id, db, err := t.lookupLocked(h)
	if err != nil {
		return nil, err
	}
	delete(t.open, id)
	h.magic = C.KC_MAGIC_CLOSED
	return db, nil
}
