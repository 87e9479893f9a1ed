package arrowexport

/*
#include <stdlib.h>
#include <string.h>
#include "bridge.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/cdata"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/kalamdb/libkalam/kerr"
)

// ImportSchema consumes the host's struct ArrowSchema at in (a record batch
// schema: a struct type whose children are the columns) and returns it as an
// arrow.Schema. The host's struct is released whether or not the call
// succeeds. A NULL or released schema, a malformed struct or an unknown
// format string is kerr.InvalidArgument naming the field.
func ImportSchema(in unsafe.Pointer) (*arrow.Schema, error) {
	if in == nil {
		return nil, kerr.New(kerr.InvalidArgument, "schema is NULL")
	}
	host := (*C.struct_ArrowSchema)(in)
	if host.release == nil {
		return nil, kerr.New(kerr.InvalidArgument, "schema is already released")
	}
	schema, err := importOwnedSchema(host)
	C.kx_schema_release_host(host)
	return schema, err
}

// ImportType imports a host struct ArrowSchema describing one type (any
// format, not only a struct), which is consumed on every path.
func ImportType(in unsafe.Pointer) (arrow.DataType, error) {
	if in == nil {
		return nil, kerr.New(kerr.InvalidArgument, "type schema is NULL")
	}
	host := (*C.struct_ArrowSchema)(in)
	if host.release == nil {
		return nil, kerr.New(kerr.InvalidArgument, "type schema is already released")
	}
	defer C.kx_schema_release_host(host)
	var errbuf [512]C.char
	cp := C.kx_schema_copy(host, &errbuf[0], C.size_t(len(errbuf)))
	if cp == nil {
		return nil, kerr.New(kerr.InvalidArgument, "invalid type schema: %s", C.GoString(&errbuf[0]))
	}
	defer C.free(unsafe.Pointer(cp))
	var items []bool
	mapItemNullability(cp, &items, 0)
	var f arrow.Field
	err := callSafely(func() error {
		var ierr error
		f, ierr = cdata.ImportCArrowField((*cdata.CArrowSchema)(unsafe.Pointer(cp)))
		if ierr == nil {
			restoreMapItems(f.Type, &items)
		}
		return ierr
	})
	C.kx_schema_release_host(cp)
	if err != nil {
		if !isPanic(err) {
			err = kerr.Wrap(kerr.InvalidArgument, err, "invalid type schema")
		}
		return nil, err
	}
	return f.Type, nil
}

// importOwnedSchema copies a (not yet released) host schema into our own
// structs and imports the copy; the caller releases the host's struct.
func importOwnedSchema(host *C.struct_ArrowSchema) (schema *arrow.Schema, err error) {
	var errbuf [512]C.char
	cp := C.kx_schema_copy(host, &errbuf[0], C.size_t(len(errbuf)))
	if cp == nil {
		return nil, kerr.New(kerr.InvalidArgument, "invalid schema: %s", C.GoString(&errbuf[0]))
	}
	defer C.free(unsafe.Pointer(cp))
	var items []bool
	mapItemNullability(cp, &items, 0)
	err = callSafely(func() error {
		var ierr error
		schema, ierr = cdata.ImportCArrowSchema((*cdata.CArrowSchema)(unsafe.Pointer(cp)))
		if ierr == nil {
			for _, f := range schema.Fields() {
				restoreMapItems(f.Type, &items)
			}
		}
		return ierr
	})
	// ImportCArrowSchema releases cp on every path but a panic.
	C.kx_schema_release_host(cp)
	if err != nil {
		if !isPanic(err) {
			err = kerr.Wrap(kerr.InvalidArgument, err, "invalid schema")
		}
		return nil, err
	}
	return schema, nil
}

// arrow-go's C import (cdata v18.8.0) builds every map with arrow.MapOf,
// whose values are always nullable: a map<utf8, fixed_size_list not null>
// column then looked like one that may hold null embeddings, and the store
// refused it. mapItemNullability records, depth first, the value
// nullability of each map in the (validated, copied) C schema s;
// restoreMapItems sets it on the imported types in the same order.
func mapItemNullability(s *C.struct_ArrowSchema, out *[]bool, depth int) {
	if s == nil || depth > 64 {
		return
	}
	children := unsafe.Slice(s.children, int(s.n_children))
	if C.GoString(s.format) == "+m" && len(children) == 1 && children[0] != nil && children[0].n_children == 2 {
		item := unsafe.Slice(children[0].children, 2)[1]
		*out = append(*out, item != nil && item.flags&C.ARROW_FLAG_NULLABLE != 0)
	}
	for _, c := range children {
		mapItemNullability(c, out, depth+1)
	}
}

func restoreMapItems(t arrow.DataType, items *[]bool) {
	if m, ok := t.(*arrow.MapType); ok && len(*items) > 0 {
		m.SetItemNullable((*items)[0])
		*items = (*items)[1:]
	}
	if nt, ok := t.(arrow.NestedType); ok {
		for _, f := range nt.Fields() {
			restoreMapItems(f.Type, items)
		}
	}
}

func isPanic(err error) bool {
	var p *recovered
	return errors.As(err, &p)
}

// ImportStream consumes the host's struct ArrowArrayStream at in and returns
// a reader over its batches. The host's struct is marked released
// (release = NULL) whether or not the call succeeds; the library calls the
// producer's release exactly once, when the reader is released (or at once,
// on error).
//
// Every batch is checked before use: the C structs' lengths, offsets, null
// counts, buffer and child counts against the schema's types, NULL buffers,
// and then array.ValidateFull. A malformed batch is a kerr.InvalidArgument
// error naming the column; a non-zero errno from the host's get_next is a
// kerr.IO error carrying the host's get_last_error text. A NULL or released
// stream is kerr.InvalidArgument.
func ImportStream(in unsafe.Pointer) (array.RecordReader, error) {
	if in == nil {
		return nil, kerr.New(kerr.InvalidArgument, "input stream is NULL")
	}
	host := (*C.struct_ArrowArrayStream)(in)
	if host.release == nil {
		return nil, kerr.New(kerr.InvalidArgument, "input stream is already released")
	}
	s := C.kx_stream_take(host)
	if s == nil {
		C.kx_stream_release_free(host)
		return nil, kerr.Wrap(kerr.Internal, errOutOfMemory, "importing input stream")
	}
	r := &importedReader{stream: s}
	r.refs.Store(1)
	if s.get_schema == nil || s.get_next == nil {
		r.Release()
		return nil, kerr.New(kerr.InvalidArgument, "input stream has a NULL get_schema or get_next callback")
	}
	var err error
	if cerr := callSafely(func() error { err = r.readSchema(); return nil }); cerr != nil {
		err = cerr
	}
	if err != nil {
		r.Release()
		return nil, err
	}
	return r, nil
}

// importedReader is an array.RecordReader over a host stream. It is not safe
// for concurrent use (neither is any RecordReader); Retain/Release are.
type importedReader struct {
	refs   atomic.Int64
	stream *C.struct_ArrowArrayStream
	schema *arrow.Schema
	cur    arrow.RecordBatch
	err    error
	done   bool
	batch  int64
}

func (r *importedReader) hostError(op string, rc C.int) error {
	text := ""
	if msg := C.kx_stream_last_error(r.stream); msg != nil {
		text = C.GoStringN(msg, C.int(C.strnlen(msg, 4096)))
	}
	if text == "" {
		text = "no error message"
	}
	return kerr.New(hostErrnoCode(int(rc)), "input stream %s failed (errno %d): %s", op, int(rc), text)
}

// hostErrnoCode is the status of a host stream's failure by the errno its
// callback returned: EINVAL says the host's data or code failed (what
// pyarrow returns when the Python source of a reader raises), ECANCELED
// that the host cancelled it; anything else is taken as the I/O failure
// that EIO, the usual value, names.
func hostErrnoCode(rc int) kerr.Code {
	switch syscall.Errno(rc) {
	case syscall.EINVAL:
		return kerr.InvalidArgument
	case syscall.ECANCELED:
		return kerr.Cancelled
	}
	return kerr.IO
}

func (r *importedReader) readSchema() error {
	sc := (*C.struct_ArrowSchema)(C.calloc(1, C.sizeof_struct_ArrowSchema))
	if sc == nil {
		return kerr.Wrap(kerr.Internal, errOutOfMemory, "reading input stream schema")
	}
	defer C.kx_schema_release_free(sc)
	if rc := C.kx_stream_get_schema(r.stream, sc); rc != 0 {
		return r.hostError("get_schema", rc)
	}
	if sc.release == nil {
		return kerr.New(kerr.InvalidArgument, "input stream get_schema returned a released schema")
	}
	schema, err := importOwnedSchema(sc)
	if err != nil {
		return fmt.Errorf("input stream: %w", err)
	}
	r.schema = schema
	return nil
}

// Retain adds a reference.
func (r *importedReader) Retain() { r.refs.Add(1) }

// Release drops a reference; the last one releases the current batch and the
// host's stream.
func (r *importedReader) Release() {
	if r.refs.Add(-1) != 0 {
		return
	}
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	if r.stream != nil {
		_ = callSafely(func() error { C.kx_stream_release_free(r.stream); return nil })
		r.stream = nil
	}
}

// Schema returns the stream's schema.
func (r *importedReader) Schema() *arrow.Schema { return r.schema }

// RecordBatch returns the current batch, valid until the next call to Next.
func (r *importedReader) RecordBatch() arrow.RecordBatch { return r.cur }

// Record returns the current batch.
//
// Deprecated: use RecordBatch.
func (r *importedReader) Record() arrow.RecordBatch { return r.cur }

// Err returns the error that ended the stream, nil at a clean end.
func (r *importedReader) Err() error { return r.err }

// Next moves to the next batch.
func (r *importedReader) Next() bool {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	if r.done || r.err != nil || r.stream == nil {
		return false
	}
	var rec arrow.RecordBatch
	err := callSafely(func() error {
		var e error
		rec, e = r.next()
		return e
	})
	if err != nil {
		r.err = err
		return false
	}
	if rec == nil {
		r.done = true
		return false
	}
	r.cur = rec
	r.batch++
	return true
}

func (r *importedReader) next() (arrow.RecordBatch, error) {
	arr := C.kx_array_new()
	if arr == nil {
		return nil, kerr.Wrap(kerr.Internal, errOutOfMemory, "reading input stream")
	}
	if rc := C.kx_stream_get_next(r.stream, arr); rc != 0 {
		// On error the producer's output is not a valid array: free only our struct.
		C.free(unsafe.Pointer(arr))
		return nil, r.hostError("get_next", rc)
	}
	if arr.release == nil {
		C.free(unsafe.Pointer(arr))
		return nil, nil
	}
	if err := validateBatch(arr, r.schema); err != nil {
		C.kx_array_release_free(arr)
		return nil, kerr.Wrap(kerr.InvalidArgument, err, "input batch %d", r.batch)
	}
	w := C.kx_array_wrap(arr)
	C.free(unsafe.Pointer(arr)) // moved into w's holder
	if w == nil {
		return nil, kerr.Wrap(kerr.Internal, errOutOfMemory, "reading input stream")
	}
	var rec arrow.RecordBatch
	err := callSafely(func() error {
		var e error
		rec, e = cdata.ImportCRecordBatchWithSchema((*cdata.CArrowArray)(unsafe.Pointer(w)), r.schema)
		return e
	})
	// The importer moved w (or released it on error); only the struct is left.
	C.kx_array_release_free(w)
	if err != nil {
		if !isPanic(err) {
			err = kerr.Wrap(kerr.InvalidArgument, err, "input batch %d", r.batch)
		}
		return nil, err
	}
	if err := callSafely(func() error { rec = completeRecord(rec); return nil }); err != nil {
		rec.Release()
		return nil, err
	}
	for i, f := range r.schema.Fields() {
		col := rec.Column(i)
		if col.DataType().ID() == arrow.NULL {
			// No buffers to check (the C interface gives a null array none,
			// where arrow-go's layout expects one).
			continue
		}
		verr := callSafely(func() error { return array.ValidateFull(col) })
		if verr != nil {
			rec.Release()
			return nil, kerr.New(kerr.InvalidArgument, "input batch %d: column %q: invalid data: %v",
				r.batch, f.Name, verr)
		}
	}
	return rec, nil
}

// completeRecord returns rec with completeLayout applied to every column
// (rec itself, unchanged, when no column needs it; otherwise rec is released
// and a new record returned).
func completeRecord(rec arrow.RecordBatch) arrow.RecordBatch {
	var cols []arrow.Array
	for i, c := range rec.Columns() {
		d, changed := completeLayout(c.Data())
		if !changed {
			continue
		}
		if cols == nil {
			cols = make([]arrow.Array, rec.NumCols())
		}
		cols[i] = array.MakeFromData(d)
		d.Release()
	}
	if cols == nil {
		return rec
	}
	for i, c := range rec.Columns() {
		if cols[i] == nil {
			c.Retain()
			cols[i] = c
		}
	}
	out := array.NewRecordBatch(rec.Schema(), cols, rec.NumRows())
	for _, c := range cols {
		c.Release()
	}
	rec.Release()
	return out
}

// completeLayout gives null and run-end encoded arrays, at any depth, the
// one (always NULL) buffer slot arrow-go's layout for them has. Its C
// importer builds them with no slot at all, which its own ValidateFull then
// rejects ("expected at least 1 buffers"), so without this every null-typed
// column (what pyarrow infers for an all-None pandas column) and every
// run-end encoded one would be refused as invalid data. It returns d
// (not retained) and false when nothing needed completing, else new data the
// caller releases.
func completeLayout(d arrow.ArrayData) (arrow.ArrayData, bool) {
	changed := false
	kids := d.Children()
	newKids := make([]arrow.ArrayData, len(kids))
	kidChanged := make([]bool, len(kids))
	for i, k := range kids {
		newKids[i], kidChanged[i] = completeLayout(k)
		changed = changed || kidChanged[i]
	}
	var dict *array.Data
	dictChanged := false
	if d.DataType().ID() == arrow.DICTIONARY {
		if dd, ok := d.Dictionary().(*array.Data); ok && dd != nil {
			nd, ch := completeLayout(dd)
			dict, dictChanged = nd.(*array.Data), ch
			changed = changed || ch
		}
	}
	bufs := d.Buffers()
	if id := d.DataType().ID(); (id == arrow.NULL || id == arrow.RUN_END_ENCODED) && len(bufs) == 0 {
		bufs = []*memory.Buffer{nil}
		changed = true
	}
	if !changed {
		return d, false
	}
	var out *array.Data
	if dict != nil { // dictionary arrays have no children
		out = array.NewDataWithDictionary(d.DataType(), d.Len(), bufs, d.NullN(), d.Offset(), dict)
	} else {
		out = array.NewData(d.DataType(), d.Len(), bufs, newKids, d.NullN(), d.Offset())
	}
	for i, k := range newKids {
		if kidChanged[i] {
			k.Release()
		}
	}
	if dictChanged {
		dict.Release()
	}
	return out, true
}
