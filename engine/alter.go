package engine

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/linxGnu/grocksdb"

	"github.com/kalamdb/libkalam/kerr"
)

// Schema evolution (DESIGN §3.2). Each change is one commit: a new manifest
// version with the same segments, schema_version + 1 and history operation
// "alter", in one synced write with the new table definition. Segments are
// never rewritten: they are read through field ids.

// AddColumns appends nullable columns to the table.
func (db *DB) AddColumns(table string, fields []arrow.Field) error {
	return db.alterTable(table, "add columns to", func(sv *schemaView, d *tableDef) (*arrow.Schema, []int32, error) {
		if len(fields) == 0 {
			return nil, nil, kerr.New(kerr.InvalidArgument, "no column to add")
		}
		out := append([]arrow.Field(nil), sv.schema.Fields()...)
		ids := append([]int32(nil), sv.fids...)
		for _, f := range fields {
			if !f.Nullable {
				return nil, nil, kerr.New(kerr.InvalidArgument, "column %q: an added column must be nullable (existing rows read it as null)", f.Name)
			}
			if nameTaken(out, f.Name, -1) {
				return nil, nil, kerr.New(kerr.AlreadyExists, "column %q already exists", f.Name)
			}
			f.Metadata = arrow.Metadata{}
			out = append(out, f)
			ids = append(ids, d.NextFieldID)
			d.NextFieldID++
		}
		return arrow.NewSchema(out, nil), ids, nil
	})
}

// DropColumns removes columns (not key columns nor the user column). Their
// data is no longer returned; compaction drops it. A later column of the
// same name is a new column (a new field id) and never shows the old values.
func (db *DB) DropColumns(table string, names []string) error {
	return db.alterTable(table, "drop columns of", func(sv *schemaView, d *tableDef) (*arrow.Schema, []int32, error) {
		if len(names) == 0 {
			return nil, nil, kerr.New(kerr.InvalidArgument, "no column to drop")
		}
		drop := map[int]bool{}
		for _, n := range names {
			i := sv.column(n)
			if i < 0 {
				return nil, nil, kerr.New(kerr.InvalidArgument, "unknown column %q", n)
			}
			if sv.isKey(i) {
				return nil, nil, kerr.New(kerr.InvalidArgument, "column %q is a key column and cannot be dropped", sv.schema.Field(i).Name)
			}
			drop[i] = true
		}
		if len(drop) == sv.schema.NumFields() {
			return nil, nil, kerr.New(kerr.InvalidArgument, "cannot drop every column")
		}
		var out []arrow.Field
		var ids []int32
		for i, f := range sv.schema.Fields() {
			if !drop[i] {
				out = append(out, f)
				ids = append(ids, sv.fids[i])
			}
		}
		return arrow.NewSchema(out, nil), ids, nil
	})
}

// RenameColumn renames a column (key columns included); its data stays.
func (db *DB) RenameColumn(table, from, to string) error {
	return db.alterTable(table, "rename a column of", func(sv *schemaView, d *tableDef) (*arrow.Schema, []int32, error) {
		i := sv.column(from)
		if i < 0 {
			return nil, nil, kerr.New(kerr.InvalidArgument, "unknown column %q", from)
		}
		if to == "" || to == colSeq || to == colDeleted {
			return nil, nil, kerr.New(kerr.InvalidArgument, "invalid new column name %q", to)
		}
		if p := nameProblem(to); p != "" {
			return nil, nil, kerr.New(kerr.InvalidArgument, "new column name %q: %s", to, p)
		}
		if nameTaken(sv.schema.Fields(), to, i) {
			return nil, nil, kerr.New(kerr.AlreadyExists, "column %q already exists", to)
		}
		old := sv.schema.Field(i).Name
		fields := append([]arrow.Field(nil), sv.schema.Fields()...)
		fields[i].Name = to
		// The options naming key columns follow the rename.
		if pk, ok := d.Options["primary_key"]; ok {
			parts := strings.Split(pk, ",")
			for k, p := range parts {
				if strings.TrimSpace(p) == old {
					parts[k] = to
				}
			}
			d.Options["primary_key"] = strings.Join(parts, ",")
		}
		// The user column, named by the option or by its default: the
		// option then names it, or a reader of the options would take the
		// default for a column the table no longer has.
		if o, err := parseTableOptions(d.Type, d.Options); err == nil && o.userColumn == old {
			if d.Options == nil {
				d.Options = map[string]string{}
			}
			d.Options["user_column"] = to
		}
		return arrow.NewSchema(fields, nil), sv.fids, nil
	})
}

