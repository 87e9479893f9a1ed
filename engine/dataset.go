package engine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/kalamdb/libkalam/engine/keyenc"
	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/manifest"
	"github.com/kalamdb/libkalam/storage"
)

// Exported datasets (DESIGN §11): a table version as Parquet files that a
// foreign engine reads by itself and gets exactly what a scan returns. A
// segment is handed out as it is when nothing else can hold its keys (no
// overlapping segment, no hot key in its range), it holds no tombstone and
// its columns carry the current names; everything else is merged by the
// scan pipeline into temporary files. The dataset pins the segments it
// hands out, so this process's vacuum leaves them, hands local ones out as
// hard links of its own (holdFile), and owns its temporary files and links
// until Close.

// DefaultDatasetFileRows is about how many rows one merged file holds.
const DefaultDatasetFileRows = 1 << 20

// datasetDir is where temporary dataset files live, under the store root.
const datasetDir = "tmp/datasets"

// DatasetRequest selects the version exported.
type DatasetRequest struct {
	AsOfVersion int64 // <= 0: the latest, with its hot rows
	AsOfTimeMs  int64 // > 0: the newest version committed at or before
	FileRows    int64 // rows per merged file; <= 0: DefaultDatasetFileRows
}

// DatasetFile is one Parquet file of a dataset.
type DatasetFile struct {
	Path string `json:"path"` // absolute local path, or s3://bucket/key of a segment on object storage
	Rows uint64 `json:"rows"` // rows it holds (a segment's rows are all live)
	// SegmentID names the segment handed out as it is; "" for a merged file.
	SegmentID string `json:"segment_id,omitempty"`
	// RowGroups, when set, are the only row groups of the segment that
	// belong to the dataset (the others' keys have newer versions, merged
	// into other files); nil: every row group.
	RowGroups []int `json:"row_groups,omitempty"`
	// KeyBounds, when set, bounds the first key column of every row of the
	// file ([min, max], both held): an engine given it as the fragment's
	// guarantee skips the file for a key filter without opening it.
	KeyBounds *KeyBounds `json:"key_bounds,omitempty"`
}

// KeyBounds are the least and greatest value of one column in a file.
type KeyBounds struct {
	Column string `json:"column"`
	Min    any    `json:"min"`
	Max    any    `json:"max"`
}

// segmentKeyBounds bounds the first key column of a segment from the
// manifest's encoded min/max keys: only for an integer or string column
// without nulls (nulls order first, so a non-null min says there are
// none), the values an engine compares exactly. nil otherwise.
func (p *plan) segmentKeyBounds(seg *manifest.SegmentMetadata) *KeyBounds {
	kcs := p.sv.keyColumns()
	if len(kcs) == 0 || kcs[0].Name == colSeq {
		return nil
	}
	kc := kcs[0]
	switch kc.Type.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64, arrow.STRING:
	default:
		return nil
	}
	mn, _, err1 := keyenc.DecodeValue(seg.MinKey, kc.Type)
	mx, _, err2 := keyenc.DecodeValue(seg.MaxKey, kc.Type)
	if err1 != nil || err2 != nil || mn == nil || mx == nil {
		return nil
	}
	if b, ok := mn.([]byte); ok {
		mn = string(b)
	}
	if b, ok := mx.([]byte); ok {
		mx = string(b)
	}
	return &KeyBounds{Column: kc.Name, Min: mn, Max: mx}
}

// Dataset is an exported table version. Close it once no engine reads it.
type Dataset struct {
	Table   string
	Version uint64 // the manifest version (hot rows included when latest)
	// Schema is the version's user schema: reading every file with it (as
	// pyarrow.dataset does, casting stored types to it) gives the scan's
	// rows. Files hold extra columns (_seq, _deleted, dropped columns)
	// that it leaves out, and may lack added ones (all null).
	Schema *arrow.Schema
	Files  []DatasetFile

	pin  *readState // the handed-out segments, without a snapshot
	st   *store
	dir  string   // temporary files ("" when none)
	lock *os.File // flock on dir/.lock while the dataset is open
	once sync.Once
}

var datasetSeq atomic.Uint64

