package engine

import (
	"context"
	"errors"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

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
	st     *store
	t      *table
	sv     *schemaView
	name   string // storage object name
	rel    string // table-relative path, as the manifest holds it
	out    storage.Writer
	w      *pqarrow.FileWriter // created by the first write (see open)
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
		stats: newStatsCollector(schema), stored: storageSchema(schema)}
	sw.meta.Path = rel
	return sw, nil
}

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
	// pqarrow closes an io.Closer it writes to; the object is committed
	// separately.
	w, err := pqarrow.NewFileWriter(sw.stored, struct{ io.Writer }{sw.out}, props, pqarrow.NewArrowWriterProperties(
		pqarrow.WithStoreSchema(), pqarrow.WithAllocator(sw.st.mem)))
	if err != nil {
		return kerr.Wrap(kerr.Internal, err, "parquet writer for %s", sw.name)
	}
	sw.w = w
	return nil
}

// write appends a record (segment schema) whose rows are in key order and
// follow every row written before; keys are the rows' encoded keys.
func (sw *segWriter) write(rec arrow.RecordBatch, keys [][]byte, seqs []int64) error {
	n := rec.NumRows()
	if n == 0 {
		return nil
	}
	if sw.meta.RowCount == 0 {
		sw.meta.MinKey = append([]byte{}, keys[0]...)
		sw.meta.MinSeq = seqs[0]
		sw.meta.MaxSeq = seqs[0]
	}
	sw.meta.MaxKey = append(sw.meta.MaxKey[:0], keys[len(keys)-1]...)
	for _, s := range seqs {
		if s < sw.meta.MinSeq {
			sw.meta.MinSeq = s
		}
		if s > sw.meta.MaxSeq {
			sw.meta.MaxSeq = s
		}
	}
	sw.meta.RowCount += uint64(n)
	sw.stats.add(rec)
	rec = retypeRecord(rec, sw.stored)
	defer rec.Release()
	if sw.w == nil {
		if err := sw.open(rec); err != nil {
			return err
		}
	}
	var off int64
	for off < n {
		room := sw.rgRows - sw.inRG
		if room <= 0 {
			sw.w.NewBufferedRowGroup()
			sw.inRG = 0
			room = sw.rgRows
		}
		take := min(room, n-off)
		part := rec
		if off != 0 || take != n {
			part = rec.NewSlice(off, off+take)
		}
		err := sw.w.WriteBuffered(part)
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
	if sw.w == nil {
		if err := sw.open(nil); err != nil {
			sw.abort()
			return nil, err
		}
	}
	if err := sw.w.Close(); err != nil {
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
	if sw.w != nil {
		sw.w.Close()
	}
	sw.out.Abort()
}

// discard removes a committed segment whose manifest commit failed (open
// would remove the orphan too).
func (sw *segWriter) discard() {
	_ = sw.st.storage.Remove(context.Background(), sw.name)
}

// segFile is an open segment for reading.
type segFile struct {
	path string // storage object name, for messages
	obj  storage.Reader
	pf   *file.Reader
	fr   *pqarrow.FileReader
	sch  *arrow.Schema
}

// openSegment opens the segment at the table-relative path rel.
func (st *store) openSegment(t *table, rel string) (*segFile, error) {
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

// readSegment reads the footer and stored schema of a segment object.
func readSegment(name string, obj storage.Reader, mem memory.Allocator) (*segFile, error) {
	props := parquet.NewReaderProperties(mem)
	props.BufferedStreamEnabled = true
	props.BufferSize = 1 << 20
	pf, err := file.NewParquetReader(io.NewSectionReader(obj, 0, obj.Size()), file.WithReadProps(props))
	if err != nil {
		return nil, kerr.Wrap(kerr.Corruption, err, "open segment %s", name)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 64 * 1024, Parallel: true}, mem)
	if err != nil {
		pf.Close()
		return nil, kerr.Wrap(kerr.Corruption, err, "read segment schema %s", name)
	}
	sch, err := fr.Schema()
	if err != nil {
		pf.Close()
		return nil, kerr.Wrap(kerr.Corruption, err, "read segment schema %s", name)
	}
	return &segFile{path: name, obj: obj, pf: pf, fr: fr, sch: sch}, nil
}

func (sf *segFile) close() {
	sf.pf.Close()
	sf.obj.Close()
}

// leaves returns the Parquet leaf column indices of the named top-level fields.
func (sf *segFile) leaves(names []string) ([]int, error) {
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

// reader streams the named columns of the given row groups (nil = all) in
// batches of batchRows; output columns come in the order of names.
func (sf *segFile) reader(ctx context.Context, names []string, rowGroups []int, batchRows int64) (*segReader, error) {
	if rowGroups != nil && len(rowGroups) == 0 {
		return &segReader{done: true}, nil
	}
	leaves, err := sf.leaves(names)
	if err != nil {
		return nil, err
	}
	sf.fr.Props.BatchSize = batchRows
	// Parallel decoding starts a goroutine per column for every batch: worth
	// it for large batches, a fixed cost that dominates small ones.
	sf.fr.Props.Parallel = batchRows >= 8192 && len(names) > 1
	rr, err := sf.fr.GetRecordReader(ctx, leaves, rowGroups)
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

// segReader adapts a pqarrow record reader to a (RecordBatch, error) pull.
type segReader struct {
	rr     pqarrow.RecordReader
	order  []int
	schema *arrow.Schema
	path   string
	done   bool
}

// next returns the next batch (owned by the caller) or nil at the end.
func (r *segReader) next() (arrow.RecordBatch, error) {
	if r.done {
		return nil, nil
	}
	if !r.rr.Next() {
		r.done = true
		if err := r.rr.Err(); err != nil {
			if errors.Is(err, context.Canceled) {
				return nil, err
			}
			return nil, kerr.Wrap(kerr.Corruption, err, "read segment %s", r.path)
		}
		return nil, nil
	}
	rec := r.rr.RecordBatch()
	cols := make([]arrow.Array, len(r.order))
	for i, o := range r.order {
		cols[i] = rec.Column(o)
	}
	return array.NewRecordBatch(r.schema, cols, rec.NumRows()), nil
}

func (r *segReader) close() {
	if r.rr != nil {
		r.rr.Release()
		r.rr = nil
	}
	r.done = true
}

// mayHoldTombstones reports whether the given row groups (nil: all) can
// hold a row with _deleted = true, by the column's Parquet statistics.
func (sf *segFile) mayHoldTombstones(rowGroups []int) bool {
	leaves, err := sf.leaves([]string{colDeleted})
	if err != nil || len(leaves) != 1 {
		return true
	}
	md := sf.pf.MetaData()
	check := func(rg int) bool {
		cc, err := md.RowGroup(rg).ColumnChunk(leaves[0])
		if err != nil {
			return true
		}
		st, err := cc.Statistics()
		if err != nil || st == nil || !st.HasMinMax() {
			return true
		}
		bs, ok := st.(*metadata.BooleanStatistics)
		return !ok || bs.Max()
	}
	if rowGroups == nil {
		for rg := 0; rg < md.NumRowGroups(); rg++ {
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