// WidenColumn changes a column's type to a wider one (int8→16→32→64 and
// unsigned likewise, float32→float64, utf8→large_utf8,
// binary→large_binary); not for key columns.
func (db *DB) WidenColumn(table, name string, to arrow.DataType) error {
	return db.alterTable(table, "widen a column of", func(sv *schemaView, d *tableDef) (*arrow.Schema, []int32, error) {
		i := sv.column(name)
		if i < 0 {
			return nil, nil, kerr.New(kerr.InvalidArgument, "unknown column %q", name)
		}
		f := sv.schema.Field(i)
		if sv.isKey(i) {
			return nil, nil, kerr.New(kerr.InvalidArgument, "column %q is a key column and cannot be widened", f.Name)
		}
		if to == nil || !canWiden(f.Type, to) {
			return nil, nil, kerr.New(kerr.InvalidArgument, "column %q: cannot widen %s to %s (allowed: int8→int16→int32→int64, "+
				"uint8→uint16→uint32→uint64, float32→float64, utf8→large_utf8, binary→large_binary)", f.Name, f.Type, to)
		}
		fields := append([]arrow.Field(nil), sv.schema.Fields()...)
		fields[i].Type = to
		return arrow.NewSchema(fields, nil), sv.fids, nil
	})
}

func (db *DB) alterTable(table, verb string, change func(*schemaView, *tableDef) (*arrow.Schema, []int32, error)) error {
	exit, err := db.enter(true)
	if err != nil {
		return err
	}
	defer exit()
	t, err := db.st.lookupTable(table)
	if err != nil {
		return err
	}
	if err := db.st.alter(t, change); err != nil {
		return fmt.Errorf("%s %s: %w", verb, t.qname, err)
	}
	return nil
}

// alter commits a schema change. It holds the table's flush and write
// locks: no write is encoded with a schema that is about to change.
func (st *store) alter(t *table, change func(*schemaView, *tableDef) (*arrow.Schema, []int32, error)) error {
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	if t.dropped.Load() {
		return kerr.New(kerr.NotFound, "table %s was dropped", t.qname)
	}
	sv := t.view()
	cur := t.currentDef()
	nd := *cur
	nd.Options = map[string]string{}
	for k, v := range cur.Options {
		nd.Options[k] = v
	}
	schema, ids, err := change(sv, &nd)
	if err != nil {
		return err
	}
	if schema.Equal(sv.schema) && slices.Equal(ids, sv.fids) && maps.Equal(nd.Options, cur.Options) {
		// A change that changes nothing (a column renamed to its own
		// name, widened to its own type) commits no version: time travel
		// and system.tables would show a schema change that is none.
		return nil
	}
	seen := map[string]bool{}
	before := map[int32]arrow.DataType{}
	for i, id := range sv.fids {
		before[id] = sv.schema.Field(i).Type
	}
	for i, f := range schema.Fields() {
		if err := checkColumn(f, seen); err != nil {
			return err
		}
		if old, ok := before[ids[i]]; !ok || !arrow.TypeEqual(old, f.Type) {
			if err := checkNewColumn(f); err != nil {
				return err
			}
		}
	}
	prev := t.currentManifest()
	next := prev.Clone()
	next.Version = prev.Version + 1
	next.UpdatedAt = nowMs()
	enc, err := encodeSchema(schema)
	if err != nil {
		return kerr.Wrap(kerr.InvalidArgument, err, "schema")
	}
	nd.Schemas = append(append([]schemaVersionDef(nil), cur.Schemas...),
		schemaVersionDef{Version: sv.version + 1, ManifestVersion: next.Version, Schema: enc, FieldIDs: ids})
	opts, err := parseTableOptions(nd.Type, nd.Options) // checks renamed key options
	if err != nil {
		return err
	}
	if err := nd.complete(opts); err != nil {
		return err
	}
	view, err := newSchemaView(nd.Schemas[len(nd.Schemas)-1], nd.Type, nd.KeyFieldIDs, nd.UserFieldID)
	if err != nil {
		return err
	}
	defJSON, _ := json.Marshal(&nd)
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	wb.PutCF(st.cfCat, []byte(catTablePrefix+t.qname), defJSON)
	st.putHistory(wb, t, HistoryEntry{Version: next.Version, Time: next.UpdatedAt, Operation: opAlter})
	if err := st.hit("alter_before_commit"); err != nil {
		return err
	}
	if err := st.commitManifestWith(t, prev, next, wb, 0, func() {
		t.def = &nd // the numeric options never change: t.opts stays
		t.views = append(t.views, view)
		t.cur.Store(view)
	}); err != nil {
		return err
	}
	// Mirrors after the commit, table.json first (open, or the next
	// commit's mirror, rewrites them when this fails).
	return st.mirrorManifest(t, next)
}

