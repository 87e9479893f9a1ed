package engine

import (
	"context"
	"errors"
	"fmt"
	"github.com/google/uuid"
	"io"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/kalamdb/libkalam/engine/exec"
	"github.com/kalamdb/libkalam/engine/segment"
	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/manifest"
	"github.com/kalamdb/libkalam/storage"
)

func codecOf(name string) compress.Compression {
	switch name {
	case "snappy":
		return compress.Codecs.Snappy
	case "lz4_raw":
		return compress.Codecs.Lz4Raw
	case "none":
		return compress.Codecs.Uncompressed
	}
	return compress.Codecs.Zstd
}

// segWriter writes one segment object by step 1 of the commit protocol:
// nothing is visible under its name until finish commits it (locally:
// segment_N.parquet.tmp, fsync, rename, fsync the directory).
type segWriter struct {
	st   *store
	t    *table
	sv   *schemaView
	name string // storage object name
	rel  string // table-relative path, as the manifest holds it
	out  storage.Writer
	// One of w and cw is created by the first write (see open): cw, which
	// encodes columns in parallel, for flat schemas.
	w      *pqarrow.FileWriter
	cw     *columnWriter
	rgRows int64
	inRG   int64
	meta   manifest.SegmentMetadata
	stats  *statsCollector
	stored *arrow.Schema
	done   bool
}

func (st *store) newSegWriter(t *table, sv *schemaView, seqNo uint64) (*segWriter, error) {
	rel := manifest.SegmentPath(seqNo)
	name := t.prefix + "/" + rel
	out, err := st.storage.Create(context.Background(), name)
	if err != nil {
		return nil, err
	}
	schema := sv.segmentSchema()
	sw := &segWriter{st: st, t: t, sv: sv, name: name, rel: rel, out: out, rgRows: t.opts.rowGroupRows,
		stats: newStatsCollector(schema), stored: segmentStorageSchema(schema, olderLayoutOf(t))}
	sw.meta.Path = rel
	// The id goes into the file too (segmentIDKey): a reader holding an
	// older manifest tells the file it meant from another written under
	// the same name since (a dropped and re-created table numbers its
	// segments from 1 again).
	sw.meta.ID = uuid.NewString()
	return sw, nil
}

// segmentStorageSchema is the schema segment writers are given for a
// table's columns (storageSchema). A variable so that tests can write
// segments the way older versions did.
var segmentStorageSchema = storageSchema

// segmentIDKey is the footer key-value entry holding the segment's id.
const segmentIDKey = "kalam.segment_id"

// segmentWriterProperties are the Parquet properties of a new segment of
// schema stored (storage types), whose first rows are first (nil: none):
// the layout segment.LAYOUT.md measured for reading (V2 pages, 256 KiB
// pages, page index, statistics), the table's compression and
// row_group_rows options taking precedence, and a dictionary only for the
// columns whose values repeat enough in those rows. A variable so that
// tests can write segments the way older versions did.
var segmentWriterProperties = func(t *table, stored *arrow.Schema, first arrow.RecordBatch) []parquet.WriterProperty {
	l := segment.RecommendedLayout()
	l.Compression = codecOf(t.opts.compression)
	if t.opts.rowGroupRows > 0 {
		l.RowGroupRows = t.opts.rowGroupRows
	}
	var dict map[string]bool
	if first != nil {
		dict = segment.DictionaryColumns(first)
	}
	return segment.WriterProperties(l, stored, dict)
}

