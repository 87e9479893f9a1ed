// Command capi is libkalam's C ABI (include/kalam.h), built with
// go build -buildmode=c-shared. It holds the //export functions only:
// argument checks, C⇄Go conversion, the handle table and error structs. The
// storage logic is package engine's; the Arrow stream plumbing is package
// arrowexport's.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../include -std=c11
#include <stdlib.h>
#include "helpers.h"
*/
import "C"

import (
	"fmt"
	"runtime/debug"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/kalamdb/libkalam/arrowexport"
	"github.com/kalamdb/libkalam/engine"
	"github.com/kalamdb/libkalam/kerr"
)

// main is required by -buildmode=c-shared and never runs.
func main() {}

// maxColumns bounds kalam_scan_options.n_columns: a larger value is junk, not
// a projection, and reading that many pointers would walk off the host's array.
const maxColumns = 1 << 16

// guard turns a panic into KALAM_INTERNAL. It also makes a fault on a bad
// host pointer read by Go code a recoverable panic instead of a crash.
func guard(fn string, status *C.kalam_status, cerr *C.kalam_error) {
	if r := recover(); r != nil {
		*status = finish(cerr, kerr.New(kerr.Internal, "internal error in %s: panic: %v", fn, r))
	}
}

// finish writes err (or a zeroed error) to cerr and returns its status.
func finish(cerr *C.kalam_error, err error) C.kalam_status {
	code := kerr.CodeOf(err)
	if cerr != nil {
		if err == nil {
			C.kc_error_zero(cerr)
		} else {
			C.kc_error_set(cerr, C.kalam_status(code), C.CString(err.Error()))
		}
	}
	return C.kalam_status(code)
}

func goString(p *C.kalam_cchar) string { return C.GoString((*C.char)(unsafe.Pointer(p))) }

// requiredString returns a NUL-terminated argument or an INVALID_ARGUMENT error naming it.
func requiredString(name string, p *C.kalam_cchar) (string, error) {
	if p == nil {
		return "", kerr.New(kerr.InvalidArgument, "%s is NULL", name)
	}
	return goString(p), nil
}

func cString(s string) *C.char { return C.CString(s) }

// errNullOut reports a NULL output pointer argument.
func errNullOut(name string) error { return kerr.New(kerr.InvalidArgument, "%s is NULL", name) }

// scanRequest converts kalam_scan_options (NULL: all defaults).
func scanRequest(opts *C.kalam_cscan_options) (engine.ScanRequest, error) {
	req := engine.ScanRequest{Limit: -1}
	if opts == nil {
		return req, nil
	}
	// DESIGN §6: struct_size is the size the caller was compiled with; read
	// the fields that fit in it and default the rest.
	size := uintptr(opts.struct_size)
	if size < C.KC_SCAN_OPTIONS_V1_SIZE {
		return req, kerr.New(kerr.InvalidArgument,
			"opts->struct_size is %d, smaller than the first kalam_scan_options (%d bytes); initialise options with KALAM_SCAN_OPTIONS_INIT",
			uint32(opts.struct_size), C.KC_SCAN_OPTIONS_V1_SIZE)
	}
	if n := int64(opts.n_columns); n >= 0 {
		if n > maxColumns {
			return req, kerr.New(kerr.InvalidArgument, "opts->n_columns %d is larger than %d", n, maxColumns)
		}
		if n > 0 && opts.columns == nil {
			return req, kerr.New(kerr.InvalidArgument, "opts->columns is NULL with n_columns %d", n)
		}
		req.Columns = make([]string, 0, n)
		if n > 0 {
			cols := unsafe.Slice(opts.columns, n)
			for i, c := range cols {
				if c == nil {
					return req, kerr.New(kerr.InvalidArgument, "opts->columns[%d] is NULL", i)
				}
				req.Columns = append(req.Columns, C.GoString(c))
			}
		}
	}
	if opts.filter != nil {
		req.Filter = C.GoString(opts.filter)
	}
	if opts.limit >= 0 {
		req.Limit = int64(opts.limit)
	}
	if opts.batch_rows > 0 {
		req.BatchRows = int64(opts.batch_rows)
	}
	if opts.as_of_version > 0 {
		req.AsOfVersion = int64(opts.as_of_version)
	}
	if opts.sql != nil {
		req.SQL = C.GoString(opts.sql)
	}
	if size >= unsafe.Offsetof(opts.as_of_time_ms)+unsafe.Sizeof(opts.as_of_time_ms) && opts.as_of_time_ms > 0 {
		req.AsOfTimeMs = int64(opts.as_of_time_ms)
	}
	return req, nil
}