// ExportDataset exports a version of table (DESIGN §11). Merged files are
// written under the store root (for a storage-only reader, the system's
// temporary directory). Segments on object storage are listed by their
// s3:// URI (the engine reads them with its own client).
func (db *DB) ExportDataset(table string, req DatasetRequest) (*Dataset, error) {
	exit, err := db.enter(false)
	if err != nil {
		return nil, err
	}
	defer exit()
	t, err := db.st.storedTable(table, "dataset")
	if err != nil {
		return nil, err
	}
	if req.FileRows <= 0 {
		req.FileRows = DefaultDatasetFileRows
	}
	return withOlderLayoutFallback(t, func() (*Dataset, error) { return db.exportDataset(t, req) })
}

// exportDataset is ExportDataset, failing when a column's values do not
// fit today's layout.
func (db *DB) exportDataset(t *table, req DatasetRequest) (*Dataset, error) {
	p, err := db.st.planScan(t, ScanRequest{Limit: -1, AsOfVersion: req.AsOfVersion, AsOfTimeMs: req.AsOfTimeMs})
	if err != nil {
		return nil, fmt.Errorf("dataset of %s: %w", t.qname, err)
	}
	defer p.close()
	d := &Dataset{Table: p.t.qname, Version: p.rs.man.Version, Schema: p.out, st: db.st,
		pin: &readState{t: p.t}}
	ok := false
	defer func() {
		if !ok {
			d.Close()
		}
	}()
	// Runs of clusters that need merging become merged files, in key order
	// with the segments handed out between them.
	var run [][]*planInput
	flushRun := func() error {
		if len(run) == 0 {
			return nil
		}
		files, err := d.writeMerged(p, run, req.FileRows)
		run = nil
		if err != nil {
			return err
		}
		d.Files = append(d.Files, files...)
		return nil
	}
	for _, cl := range p.clusters {
		path, as, err := p.asIs(cl)
		if err != nil {
			return nil, err
		}
		if !as {
			// A few hot keys in a segment's range: merge only the row
			// groups they may fall in, not the whole segment.
			path, rgs, rows, rest, split, err := p.splitHotRowGroups(cl)
			if err != nil {
				return nil, err
			}
			if !split {
				run = append(run, cl)
				continue
			}
			seg := cl[0].seg
			if seg == nil {
				seg = cl[1].seg
			}
			if !p.t.pinIfKept(d.pin, seg.ID) {
				return nil, db.st.versionNotFound(p.t, d.Version)
			}
			if path, err = d.holdFile(path, seg.ID); err != nil {
				return nil, err
			}
			d.Files = append(d.Files, DatasetFile{Path: path, Rows: rows, SegmentID: seg.ID, RowGroups: rgs,
				KeyBounds: p.segmentKeyBounds(seg)})
			run = append(run, rest)
			continue
		}
		if err := flushRun(); err != nil {
			return nil, err
		}
		if !p.t.pinIfKept(d.pin, cl[0].seg.ID) {
			return nil, db.st.versionNotFound(p.t, d.Version)
		}
		if path, err = d.holdFile(path, cl[0].seg.ID); err != nil {
			return nil, err
		}
		d.Files = append(d.Files, DatasetFile{Path: path, Rows: cl[0].seg.RowCount, SegmentID: cl[0].seg.ID,
			KeyBounds: p.segmentKeyBounds(cl[0].seg)})
	}
	if err := flushRun(); err != nil {
		return nil, err
	}
	ok = true
	return d, nil
}

// asIs reports whether a cluster is one segment an engine may read as it
// is, and the segment's local path.
func (p *plan) asIs(cl []*planInput) (string, bool, error) {
	if len(cl) != 1 || cl[0].seg == nil || keyChecked(cl) {
		return "", false, nil
	}
	return p.segmentAsIs(cl[0])
}

