package main

/*
#include <stdlib.h>
#include "helpers.h"
*/
import "C"

import (
	"fmt"
	"runtime/debug"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/kalamdb/libkalam/arrowexport"
	"github.com/kalamdb/libkalam/engine"
	"github.com/kalamdb/libkalam/kerr"
)

// writeOptions converts kalam_write_options (NULL: defaults) by the
// struct_size rule of DESIGN §6.
func writeOptions(opts *C.kalam_cwrite_options) (engine.WriteOptions, error) {
	var out engine.WriteOptions
	if opts == nil {
		return out, nil
	}
	if uintptr(opts.struct_size) < C.KC_WRITE_OPTIONS_V1_SIZE {
		return out, kerr.New(kerr.InvalidArgument,
			"opts->struct_size is %d, smaller than the first kalam_write_options (%d bytes); initialise options with KALAM_WRITE_OPTIONS_INIT",
			uint32(opts.struct_size), C.KC_WRITE_OPTIONS_V1_SIZE)
	}
	switch opts.mode {
	case C.KALAM_WRITE_UPSERT, C.KALAM_WRITE_INSERT, C.KALAM_WRITE_UPDATE, C.KALAM_WRITE_MERGE:
		out.Mode = engine.WriteMode(opts.mode)
	default:
		return out, kerr.New(kerr.InvalidArgument, "opts->mode %d is not a KALAM_WRITE_* mode", int32(opts.mode))
	}
	switch opts.schema_mode {
	case C.KALAM_SCHEMA_STRICT:
		out.SchemaMode = engine.SchemaStrict
	case C.KALAM_SCHEMA_MERGE:
		out.SchemaMode = engine.SchemaMerge
	default:
		return out, kerr.New(kerr.InvalidArgument, "opts->schema_mode %d is not a KALAM_SCHEMA_* mode", int32(opts.schema_mode))
	}
	return out, nil
}

//export kalam_write
func kalam_write(db *C.kalam_db, table *C.kalam_cchar, in *C.struct_ArrowArrayStream, opts *C.kalam_cwrite_options,
	rowsWritten *C.int64_t, cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_write", &status, cerr)
	wo, oerr := writeOptions(opts)
	return writeStream("write to", db, table, in, rowsWritten, cerr, func(d *engine.DB, name string, rdr array.RecordReader) (int64, error) {
		if oerr != nil {
			return 0, oerr
		}
		return d.Write(name, rdr, wo)
	})
}

//export kalam_delete_where
func kalam_delete_where(db *C.kalam_db, table *C.kalam_cchar, filter *C.kalam_cchar, rowsDeleted *C.int64_t,
	cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_delete_where", &status, cerr)
	if rowsDeleted != nil {
		*rowsDeleted = 0
	}
	d, name, err := tableArg(db, table)
	if err != nil {
		return finish(cerr, err)
	}
	f := "TRUE" // NULL: every row
	if filter != nil {
		f = goString(filter)
	}
	n, err := d.DeleteWhere(name, f)
	if rowsDeleted != nil {
		*rowsDeleted = C.int64_t(n)
	}
	return finish(cerr, err)
}

//export kalam_update
func kalam_update(db *C.kalam_db, table *C.kalam_cchar, filter *C.kalam_cchar, values *C.struct_ArrowArrayStream,
	rowsUpdated *C.int64_t, cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_update", &status, cerr)
	if rowsUpdated != nil {
		*rowsUpdated = 0
	}
	// values is consumed on every path: taken first.
	rdr, ierr := arrowexport.ImportStream(unsafe.Pointer(values))
	if rdr != nil {
		defer rdr.Release()
	}
	d, name, err := tableArg(db, table)
	if err != nil {
		return finish(cerr, err)
	}
	if ierr != nil {
		return finish(cerr, fmt.Errorf("update %q: values: %w", name, ierr))
	}
	row, err := oneRow(rdr)
	if err != nil {
		return finish(cerr, fmt.Errorf("update %q: values: %w", name, err))
	}
	defer row.Release()
	f := "TRUE" // NULL: every row
	if filter != nil {
		f = goString(filter)
	}
	n, err := d.UpdateWhere(name, f, row)
	if rowsUpdated != nil {
		*rowsUpdated = C.int64_t(n)
	}
	return finish(cerr, err)
}