//export kalam_error_release
func kalam_error_release(cerr *C.kalam_error) {
	defer func() { _ = recover() }()
	if cerr == nil {
		return
	}
	C.kc_error_release_checked(cerr)
}

//export kalam_free
func kalam_free(p unsafe.Pointer) {
	if p != nil {
		C.free(p)
	}
}

//export kalam_version_string
func kalam_version_string() *C.kalam_cchar {
	return (*C.kalam_cchar)(unsafe.Pointer(C.kc_version_string()))
}

//export kalam_abi_version
func kalam_abi_version() C.int32_t { return C.KALAM_ABI_VERSION }

//export kalam_open
func kalam_open(root *C.kalam_cchar, optionsJSON *C.kalam_cchar, out **C.kalam_db, cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_open", &status, cerr)
	if out == nil {
		return finish(cerr, kerr.New(kerr.InvalidArgument, "out is NULL"))
	}
	*out = nil
	var text string
	if optionsJSON != nil {
		text = goString(optionsJSON)
	}
	opts, err := openOptions(text)
	if err != nil {
		return finish(cerr, err)
	}
	// NULL root: a storage-only reader of opts' "storage" (DESIGN §10).
	var path string
	if root != nil {
		if path = goString(root); path == "" {
			return finish(cerr, kerr.New(kerr.InvalidArgument, "root is empty"))
		}
	} else if opts.Storage == "" {
		return finish(cerr, kerr.New(kerr.InvalidArgument, "root is NULL and options_json has no \"storage\" to read"))
	}
	db, err := engine.Open(path, opts)
	if err != nil {
		return finish(cerr, err) // engine errors name the root
	}
	h, err := handles.add(db)
	if err != nil {
		_ = db.Close()
		return finish(cerr, err)
	}
	*out = h
	return finish(cerr, nil)
}

//export kalam_close
func kalam_close(db *C.kalam_db, cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_close", &status, cerr)
	d, err := handles.close(db)
	if err != nil {
		return finish(cerr, err)
	}
	return finish(cerr, d.Close())
}

//export kalam_detach
func kalam_detach(db *C.kalam_db, cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_detach", &status, cerr)
	d, err := handles.close(db)
	if err != nil {
		return finish(cerr, err)
	}
	return finish(cerr, d.Detach())
}

//export kalam_create_namespace
func kalam_create_namespace(db *C.kalam_db, ns *C.kalam_cchar, cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_create_namespace", &status, cerr)
	d, err := handles.get(db)
	if err != nil {
		return finish(cerr, err)
	}
	name, err := requiredString("ns", ns)
	if err != nil {
		return finish(cerr, err)
	}
	return finish(cerr, d.CreateNamespace(name))
}

//export kalam_create_table
func kalam_create_table(db *C.kalam_db, table *C.kalam_cchar, typ *C.kalam_cchar, schema *C.struct_ArrowSchema,
	optionsJSON *C.kalam_cchar, cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_create_table", &status, cerr)
	// The schema is consumed on every path, so it is taken first.
	sc, serr := arrowexport.ImportSchema(unsafe.Pointer(schema))
	d, name, err := tableArg(db, table)
	if err != nil {
		return finish(cerr, err)
	}
	if serr != nil {
		return finish(cerr, serr)
	}
	var kind string
	if typ != nil {
		kind = goString(typ)
	}
	var text string
	if optionsJSON != nil {
		text = goString(optionsJSON)
	}
	options, err := tableOptions(text)
	if err != nil {
		return finish(cerr, err)
	}
	_, err = d.CreateTable(name, kind, sc, options)
	return finish(cerr, err)
}

