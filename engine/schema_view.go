package engine

import (
	"slices"
	"strconv"
	"strings"
	unicodeutf8 "unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kalamdb/libkalam/engine/keyenc"
	"github.com/kalamdb/libkalam/engine/rowcodec"
	"github.com/kalamdb/libkalam/kerr"
)

// parquetFieldIDKey is the Arrow field metadata key pqarrow turns into the
// Parquet field_id of a column (and back when reading).
const parquetFieldIDKey = "PARQUET:field_id"

// schemaView is one schema version of a table with everything derived from
// it (DESIGN §3.2). Views are immutable: a scan keeps the view it planned
// with, an alter publishes a new one.
type schemaView struct {
	version         int64
	manifestVersion uint64 // the first manifest version with this schema
	schema          *arrow.Schema
	fids            []int32 // field id of each column
	byFID           map[int32]int

	keyCols   []int // schema indices of the key columns, user column first
	keyHasSeq bool  // no primary key: _seq is (the last part of) the key
	userCol   int   // schema index of the user column, -1 for shared tables
	pk        []string

	enc *rowcodec.Encoder
}

// schemaVersionDef is one schema version as the table definition keeps it.
type schemaVersionDef struct {
	Version         int64   `json:"version"`
	ManifestVersion uint64  `json:"manifest_version"`
	Schema          []byte  `json:"schema"` // Arrow IPC schema message stream
	FieldIDs        []int32 `json:"field_ids"`
}

// newSchemaView builds a view; keyFIDs are the field ids of the key
// columns, user column first (empty: no user column and no primary key).
func newSchemaView(v schemaVersionDef, typ string, keyFIDs []int32, userFID int32) (*schemaView, error) {
	schema, err := decodeSchema(v.Schema)
	if err != nil {
		return nil, kerr.Wrap(kerr.Corruption, err, "schema version %d", v.Version)
	}
	if len(v.FieldIDs) != schema.NumFields() {
		return nil, kerr.New(kerr.Corruption, "schema version %d: %d field ids for %d columns", v.Version, len(v.FieldIDs), schema.NumFields())
	}
	sv := &schemaView{version: v.Version, manifestVersion: v.ManifestVersion, schema: schema, fids: v.FieldIDs,
		byFID: map[int32]int{}, userCol: -1}
	seen := map[string]bool{}
	for i, f := range schema.Fields() {
		if err := checkColumn(f, seen); err != nil {
			return nil, err
		}
		sv.byFID[v.FieldIDs[i]] = i
	}
	for _, fid := range keyFIDs {
		i, ok := sv.byFID[fid]
		if !ok {
			return nil, kerr.New(kerr.Corruption, "schema version %d lacks key column with field id %d", v.Version, fid)
		}
		sv.keyCols = append(sv.keyCols, i)
		if fid == userFID && typ == "user" {
			sv.userCol = i
			continue
		}
		sv.pk = append(sv.pk, schema.Field(i).Name)
	}
	sv.keyHasSeq = len(sv.pk) == 0
	if sv.enc, err = rowcodec.NewEncoder(schema); err != nil {
		return nil, err
	}
	return sv, nil
}

// checkColumn checks a column's name (unique, not reserved) and type.
func checkColumn(f arrow.Field, seen map[string]bool) error {
	if f.Name == "" {
		return kerr.New(kerr.InvalidArgument, "a column has an empty name")
	}
	if f.Name == colSeq || f.Name == colDeleted {
		return kerr.New(kerr.InvalidArgument, "column %q is a reserved system column name", f.Name)
	}
	if seen[f.Name] {
		return kerr.New(kerr.InvalidArgument, "duplicate column %q", f.Name)
	}
	seen[f.Name] = true
	if !rowcodec.Supported(f.Type) {
		return kerr.New(kerr.InvalidArgument, "column %q: type %s is not supported by the store", f.Name, f.Type)
	}
	return nil
}

