package engine

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/kalamdb/libkalam/engine/exec"
	"github.com/kalamdb/libkalam/engine/filter"
	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/manifest"
)

// systemTable is a virtual, read-only table computed at scan time (DESIGN §5).
type systemTable struct {
	name   string
	schema *arrow.Schema
	// shown: how many leading columns a scan returns by default (0: all).
	// Columns after them are libkalam additions a scan returns when it
	// names them, so the contract's column lists stay what SELECT * gives.
	shown int
	build func(db *DB, b *array.RecordBuilder) error
}

var tsMsUTC = &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}

func utf8(name string) arrow.Field { return arrow.Field{Name: name, Type: arrow.BinaryTypes.String} }
func u64(name string) arrow.Field  { return arrow.Field{Name: name, Type: arrow.PrimitiveTypes.Uint64} }
func ts(name string) arrow.Field   { return arrow.Field{Name: name, Type: tsMsUTC} }

// numSystemTables is len(systemTables) (a constant breaks an init cycle).
const numSystemTables = 5

// systemTables in the order system.tables lists them.
var systemTables []*systemTable

func init() {
	systemTables = []*systemTable{
		// The seed's five columns, then, on request, the current schema
		// version and schema (issue 11).
		{name: "tables", schema: arrow.NewSchema([]arrow.Field{
			utf8("table_name"), utf8("namespace"), utf8("type"), ts("created_at"), utf8("options"),
			{Name: "schema_version", Type: arrow.PrimitiveTypes.Int64, Nullable: true}, utf8("schema")}, nil),
			shown: 5,
			build: buildTables},
		{name: "live_queries", schema: arrow.NewSchema([]arrow.Field{
			utf8("query_id"), utf8("session_id"), utf8("sql"), ts("start_time"), u64("duration_ms"), utf8("state")}, nil),
			build: buildLiveQueries},
		{name: "namespaces", schema: arrow.NewSchema([]arrow.Field{
			utf8("namespace"), ts("created_at"), u64("table_count")}, nil),
			build: buildNamespaces},
		{name: "manifests", schema: arrow.NewSchema([]arrow.Field{
			utf8("namespace"), utf8("table_name"), u64("version"), ts("created_at"), ts("updated_at"),
			u64("segment_count"), u64("live_segment_count"), u64("last_sequence_number"), utf8("manifest_json")}, nil),
			build: buildManifests},
		{name: "segments", schema: arrow.NewSchema([]arrow.Field{
			utf8("namespace"), utf8("table_name"), utf8("id"), utf8("path"),
			{Name: "min_key", Type: arrow.BinaryTypes.Binary, Nullable: true},
			{Name: "max_key", Type: arrow.BinaryTypes.Binary, Nullable: true},
			u64("row_count"), u64("size_bytes"), ts("created_at"),
			{Name: "tombstone", Type: arrow.FixedWidthTypes.Boolean},
			{Name: "min_seq", Type: arrow.PrimitiveTypes.Int64}, {Name: "max_seq", Type: arrow.PrimitiveTypes.Int64}}, nil),
			build: buildSegments},
	}
}

// lookupSystemTable accepts "system.x" (any case) for a known x.
func lookupSystemTable(name string) (*systemTable, bool) {
	n := strings.ToLower(name)
	if !strings.HasPrefix(n, systemNamespace+".") {
		return nil, false
	}
	n = n[len(systemNamespace)+1:]
	for _, s := range systemTables {
		if s.name == n {
			return s, true
		}
	}
	return nil, false
}

func (s *systemTable) info() *TableInfo {
	ti := &TableInfo{Namespace: systemNamespace, Name: s.name, Type: "system", Schema: s.schema, Options: map[string]string{},
		PrimaryKey: []string{}, KeyColumns: []string{}}
	for i, f := range s.schema.Fields() {
		ti.Columns = append(ti.Columns, ColumnInfo{Name: f.Name, FieldID: int32(i + 1), Type: f.Type, Nullable: f.Nullable})
	}
	return ti
}

// SystemTable scans a system table named "tables" or "system.tables".
func (db *DB) SystemTable(name string, req ScanRequest) (Stream, error) {
	exit, err := db.enter(false)
	if err != nil {
		return nil, err
	}
	defer exit()
	full := name
	if !strings.Contains(name, ".") {
		full = systemNamespace + "." + name
	}
	sys, ok := lookupSystemTable(full)
	if !ok {
		return nil, kerr.New(kerr.NotFound, "system table %q not found", name)
	}
	return db.scanSystem(sys, req)
}