//export kalam_drop_table
func kalam_drop_table(db *C.kalam_db, table *C.kalam_cchar, cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_drop_table", &status, cerr)
	d, name, err := tableArg(db, table)
	if err != nil {
		return finish(cerr, err)
	}
	return finish(cerr, d.DropTable(name))
}

//export kalam_table_schema
func kalam_table_schema(db *C.kalam_db, table *C.kalam_cchar, out *C.struct_ArrowSchema, cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_table_schema", &status, cerr)
	if out == nil {
		return finish(cerr, kerr.New(kerr.InvalidArgument, "out is NULL"))
	}
	C.kc_schema_zero(out)
	d, name, err := tableArg(db, table)
	if err != nil {
		return finish(cerr, err)
	}
	info, err := d.Table(name)
	if err != nil {
		return finish(cerr, err)
	}
	return finish(cerr, arrowexport.ExportSchema(info.Schema, unsafe.Pointer(out)))
}

//export kalam_append
func kalam_append(db *C.kalam_db, table *C.kalam_cchar, in *C.struct_ArrowArrayStream, rowsWritten *C.int64_t,
	cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_append", &status, cerr)
	return writeStream("append to", db, table, in, rowsWritten, cerr, (*engine.DB).Append)
}

//export kalam_delete
func kalam_delete(db *C.kalam_db, table *C.kalam_cchar, keys *C.struct_ArrowArrayStream, rowsDeleted *C.int64_t,
	cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_delete", &status, cerr)
	return writeStream("delete from", db, table, keys, rowsDeleted, cerr, (*engine.DB).Delete)
}

// writeStream is the body of kalam_append and kalam_delete: the host stream
// is consumed on every path, so it is imported first; then the table, then
// the write, whose row count is reported even on failure (batches commit
// one by one).
func writeStream(verb string, db *C.kalam_db, table *C.kalam_cchar, in *C.struct_ArrowArrayStream, count *C.int64_t,
	cerr *C.kalam_error, write func(*engine.DB, string, array.RecordReader) (int64, error)) C.kalam_status {
	if count != nil {
		*count = 0
	}
	rdr, ierr := arrowexport.ImportStream(unsafe.Pointer(in))
	if rdr != nil {
		defer rdr.Release()
	}
	d, name, err := tableArg(db, table)
	if err != nil {
		return finish(cerr, err)
	}
	if ierr != nil {
		return finish(cerr, fmt.Errorf("%s %q: %w", verb, name, ierr))
	}
	n, err := write(d, name, rdr)
	if count != nil {
		*count = C.int64_t(n)
	}
	return finish(cerr, err)
}

//export kalam_flush
func kalam_flush(db *C.kalam_db, table *C.kalam_cchar, segmentID **C.char, cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_flush", &status, cerr)
	if segmentID != nil {
		*segmentID = nil
	}
	d, name, err := tableArg(db, table)
	if err != nil {
		return finish(cerr, err)
	}
	id, err := d.Flush(name)
	if err != nil {
		return finish(cerr, err)
	}
	if segmentID != nil && id != "" {
		*segmentID = cString(id)
	}
	return finish(cerr, nil)
}

// tableArg resolves the handle and the table name every table call takes,
// in the order their errors are reported.
func tableArg(db *C.kalam_db, table *C.kalam_cchar) (*engine.DB, string, error) {
	d, err := handles.get(db)
	if err != nil {
		return nil, "", err
	}
	name, err := requiredString("table", table)
	if err != nil {
		return nil, "", err
	}
	return d, name, nil
}

// exportStream hands an engine stream to the host's out struct.
func exportStream(s engine.Stream, err error, out *C.struct_ArrowArrayStream) error {
	if err != nil {
		return err
	}
	return arrowexport.ExportStream(s, unsafe.Pointer(out))
}