// segmentAsIs reports whether an engine reading the segment of in by
// itself gets the rows a scan would take from it, and where it reads it
// (a local path, or an s3:// URI on object storage): no tombstone, every
// column under its current name with a type readers cast to the current
// one. A storage-only reader merges every part: it pins nothing, so only
// its own copies stay readable for as long as the dataset is open.
func (p *plan) segmentAsIs(in *planInput) (string, bool, error) {
	if p.st.remote {
		return "", false, nil
	}
	var locate func(string) (string, error)
	switch s := rawStorage(p.st.storage).(type) {
	case *storage.LocalStorage:
		locate = s.LocalPath
	case *storage.S3Storage:
		locate = s.ObjectURI
	default:
		return "", false, nil
	}
	if in.file == nil {
		sf, err := p.st.openSegment(p.t, in.seg)
		if err != nil {
			return "", false, err
		}
		in.file = sf // the plan closes it
	}
	if in.file.mayHoldTombstones(nil) {
		return "", false, nil
	}
	cols := p.t.segmentColumns(in.file, in.seg)
	for i, f := range p.sv.schema.Fields() {
		name := cols[p.sv.fids[i]]
		if name != f.Name {
			return "", false, nil // renamed since, or added (which a reader fills with nulls, but a name may be reused)
		}
		idx := in.file.sch.FieldIndices(name)
		if len(idx) != 1 {
			return "", false, nil
		}
		stored := in.file.sch.Field(idx[0]).Type
		// Not a column of an older layout that engines read as another
		// type (storagetype.go): merged, the file has today's layout.
		if !arrow.TypeEqual(stored, f.Type) && !readsAsHinted(stored, f.Type) && !canWiden(stored, f.Type) {
			return "", false, nil
		}
	}
	path, err := locate(p.t.prefix + "/" + in.seg.Path)
	if err != nil {
		return "", false, err
	}
	return path, true, nil
}

// splitHotRowGroups splits a cluster of one segment and the hot keys placed
// in its range: the row groups none of those keys can fall in (by the
// statistics of the key's first column) are read as they are, listed in
// clean; the rest of the segment and the hot rows form the cluster rest,
// to merge. Exact because a segment holds one version per key, sorted, so
// the clean row groups' keys are newest everywhere and meet no key of rest.
// ok is false when the cluster has another shape, the segment cannot be
// read as it is, or no row group is clean.
func (p *plan) splitHotRowGroups(cl []*planInput) (path string, clean []int, cleanRows uint64, rest []*planInput, ok bool, err error) {
	if len(cl) != 2 || keyChecked(cl) {
		return "", nil, 0, nil, false, nil
	}
	seg, hot := cl[0], cl[1]
	if seg.seg == nil {
		seg, hot = hot, seg
	}
	if seg.seg == nil || hot.seg != nil || len(hot.hotKeys) == 0 {
		return "", nil, 0, nil, false, nil
	}
	if path, ok, err = p.segmentAsIs(seg); !ok || err != nil {
		return "", nil, 0, nil, false, err
	}
	key := p.sv.keyColumns()[0]
	stored, existed := p.segmentName(seg.seg, key.Name)
	if !existed || key.Type.ID() == arrow.FLOAT32 || key.Type.ID() == arrow.FLOAT64 {
		// Parquet float statistics leave NaN out, which keys order last.
		return "", nil, 0, nil, false, nil
	}
	sf := seg.file
	var dirty []int
	for rg := 0; rg < sf.numRowGroups(); rg++ {
		if p.rowGroupMayHold(sf, rg, stored, key, hot.hotKeys) {
			dirty = append(dirty, rg)
		} else {
			clean = append(clean, rg)
			cleanRows += uint64(sf.rowGroupRows(rg))
		}
	}
	if len(clean) == 0 {
		return "", nil, 0, nil, false, nil
	}
	if len(dirty) > 0 {
		// The new input opens the file again when its source starts: the
		// plan keeps closing seg's, whatever happens before that.
		in := *seg
		in.rowGroups, in.pageRanges, in.file = dirty, nil, nil
		rest = append(rest, &in)
	}
	return path, clean, cleanRows, append(rest, hot), true, nil
}

