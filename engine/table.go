package engine

import (
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
	dir    string
	schema *arrow.Schema

	keyCols      []int // schema indices of the key columns, user column first
	keyHasSeq    bool  // no primary key: _seq is (the last part of) the key
	userCol      int   // schema index of the user column, -1 for shared tables
	pk           []string
	compression  string
	rowGroupRows int64
	flushRows    int64

	enc *rowcodec.Encoder

	// writeMu serialises appends and deletes of the table, so that _seq order
	// equals commit order within the table (hot versions are always newer than
	// segment versions of the same key).
	writeMu sync.Mutex
	// flushMu serialises flushes and other manifest changers.
	flushMu sync.Mutex
	// mu guards man; a scan takes (man, rocksdb snapshot) under it so the pair
	// is consistent with flush commits.
	mu  sync.Mutex
	man *manifest.Manifest

	hotRows atomic.Int64
	dropped atomic.Bool
}

func (st *store) newTable(def *tableDef) (*table, error) {
	schema, err := decodeSchema(def.Schema)
	if err != nil {
		return nil, kerr.Wrap(kerr.InvalidArgument, err, "schema")
	}
	t := &table{def: def, uid: def.UID, ns: def.Namespace, name: def.Name, qname: def.Namespace + "." + def.Name,
		dir: st.storageDir(def.Namespace, def.Name), schema: schema, userCol: -1}
	seen := map[string]bool{}
	for i, f := range schema.Fields() {
		if f.Name == "" {
			return nil, kerr.New(kerr.InvalidArgument, "column %d has an empty name", i)
		}
		if strings.HasPrefix(f.Name, "_") && (f.Name == colSeq || f.Name == colDeleted) {
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
	opt := def.Options
	if def.Type == "user" {
		uc := opt["user_column"]
		if uc == "" {
			uc = "user_id"
		}
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
	if pk := strings.TrimSpace(opt["primary_key"]); pk != "" {
		for _, c := range strings.Split(pk, ",") {
			c = strings.TrimSpace(c)
			idx := schema.FieldIndices(c)
			if len(idx) != 1 {
				return nil, kerr.New(kerr.InvalidArgument, "primary_key: column %q is not a column of the schema", c)
			}
			f := schema.Field(idx[0])
			if !keyenc.Supported(f.Type) {
				return nil, kerr.New(kerr.InvalidArgument, "primary_key: column %q has type %s, which cannot be a key", c, f.Type)
			}
			for _, k := range t.keyCols {
				if k == idx[0] {
					if k == t.userCol {
						// The user column is already the key prefix.
						goto next
					}
					return nil, kerr.New(kerr.InvalidArgument, "primary_key: column %q listed twice", c)
				}
			}
			t.keyCols = append(t.keyCols, idx[0])
			t.pk = append(t.pk, f.Name)
		next:
		}
	}
	if len(t.pk) == 0 {
		t.keyHasSeq = true
	}
	switch c := strings.ToLower(opt["compression"]); c {
	case "", "zstd":
		t.compression = "zstd"
	case "snappy", "none":
		t.compression = c
	default:
		return nil, kerr.New(kerr.InvalidArgument, "option compression: unknown codec %q (want zstd, snappy or none)", opt["compression"])
	}
	if t.rowGroupRows, err = intOption(opt, "row_group_rows", 128*1024); err != nil {
		return nil, err
	}
	if t.flushRows, err = intOption(opt, "flush_rows", 0); err != nil {
		return nil, err
	}
	return t, nil
}

func intOption(opt map[string]string, name string, def int64) (int64, error) {
	s, ok := opt[name]
	if !ok || s == "" {
		return def, nil
	}
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || v < 0 || (v == 0 && name == "row_group_rows") {
		return 0, kerr.New(kerr.InvalidArgument, "option %s: %q is not a positive integer", name, s)
	}
	return v, nil
}

func (t *table) info() *TableInfo {
	opts := make(map[string]string, len(t.def.Options))
	for k, v := range t.def.Options {
		opts[k] = v
	}
	ti := &TableInfo{Namespace: t.ns, Name: t.name, Type: t.def.Type, Schema: t.schema, Options: opts,
		CreatedAt: t.def.CreatedAt, SchemaVersion: t.def.SchemaVersion, PrimaryKey: append([]string(nil), t.pk...)}
	if t.userCol >= 0 {
		ti.UserColumn = t.schema.Field(t.userCol).Name
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