// open creates the Parquet writer. The dictionary rule decides from data,
// so it waits for the first batch (a flush or compaction batch is up to
// 64Ki rows; first is nil for a segment of no rows).
func (sw *segWriter) open(first arrow.RecordBatch) error {
	wopts := append(segmentWriterProperties(sw.t, sw.stored, first), parquet.WithAllocator(sw.st.mem))
	props := parquet.NewWriterProperties(wopts...)
	// No WithStoreSchema: the ARROW:schema hint is in sw.stored's
	// metadata (storageSchema), which names types pqarrow cannot write.
	arrProps := pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(sw.st.mem))
	// The writers close an io.Closer they write to; the object is
	// committed separately.
	out := struct{ io.Writer }{sw.out}
	var err error
	if flatSchema(sw.stored) {
		sw.cw, err = newColumnWriter(sw.stored, out, props, arrProps)
	} else {
		sw.w, err = pqarrow.NewFileWriter(sw.stored, out, props, arrProps)
	}
	if err != nil {
		return kerr.Wrap(kerr.Internal, err, "parquet writer for %s", sw.name)
	}
	return nil
}

// opened reports whether open has created the Parquet writer.
func (sw *segWriter) opened() bool { return sw.w != nil || sw.cw != nil }

// closeWriter writes the footer (after the last row group).
func (sw *segWriter) closeWriter() error {
	if sw.cw != nil {
		if err := sw.cw.w.AppendKeyValueMetadata(segmentIDKey, sw.meta.ID); err != nil {
			sw.cw.w.Close()
			return err
		}
		return sw.cw.close()
	}
	if err := sw.w.AppendKeyValueMetadata(segmentIDKey, sw.meta.ID); err != nil {
		sw.w.Close()
		return err
	}
	return sw.w.Close()
}

// write appends a record (segment schema) whose rows are in key order and
// follow every row written before; first and last are the encoded keys of
// its first and last rows (only they are needed: min_key and max_key), seqs
// its _seq values.
func (sw *segWriter) write(rec arrow.RecordBatch, first, last []byte, seqs []int64) error {
	n := rec.NumRows()
	if n == 0 {
		return nil
	}
	for c := range int(rec.NumCols()) {
		// Rows written before writes refused them (required.go): writing
		// one would leave a segment no scan reads; the rows stay hot.
		if _, path, bad := requiredNull(rec.Column(c)); bad {
			return kerr.New(kerr.InvalidArgument, "write %s: column %q holds a null in %s, which its type declares not null, so no segment can hold it; rewrite that row (update or upsert it with a value there)",
				sw.name, rec.Schema().Field(c).Name, path)
		}
	}
	if sw.meta.RowCount == 0 {
		sw.meta.MinKey = append([]byte{}, first...)
		sw.meta.MinSeq = seqs[0]
		sw.meta.MaxSeq = seqs[0]
	}
	sw.meta.MaxKey = append(sw.meta.MaxKey[:0], last...)
	for _, s := range seqs {
		if s < sw.meta.MinSeq {
			sw.meta.MinSeq = s
		}
		if s > sw.meta.MaxSeq {
			sw.meta.MaxSeq = s
		}
	}
	sw.meta.RowCount += uint64(n)
	user := rec // statistics are of the table's types
	rec, err := toStorage(rec, sw.stored, sw.st.mem)
	if err != nil {
		return err
	}
	defer rec.Release()
	if !sw.opened() {
		if err := sw.open(rec); err != nil {
			return err
		}
	}
	if sw.cw == nil {
		sw.stats.add(user)
	}
	var off int64
	for off < n {
		room := sw.rgRows - sw.inRG
		if room <= 0 {
			// Closing the full row group writes it out: a failed write is
			// an error here (NewBufferedRowGroup would panic on it).
			var err error
			if sw.cw != nil {
				err = sw.cw.newRowGroup()
			} else {
				err = sw.w.NewBufferedRowGroupChecked()
			}
			if err != nil {
				return kerr.Wrap(kerr.CodeOfOr(err, kerr.IO), err, "write %s", sw.name)
			}
			sw.inRG = 0
			room = sw.rgRows
		}
		take := min(room, n-off)
		part := rec
		if off != 0 || take != n {
			part = rec.NewSlice(off, off+take)
		}
		var err error
		if sw.cw != nil {
			// Each column's statistics are gathered by the goroutine
			// that encodes it.
			err = sw.cw.write(part, func(c int) {
				col := array.NewSlice(user.Column(c), off, off+take)
				sw.stats.addColumn(c, col)
				col.Release()
			})
		} else {
			err = sw.w.WriteBuffered(part)
		}
		if part != rec {
			part.Release()
		}
		if err != nil {
			return kerr.Wrap(kerr.CodeOfOr(err, kerr.IO), err, "write %s", sw.name)
		}
		sw.inRG += take
		off += take
	}
	return nil
}

