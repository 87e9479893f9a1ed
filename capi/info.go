package main

/*
#include <stdlib.h>
#include "helpers.h"
*/
import "C"

import (
	"runtime/debug"
	"strconv"

	"github.com/kalamdb/libkalam/arrowexport"
	"github.com/kalamdb/libkalam/engine"
)

// tableInfoJSON is kalam_table_info's document (DESIGN §6).
type tableInfoJSON struct {
	Namespace       string            `json:"namespace"`
	TableName       string            `json:"table_name"`
	Type            string            `json:"type"`
	UserColumn      *string           `json:"user_column"`
	PrimaryKey      []string          `json:"primary_key"`
	KeyColumns      []string          `json:"key_columns"`
	Options         map[string]string `json:"options"`
	CreatedAt       int64             `json:"created_at"`
	SchemaVersion   int64             `json:"schema_version"`
	Version         uint64            `json:"version"`
	HotRows         int64             `json:"hot_rows"`
	Columns         []columnJSON      `json:"columns"`
	BackgroundError *string           `json:"background_error"`
}

type columnJSON struct {
	Name     string `json:"name"`
	FieldID  int32  `json:"field_id"`
	Type     string `json:"type"`
	Nullable bool   `json:"nullable"`
	Key      bool   `json:"key"`
	// NamesByVersion: the column's name per schema version that has it
	// (JSON object keys are the versions as strings).
	NamesByVersion map[string]string `json:"names_by_schema_version"`
}

func tableInfoDoc(ti *engine.TableInfo) (*tableInfoJSON, error) {
	doc := &tableInfoJSON{Namespace: ti.Namespace, TableName: ti.Name, Type: ti.Type, PrimaryKey: ti.PrimaryKey,
		KeyColumns: ti.KeyColumns, Options: ti.Options, CreatedAt: ti.CreatedAt, SchemaVersion: ti.SchemaVersion,
		Version: ti.Version, HotRows: ti.HotRows, Columns: []columnJSON{}}
	if ti.UserColumn != "" {
		doc.UserColumn = &ti.UserColumn
	}
	if doc.PrimaryKey == nil {
		doc.PrimaryKey = []string{}
	}
	if doc.KeyColumns == nil {
		doc.KeyColumns = []string{}
	}
	if doc.Options == nil {
		doc.Options = map[string]string{}
	}
	if ti.BackgroundError != "" {
		doc.BackgroundError = &ti.BackgroundError
	}
	for _, c := range ti.Columns {
		f, err := arrowexport.FormatString(c.Type)
		if err != nil {
			return nil, err
		}
		byVersion := map[string]string{}
		for v, n := range c.NamesByVersion {
			byVersion[strconv.FormatInt(v, 10)] = n
		}
		doc.Columns = append(doc.Columns, columnJSON{Name: c.Name, FieldID: c.FieldID, Type: f, Nullable: c.Nullable, Key: c.Key,
			NamesByVersion: byVersion})
	}
	return doc, nil
}

//export kalam_table_info
func kalam_table_info(db *C.kalam_db, table *C.kalam_cchar, infoJSON **C.char, cerr *C.kalam_error) (status C.kalam_status) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer guard("kalam_table_info", &status, cerr)
	if infoJSON == nil {
		return finish(cerr, errNullOut("info_json"))
	}
	*infoJSON = nil
	d, name, err := tableArg(db, table)
	if err != nil {
		return finish(cerr, err)
	}
	ti, err := d.Table(name)
	if err != nil {
		return finish(cerr, err)
	}
	doc, err := tableInfoDoc(ti)
	if err != nil {
		return finish(cerr, err)
	}
	out, err := marshalJSON("table info", doc)
	if err != nil {
		return finish(cerr, err)
	}
	*infoJSON = out
	return finish(cerr, nil)
}