// oneRow reads a stream that must hold exactly one row in all.
func oneRow(rdr array.RecordReader) (arrow.RecordBatch, error) {
	var row arrow.RecordBatch
	var rows int64
	for rdr.Next() {
		rec := rdr.RecordBatch()
		rows += rec.NumRows()
		if rec.NumRows() == 1 && row == nil {
			rec.Retain()
			row = rec
		}
	}
	if err := rdr.Err(); err != nil {
		if row != nil {
			row.Release()
		}
		return nil, kerr.Wrap(kerr.CodeOfOr(err, kerr.IO), err, "reading values")
	}
	if rows != 1 || row == nil {
		if row != nil {
			row.Release()
		}
		return nil, kerr.New(kerr.InvalidArgument, "values must be exactly one row, got %d", rows)
	}
	return row, nil
}

//export kalam_add_columns
func kalam_add_columns(db *C.kalam_db, table *C.kalam_cchar, columns *C.struct_ArrowSchema, cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_add_columns", &status, cerr)
	sc, serr := arrowexport.ImportSchema(unsafe.Pointer(columns))
	d, name, err := tableArg(db, table)
	if err != nil {
		return finish(cerr, err)
	}
	if serr != nil {
		return finish(cerr, fmt.Errorf("add columns to %q: %w", name, serr))
	}
	return finish(cerr, d.AddColumns(name, sc.Fields()))
}

//export kalam_drop_columns
func kalam_drop_columns(db *C.kalam_db, table *C.kalam_cchar, names *C.kalam_cstr, nNames C.int64_t, cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_drop_columns", &status, cerr)
	d, name, err := tableArg(db, table)
	if err != nil {
		return finish(cerr, err)
	}
	n := int64(nNames)
	if n <= 0 || n > maxColumns {
		return finish(cerr, kerr.New(kerr.InvalidArgument, "n_names %d is out of range 1..%d", n, maxColumns))
	}
	if names == nil {
		return finish(cerr, kerr.New(kerr.InvalidArgument, "names is NULL with n_names %d", n))
	}
	var cols []string
	for i, p := range unsafe.Slice(names, n) {
		if p == nil {
			return finish(cerr, kerr.New(kerr.InvalidArgument, "names[%d] is NULL", i))
		}
		cols = append(cols, C.GoString(p))
	}
	return finish(cerr, d.DropColumns(name, cols))
}

//export kalam_rename_column
func kalam_rename_column(db *C.kalam_db, table *C.kalam_cchar, from, to *C.kalam_cchar, cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_rename_column", &status, cerr)
	d, name, err := tableArg(db, table)
	if err != nil {
		return finish(cerr, err)
	}
	f, err := requiredString("from", from)
	if err != nil {
		return finish(cerr, err)
	}
	t, err := requiredString("to", to)
	if err != nil {
		return finish(cerr, err)
	}
	return finish(cerr, d.RenameColumn(name, f, t))
}

//export kalam_widen_column
func kalam_widen_column(db *C.kalam_db, table *C.kalam_cchar, column *C.kalam_cchar, typ *C.struct_ArrowSchema, cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_widen_column", &status, cerr)
	to, terr := arrowexport.ImportType(unsafe.Pointer(typ))
	d, name, err := tableArg(db, table)
	if err != nil {
		return finish(cerr, err)
	}
	col, err := requiredString("name", column)
	if err != nil {
		return finish(cerr, err)
	}
	if terr != nil {
		return finish(cerr, fmt.Errorf("widen %s of %q: %w", col, name, terr))
	}
	return finish(cerr, d.WidenColumn(name, col, to))
}