// checkNewColumn is what a column must pass when it is created (by
// create_table, or added or re-typed by a schema change) on top of
// checkColumn, which every schema version passes when a store opens: rules
// added after tables may have been made with such columns.
func checkNewColumn(f arrow.Field) error {
	if p := nameProblem(f.Name); p != "" {
		return kerr.New(kerr.InvalidArgument, "column %q: %s", f.Name, p)
	}
	if err := checkFieldNames(f.Name, f.Type); err != nil {
		return err
	}
	return checkStorable(f.Name, f.Type)
}

// nameProblem says what is wrong with a new column or field name
// (created, added or renamed to); "" when nothing. A name must be UTF-8:
// the manifest (JSON) names columns in its statistics, and a name that is
// not made every later flush and compaction fail.
func nameProblem(name string) string {
	if strings.IndexByte(name, 0) >= 0 {
		return "a name cannot contain a NUL byte"
	}
	if !unicodeutf8.ValidString(name) {
		return "a name must be UTF-8"
	}
	return ""
}

// checkFieldNames applies nameProblem to the fields inside type t of
// column col.
func checkFieldNames(col string, t arrow.DataType) error {
	nt, ok := t.(arrow.NestedType)
	if !ok {
		return nil
	}
	for _, f := range nt.Fields() {
		if p := nameProblem(f.Name); p != "" {
			return kerr.New(kerr.InvalidArgument, "column %q: field %q: %s", col, f.Name, p)
		}
		if err := checkFieldNames(col, f.Type); err != nil {
			return err
		}
	}
	return nil
}

// keyFieldIDs resolves the user column and primary key of a new table (by
// the names in its options) to field ids, checking them.
func keyFieldIDs(typ string, opts tableOptions, schema *arrow.Schema, fids []int32) (keys []int32, user int32, err error) {
	var idxs []int
	userIdx := -1
	if typ == "user" {
		idx := schema.FieldIndices(opts.userColumn)
		if len(idx) != 1 {
			return nil, 0, kerr.New(kerr.InvalidArgument, "user table: user column %q is not a column of the schema", opts.userColumn)
		}
		f := schema.Field(idx[0])
		if f.Type.ID() != arrow.STRING && f.Type.ID() != arrow.LARGE_STRING {
			return nil, 0, kerr.New(kerr.InvalidArgument, "user table: user column %q must be utf8, not %s", opts.userColumn, f.Type)
		}
		if f.Nullable {
			return nil, 0, kerr.New(kerr.InvalidArgument, "user table: user column %q must be non-nullable", opts.userColumn)
		}
		userIdx = idx[0]
		idxs = append(idxs, idx[0])
	}
	for _, c := range opts.primaryKey {
		idx := schema.FieldIndices(c)
		if len(idx) != 1 {
			return nil, 0, kerr.New(kerr.InvalidArgument, "primary_key: column %q is not a column of the schema", c)
		}
		f := schema.Field(idx[0])
		if !keyenc.Supported(f.Type) {
			return nil, 0, kerr.New(kerr.InvalidArgument, "primary_key: column %q has type %s, which cannot be a key", c, f.Type)
		}
		if slices.Contains(idxs, idx[0]) {
			if idx[0] == userIdx {
				continue // the user column is already the key prefix
			}
			return nil, 0, kerr.New(kerr.InvalidArgument, "primary_key: column %q listed twice", c)
		}
		idxs = append(idxs, idx[0])
	}
	for _, i := range idxs {
		keys = append(keys, fids[i])
	}
	if userIdx >= 0 {
		user = fids[userIdx]
	}
	return keys, user, nil
}

// fieldIDOf reads a column's Parquet field id from its metadata (-1: none).
func fieldIDOf(f arrow.Field) int32 {
	if v, ok := f.Metadata.GetValue(parquetFieldIDKey); ok {
		if n, err := strconv.ParseInt(v, 10, 32); err == nil {
			return int32(n)
		}
	}
	return -1
}

// columnIndex is the index of the column of s named name: the column of
// exactly that name, else the one column whose name equals it ignoring
// case; -1 when there is none (or several). The one rule by which every
// call finds a column by name: projections, filters, DDL and writes.
func columnIndex(s *arrow.Schema, name string) int {
	if idx := s.FieldIndices(name); len(idx) == 1 {
		return idx[0]
	}
	return foldIndex(s, name)
}

