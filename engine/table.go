package engine

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kalamdb/libkalam/engine/keyenc"
	"github.com/kalamdb/libkalam/engine/rowcodec"
	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/manifest"
)

// System column names (DESIGN §3).
const (
	colSeq     = "_seq"
	colDeleted = "_deleted"
)

// table is the runtime state of one user table.
type table struct {
	def    *tableDef
	uid    uint64
	ns     string
	name   string
	qname  string
	prefix string // storage object prefix of the table: "ns/table"
	schema *arrow.Schema
	opts   tableOptions

	keyCols   []int // schema indices of the key columns, user column first
	keyHasSeq bool  // no primary key: _seq is (the last part of) the key
	userCol   int   // schema index of the user column, -1 for shared tables
	pk        []string

	enc *rowcodec.Encoder

	// writeMu serialises the table's writes, so that _seq order equals
	// commit order within the table (hot versions are always newer than
	// segment versions of the same key). It guards gen and hwm.
	writeMu sync.Mutex
	// gen is the hot generation new writes go to (DESIGN §3): a flush moves
	// writes to the next one and removes exactly the generations it read.
	gen uint64
	// hwm is the table's persisted _seq high-water mark.
	hwm int64

	// flushMu serialises flushes and other manifest changers.
	flushMu sync.Mutex

	// mu guards the read state: man, hotLo and the pins (read_state.go).
	mu      sync.Mutex
	man     *manifest.Manifest
	hotLo   uint64          // lowest generation that may hold hot rows
	pins    map[string]int  // segment id -> open readers
	removed map[string]bool // segments vacuum took; never pinned again

	hotRows atomic.Int64
	dropped atomic.Bool
	// bgErr is the last failure of an automatic flush or compaction, which
	// never turns the write that triggered it into an error.
	bgErr atomic.Pointer[string]
}

func (st *store) newTable(def *tableDef) (*table, error) {
	schema, err := decodeSchema(def.Schema)
	if err != nil {
		return nil, kerr.Wrap(kerr.InvalidArgument, err, "schema")
	}
	t := &table{def: def, uid: def.UID, ns: def.Namespace, name: def.Name, qname: def.Namespace + "." + def.Name,
		prefix: def.Namespace + "/" + def.Name, schema: schema, userCol: -1,
		pins: map[string]int{}, removed: map[string]bool{}}
	seen := map[string]bool{}
	for i, f := range schema.Fields() {
		if f.Name == "" {
			return nil, kerr.New(kerr.InvalidArgument, "column %d has an empty name", i)
		}
		if f.Name == colSeq || f.Name == colDeleted {
			return nil, kerr.New(kerr.InvalidArgument, "column %q is a reserved system column name", f.Name)
		}
		if seen[f.Name] {
			return nil, kerr.New(kerr.InvalidArgument, "duplicate column %q", f.Name)
		}
		seen[f.Name] = true
		if !rowcodec.Supported(f.Type) {
			return nil, kerr.New(kerr.InvalidArgument, "column %q: type %s is not supported by the store", f.Name, f.Type)
		}
	}
	if t.enc, err = rowcodec.NewEncoder(schema); err != nil {
		return nil, err
	}
	if t.opts, err = parseTableOptions(def.Type, def.Options); err != nil {
		return nil, err
	}
	if def.Type == "user" {
		uc := t.opts.userColumn
		idx := schema.FieldIndices(uc)
		if len(idx) != 1 {
			return nil, kerr.New(kerr.InvalidArgument, "user table: user column %q is not a column of the schema", uc)
		}
		f := schema.Field(idx[0])
		if f.Type.ID() != arrow.STRING && f.Type.ID() != arrow.LARGE_STRING {
			return nil, kerr.New(kerr.InvalidArgument, "user table: user column %q must be utf8, not %s", uc, f.Type)
		}
		if f.Nullable {
			return nil, kerr.New(kerr.InvalidArgument, "user table: user column %q must be non-nullable", uc)
		}
		t.userCol = idx[0]
		t.keyCols = append(t.keyCols, idx[0])
	}
	for _, c := range t.opts.primaryKey {
		idx := schema.FieldIndices(c)
		if len(idx) != 1 {
			return nil, kerr.New(kerr.InvalidArgument, "primary_key: column %q is not a column of the schema", c)
		}
		f := schema.Field(idx[0])
		if !keyenc.Supported(f.Type) {
			return nil, kerr.New(kerr.InvalidArgument, "primary_key: column %q has type %s, which cannot be a key", c, f.Type)
		}
		if slices.Contains(t.keyCols, idx[0]) {
			if idx[0] == t.userCol {
				continue // the user column is already the key prefix
			}
			return nil, kerr.New(kerr.InvalidArgument, "primary_key: column %q listed twice", c)
		}
		t.keyCols = append(t.keyCols, idx[0])
		t.pk = append(t.pk, f.Name)
	}
	t.keyHasSeq = len(t.pk) == 0
	return t, nil
}