// finish writes the footer and commits the object under its final name.
func (sw *segWriter) finish() (*manifest.SegmentMetadata, error) {
	if !sw.opened() {
		if err := sw.open(nil); err != nil {
			sw.abort()
			return nil, err
		}
	}
	if err := sw.closeWriter(); err != nil {
		sw.abort()
		return nil, kerr.Wrap(kerr.CodeOfOr(err, kerr.IO), err, "write %s", sw.name)
	}
	if err := sw.st.hit("segment_written"); err != nil {
		sw.abort()
		return nil, err
	}
	size, err := sw.out.Commit()
	sw.done = true
	if err != nil {
		return nil, err
	}
	sw.meta.SizeBytes = uint64(size)
	sw.meta.CreatedAt = nowMs()
	sw.meta.SchemaVersion = sw.sv.version
	sw.meta.ColumnStats = sw.stats.result()
	return &sw.meta, nil
}

// abort discards a segment not yet committed; a no-op after finish.
func (sw *segWriter) abort() {
	if sw.done {
		return
	}
	sw.done = true
	if sw.opened() {
		sw.closeWriter()
	}
	sw.out.Abort()
}

// discard removes a committed segment whose manifest commit failed (open
// would remove the orphan too).
func (sw *segWriter) discard() {
	_ = sw.st.storage.Remove(context.Background(), sw.name)
}

// segFile is an open segment for reading. The narrow reader (package
// segment) reads what it supports; pqarrow is opened only for what it does
// not (DESIGN §4 / issue 10: fallback chosen per file and column).
type segFile struct {
	path string // storage object name, for messages
	obj  storage.Reader
	mem  memory.Allocator
	sch  *arrow.Schema // stored schema, field ids in the field metadata
	// nf is the narrow reader's view of the file; nil when segment.Open
	// declined it (nfWhy says why), and then every column goes to pqarrow.
	nf    *segment.File
	nfWhy string
	why   []*string // per narrow column: nil until asked, then "" (supported) or the reason
	// pqarrow, opened on the first need.
	pf *file.Reader
	fr *pqarrow.FileReader
}

// openSegment opens the segment seg of the table. A file at its path that
// records another segment id is NotFound, never read: the segment this
// manifest names is gone (its table was dropped and made again, or another
// store wrote to the same storage), and its replacement would be wrong
// data; a recorded id that is no segment id at all is a damaged footer
// (Corruption). Files written before the id was recorded are not checked.
func (st *store) openSegment(t *table, seg *manifest.SegmentMetadata) (*segFile, error) {
	sf, err := st.openSegmentFile(t, seg.Path)
	if err != nil {
		return nil, err
	}
	if id, ok := sf.segmentID(); ok && id != seg.ID {
		sf.close()
		if _, perr := uuid.Parse(id); perr != nil {
			// No libkalam wrote that: the footer is damaged, not replaced.
			return nil, kerr.New(kerr.Corruption, "segment %s of table %s: its footer records a damaged segment id %q (want %s)",
				seg.Path, t.qname, id, seg.ID)
		}
		return nil, kerr.New(kerr.NotFound, "segment %s of table %s (id %s) was replaced by another file (id %s): the table was dropped and made again, or another store writes to the same storage",
			seg.Path, t.qname, seg.ID, id)
	}
	return sf, nil
}

