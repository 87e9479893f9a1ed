package segment

import (
	"bytes"
	"cmp"
	"errors"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// PageInfo describes one data page of a column chunk, from the Parquet
// page index.
type PageInfo struct {
	// FirstRow and NumRows locate the page in its row group.
	FirstRow, NumRows int64
	// Min and Max bound the page's non-null values (PLAIN-encoded, decode
	// with ColumnInfo.StatValue); valid when HasMinMax. A page of nulls
	// only has AllNull set and no bounds.
	Min, Max  []byte
	HasMinMax bool
	AllNull   bool
	// NullCount is valid when HasNullCount.
	NullCount    int64
	HasNullCount bool
}

type columnIndex struct {
	nullPages []bool
	mins      [][]byte
	maxs      [][]byte
	nulls     []int64
}

func parseColumnIndex(b []byte) (*columnIndex, error) {
	r := &tReader{b: b}
	ci := &columnIndex{}
	err := r.readStruct(func(id int16, typ byte) error {
		switch id {
		case 1:
			n, err := r.fList(id, typ, tTrue)
			if err != nil {
				return err
			}
			ci.nullPages = make([]bool, n)
			for i := range ci.nullPages {
				if ci.nullPages[i], err = r.listBool(); err != nil {
					return err
				}
			}
		case 2, 3:
			n, err := r.fList(id, typ, tBinary)
			if err != nil {
				return err
			}
			vals := make([][]byte, n)
			for i := range vals {
				if vals[i], err = r.binary(); err != nil {
					return err
				}
			}
			if id == 2 {
				ci.mins = vals
			} else {
				ci.maxs = vals
			}
		case 5:
			n, err := r.fList(id, typ, tI64)
			if err != nil {
				return err
			}
			ci.nulls = make([]int64, n)
			for i := range ci.nulls {
				if ci.nulls[i], err = r.varint(); err != nil {
					return err
				}
			}
		default:
			return r.skip(typ)
		}
		return nil
	})
	return ci, err
}

// PageIndex returns the data pages of column col in row group rg as the
// Parquet page index describes them (OffsetIndex for rows, ColumnIndex for
// bounds), and false when the chunk has no OffsetIndex. A key-range scan
// uses it to decode only the pages of the key column that can hold its
// keys, then reads that row range of the other columns (ReadColumnRows).
func (f *File) PageIndex(rg, col int) ([]PageInfo, bool, error) {
	if !f.HasPageIndex(rg, col) {
		return nil, false, nil
	}
	c := &chunkReader{f: f, rg: rg, col: col, cc: f.chunk(rg, col), plan: &f.plans[col], rgRows: f.meta.rowGroups[rg].numRows}
	defer c.mem.release()
	locs, err := c.offsetIndex()
	if err != nil {
		return nil, false, err
	}
	pages := make([]PageInfo, len(locs))
	for i, l := range locs {
		end := c.rgRows
		if i+1 < len(locs) {
			end = locs[i+1].firstRow
		}
		pages[i] = PageInfo{FirstRow: l.firstRow, NumRows: end - l.firstRow}
	}
	cc := c.cc
	if !cc.hasColumnIndex || cc.columnIndexLength <= 0 || f.nested(col) {
		return pages, true, nil // page bounds only (see Statistics)
	}
	b, err := c.readAt(cc.columnIndexOffset, int64(cc.columnIndexLength))
	if err != nil {
		return nil, false, err
	}
	ci, err := parseColumnIndex(b)
	if err != nil {
		return nil, false, c.corrupt("column index: %v", err)
	}
	n := len(pages)
	if len(ci.nullPages) != n || len(ci.mins) != n || len(ci.maxs) != n || (ci.nulls != nil && len(ci.nulls) != n) {
		return nil, false, c.corrupt("column index describes %d pages, the offset index %d", len(ci.mins), n)
	}
	for i := range pages {
		p := &pages[i]
		p.AllNull = ci.nullPages[i]
		if !p.AllNull {
			if err := boundsInOrder(f.cols[col], ci.mins[i], ci.maxs[i]); err != nil {
				return nil, false, c.corrupt("column index of page %d (rows %d..%d): %v", i, p.FirstRow, p.FirstRow+p.NumRows, err)
			}
			p.Min, p.Max, p.HasMinMax = bytes.Clone(ci.mins[i]), bytes.Clone(ci.maxs[i]), true
		}
		if ci.nulls != nil {
			p.NullCount, p.HasNullCount = ci.nulls[i], true
		}
	}
	return pages, true, nil
}

// boundsInOrder checks that a page's column-index bounds are values of the
// column with min <= max in the column's order. The index has no checksum
// and a scan skips pages by it: bounds that contradict themselves are
// damage to report, not a range to prune by. Values whose order is not
// plain here (NaN, float16 and other fixed-size binaries, types without
// statistics decoding) are not judged.
func boundsInOrder(ci ColumnInfo, min, max []byte) error {
	lo, err1 := ci.StatValue(min)
	hi, err2 := ci.StatValue(max)
	for _, err := range []error{err1, err2} {
		if errors.Is(err, ErrCorrupt) {
			return err
		}
		if err != nil {
			return nil
		}
	}
	var c int
	switch a := lo.(type) {
	case int64:
		c = cmp.Compare(a, hi.(int64))
	case uint64:
		c = cmp.Compare(a, hi.(uint64))
	case float64:
		b := hi.(float64)
		if math.IsNaN(a) || math.IsNaN(b) {
			return nil
		}
		c = cmp.Compare(a, b)
	case bool:
		if a && !hi.(bool) {
			c = 1
		}
	case string:
		c = cmp.Compare(a, hi.(string))
	case decimal128.Num:
		c = a.Cmp(hi.(decimal128.Num))
	case []byte:
		// Binary values order bytewise; other byte-array layouts (a
		// decimal as BYTE_ARRAY orders as a signed number) are not judged.
		if id := ci.Type.ID(); ci.PhysicalType != "BYTE_ARRAY" || id != arrow.BINARY && id != arrow.LARGE_BINARY {
			return nil
		}
		c = bytes.Compare(a, hi.([]byte))
	}
	if c > 0 {
		return errors.New("minimum above maximum")
	}
	return nil
}