// tableOptions are the options the store understands (DESIGN §3), checked
// once, when the table is created; other options are kept and shown only.
type tableOptions struct {
	primaryKey          []string
	userColumn          string // user tables only
	compression         string
	rowGroupRows        int64
	flushRows           int64 // 0: no automatic flush
	autoCompactSegments int64 // 0: no automatic compaction
}

// Codecs of the compression option.
var compressionCodecs = []string{"zstd", "lz4_raw", "snappy", "none"}

// maxRowGroupRows bounds row_group_rows: a row group is decoded as a unit.
const maxRowGroupRows = 64 << 20

func parseTableOptions(typ string, opt map[string]string) (tableOptions, error) {
	o := tableOptions{compression: "zstd", rowGroupRows: 128 * 1024}
	if pk := strings.TrimSpace(opt["primary_key"]); pk != "" {
		for _, c := range strings.Split(pk, ",") {
			c = strings.TrimSpace(c)
			if c == "" {
				return o, kerr.New(kerr.InvalidArgument, "option primary_key: %q has an empty column name", opt["primary_key"])
			}
			o.primaryKey = append(o.primaryKey, c)
		}
	}
	if uc, ok := opt["user_column"]; ok {
		if typ != "user" {
			return o, kerr.New(kerr.InvalidArgument, "option user_column: only user tables have a user column (table type is %q)", typ)
		}
		if strings.TrimSpace(uc) == "" {
			return o, kerr.New(kerr.InvalidArgument, "option user_column: empty column name")
		}
		o.userColumn = strings.TrimSpace(uc)
	} else if typ == "user" {
		o.userColumn = "user_id"
	}
	if c, ok := opt["compression"]; ok {
		c = strings.ToLower(strings.TrimSpace(c))
		if !slices.Contains(compressionCodecs, c) {
			return o, kerr.New(kerr.InvalidArgument, "option compression: unknown codec %q (want %s)",
				opt["compression"], strings.Join(compressionCodecs, ", "))
		}
		o.compression = c
	}
	var err error
	if o.rowGroupRows, err = intOption(opt, "row_group_rows", o.rowGroupRows, 1, maxRowGroupRows); err != nil {
		return o, err
	}
	if o.flushRows, err = intOption(opt, "flush_rows", 0, 0, math.MaxInt64); err != nil {
		return o, err
	}
	if o.autoCompactSegments, err = intOption(opt, "auto_compact_segments", 0, 0, math.MaxInt32); err != nil {
		return o, err
	}
	return o, nil
}

// intOption parses an integer option in [lo, hi]; a missing or empty
// option is def.
func intOption(opt map[string]string, name string, def, lo, hi int64) (int64, error) {
	s, ok := opt[name]
	if !ok || strings.TrimSpace(s) == "" {
		return def, nil
	}
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, kerr.New(kerr.InvalidArgument, "option %s: %q is not an integer", name, s)
	}
	if v < lo || v > hi {
		return 0, kerr.New(kerr.InvalidArgument, "option %s: %d is out of range %d..%d", name, v, lo, hi)
	}
	return v, nil
}

func (t *table) info() *TableInfo {
	opts := make(map[string]string, len(t.def.Options))
	for k, v := range t.def.Options {
		opts[k] = v
	}
	ti := &TableInfo{Namespace: t.ns, Name: t.name, Type: t.def.Type, Schema: t.schema, Options: opts,
		CreatedAt: t.def.CreatedAt, SchemaVersion: t.def.SchemaVersion, PrimaryKey: append([]string{}, t.pk...),
		Version: t.currentManifest().Version, HotRows: t.hotRows.Load()}
	if t.userCol >= 0 {
		ti.UserColumn = t.schema.Field(t.userCol).Name
	}
	for _, kc := range t.keyColumns() {
		ti.KeyColumns = append(ti.KeyColumns, kc.Name)
	}
	ids := t.def.fieldIDs()
	for i, f := range t.schema.Fields() {
		ti.Columns = append(ti.Columns, ColumnInfo{Name: f.Name, FieldID: ids[i], Type: f.Type, Nullable: f.Nullable,
			Key: slices.Contains(t.keyCols, i)})
	}
	if e := t.bgErr.Load(); e != nil {
		ti.BackgroundError = *e
	}
	return ti
}

// currentManifest returns the published manifest; manifests are immutable
// once published, so the pointer may be shared.
func (t *table) currentManifest() *manifest.Manifest {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.man
}
