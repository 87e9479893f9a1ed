package engine

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/kalamdb/libkalam/engine/exec"
	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/manifest"
)

// System column names (DESIGN §3).
const (
	colSeq     = exec.SeqColumn
	colDeleted = exec.DeletedColumn
)

// table is the runtime state of one user table.
type table struct {
	def    *tableDef // replaced (not changed) by an alter, under writeMu and mu
	uid    uint64
	ns     string
	name   string
	qname  string
	prefix string // storage object prefix of the table: "ns/table"
	opts   tableOptions

	// views are the table's schema versions, oldest first (guarded by mu);
	// cur is the current one, read without a lock by writers (under
	// writeMu, which an alter holds) and captured by readers with their
	// read state.
	views []*schemaView
	cur   atomic.Pointer[schemaView]

	// writeMu serialises the table's writes, so that _seq order equals
	// commit order within the table (hot versions are always newer than
	// segment versions of the same key). It guards gen and hwm.
	writeMu sync.Mutex
	// gen is the hot generation new writes go to (DESIGN §3): a flush moves
	// writes to the next one and removes exactly the generations it read.
	gen uint64
	// fcache holds copies of gen's rows while they come in key order, for
	// its flush (flushcache.go); nil or ended otherwise.
	fcache *flushCache
	// hwm is the table's persisted _seq high-water mark.
	hwm int64

	// flushMu serialises flushes and other manifest changers.
	flushMu sync.Mutex
	// defMirrored is the definition storage's table.json holds, as far as
	// this process knows (under flushMu): mirrorManifest writes t.def
	// there first when it differs.
	defMirrored *tableDef
	// segNo is the highest segment number handed out to a writer, or seen
	// in storage when the store opened (under flushMu): see
	// nextSegmentNumber.
	segNo uint64

	// olderLayout holds the segment column names (string → true) whose
	// values, in the flush, compaction or dataset being written, today's
	// layout cannot hold (storagetype.go, withOlderLayoutFallback): its
	// files keep the older layout for them.
	olderLayout sync.Map

	// commitMu makes a commit's write and its publish one step for the
	// readers that take the latest state (acquire): they hold it shared,
	// a commit exclusively across its synced write. It is apart from mu so
	// that nothing else waits for that write (appends noting hot keys,
	// readers releasing pins).
	commitMu sync.RWMutex

	// mu guards the read state: man, hotLo, views and the pins
	// (read_state.go).
	mu      sync.Mutex
	man     *manifest.Manifest
	hotLo   uint64          // lowest generation that may hold hot rows
	pins    map[string]int  // segment id -> open readers
	removed map[string]bool // segments vacuum took; never pinned again
	// genMax is the largest key written to each hot generation: readers
	// bound hot rows with it instead of a reverse seek (scan.go hotKeys).
	genMax map[uint64][]byte

	hotRows atomic.Int64
	dropped atomic.Bool
	// bgErr is the last failure of an automatic flush or compaction, which
	// never turns the write that triggered it into an error, or of what a
	// vacuum left after its commit.
	bgErr atomic.Pointer[string]
	// vacuumLeft: what committed vacuums have still to remove.
	vacuumLeft vacuumLeft
	// mirrorFailed is the background error a failed mirrorManifest
	// recorded (under flushMu), cleared by the next that succeeds.
	mirrorFailed *string
	// unmirrored: versions whose mirror failed (under flushMu), written
	// by the next mirror.
	unmirrored []uint64
}

func (st *store) newTable(def *tableDef) (*table, error) {
	t := &table{def: def, uid: def.UID, ns: def.Namespace, name: def.Name, qname: def.Namespace + "." + def.Name,
		prefix: def.Namespace + "/" + def.Name, pins: map[string]int{}, removed: map[string]bool{},
		genMax: map[uint64][]byte{}}
	var err error
	if t.opts, err = parseTableOptions(def.Type, def.Options); err != nil {
		return nil, err
	}
	if err := def.complete(t.opts); err != nil {
		return nil, err
	}
	for _, v := range def.Schemas {
		sv, err := newSchemaView(v, def.Type, def.KeyFieldIDs, def.UserFieldID)
		if err != nil {
			return nil, err
		}
		t.views = append(t.views, sv)
	}
	t.cur.Store(t.views[len(t.views)-1])
	return t, nil
}

// view is the current schema.
func (t *table) view() *schemaView { return t.cur.Load() }