//export kalam_scan
func kalam_scan(db *C.kalam_db, table *C.kalam_cchar, opts *C.kalam_cscan_options, out *C.struct_ArrowArrayStream,
	cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_scan", &status, cerr)
	if out == nil {
		return finish(cerr, kerr.New(kerr.InvalidArgument, "out is NULL"))
	}
	C.kc_stream_zero(out)
	d, name, err := tableArg(db, table)
	if err != nil {
		return finish(cerr, err)
	}
	req, err := scanRequest(opts)
	if err != nil {
		return finish(cerr, err)
	}
	s, err := d.Scan(name, req)
	return finish(cerr, exportStream(s, err, out))
}

//export kalam_scan_segment
func kalam_scan_segment(db *C.kalam_db, table *C.kalam_cchar, segmentID *C.kalam_cchar, opts *C.kalam_cscan_options,
	out *C.struct_ArrowArrayStream, cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_scan_segment", &status, cerr)
	if out == nil {
		return finish(cerr, kerr.New(kerr.InvalidArgument, "out is NULL"))
	}
	C.kc_stream_zero(out)
	d, name, err := tableArg(db, table)
	if err != nil {
		return finish(cerr, err)
	}
	seg, err := requiredString("segment_id", segmentID)
	if err != nil {
		return finish(cerr, err)
	}
	req, err := scanRequest(opts)
	if err != nil {
		return finish(cerr, err)
	}
	s, err := d.ScanSegment(name, seg, req)
	return finish(cerr, exportStream(s, err, out))
}

//export kalam_system_table
func kalam_system_table(db *C.kalam_db, name *C.kalam_cchar, out *C.struct_ArrowArrayStream, cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_system_table", &status, cerr)
	if out == nil {
		return finish(cerr, kerr.New(kerr.InvalidArgument, "out is NULL"))
	}
	C.kc_stream_zero(out)
	d, err := handles.get(db)
	if err != nil {
		return finish(cerr, err)
	}
	n, err := requiredString("name", name)
	if err != nil {
		return finish(cerr, err)
	}
	s, err := d.SystemTable(n, engine.ScanRequest{Limit: -1})
	return finish(cerr, exportStream(s, err, out))
}

//export kalam_explain
func kalam_explain(db *C.kalam_db, table *C.kalam_cchar, opts *C.kalam_cscan_options, planJSON **C.char,
	cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_explain", &status, cerr)
	if planJSON == nil {
		return finish(cerr, kerr.New(kerr.InvalidArgument, "plan_json is NULL"))
	}
	*planJSON = nil
	d, name, err := tableArg(db, table)
	if err != nil {
		return finish(cerr, err)
	}
	req, err := scanRequest(opts)
	if err != nil {
		return finish(cerr, err)
	}
	plan, err := d.Explain(name, req)
	if err != nil {
		return finish(cerr, err)
	}
	*planJSON = cString(string(plan))
	return finish(cerr, nil)
}

//export kalam_manifest_json
func kalam_manifest_json(db *C.kalam_db, table *C.kalam_cchar, out **C.char, cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_manifest_json", &status, cerr)
	if out == nil {
		return finish(cerr, kerr.New(kerr.InvalidArgument, "json is NULL"))
	}
	*out = nil
	d, name, err := tableArg(db, table)
	if err != nil {
		return finish(cerr, err)
	}
	m, err := d.ManifestJSON(name)
	if err != nil {
		return finish(cerr, err)
	}
	*out = cString(string(m))
	return finish(cerr, nil)
}

//export kalam_stream_error
func kalam_stream_error(stream *C.struct_ArrowArrayStream, cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_stream_error", &status, cerr)
	if stream == nil {
		return finish(cerr, kerr.New(kerr.InvalidArgument, "stream is NULL"))
	}
	code, msg, ok := arrowexport.StreamError(unsafe.Pointer(stream))
	if !ok {
		return finish(cerr, kerr.New(kerr.InvalidArgument, "stream is released or was not created by libkalam"))
	}
	if code == kerr.OK {
		return finish(cerr, nil)
	}
	return finish(cerr, &kerr.Error{Code: code, Msg: msg})
}
