package main

/*
#include <stdlib.h>
#include "helpers.h"
*/
import "C"

import (
	"runtime/debug"
	"sync"
	"unsafe"

	"github.com/kalamdb/libkalam/arrowexport"
	"github.com/kalamdb/libkalam/engine"
	"github.com/kalamdb/libkalam/kerr"
)

// datasets are the open exported datasets, by id. They outlive the handle
// that made them (the host releases a dataset when its engine is done with
// it, which may be after kalam_close), so they are kept apart from the
// handle table; ids are never reused.
var datasets = struct {
	sync.Mutex
	next uint64
	open map[uint64]*engine.Dataset
}{open: map[uint64]*engine.Dataset{}}

// datasetJSON is kalam_table_dataset's document.
type datasetJSON struct {
	Table   string               `json:"table"`
	Version uint64               `json:"version"`
	Dir     *string              `json:"dir"`
	Files   []engine.DatasetFile `json:"files"`
}

//export kalam_table_dataset
func kalam_table_dataset(db *C.kalam_db, table *C.kalam_cchar, opts *C.kalam_cscan_options, schema *C.struct_ArrowSchema,
	datasetJSONOut **C.char, datasetID *C.uint64_t, cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_table_dataset", &status, cerr)
	if schema == nil {
		return finish(cerr, errNullOut("schema"))
	}
	C.kc_schema_zero(schema)
	if datasetJSONOut == nil {
		return finish(cerr, errNullOut("dataset_json"))
	}
	*datasetJSONOut = nil
	if datasetID == nil {
		return finish(cerr, errNullOut("dataset_id"))
	}
	*datasetID = 0
	d, name, err := tableArg(db, table)
	if err != nil {
		return finish(cerr, err)
	}
	req, err := scanRequest(opts)
	if err != nil {
		return finish(cerr, err)
	}
	if req.Columns != nil || req.Filter != "" || req.Limit >= 0 {
		return finish(cerr, kerr.New(kerr.InvalidArgument,
			"dataset of %q: a dataset holds every column and row of its version (columns, filter and limit are the engine's to push down)", name))
	}
	ds, err := d.ExportDataset(name, engine.DatasetRequest{AsOfVersion: req.AsOfVersion, AsOfTimeMs: req.AsOfTimeMs})
	if err != nil {
		return finish(cerr, err)
	}
	doc := datasetJSON{Table: ds.Table, Version: ds.Version, Files: ds.Files}
	if doc.Files == nil {
		doc.Files = []engine.DatasetFile{}
	}
	if dir := ds.Dir(); dir != "" {
		doc.Dir = &dir
	}
	text, err := marshalJSON("dataset", doc)
	if err == nil {
		err = arrowexport.ExportSchema(ds.Schema, unsafe.Pointer(schema))
	}
	if err != nil {
		C.free(unsafe.Pointer(text))
		ds.Close()
		return finish(cerr, err)
	}
	datasets.Lock()
	datasets.next++
	id := datasets.next
	datasets.open[id] = ds
	datasets.Unlock()
	*datasetJSONOut = text
	*datasetID = C.uint64_t(id)
	return finish(cerr, nil)
}

//export kalam_dataset_release
func kalam_dataset_release(datasetID C.uint64_t, cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_dataset_release", &status, cerr)
	datasets.Lock()
	ds, ok := datasets.open[uint64(datasetID)]
	delete(datasets.open, uint64(datasetID))
	datasets.Unlock()
	if !ok {
		return finish(cerr, kerr.New(kerr.NotFound, "dataset %d is not open (released already, or never made)", uint64(datasetID)))
	}
	return finish(cerr, ds.Close())
}