// nameTaken reports whether a column of fields, other than fields[except]
// (-1: none excepted), has name ignoring case. Adds, renames and
// schema_mode merge writes keep a table's column names distinct ignoring
// case, so that columnIndex finds each column by any spelling of its name
// (a table created with names equal ignoring case keeps them, reached by
// their exact names).
func nameTaken(fields []arrow.Field, name string, except int) bool {
	for i, f := range fields {
		if i != except && strings.EqualFold(f.Name, name) {
			return true
		}
	}
	return false
}

// foldIndex is the index of the one column whose name equals name ignoring
// case, or -1 (none, or ambiguous).
func foldIndex(s *arrow.Schema, name string) int {
	found := -1
	for i, f := range s.Fields() {
		if strings.EqualFold(f.Name, name) {
			if found >= 0 {
				return -1
			}
			found = i
		}
	}
	return found
}

// isKey reports whether column i is a component of the row key.
func (sv *schemaView) isKey(i int) bool { return slices.Contains(sv.keyCols, i) }

// column returns the index of the column named name (exact, then
// case-insensitively when unique), or -1.
func (sv *schemaView) column(name string) int { return columnIndex(sv.schema, name) }

// segmentSchema is the Arrow schema of a segment written with this view:
// the columns (non-key columns nullable, since tombstones carry only their
// key; each with its Parquet field id) followed by _seq and _deleted.
func (sv *schemaView) segmentSchema() *arrow.Schema {
	fields := make([]arrow.Field, 0, sv.schema.NumFields()+2)
	for i, f := range sv.schema.Fields() {
		if !sv.isKey(i) {
			f.Nullable = true
		}
		f.Metadata = arrow.NewMetadata([]string{parquetFieldIDKey}, []string{strconv.Itoa(int(sv.fids[i]))})
		fields = append(fields, f)
	}
	fields = append(fields,
		arrow.Field{Name: colSeq, Type: arrow.PrimitiveTypes.Int64},
		arrow.Field{Name: colDeleted, Type: arrow.FixedWidthTypes.Boolean})
	return arrow.NewSchema(fields, nil)
}

// filterSchema is what a filter may reference: the columns, _seq, _deleted.
func (sv *schemaView) filterSchema() *arrow.Schema {
	fields := append(append([]arrow.Field(nil), sv.schema.Fields()...),
		arrow.Field{Name: colSeq, Type: arrow.PrimitiveTypes.Int64},
		arrow.Field{Name: colDeleted, Type: arrow.FixedWidthTypes.Boolean})
	return arrow.NewSchema(fields, nil)
}

// keyColumns are the key's components in order, as (name, type).
func (sv *schemaView) keyColumns() []arrow.Field {
	var out []arrow.Field
	for _, k := range sv.keyCols {
		out = append(out, sv.schema.Field(k))
	}
	if sv.keyHasSeq {
		out = append(out, arrow.Field{Name: colSeq, Type: arrow.PrimitiveTypes.Int64})
	}
	return out
}

// keySchema is the schema a delete input must match: the key columns.
func (sv *schemaView) keySchema() *arrow.Schema { return arrow.NewSchema(sv.keyColumns(), nil) }

// rowKeys computes the row key of every row of rec (a record with this
// view's schema). seqs gives _seq for tables whose key includes it.
func (sv *schemaView) rowKeys(rec arrow.RecordBatch, seqs []int64) ([][]byte, error) {
	n := int(rec.NumRows())
	var enc *keyenc.RowEncoder
	if len(sv.keyCols) > 0 {
		cols := make([]arrow.Array, len(sv.keyCols))
		for i, k := range sv.keyCols {
			cols[i] = rec.Column(k)
		}
		var err error
		if enc, err = keyenc.NewRowEncoder(cols); err != nil {
			return nil, err
		}
	}
	keys := make([][]byte, n)
	buf := make([]byte, 0, n*16)
	for i := 0; i < n; i++ {
		start := len(buf)
		if enc != nil {
			buf = enc.Append(buf, i)
		}
		if sv.keyHasSeq {
			buf = keyenc.AppendInt64(buf, seqs[i])
		}
		keys[i] = buf[start:len(buf):len(buf)]
	}
	return keys, nil
}