// openSegmentFile opens the segment object at the table-relative path rel.
func (st *store) openSegmentFile(t *table, rel string) (*segFile, error) {
	name := t.prefix + "/" + rel
	obj, err := st.storage.Open(context.Background(), name)
	if err != nil {
		if kerr.Is(err, kerr.NotFound) {
			if st.remote {
				// The writer's vacuum removed it (remote readers are not
				// pinned): never wrong data, a NotFound naming the object.
				return nil, kerr.Wrap(kerr.NotFound, err, "segment %s of table %s was removed (vacuum); scan a newer version", rel, t.qname)
			}
			return nil, kerr.Wrap(kerr.Corruption, err, "segment %s of table %s is missing", rel, t.qname)
		}
		return nil, err
	}
	sf, err := readSegment(name, obj, st.mem)
	if err != nil {
		obj.Close()
		return nil, err
	}
	return sf, nil
}

// Test knobs: narrowReads off sends every column to pqarrow (the
// differential tests compare both readers); segmentOpenOptions are the
// narrow reader's limits (claims above them fall back to pqarrow).
var (
	narrowReads        = true
	segmentOpenOptions segment.Options
)

// readSegment reads the footer and stored schema of a segment object.
func readSegment(name string, obj storage.Reader, mem memory.Allocator) (*segFile, error) {
	sf := &segFile{path: name, obj: obj, mem: mem}
	nf, err := segment.OpenWithOptions(obj, obj.Size(), name, segmentOpenOptions)
	switch {
	case err == nil && nf.HasStoredSchema():
		sf.nf = nf
		sf.why = make([]*string, nf.NumColumns())
		sf.sch = narrowSchema(nf)
		return sf, nil
	case err == nil:
		// No ARROW:schema (not written by libkalam): pqarrow's reading of
		// the Parquet schema names the types, the narrow reader still takes
		// the columns whose derived type agrees.
		sf.nf = nf
		sf.why = make([]*string, nf.NumColumns())
	case errors.Is(err, segment.ErrUnsupported):
		sf.nfWhy = err.Error()
	case errors.Is(err, segment.ErrCorrupt):
		return nil, kerr.Wrap(kerr.Corruption, err, "open segment %s", name)
	default:
		return nil, kerr.Wrap(kerr.CodeOfOr(err, kerr.IO), err, "open segment %s", name)
	}
	if err := sf.openPqarrow(); err != nil {
		return nil, err
	}
	var sch *arrow.Schema
	err = pqarrowSafe(name, func() (err error) {
		sch, err = sf.fr.Schema()
		return err
	})
	if err != nil {
		sf.pf.Close()
		return nil, kerr.Wrap(kerr.Corruption, err, "read segment schema %s", name)
	}
	sf.sch = sch
	return sf, nil
}

// narrowSchema is the file's stored schema with each column's Parquet
// field id in its metadata (as pqarrow reports it), so that columns are
// found by field id however the file was written.
func narrowSchema(nf *segment.File) *arrow.Schema {
	fields := make([]arrow.Field, nf.NumColumns())
	for i, f := range nf.Schema().Fields() {
		ci := nf.Column(i)
		if ci.HasFieldID {
			keys, vals := []string{parquetFieldIDKey}, []string{strconv.Itoa(int(ci.FieldID))}
			for j, k := range f.Metadata.Keys() {
				if k != parquetFieldIDKey {
					keys, vals = append(keys, k), append(vals, f.Metadata.Values()[j])
				}
			}
			f.Metadata = arrow.NewMetadata(keys, vals)
		}
		fields[i] = f
	}
	return arrow.NewSchema(fields, nil)
}

// openPqarrow opens the file with arrow-go's reader (the fallback).
func (sf *segFile) openPqarrow() error {
	if sf.fr != nil {
		return nil
	}
	props := parquet.NewReaderProperties(sf.mem)
	props.BufferedStreamEnabled = true
	props.BufferSize = 1 << 20
	var pf *file.Reader
	err := pqarrowSafe(sf.path, func() (err error) {
		pf, err = file.NewParquetReader(io.NewSectionReader(sf.obj, 0, sf.obj.Size()), file.WithReadProps(props))
		return err
	})
	if err != nil {
		return kerr.Wrap(kerr.Corruption, err, "open segment %s", sf.path)
	}
	var fr *pqarrow.FileReader
	err = pqarrowSafe(sf.path, func() (err error) {
		fr, err = pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 64 * 1024}, sf.mem)
		return err
	})
	if err != nil {
		pf.Close()
		return kerr.Wrap(kerr.Corruption, err, "read segment schema %s", sf.path)
	}
	for i := range fr.Manifest.Fields {
		pqarrowReadTypes(&fr.Manifest.Fields[i])
	}
	sf.pf, sf.fr = pf, fr
	return nil
}

