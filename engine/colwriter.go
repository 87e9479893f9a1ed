package engine

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/kalamdb/libkalam/kerr"
)

// columnWriter writes a segment of flat columns (no lists, structs or
// maps) with the columns of each batch encoded and compressed on several
// goroutines at once. pqarrow's FileWriter encodes them one after another:
// a flush from memory spent nearly all its time on one core there, most of
// it in Parquet encoding and zstd (docs/DESIGN-NOTES.md "Flush from
// memory").
//
// It produces the file pqarrow's FileWriter does, byte for byte
// (TestColumnWriterMatchesPqarrow): the same schema conversion and stored
// Arrow schema, and buffered row groups, whose column chunks are kept in
// memory until the row group is closed and then written out in column
// order. Each column of a buffered row group has its own encoder, pager and
// statistics, so different columns may be written concurrently; the row
// group and the file are only touched between batches.
type columnWriter struct {
	w        *file.Writer
	rgw      file.BufferedRowGroupWriter // the open row group (nil: none yet)
	arrProps pqarrow.ArrowWriterProperties
	ctxs     []context.Context // one pqarrow write context per column
	levels   [][]int16         // per column: definition levels scratch
	dicts    []*stringDict     // per column of the open row group: its dictionary (nil: none)
	indexed  []int             // per column: chunks its dictionaries wrote as indices
	cost     []time.Duration   // per column: how long its last write took
	order    []int             // columns by descending cost, the order write hands them out
	workers  int
}

// flatSchema reports whether every field of s is a single Parquet leaf
// that columnWriter writes (the others go through pqarrow's writer).
func flatSchema(s *arrow.Schema) bool {
	for _, f := range s.Fields() {
		if _, nested := f.Type.(arrow.NestedType); nested || f.Type.ID() == arrow.DICTIONARY || f.Type.ID() == arrow.EXTENSION {
			return false
		}
	}
	return true
}

// newColumnWriter starts a file of schema s (flatSchema) on out.
func newColumnWriter(s *arrow.Schema, out io.Writer, props *parquet.WriterProperties, arrProps pqarrow.ArrowWriterProperties) (*columnWriter, error) {
	pqs, err := pqarrow.ToParquet(s, props, arrProps)
	if err != nil {
		return nil, err
	}
	meta := make(metadata.KeyValueMetadata, 0)
	for i, k := range s.Metadata().Keys() {
		meta.Append(k, s.Metadata().Values()[i])
	}
	w, err := file.NewParquetWriterWithError(out, pqs.Root(), file.WithWriterProps(props), file.WithWriteMetadata(meta))
	if err != nil {
		return nil, err
	}
	n := s.NumFields()
	cw := &columnWriter{w: w, arrProps: arrProps, ctxs: make([]context.Context, n), levels: make([][]int16, n),
		dicts: make([]*stringDict, n), indexed: make([]int, n), cost: make([]time.Duration, n), order: make([]int, n),
		workers: max(1, min(n, runtime.GOMAXPROCS(0)))}
	for i := range cw.order {
		cw.order[i] = i
	}
	for i := range cw.ctxs {
		cw.ctxs[i] = pqarrow.NewArrowWriteContext(context.Background(), &cw.arrProps)
	}
	return cw, nil
}

// newRowGroup closes the open row group (writing it out) and opens the next.
func (cw *columnWriter) newRowGroup() error {
	if cw.rgw != nil {
		if err := cw.rgw.Close(); err != nil {
			return err
		}
	}
	rgw, err := cw.w.AppendBufferedRowGroupChecked()
	if err != nil {
		return err
	}
	cw.rgw = rgw
	// Each column chunk starts a dictionary of its own.
	for c := range cw.dicts {
		ch, err := rgw.Column(c)
		if err != nil {
			return err
		}
		cw.dicts[c] = newStringDict(ch, &cw.indexed[c])
	}
	return nil
}

// write adds the rows of rec (the file's schema) to the open row group, its
// columns on up to cw.workers goroutines. also (if not nil) runs for each
// column after it is written, on the goroutine that wrote it.
func (cw *columnWriter) write(rec arrow.RecordBatch, also func(c int)) error {
	if cw.rgw == nil {
		if err := cw.newRowGroup(); err != nil {
			return err
		}
	}
	ncols := int(rec.NumCols())
	// Longest first (by each column's previous batch): the batch ends
	// when its last column does, and with the columns in schema order the
	// two workers of a flush of the bench's table finished 10 % apart.
	next := make(chan int, ncols)
	for _, c := range cw.order {
		next <- c
	}
	close(next)
	errs := make([]error, ncols)
	var wg sync.WaitGroup
	for range min(cw.workers, ncols) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				start := time.Now()
				errs[c] = cw.writeColumn(rec, c, also)
				cw.cost[c] = time.Since(start)
			}
		}()
	}
	wg.Wait()
	slices.SortStableFunc(cw.order, func(a, b int) int { return cmp.Compare(cw.cost[b], cw.cost[a]) })
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// writeColumn writes column c of rec to its chunk of the open row group,
// then runs also(c). A panic in either becomes an error: they run on a
// goroutine of their own, where the C API could not turn it into one.
func (cw *columnWriter) writeColumn(rec arrow.RecordBatch, c int, also func(int)) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = kerr.New(kerr.Internal, "encode column %q: %v", rec.Schema().Field(c).Name, r)
		}
	}()
	ch, err := cw.rgw.Column(c)
	if err != nil {
		return err
	}
	arr := rec.Column(c)
	var defs []int16
	if ch.LevelInfo().DefLevel > 0 {
		// A flat nullable column: level 1 for a value, 0 for a null.
		n := arr.Len()
		if cap(cw.levels[c]) < n {
			cw.levels[c] = make([]int16, n)
		}
		defs = cw.levels[c][:n]
		for i := range defs {
			defs[i] = 1
		}
		if arr.NullN() > 0 {
			for i := range defs {
				if arr.IsNull(i) {
					defs[i] = 0
				}
			}
		}
	}
	nullable := rec.Schema().Field(c).Nullable
	if d := cw.dicts[c]; d != nil {
		err = d.write(cw.ctxs[c], ch, arr, defs, nullable)
	} else {
		err = pqarrow.WriteArrowToColumn(cw.ctxs[c], ch, arr, defs, nil, nullable)
	}
	if err != nil {
		return fmt.Errorf("column %q: %w", rec.Schema().Field(c).Name, err)
	}
	if also != nil {
		also(c)
	}
	return nil
}

// close writes the open row group and the footer.
func (cw *columnWriter) close() error {
	if cw.rgw != nil {
		if err := cw.rgw.Close(); err != nil {
			cw.w.Close()
			return err
		}
		cw.rgw = nil
	}
	return cw.w.Close()
}
