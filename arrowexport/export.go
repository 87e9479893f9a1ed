// Package arrowexport moves record batches across the Arrow C stream
// interface in both directions: it exports a Go record source as a
// struct ArrowArrayStream that a C host consumes, and imports a host's
// struct ArrowArrayStream as an array.RecordReader.
//
// The exporter is ours rather than cdata.ExportRecordReader because the C
// ABI needs what the stock one lacks: a real end of stream (a released array
// and 0, never a spurious EIO), errno values derived from kerr codes, error
// text owned by the stream, panic recovery in every callback, release from
// any thread at any time, and the rich error of a failed get_next for
// kalam_stream_error.
//
// Memory: exported buffers must live in C memory (the cgo pointer rules,
// checked by GOEXPERIMENT=cgocheck2). Sources must therefore build their
// batches with a C allocator (mallocator); buffers that a library allocates on
// the Go heap whatever the allocator (pqarrow does for some types) must be
// copied into C memory by the source before Next returns them. The exporter
// does not copy.
package arrowexport

/*
#include <errno.h>
#include <stdlib.h>
#include "bridge.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"io"
	"runtime/cgo"
	"sync"
	"syscall"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/cdata"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/memory/mallocator"
	"github.com/kalamdb/libkalam/kerr"
)

// Source is what ExportStream exports. Next returns (nil, nil) at the end
// (io.EOF itself is accepted as the end too, not an error wrapping it);
// the exporter owns and releases every batch it receives. Close is called
// exactly once, when the consumer releases the stream. engine.Stream
// satisfies Source.
type Source interface {
	Schema() *arrow.Schema
	Next() (arrow.RecordBatch, error)
	Close()
}

// Canceler is implemented by sources whose pending Next can be interrupted.
// release uses it when another thread is inside get_next, so that a release
// never waits for a scan slot or a slow read.
type Canceler interface {
	Cancel()
}

// exported is the Go state behind one exported stream. Every callback takes
// mu: the C stream interface lets the host call release from any thread.
type exported struct {
	mu       sync.Mutex
	src      Source
	schema   *arrow.Schema
	done     bool
	released bool
	batches  int64

	errCode kerr.Code
	errMsg  string
	errno   C.int
	errText *C.char // owned; valid until the next callback or release

	// mem holds the few bytes the exporter itself allocates (a struct's
	// validity bitmap moved to bit 0: rebaseForExport), in C memory.
	mem memory.Allocator
}

// ExportStream moves src into the struct ArrowArrayStream at out. out must
// point to writable memory of sizeof(struct ArrowArrayStream); its previous
// contents are ignored (overwritten, never released). From then on the
// stream owns src: src.Close runs when the host calls release. On error
// (out is NULL) src is closed and nothing is written.
func ExportStream(src Source, out unsafe.Pointer) error {
	if out == nil {
		src.Close()
		return kerr.New(kerr.InvalidArgument, "output ArrowArrayStream is NULL")
	}
	var schema *arrow.Schema
	err := callSafely(func() error {
		schema = src.Schema()
		return nil
	})
	if err != nil {
		src.Close()
		return err
	}
	st := &exported{src: src, schema: schema, mem: mallocator.NewMallocator()}
	h := cgo.NewHandle(st)
	C.kx_export_init((*C.struct_ArrowArrayStream)(out), C.uintptr_t(h))
	return nil
}

// lookup returns the state of an exported stream, or nil when the struct is
// not a live stream of ours (released, or never exported by this package).
func lookup(s *C.struct_ArrowArrayStream) (st *exported) {
	if C.kx_is_exported(s) == 0 {
		return nil
	}
	defer func() {
		if recover() != nil {
			st = nil
		}
	}()
	h := cgo.Handle(uintptr(C.kx_export_handle(s)))
	st, _ = h.Value().(*exported)
	return st
}

// callSafely runs fn and turns a panic into a kerr.Internal error, so that
// no host ever dies from a bug on the Go side of a callback.
func callSafely(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = panicError(r)
		}
	}()
	return fn()
}

// errOutOfMemory marks a recovered allocation failure, which maps to ENOMEM.
var errOutOfMemory = errors.New("out of memory")

// recovered is a panic turned into an error.
type recovered struct {
	value any
}

func (p *recovered) Error() string { return fmt.Sprintf("panic: %v", p.value) }

// Unwrap exposes an allocation failure (mallocator panics with ENOMEM).
func (p *recovered) Unwrap() error {
	if e, ok := p.value.(error); ok && errors.Is(e, syscall.ENOMEM) {
		return errOutOfMemory
	}
	if s, ok := p.value.(string); ok && s == "mallocator: out of memory" {
		return errOutOfMemory
	}
	return nil
}

func panicError(r any) error {
	return kerr.Wrap(kerr.Internal, &recovered{value: r}, "internal error")
}

// Errno maps an error to the errno value a stream callback returns:
//
//	nil                                   0
//	kerr.InvalidArgument, NotFound,
//	AlreadyExists, ReadOnly, Closed       EINVAL
//	kerr.Cancelled                        ECANCELED
//	out of memory (recovered)             ENOMEM
//	arrow.ErrNotImplemented               ENOSYS
//	kerr.IO, Corruption, Busy, Internal,
//	and errors without a code             EIO
func Errno(err error) int {
	if err == nil {
		return 0
	}
	if errors.Is(err, errOutOfMemory) {
		return int(syscall.ENOMEM)
	}
	switch kerr.CodeOf(err) {
	case kerr.InvalidArgument, kerr.NotFound, kerr.AlreadyExists, kerr.ReadOnly, kerr.Closed:
		return int(syscall.EINVAL)
	case kerr.Cancelled:
		return int(syscall.ECANCELED)
	}
	if errors.Is(err, arrow.ErrNotImplemented) {
		return int(syscall.ENOSYS)
	}
	return int(syscall.EIO)
}

// fail records err as the stream's last error and returns its errno.
func (st *exported) fail(err error) C.int {
	st.clearErrText()
	st.errCode = kerr.CodeOf(err)
	if st.errCode == kerr.OK {
		st.errCode = kerr.Internal
	}
	st.errMsg = err.Error()
	st.errno = C.int(Errno(err))
	st.errText = C.CString(st.errMsg)
	return st.errno
}

// misuse records a call the stream refused without running it (a NULL
// out) as its last error, EINVAL, and leaves the stream as it was: the
// host's next proper call goes on where the stream stood.
func (st *exported) misuse(msg string) C.int {
	st.clearErrText()
	st.errCode, st.errMsg = kerr.InvalidArgument, msg
	st.errText = C.CString(msg)
	return C.EINVAL
}

func (st *exported) clearErrText() {
	if st.errText != nil {
		C.free(unsafe.Pointer(st.errText))
		st.errText = nil
	}
}

// sticky re-reports a previous failure: after an error the stream stays
// failed, so a host that retries gets the same answer instead of a
// half-consumed stream.
func (st *exported) sticky() C.int {
	st.clearErrText()
	st.errText = C.CString(st.errMsg)
	return st.errno
}

//export kxGoGetSchema
func kxGoGetSchema(s *C.struct_ArrowArrayStream, out *C.struct_ArrowSchema) (rc C.int) {
	st := lookup(s)
	if st == nil {
		return C.EINVAL
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			C.kx_zero_schema(out)
			rc = st.fail(panicError(r))
		}
	}()
	if st.released {
		return C.EINVAL
	}
	if out == nil {
		return st.misuse("get_schema: out is NULL")
	}
	if st.schema == nil {
		return st.fail(kerr.New(kerr.Internal, "stream has no schema"))
	}
	st.clearErrText()
	cdata.ExportArrowSchema(st.schema, (*cdata.CArrowSchema)(unsafe.Pointer(out)))
	return 0
}

//export kxGoGetNext
func kxGoGetNext(s *C.struct_ArrowArrayStream, out *C.struct_ArrowArray) (rc C.int) {
	st := lookup(s)
	if st == nil {
		return C.EINVAL
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			C.kx_mark_array_released(out)
			rc = st.fail(panicError(r))
		}
	}()
	if st.released {
		return C.EINVAL
	}
	if out == nil {
		return st.misuse("get_next: out is NULL")
	}
	if st.errno != 0 {
		return st.sticky()
	}
	st.clearErrText()
	if st.done {
		return 0 // out was zeroed by the trampoline: a released array, the end
	}
	rec, err := st.src.Next()
	// io.EOF itself ends the stream; an error wrapping it is a failure (a
	// storage read whose connection closed before the reply).
	if err != nil && err != io.EOF {
		if rec != nil {
			rec.Release()
		}
		return st.fail(err)
	}
	if rec == nil || err != nil {
		st.done = true
		return 0
	}
	defer rec.Release()
	if err := st.checkBatch(rec); err != nil {
		return st.fail(err)
	}
	flat := rebaseForExport(rec, st.mem)
	defer flat.Release()
	cdata.ExportArrowRecordBatch(flat, (*cdata.CArrowArray)(unsafe.Pointer(out)), nil)
	st.batches++
	return 0
}

// checkBatch refuses a batch whose columns disagree with the stream's schema:
// the host decodes every batch with the schema it got once.
func (st *exported) checkBatch(rec arrow.RecordBatch) error {
	if st.schema == nil {
		return kerr.New(kerr.Internal, "stream has no schema")
	}
	if int(rec.NumCols()) != st.schema.NumFields() {
		return kerr.New(kerr.Internal, "batch %d has %d columns, the stream schema %d",
			st.batches, rec.NumCols(), st.schema.NumFields())
	}
	for i, f := range st.schema.Fields() {
		if !arrow.TypeEqual(rec.Column(i).DataType(), f.Type) {
			return kerr.New(kerr.Internal, "batch %d column %q has type %s, the stream schema %s",
				st.batches, f.Name, rec.Column(i).DataType(), f.Type)
		}
	}
	return nil
}

//export kxGoGetLastError
func kxGoGetLastError(s *C.struct_ArrowArrayStream) (msg *C.char) {
	defer func() {
		if recover() != nil {
			msg = nil
		}
	}()
	st := lookup(s)
	if st == nil {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.errText
}

//export kxGoRelease
func kxGoRelease(s *C.struct_ArrowArrayStream) {
	// A panic must not escape into the host; the trampoline marks the
	// stream released whatever happens here.
	defer func() { _ = recover() }()
	st := lookup(s)
	if st == nil {
		return
	}
	h := cgo.Handle(uintptr(C.kx_export_handle(s)))
	if !st.mu.TryLock() {
		// Another thread is inside get_next; cancel it so that release does
		// not wait for a scan slot or the rest of a slow read.
		if c, ok := st.src.(Canceler); ok {
			_ = callSafely(func() error { c.Cancel(); return nil })
		}
		st.mu.Lock()
	}
	defer st.mu.Unlock()
	if st.released {
		return
	}
	st.released = true
	_ = callSafely(func() error { st.src.Close(); return nil })
	st.clearErrText()
	h.Delete()
}

// StreamError returns the error of the last failed callback of a stream
// exported by this package: its kerr code and full message. code is
// kerr.OK when no callback has failed. ok is false when stream is NULL,
// released, or not a stream of this package.
func StreamError(stream unsafe.Pointer) (code kerr.Code, msg string, ok bool) {
	st := lookup((*C.struct_ArrowArrayStream)(stream))
	if st == nil {
		return kerr.OK, "", false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.released {
		return kerr.OK, "", false
	}
	if st.errno == 0 && st.errCode == kerr.OK {
		return kerr.OK, "", true
	}
	return st.errCode, st.errMsg, true
}

// IsExported reports whether stream is a live stream exported by this package.
func IsExported(stream unsafe.Pointer) bool {
	return lookup((*C.struct_ArrowArrayStream)(stream)) != nil
}

// ExportSchema writes schema to the struct ArrowSchema at out (its previous
// contents are ignored). The host releases it.
func ExportSchema(schema *arrow.Schema, out unsafe.Pointer) error {
	if out == nil {
		return kerr.New(kerr.InvalidArgument, "output ArrowSchema is NULL")
	}
	if schema == nil {
		return kerr.New(kerr.Internal, "no schema to export")
	}
	C.kx_zero_schema((*C.struct_ArrowSchema)(out))
	return callSafely(func() error {
		cdata.ExportArrowSchema(schema, (*cdata.CArrowSchema)(out))
		return nil
	})
}

// FormatString is the Arrow C data interface format string of a type
// ("l", "tsu:UTC", "+l", ...); nested types give their top-level format.
func FormatString(dt arrow.DataType) (string, error) {
	var cs C.struct_ArrowSchema
	var out string
	err := callSafely(func() error {
		one := arrow.NewSchema([]arrow.Field{{Name: "x", Type: dt, Nullable: true}}, nil)
		cdata.ExportArrowSchema(one, (*cdata.CArrowSchema)(unsafe.Pointer(&cs)))
		out = C.GoString(C.kx_child_format(&cs, 0))
		return nil
	})
	if cs.release != nil {
		C.kx_release_schema(&cs)
	}
	return out, err
}