func (db *DB) scanSystem(sys *systemTable, req ScanRequest) (Stream, error) {
	if req.AsOfVersion > 0 || req.AsOfTimeMs > 0 {
		return nil, kerr.New(kerr.InvalidArgument, "system.%s: time travel does not apply to system tables", sys.name)
	}
	what := "scan system." + sys.name
	def := userColumnNames(sys.schema)
	if sys.shown > 0 {
		def = def[:sys.shown]
	}
	names, out, err := resolveColumns(sys.schema, req.Columns, def, what)
	if err != nil {
		return nil, err
	}
	pred, err := filter.Compile(req.Filter, sys.schema)
	if err != nil {
		return nil, kerr.Wrap(kerr.CodeOf(err), err, "%s", what)
	}
	batch := req.BatchRows
	if batch <= 0 {
		batch = defaultBatchRows
	}
	mem := db.st.mem
	lazy := &lazySource{build: func() (exec.Source, error) {
		if db.st.remote {
			if err := db.st.refreshRemote(); err != nil {
				return nil, err
			}
		}
		rb := array.NewRecordBuilder(mem, sys.schema)
		defer rb.Release()
		if err := sys.build(db, rb); err != nil {
			return nil, err
		}
		rec := rb.NewRecordBatch()
		fs := exec.NewFilter(exec.NewMem([]arrow.RecordBatch{rec}), pred, sys.schema, mem)
		return exec.NewOutput(fs, out, req.Limit, batch, mem), nil
	}}
	sql := req.SQL
	if sql == "" {
		sql = generatedSQL(names, "system."+sys.name, pred, req.Limit, "")
	}
	// System-table scans take no slot, so live_queries can always be read.
	return db.newStream(out, lazy, sql, false), nil
}

// lazySource builds its source on first use: system tables are computed
// when the scan runs, and a scan of live_queries sees itself.
type lazySource struct {
	build func() (exec.Source, error)
	src   exec.Source
}

func (l *lazySource) Next() (arrow.RecordBatch, error) {
	if l.src == nil {
		if l.build == nil {
			return nil, nil
		}
		s, err := l.build()
		l.build = nil
		if err != nil {
			return nil, err
		}
		l.src = s
	}
	return l.src.Next()
}

func (l *lazySource) Close() {
	if l.src != nil {
		l.src.Close()
		l.src = nil
	}
	l.build = nil
}

func optionsJSON(opts map[string]string) string {
	if len(opts) == 0 {
		return "{}"
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(opts) // map keys are sorted by encoding/json
	return strings.TrimRight(buf.String(), "\n")
}

func buildTables(db *DB, b *array.RecordBuilder) error {
	st := db.st
	st.catMu.RLock()
	sysCreated := st.namespaces[defaultNamespace]
	st.catMu.RUnlock()
	infos := db.Tables() // sorted by namespace, name
	for _, s := range systemTables {
		ti := s.info()
		ti.CreatedAt = sysCreated
		infos = append(infos, ti)
	}
	f := b.Fields()
	for _, ti := range infos {
		f[0].(*array.StringBuilder).Append(ti.Name)
		f[1].(*array.StringBuilder).Append(ti.Namespace)
		f[2].(*array.StringBuilder).Append(ti.Type)
		f[3].(*array.TimestampBuilder).Append(arrow.Timestamp(ti.CreatedAt))
		if ti.Type == "system" {
			f[4].(*array.StringBuilder).Append("{}")
			f[5].AppendNull()
		} else {
			f[4].(*array.StringBuilder).Append(optionsJSON(ti.Options))
			f[5].(*array.Int64Builder).Append(ti.SchemaVersion)
		}
		f[6].(*array.StringBuilder).Append(columnsJSON(ti))
	}
	return nil
}

// columnsJSON renders a table's columns for system.tables: name, Arrow type
// (as arrow-go prints it), nullability, field id (user tables) and whether
// the column is part of the key.
func columnsJSON(ti *TableInfo) string {
	type col struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		Nullable bool   `json:"nullable"`
		FieldID  *int32 `json:"field_id,omitempty"`
		Key      bool   `json:"key"`
	}
	cols := []col{}
	if ti.Type == "system" {
		for _, f := range ti.Schema.Fields() {
			cols = append(cols, col{Name: f.Name, Type: f.Type.String(), Nullable: f.Nullable})
		}
	} else {
		for _, c := range ti.Columns {
			id := c.FieldID
			cols = append(cols, col{Name: c.Name, Type: c.Type.String(), Nullable: c.Nullable, FieldID: &id, Key: c.Key})
		}
	}
	out, err := json.Marshal(cols)
	if err != nil {
		return "[]" // plain strings and numbers always marshal
	}
	return string(out)
}

