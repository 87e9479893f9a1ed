package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/storage"
)

// Exported datasets (DESIGN §11): a table version as Parquet files that a
// foreign engine reads by itself and gets exactly what a scan returns. A
// segment is handed out as it is when nothing else can hold its keys (no
// overlapping segment, no hot key in its range), it holds no tombstone and
// its columns carry the current names; everything else is merged by the
// scan pipeline into temporary files. The dataset pins the segments it
// hands out, so this process's vacuum leaves them, and owns its temporary
// files until Close.

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
	Path string `json:"path"` // absolute local path
	Rows uint64 `json:"rows"` // rows it holds (a segment's rows are all live)
	// SegmentID names the segment handed out as it is; "" for a merged file.
	SegmentID string `json:"segment_id,omitempty"`
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
// temporary directory); on an object-storage backend every part is merged,
// since the engines read local files.
func (db *DB) ExportDataset(table string, req DatasetRequest) (*Dataset, error) {
	exit, err := db.enter(false)
	if err != nil {
		return nil, err
	}
	defer exit()
	if _, ok := lookupSystemTable(table); ok {
		return nil, kerr.New(kerr.InvalidArgument, "dataset of %q: system tables are computed, not stored", table)
	}
	t, err := db.st.lookupTable(table)
	if err != nil {
		return nil, err
	}
	if req.FileRows <= 0 {
		req.FileRows = DefaultDatasetFileRows
	}
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
			run = append(run, cl)
			continue
		}
		if err := flushRun(); err != nil {
			return nil, err
		}
		if !p.t.pinIfKept(d.pin, cl[0].seg.ID) {
			return nil, db.st.versionNotFound(p.t, d.Version)
		}
		d.Files = append(d.Files, DatasetFile{Path: path, Rows: cl[0].seg.RowCount, SegmentID: cl[0].seg.ID})
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
	if len(cl) != 1 || cl[0].seg == nil || p.rowBounds {
		return "", false, nil
	}
	local, ok := p.st.storage.(*storage.LocalStorage)
	if !ok || p.st.remote {
		return "", false, nil
	}
	in := cl[0]
	if in.file == nil {
		sf, err := p.st.openSegment(p.t, in.seg.Path)
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
		if !arrow.TypeEqual(stored, f.Type) && !arrow.TypeEqual(stored, storageType(f.Type)) && !canWiden(stored, f.Type) {
			return "", false, nil
		}
	}
	path, err := local.LocalPath(p.t.prefix + "/" + in.seg.Path)
	if err != nil {
		return "", false, err
	}
	return path, true, nil
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
			if w, err = newMergedWriter(name, p.out, p.st); err != nil {
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
	rows   int64
}

func newMergedWriter(path string, schema *arrow.Schema, st *store) (*mergedWriter, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, kerr.Wrap(kerr.IO, err, "create %s", path)
	}
	props := parquet.NewWriterProperties(
		// Written once, read by an engine soon after: cheap to compress.
		parquet.WithCompression(compress.Codecs.Lz4Raw),
		parquet.WithAllocator(st.mem),
		parquet.WithMaxRowGroupLength(128*1024),
		parquet.WithStats(true),
		parquet.WithCreatedBy("libkalam dataset"))
	stored := storageSchema(schema)
	w, err := pqarrow.NewFileWriter(stored, f, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(st.mem)))
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, kerr.Wrap(kerr.Internal, err, "parquet writer for %s", path)
	}
	return &mergedWriter{path: path, f: f, w: w, stored: stored}, nil
}

func (m *mergedWriter) write(rec arrow.RecordBatch) error {
	r := retypeRecord(rec, m.stored)
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

// makeDir creates the dataset's directory of temporary files and locks it:
// the lock says the files are in use, and dies with the process, so a
// later open can tell what a crashed process left (sweepDatasets).
func (d *Dataset) makeDir() error {
	if d.dir != "" {
		return nil
	}
	base := os.TempDir()
	if d.st.root != "" {
		base = d.st.root
	}
	parent := filepath.Join(base, datasetDir)
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

// sweepDatasets removes the dataset directories under root whose process
// is gone (their lock is free). Errors are ignored: the sweep only
// reclaims space, and a directory it cannot remove now it tries next time.
func sweepDatasets(root string) {
	parent := filepath.Join(root, datasetDir)
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