// pqarrowReadTypes sets the types pqarrow reads a segment column as where
// it cannot read the one the ARROW:schema hint names (storagetype.go):
// durations as the int64 they are (pqarrow applies the hint but has no
// reader for the type), and fixed_size_lists as lists (its reader fails on
// a null list under a null struct slot, which tombstones hold). The
// reader converts them back (fromStorage).
func pqarrowReadTypes(f *pqarrow.SchemaField) bool {
	changed := false
	for i := range f.Children {
		if pqarrowReadTypes(&f.Children[i]) {
			changed = true
		}
	}
	if f.Field == nil {
		return false
	}
	child := func(i int) (arrow.Field, bool) {
		if i >= len(f.Children) || f.Children[i].Field == nil {
			return arrow.Field{}, false
		}
		return *f.Children[i].Field, true
	}
	read := *f.Field
	switch t := read.Type.(type) {
	case *arrow.DurationType:
		if !f.IsLeaf() {
			return changed
		}
		read.Type = arrow.PrimitiveTypes.Int64
	case *arrow.FixedSizeListType:
		elem, ok := child(0)
		if !ok {
			elem = t.ElemField()
		}
		read.Type = arrow.ListOfField(elem)
	case *arrow.ListType:
		elem, ok := child(0)
		if !changed || !ok {
			return changed
		}
		read.Type = arrow.ListOfField(elem)
	case *arrow.LargeListType:
		elem, ok := child(0)
		if !changed || !ok {
			return changed
		}
		read.Type = arrow.LargeListOfField(elem)
	case *arrow.MapType:
		if !changed || len(f.Children) != 1 || len(f.Children[0].Children) != 2 {
			return changed
		}
		kv := f.Children[0].Children
		if kv[0].Field == nil || kv[1].Field == nil {
			return changed
		}
		read.Type = arrow.MapOfFields(*kv[0].Field, *kv[1].Field)
	case *arrow.StructType:
		if !changed || len(f.Children) != t.NumFields() {
			return changed
		}
		fields := make([]arrow.Field, len(f.Children))
		for i := range f.Children {
			var ok bool
			if fields[i], ok = child(i); !ok {
				return changed
			}
		}
		read.Type = arrow.StructOf(fields...)
	default:
		return changed
	}
	f.Field = &read
	return true
}

// segmentID is the segment id the file records (segmentIDKey), if any.
func (sf *segFile) segmentID() (string, bool) {
	if sf.nf != nil {
		id, ok := sf.nf.KeyValueMetadata()[segmentIDKey]
		return id, ok
	}
	if sf.pf != nil {
		if v := sf.pf.MetaData().KeyValueMetadata().FindValue(segmentIDKey); v != nil {
			return *v, true
		}
	}
	return "", false
}

func (sf *segFile) close() {
	if sf.pf != nil {
		sf.pf.Close()
	}
	sf.obj.Close()
}

// numRowGroups is the file's row-group count.
func (sf *segFile) numRowGroups() int {
	if sf.nf != nil {
		return sf.nf.NumRowGroups()
	}
	return sf.pf.NumRowGroups()
}

// rowGroupRows is the row count of row group rg.
func (sf *segFile) rowGroupRows(rg int) int64 {
	if sf.nf != nil {
		return sf.nf.RowGroupNumRows(rg)
	}
	return sf.pf.MetaData().RowGroup(rg).NumRows()
}