// viewAtLocked is the schema of a manifest version; t.mu is held.
func (t *table) viewAtLocked(manifestVersion uint64) *schemaView {
	v := t.views[0]
	for _, sv := range t.views {
		if sv.manifestVersion <= manifestVersion {
			v = sv
		}
	}
	return v
}

// viewOf is the schema version a segment was written with (the first one
// when it predates schema versions).
func (t *table) viewOf(schemaVersion int64) *schemaView {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, sv := range t.views {
		if sv.version == schemaVersion {
			return sv
		}
	}
	return t.views[0]
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
	def := t.currentDef()
	sv := t.view()
	opts := make(map[string]string, len(def.Options))
	for k, v := range def.Options {
		opts[k] = v
	}
	ti := &TableInfo{Namespace: t.ns, Name: t.name, Type: def.Type, Schema: sv.schema, Options: opts,
		CreatedAt: def.CreatedAt, SchemaVersion: sv.version, PrimaryKey: append([]string{}, sv.pk...),
		Version: t.currentManifest().Version, HotRows: t.hotRows.Load()}
	if sv.userCol >= 0 {
		ti.UserColumn = sv.schema.Field(sv.userCol).Name
	}
	for _, kc := range sv.keyColumns() {
		ti.KeyColumns = append(ti.KeyColumns, kc.Name)
	}
	names := map[int32]map[int64]string{} // field id -> schema version -> name
	t.mu.Lock()
	for _, v := range t.views {
		for i, f := range v.schema.Fields() {
			if names[v.fids[i]] == nil {
				names[v.fids[i]] = map[int64]string{}
			}
			names[v.fids[i]][v.version] = f.Name
		}
	}
	t.mu.Unlock()
	for i, f := range sv.schema.Fields() {
		ti.Columns = append(ti.Columns, ColumnInfo{Name: f.Name, FieldID: sv.fids[i], Type: f.Type, Nullable: f.Nullable,
			Key: sv.isKey(i), NamesByVersion: names[sv.fids[i]]})
	}
	if e := t.bgErr.Load(); e != nil {
		ti.BackgroundError = *e
	}
	return ti
}

// noteHotKeys records the largest of keys as written to generation gen.
// Every write of hot versions calls it before writing, under t.writeMu;
// one that the flush cache is not to hold (cached false: all but putRows'
// upserts) ends the generation's cache, so that no write can bypass it.
func (t *table) noteHotKeys(gen uint64, keys [][]byte, cached bool) {
	if !cached {
		t.endFlushCache()
	}
	var mx []byte
	for _, k := range keys {
		if mx == nil || bytes.Compare(k, mx) > 0 {
			mx = k
		}
	}
	if mx == nil {
		return
	}
	t.mu.Lock()
	if cur := t.genMax[gen]; cur == nil || bytes.Compare(mx, cur) > 0 {
		t.genMax[gen] = append([]byte(nil), mx...)
	}
	t.mu.Unlock()
}

// hotMaxKey is the largest key written to any of gens (nil: none known).
func (t *table) hotMaxKey(gens []uint64) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	var mx []byte
	for _, g := range gens {
		if k := t.genMax[g]; k != nil && (mx == nil || bytes.Compare(k, mx) > 0) {
			mx = k
		}
	}
	return mx
}

// forgetGens drops the bounds of flushed generations.
func (t *table) forgetGens(below uint64) {
	t.mu.Lock()
	for g := range t.genMax {
		if g < below {
			delete(t.genMax, g)
		}
	}
	t.mu.Unlock()
}

// currentDef is the table definition (replaced by alters).
func (t *table) currentDef() *tableDef {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.def
}

// currentManifest returns the published manifest; manifests are immutable
// once published, so the pointer may be shared.
func (t *table) currentManifest() *manifest.Manifest {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.man
}

// nextSegmentNumber hands out the number of the next segment file (under
// flushMu): one above both the manifest's last_sequence_number and every
// number handed out or seen before. A flush or compaction that failed did
// not advance the manifest, and its upload may still land — an abandoned
// S3 PUT delivered late by the network — so its number is never given to
// a later file (DESIGN §2.1: never reused), whose committed object the
// late upload would otherwise overwrite.
func (t *table) nextSegmentNumber(m *manifest.Manifest) uint64 {
	t.segNo = max(t.segNo, m.LastSequenceNumber) + 1
	return t.segNo
}

// sawSegmentNumber records a segment file number found in storage.
func (t *table) sawSegmentNumber(n uint64) {
	t.flushMu.Lock()
	t.segNo = max(t.segNo, n)
	t.flushMu.Unlock()
}