func buildLiveQueries(db *DB, b *array.RecordBuilder) error {
	qs := db.st.live.list()
	sort.Slice(qs, func(i, j int) bool {
		if !qs[i].start.Equal(qs[j].start) {
			return qs[i].start.Before(qs[j].start)
		}
		return qs[i].id < qs[j].id
	})
	now := time.Now()
	f := b.Fields()
	for _, q := range qs {
		f[0].(*array.StringBuilder).Append(q.id)
		f[1].(*array.StringBuilder).Append(q.session)
		f[2].(*array.StringBuilder).Append(q.sql)
		f[3].(*array.TimestampBuilder).Append(arrow.Timestamp(q.start.UnixMilli()))
		d := now.Sub(q.start).Milliseconds()
		if d < 0 {
			d = 0
		}
		f[4].(*array.Uint64Builder).Append(uint64(d))
		f[5].(*array.StringBuilder).Append(q.state.Load().(string))
	}
	return nil
}

func buildNamespaces(db *DB, b *array.RecordBuilder) error {
	f := b.Fields()
	for _, ns := range db.Namespaces() {
		f[0].(*array.StringBuilder).Append(ns.Name)
		f[1].(*array.TimestampBuilder).Append(arrow.Timestamp(ns.CreatedAt))
		f[2].(*array.Uint64Builder).Append(uint64(ns.TableCount))
	}
	return nil
}

// sortedTables returns the tables with their current manifests.
func (st *store) sortedTables() []*table {
	st.catMu.RLock()
	ts := make([]*table, 0, len(st.tables))
	for _, t := range st.tables {
		ts = append(ts, t)
	}
	st.catMu.RUnlock()
	sort.Slice(ts, func(i, j int) bool { return ts[i].qname < ts[j].qname })
	return ts
}

func buildManifests(db *DB, b *array.RecordBuilder) error {
	f := b.Fields()
	for _, t := range db.st.sortedTables() {
		m, err := db.st.latestManifest(t)
		if droppedMeanwhile(db, err) {
			continue
		}
		if err != nil {
			return err
		}
		js, err := manifest.Encode(m)
		if err != nil {
			return kerr.Wrap(kerr.Internal, err, "encode manifest of %s", t.qname)
		}
		f[0].(*array.StringBuilder).Append(t.ns)
		f[1].(*array.StringBuilder).Append(t.name)
		f[2].(*array.Uint64Builder).Append(m.Version)
		f[3].(*array.TimestampBuilder).Append(arrow.Timestamp(m.CreatedAt))
		f[4].(*array.TimestampBuilder).Append(arrow.Timestamp(m.UpdatedAt))
		f[5].(*array.Uint64Builder).Append(uint64(len(m.Segments)))
		f[6].(*array.Uint64Builder).Append(uint64(len(m.LiveSegments())))
		f[7].(*array.Uint64Builder).Append(m.LastSequenceNumber)
		f[8].(*array.StringBuilder).Append(string(js))
	}
	return nil
}

func buildSegments(db *DB, b *array.RecordBuilder) error {
	f := b.Fields()
	for _, t := range db.st.sortedTables() {
		m, err := db.st.latestManifest(t)
		if droppedMeanwhile(db, err) {
			continue
		}
		if err != nil {
			return err
		}
		appendSegmentRows(f, t.ns, t.name, m)
	}
	return nil
}

// droppedMeanwhile reports whether a storage-only reader found no
// manifest for a table it listed: the writer dropped it since, and the
// system table leaves it out, as a listing made a moment later would.
func droppedMeanwhile(db *DB, err error) bool {
	return db.st.remote && kerr.Is(err, kerr.NotFound)
}

func appendSegmentRows(f []array.Builder, ns, name string, m *manifest.Manifest) {
	for _, s := range m.Segments {
		f[0].(*array.StringBuilder).Append(ns)
		f[1].(*array.StringBuilder).Append(name)
		f[2].(*array.StringBuilder).Append(s.ID)
		f[3].(*array.StringBuilder).Append(s.Path)
		appendKey(f[4].(*array.BinaryBuilder), s.MinKey)
		appendKey(f[5].(*array.BinaryBuilder), s.MaxKey)
		f[6].(*array.Uint64Builder).Append(s.RowCount)
		f[7].(*array.Uint64Builder).Append(s.SizeBytes)
		f[8].(*array.TimestampBuilder).Append(arrow.Timestamp(s.CreatedAt))
		f[9].(*array.BooleanBuilder).Append(s.Tombstone)
		f[10].(*array.Int64Builder).Append(s.MinSeq)
		f[11].(*array.Int64Builder).Append(s.MaxSeq)
	}
}

func appendKey(b *array.BinaryBuilder, k []byte) {
	if k == nil {
		b.AppendNull()
		return
	}
	b.Append(k)
}