// narrowColumn returns the narrow reader's index of the stored column
// name, or -1 with the reason it must be read by pqarrow.
func (sf *segFile) narrowColumn(name string) (int, string) {
	if sf.nf == nil {
		return -1, sf.nfWhy
	}
	if !narrowReads {
		return -1, "narrow reader disabled"
	}
	i := sf.nf.ColumnIndex(name)
	if i < 0 {
		return -1, "no such column in the Parquet schema"
	}
	if sf.why[i] == nil {
		_, why := sf.nf.Supported(i)
		if idx := sf.sch.FieldIndices(name); why == "" && (len(idx) != 1 || !arrow.TypeEqual(sf.nf.Column(i).Type, sf.sch.Field(idx[0]).Type)) {
			// A file without ARROW:schema: the narrow reader derives types
			// from the Parquet schema; only where pqarrow agrees is it used.
			why = fmt.Sprintf("derived type %s differs from pqarrow's", sf.nf.Column(i).Type)
		}
		sf.why[i] = &why
	}
	if *sf.why[i] != "" {
		return -1, *sf.why[i]
	}
	return i, ""
}

// leaves returns the Parquet leaf column indices of the named top-level fields.
func (sf *segFile) leaves(names []string) ([]int, error) {
	if err := sf.openPqarrow(); err != nil {
		return nil, err
	}
	var out []int
	for _, n := range names {
		idx := sf.sch.FieldIndices(n)
		if len(idx) != 1 {
			return nil, kerr.New(kerr.Corruption, "segment %s has no column %q", sf.path, n)
		}
		var walk func(f *pqarrow.SchemaField)
		walk = func(f *pqarrow.SchemaField) {
			if f.IsLeaf() {
				out = append(out, f.ColIndex)
			}
			for i := range f.Children {
				walk(&f.Children[i])
			}
		}
		walk(&sf.fr.Manifest.Fields[idx[0]])
	}
	return out, nil
}

// reader streams the named columns of the given row groups (nil = all)
// through pqarrow in batches of batchRows; output columns come in the
// order of names.
func (sf *segFile) reader(ctx context.Context, names []string, rowGroups []int, batchRows int64) (*segReader, error) {
	if rowGroups != nil && len(rowGroups) == 0 {
		return &segReader{done: true}, nil
	}
	leaves, err := sf.leaves(names)
	if err != nil {
		return nil, err
	}
	sf.fr.Props.BatchSize = batchRows
	// No parallel decoding: pqarrow's column goroutines do not recover a
	// panic, and arrow-go's decoders panic on some damaged pages; read on
	// this goroutine, a panic is turned into Corruption (pqarrowSafe).
	// pqarrow reads only what the narrow reader does not, so its speed
	// matters little.
	sf.fr.Props.Parallel = false
	var rr pqarrow.RecordReader
	err = pqarrowSafe(sf.path, func() (err error) {
		rr, err = sf.fr.GetRecordReader(ctx, leaves, rowGroups)
		return err
	})
	if err != nil {
		return nil, kerr.Wrap(kerr.Corruption, err, "read segment %s", sf.path)
	}
	order := make([]int, len(names))
	for i, n := range names {
		idx := rr.Schema().FieldIndices(n)
		if len(idx) != 1 {
			rr.Release()
			return nil, kerr.New(kerr.Corruption, "segment %s: column %q not in reader schema", sf.path, n)
		}
		order[i] = idx[0]
	}
	fields := make([]arrow.Field, len(names))
	for i, o := range order {
		fields[i] = rr.Schema().Field(o)
	}
	return &segReader{rr: rr, order: order, schema: arrow.NewSchema(fields, nil), path: sf.path}, nil
}