// rowGroupMayHold reports whether row group rg may hold one of keys
// (sorted, encoded): whether a key's first column, stored as stored, may
// fall inside the group's min/max statistics of that column. Without
// usable statistics it may.
func (p *plan) rowGroupMayHold(sf *segFile, rg int, stored string, key arrow.Field, keys [][]byte) bool {
	cs, ok := p.rowGroupStats(sf, rg, stored, key.Name)
	if !ok || !cs.HasMinMax || !cs.HasNullCount {
		return true
	}
	lo, err := keyenc.AppendGo(nil, key.Type, cs.Min)
	if err != nil {
		return true
	}
	if cs.NullCount > 0 {
		lo = keyenc.AppendNull(nil) // nulls order first
	}
	mx, err := keyenc.AppendGo(nil, key.Type, cs.Max)
	if err != nil {
		return true
	}
	// Keys are prefix-free and order-preserving: a key's first column is
	// within [min, max] exactly when the key is within [lo, PrefixEnd(max)).
	hi := keyenc.PrefixEnd(mx)
	i := sort.Search(len(keys), func(i int) bool { return bytes.Compare(keys[i], lo) >= 0 })
	return i < len(keys) && (hi == nil || bytes.Compare(keys[i], hi) < 0)
}

// writeMerged runs the scan pipeline over clusters and writes its rows to
// merged files of about fileRows rows.
func (d *Dataset) writeMerged(p *plan, clusters [][]*planInput, fileRows int64) ([]DatasetFile, error) {
	if err := d.makeDir(); err != nil {
		return nil, err
	}
	src := p.pipelineOf(clusters, p.out, 64*1024)
	defer src.Close()
	var out []DatasetFile
	var w *mergedWriter
	finish := func() error {
		if w == nil {
			return nil
		}
		f, err := w.finish()
		w = nil
		if err != nil {
			return err
		}
		if f.Rows > 0 {
			out = append(out, f)
		} else {
			os.Remove(f.Path)
		}
		return nil
	}
	for {
		rec, err := src.Next()
		if err != nil {
			if w != nil {
				w.abort()
			}
			return nil, fmt.Errorf("dataset of %s: merge: %w", d.Table, err)
		}
		if rec == nil {
			break
		}
		if w == nil {
			name := filepath.Join(d.dir, fmt.Sprintf("part_%06d.parquet", len(d.Files)+len(out)))
			if w, err = newMergedWriter(name, p.out, p.st, p.t); err != nil {
				rec.Release()
				return nil, err
			}
		}
		err = w.write(rec)
		rec.Release()
		if err != nil {
			w.abort()
			return nil, err
		}
		if w.rows >= fileRows {
			if err := finish(); err != nil {
				return nil, err
			}
		}
	}
	if err := finish(); err != nil {
		return nil, err
	}
	return out, nil
}

// mergedWriter writes one merged file in the stored layout of the types
// (what a segment holds; readers cast back to the dataset's schema).
type mergedWriter struct {
	path   string
	f      *os.File
	w      *pqarrow.FileWriter
	stored *arrow.Schema
	mem    memory.Allocator
	rows   int64
}

func newMergedWriter(path string, schema *arrow.Schema, st *store, t *table) (*mergedWriter, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, kerr.Wrap(kerr.IO, err, "create %s", path)
	}
	props := parquet.NewWriterProperties(
		// Written once, read by an engine soon after: cheap to compress,
		// and no dictionaries. arrow-go hashes every value into one until
		// the dictionary outgrows its page and then falls back to plain:
		// on 10 M rows with 100 hot upserts (8 M rows merged) making the
		// dataset took 10.3 s with them and 2.3 s without, its files were
		// 224 MB instead of 160, and DuckDB's queries over it were slower.
		parquet.WithCompression(compress.Codecs.Lz4Raw),
		parquet.WithAllocator(st.mem),
		parquet.WithMaxRowGroupLength(128*1024),
		parquet.WithDictionaryDefault(false),
		parquet.WithStats(true),
		parquet.WithCreatedBy("libkalam dataset"))
	stored := storageSchema(schema, olderLayoutOf(t))
	w, err := pqarrow.NewFileWriter(stored, f, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(st.mem)))
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, kerr.Wrap(kerr.Internal, err, "parquet writer for %s", path)
	}
	return &mergedWriter{path: path, f: f, w: w, stored: stored, mem: st.mem}, nil
}

func (m *mergedWriter) write(rec arrow.RecordBatch) error {
	r, err := toStorage(rec, m.stored, m.mem)
	if err != nil {
		return err
	}
	defer r.Release()
	if err := m.w.WriteBuffered(r); err != nil {
		return kerr.Wrap(kerr.CodeOfOr(err, kerr.IO), err, "write %s", m.path)
	}
	m.rows += r.NumRows()
	return nil
}

