package main

/*
#include <stdlib.h>
#include "helpers.h"
*/
import "C"

import (
	"encoding/json"
	"fmt"
	"math"
	"runtime/debug"

	"github.com/kalamdb/libkalam/engine"
	"github.com/kalamdb/libkalam/kerr"
)

// compactOptions turns kalam_compact's options_json into engine options.
// The zero value (NULL, "", "null", "{}") is a full compaction.
func compactOptions(text string) (engine.CompactOptions, error) {
	var opts engine.CompactOptions
	raw, keys, err := parseObject("options_json", text)
	if err != nil {
		return opts, err
	}
	for _, k := range keys {
		v := raw[k]
		var err error
		switch k {
		case "target_rows":
			// 0 or a negative count is never a useful split size; the engine
			// default is had by leaving the key out.
			opts.TargetRows, err = jsonInt(v, 1, math.MaxInt64)
		case "min_segments":
			var n int64
			n, err = jsonInt(v, 0, math.MaxInt32)
			opts.MinSegments = int(n)
		default:
			return opts, kerr.New(kerr.InvalidArgument,
				"options_json: unknown key %q (known: target_rows, min_segments)", k)
		}
		if err != nil {
			return opts, kerr.New(kerr.InvalidArgument, "options_json: key %q: %v", k, err)
		}
	}
	return opts, nil
}

// marshalJSON encodes a result for the host; the values are plain structs
// and slices, so a failure is a bug, reported as KALAM_INTERNAL.
func marshalJSON(what string, v any) (*C.char, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, kerr.Wrap(kerr.Internal, err, "encode %s as JSON", what)
	}
	return cString(string(b)), nil
}

//export kalam_compact
func kalam_compact(db *C.kalam_db, table *C.kalam_cchar, optionsJSON *C.kalam_cchar, reportJSON **C.char,
	cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_compact", &status, cerr)
	if reportJSON != nil {
		*reportJSON = nil
	}
	d, name, err := tableArg(db, table)
	if err != nil {
		return finish(cerr, err)
	}
	var text string
	if optionsJSON != nil {
		text = goString(optionsJSON)
	}
	opts, err := compactOptions(text)
	if err != nil {
		return finish(cerr, err)
	}
	rep, err := d.Compact(name, opts)
	if err != nil {
		return finish(cerr, err)
	}
	if reportJSON != nil {
		s, err := marshalJSON("compaction report", rep)
		if err != nil {
			return finish(cerr, err)
		}
		*reportJSON = s
	}
	return finish(cerr, nil)
}

// vacuumArgs resolves the arguments shared by kalam_vacuum and
// kalam_vacuum_dry_run.
func vacuumArgs(db *C.kalam_db, table *C.kalam_cchar, retentionMs C.int64_t) (*engine.DB, string, error) {
	d, err := handles.get(db)
	if err != nil {
		return nil, "", err
	}
	name, err := requiredString("table", table)
	if err != nil {
		return nil, "", err
	}
	if retentionMs < 0 {
		return nil, "", kerr.New(kerr.InvalidArgument, "retention_ms is %d, must be >= 0", int64(retentionMs))
	}
	return d, name, nil
}

//export kalam_vacuum
func kalam_vacuum(db *C.kalam_db, table *C.kalam_cchar, retentionMs C.int64_t, filesRemoved *C.int64_t,
	cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_vacuum", &status, cerr)
	if filesRemoved != nil {
		*filesRemoved = 0
	}
	d, name, err := vacuumArgs(db, table, retentionMs)
	if err != nil {
		return finish(cerr, err)
	}
	paths, err := d.Vacuum(name, int64(retentionMs), false)
	if err != nil {
		return finish(cerr, err)
	}
	if filesRemoved != nil {
		*filesRemoved = C.int64_t(len(paths))
	}
	return finish(cerr, nil)
}

//export kalam_vacuum_dry_run
func kalam_vacuum_dry_run(db *C.kalam_db, table *C.kalam_cchar, retentionMs C.int64_t, pathsJSON **C.char,
	cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_vacuum_dry_run", &status, cerr)
	if pathsJSON == nil {
		return finish(cerr, kerr.New(kerr.InvalidArgument, "paths_json is NULL"))
	}
	*pathsJSON = nil
	d, name, err := vacuumArgs(db, table, retentionMs)
	if err != nil {
		return finish(cerr, err)
	}
	paths, err := d.Vacuum(name, int64(retentionMs), true)
	if err != nil {
		return finish(cerr, err)
	}
	if paths == nil {
		paths = []string{}
	}
	s, err := marshalJSON(fmt.Sprintf("vacuum dry run of %q", name), paths)
	if err != nil {
		return finish(cerr, err)
	}
	*pathsJSON = s
	return finish(cerr, nil)
}

//export kalam_table_history
func kalam_table_history(db *C.kalam_db, table *C.kalam_cchar, historyJSON **C.char, cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_table_history", &status, cerr)
	if historyJSON == nil {
		return finish(cerr, kerr.New(kerr.InvalidArgument, "history_json is NULL"))
	}
	*historyJSON = nil
	d, name, err := tableArg(db, table)
	if err != nil {
		return finish(cerr, err)
	}
	hist, err := d.History(name)
	if err != nil {
		return finish(cerr, err)
	}
	if hist == nil {
		hist = []engine.HistoryEntry{}
	}
	s, err := marshalJSON(fmt.Sprintf("history of %q", name), hist)
	if err != nil {
		return finish(cerr, err)
	}
	*historyJSON = s
	return finish(cerr, nil)
}