// readRows reads rows [first, first+n) of row group rg of the named
// columns through pqarrow, copied into the store's allocator (pqarrow
// builds some types on the Go heap): the columns the narrow reader does
// not take, next to the ones it does.
func (sf *segFile) readRows(ctx context.Context, names []string, rg int, first, n int64) ([]arrow.Array, error) {
	rgRows := sf.rowGroupRows(rg)
	r, err := sf.reader(ctx, names, []int{rg}, max(rgRows, 1))
	if err != nil {
		return nil, err
	}
	defer r.close()
	out := make([]arrow.Array, len(names))
	fail := func(err error) ([]arrow.Array, error) {
		for _, a := range out {
			if a != nil {
				a.Release()
			}
		}
		return nil, err
	}
	parts := exec.NewRuns(nil, sf.mem)
	defer parts.Reset()
	var at int64 // rows of the row group before the current batch
	for {
		rec, err := r.next()
		if err != nil {
			return fail(err)
		}
		if rec == nil {
			break
		}
		lo, hi := max(first, at), min(first+n, at+rec.NumRows())
		if lo < hi {
			parts.Add(rec, lo-at, hi-at)
		}
		at += rec.NumRows()
		rec.Release()
	}
	if parts.Rows() != n {
		return fail(kerr.New(kerr.Corruption, "segment %s: row group %d: pqarrow read %d of rows [%d, %d)", sf.path, rg, parts.Rows(), first, first+n))
	}
	for c := range names {
		if n == 0 {
			out[c] = array.MakeArrayOfNull(sf.mem, r.schema.Field(c).Type, 0)
			continue
		}
		if out[c], err = parts.Column(c); err != nil {
			return fail(err)
		}
	}
	return out, nil
}

// segReader adapts a pqarrow record reader to a (RecordBatch, error) pull.
type segReader struct {
	rr     pqarrow.RecordReader
	order  []int
	schema *arrow.Schema
	path   string
	done   bool
}

// next returns the next batch (owned by the caller) or nil at the end.
func (r *segReader) next() (rec arrow.RecordBatch, err error) {
	if r.done {
		return nil, nil
	}
	var more bool
	if err := pqarrowSafe(r.path, func() error { more = r.rr.Next(); return nil }); err != nil {
		r.done = true
		return nil, err
	}
	if !more {
		r.done = true
		if err := r.rr.Err(); err != nil {
			if errors.Is(err, context.Canceled) {
				return nil, err
			}
			return nil, kerr.Wrap(kerr.Corruption, err, "read segment %s", r.path)
		}
		return nil, nil
	}
	rec = r.rr.RecordBatch()
	cols := make([]arrow.Array, len(r.order))
	for i, o := range r.order {
		cols[i] = rec.Column(o)
	}
	return array.NewRecordBatch(r.schema, cols, rec.NumRows()), nil
}

func (r *segReader) close() {
	if r.rr != nil {
		rr := r.rr
		r.rr = nil
		_ = pqarrowSafe(r.path, func() error { rr.Release(); return nil })
	}
	r.done = true
}

// pqarrowSafe runs fn, a call into pqarrow, turning a panic (arrow-go's
// decoders panic on some damaged pages) into a Corruption error naming the
// segment: a damaged file never takes the process down.
func pqarrowSafe(path string, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = kerr.New(kerr.Corruption, "read segment %s: damaged (pqarrow: %v)", path, r)
		}
	}()
	return fn()
}

// mayHoldTombstones reports whether the given row groups (nil: all) can
// hold a row with _deleted = true, by the column's Parquet statistics.
func (sf *segFile) mayHoldTombstones(rowGroups []int) bool {
	if sf.nf == nil {
		return true // no statistics without the footer: assume so
	}
	col := sf.nf.ColumnIndex(colDeleted)
	if col < 0 {
		return true
	}
	check := func(rg int) bool {
		st, ok := sf.nf.Statistics(rg, col)
		if !ok || !st.HasMinMax {
			return true
		}
		v, err := sf.nf.Column(col).StatValue(st.Max)
		b, isBool := v.(bool)
		return err != nil || !isBool || b
	}
	if rowGroups == nil {
		for rg := 0; rg < sf.nf.NumRowGroups(); rg++ {
			if check(rg) {
				return true
			}
		}
		return false
	}
	for _, rg := range rowGroups {
		if check(rg) {
			return true
		}
	}
	return false
}