func (m *mergedWriter) finish() (DatasetFile, error) {
	err := m.w.Close() // closes the file too
	if err != nil {
		os.Remove(m.path)
		return DatasetFile{}, kerr.Wrap(kerr.CodeOfOr(err, kerr.IO), err, "write %s", m.path)
	}
	return DatasetFile{Path: m.path, Rows: uint64(m.rows)}, nil
}

func (m *mergedWriter) abort() {
	m.w.Close()
	os.Remove(m.path)
}

// holdFile returns the path the dataset hands out for the local segment
// file at path: a hard link to it in the dataset's directory, so that the
// engine reading it gets this file whatever happens under the segment's
// name meanwhile — the pin keeps vacuum away, but dropping the table
// removes the file and re-creating it writes another segment_001 in its
// place, which an engine given the segment's own path read as this
// version's rows. Where no link can be made (no writable directory for
// the dataset, another file system, object storage) the segment's own
// path: the dataset still reads right unless the table is re-created.
func (d *Dataset) holdFile(path, segID string) (string, error) {
	if strings.HasPrefix(path, "s3://") {
		return path, nil
	}
	if err := d.makeDir(); err != nil {
		return path, nil
	}
	link := filepath.Join(d.dir, "segment-"+segID+".parquet")
	if err := os.Link(path, link); err != nil {
		return path, nil
	}
	return link, nil
}

// makeDir creates the dataset's directory of temporary files and locks it:
// the lock says the files are in use, and dies with the process, so a
// later open can tell what a crashed process left (sweepDatasets).
func (d *Dataset) makeDir() error {
	if d.dir != "" {
		return nil
	}
	parent := datasetParent(d.st)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return kerr.Wrap(kerr.IO, err, "dataset of %s: create %s", d.Table, parent)
	}
	dir, err := os.MkdirTemp(parent, strconv.Itoa(os.Getpid())+"-"+strconv.FormatUint(datasetSeq.Add(1), 10)+"-")
	if err != nil {
		return kerr.Wrap(kerr.IO, err, "dataset of %s: create a directory under %s", d.Table, parent)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err == nil {
		err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != nil {
			lock.Close()
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return kerr.Wrap(kerr.IO, err, "dataset of %s: lock %s", d.Table, dir)
	}
	d.dir, d.lock = dir, lock
	return nil
}

// datasetParent is the directory of st's dataset directories: under the
// store root of a store with one, under the machine's temporary directory
// for a storage-only reader — whose root names its storage (an s3:// URI
// or the writer's storage directory), never a place for its files.
func datasetParent(st *store) string {
	if st.root != "" && !st.remote {
		return filepath.Join(st.root, datasetDir)
	}
	return filepath.Join(os.TempDir(), "kalam", datasetDir)
}

// Close unpins the segments and removes the temporary files; safe more
// than once and after the store closed.
func (d *Dataset) Close() error {
	var err error
	d.once.Do(func() {
		d.pin.release(d.st)
		if d.dir != "" {
			if e := os.RemoveAll(d.dir); e != nil {
				err = kerr.Wrap(kerr.IO, e, "dataset of %s: remove %s", d.Table, d.dir)
			}
			d.lock.Close()
		}
	})
	return err
}

// Dir is the directory of the dataset's temporary files ("" when none).
func (d *Dataset) Dir() string { return d.dir }

// sweepDatasets removes the dataset directories in parent whose process
// is gone (their lock is free). Errors are ignored: the sweep only
// reclaims space, and a directory it cannot remove now it tries next time.
func sweepDatasets(parent string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range entries {
		dir := filepath.Join(parent, e.Name())
		lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR, 0)
		if err != nil {
			// A process that died between creating the directory and its
			// lock; a young one may be a live process in between.
			if fi, serr := os.Stat(dir); errors.Is(err, os.ErrNotExist) && serr == nil && time.Since(fi.ModTime()) > time.Minute {
				os.RemoveAll(dir)
			}
			continue
		}
		if syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			os.RemoveAll(dir)
		}
		lock.Close()
	}
}
