package main

/*
#include <stdlib.h>
#include "helpers.h"
*/
import "C"

import (
	"encoding/json"
	"io"
	"math"
	"runtime/debug"
	"strings"
	"unsafe"

	"github.com/kalamdb/libkalam/arrowexport"
	"github.com/kalamdb/libkalam/engine"
	"github.com/kalamdb/libkalam/kerr"
)

// splitOptions reads kalam_scan_splits' {"max_splits", "target_rows"}.
func splitOptions(text string) (maxSplits int, targetRows int64, err error) {
	raw, keys, err := parseObject("split_options_json", text)
	if err != nil {
		return 0, 0, err
	}
	for _, k := range keys {
		var err error
		switch k {
		case "max_splits":
			var n int64
			n, err = jsonInt(raw[k], 1, math.MaxInt32)
			maxSplits = int(n)
		case "target_rows":
			targetRows, err = jsonInt(raw[k], 1, math.MaxInt64)
		default:
			return 0, 0, kerr.New(kerr.InvalidArgument, "split_options_json: unknown key %q (known: max_splits, target_rows)", k)
		}
		if err != nil {
			return 0, 0, kerr.New(kerr.InvalidArgument, "split_options_json: key %q: %v", k, err)
		}
	}
	return maxSplits, targetRows, nil
}

//export kalam_scan_splits
func kalam_scan_splits(db *C.kalam_db, table *C.kalam_cchar, opts *C.kalam_cscan_options, splitOptionsJSON *C.kalam_cchar,
	splitsJSON **C.char, cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_scan_splits", &status, cerr)
	if splitsJSON == nil {
		return finish(cerr, errNullOut("splits_json"))
	}
	*splitsJSON = nil
	d, name, err := tableArg(db, table)
	if err != nil {
		return finish(cerr, err)
	}
	req, err := scanRequest(opts)
	if err != nil {
		return finish(cerr, err)
	}
	var text string
	if splitOptionsJSON != nil {
		text = goString(splitOptionsJSON)
	}
	maxSplits, target, err := splitOptions(text)
	if err != nil {
		return finish(cerr, err)
	}
	splits, err := d.ScanSplits(name, req, maxSplits, target)
	if err != nil {
		return finish(cerr, err)
	}
	out, err := marshalJSON("splits", splits)
	if err != nil {
		return finish(cerr, err)
	}
	*splitsJSON = out
	return finish(cerr, nil)
}

//export kalam_scan_split
func kalam_scan_split(splitJSON *C.kalam_cchar, optionsJSON *C.kalam_cchar, out *C.struct_ArrowArrayStream,
	cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_scan_split", &status, cerr)
	if out == nil {
		return finish(cerr, kerr.New(kerr.InvalidArgument, "out is NULL"))
	}
	C.kc_stream_zero(out)
	text, err := requiredString("split_json", splitJSON)
	if err != nil {
		return finish(cerr, err)
	}
	var sp engine.ScanSplit
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sp); err != nil {
		return finish(cerr, kerr.New(kerr.InvalidArgument, "split_json: %v", err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return finish(cerr, kerr.New(kerr.InvalidArgument, "split_json: trailing data after the split's JSON object"))
	}
	var otext string
	if optionsJSON != nil {
		otext = goString(optionsJSON)
	}
	opts, err := openOptions(otext)
	if err != nil {
		return finish(cerr, err)
	}
	s, err := engine.OpenSplit(sp, opts)
	if err != nil {
		return finish(cerr, err)
	}
	return finish(cerr, arrowexport.ExportStream(s, unsafe.Pointer(out)))
}