// addInputColumns adds, in one alter, the columns of an input schema the
// table lacks (schema_mode merge), typed as the input has them: dictionary
// columns as their value type, views as the plain type. check is given the
// schema the table would have and refuses the batch before anything
// changes.
func (st *store) addInputColumns(t *table, in *arrow.Schema, check func(future *arrow.Schema) error) error {
	sv := t.view()
	var add []arrow.Field
	for _, f := range in.Fields() {
		// A column the write finds (columnIndex: exact, else the one equal
		// ignoring case) is the table's, not a new one.
		if sv.column(f.Name) >= 0 || f.Name == colSeq || f.Name == colDeleted {
			continue
		}
		// Not found, yet equal to a name ignoring case: one of several
		// table columns (the name cannot pick), or another input column.
		// Added, it would be a column no spelling of its name reaches.
		if nameTaken(sv.schema.Fields(), f.Name, -1) {
			return kerr.New(kerr.InvalidArgument, "write to %s: input column %q equals several table columns ignoring case; name one of them exactly",
				t.qname, f.Name)
		}
		if nameTaken(add, f.Name, -1) {
			return kerr.New(kerr.InvalidArgument, "write to %s: input columns differing only by case (%q) would be one column", t.qname, f.Name)
		}
		f.Type = plainType(f.Type)
		f.Nullable = true
		add = append(add, f)
	}
	if len(add) == 0 {
		return nil
	}
	// A batch the table would refuse once the columns exist adds none of
	// them: a refused batch changes nothing (DESIGN §3.1).
	fields := append(append([]arrow.Field(nil), sv.schema.Fields()...), add...)
	if err := check(arrow.NewSchema(fields, nil)); err != nil {
		return err
	}
	return st.alter(t, func(sv *schemaView, d *tableDef) (*arrow.Schema, []int32, error) {
		out := append([]arrow.Field(nil), sv.schema.Fields()...)
		ids := append([]int32(nil), sv.fids...)
		for _, f := range add {
			if sv.column(f.Name) >= 0 {
				continue // added meanwhile by another writer
			}
			f.Metadata = arrow.Metadata{}
			out = append(out, f)
			ids = append(ids, d.NextFieldID)
			d.NextFieldID++
		}
		return arrow.NewSchema(out, nil), ids, nil
	})
}

// plainType is the type a table column gets for an input of type t: a
// dictionary's value type, utf8/binary for their view forms.
func plainType(t arrow.DataType) arrow.DataType {
	switch tt := t.(type) {
	case *arrow.DictionaryType:
		return plainType(tt.ValueType)
	}
	switch t.ID() {
	case arrow.STRING_VIEW:
		return arrow.BinaryTypes.String
	case arrow.BINARY_VIEW:
		return arrow.BinaryTypes.Binary
	}
	return t
}
