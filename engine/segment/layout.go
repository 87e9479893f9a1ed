package segment

import (
	"hash/maphash"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
)

// Layout is the physical layout of a segment file: what the writer is told
// beyond the schema. LAYOUT.md holds the measurements behind the defaults.
type Layout struct {
	// Compression is the codec of every column.
	Compression compress.Compression
	// RowGroupRows is the maximum number of rows per row group.
	RowGroupRows int64
	// DataPageV2 writes DATA_PAGE_V2 pages (levels uncompressed, values
	// compressed separately) instead of V1.
	DataPageV2 bool
	// DataPageSize is the target size of a data page in bytes (0: the
	// writer's default, 1 MiB).
	DataPageSize int64
	// PageIndex writes the Parquet page index (ColumnIndex and
	// OffsetIndex), which lets a row-range read fetch only its pages.
	PageIndex bool
}

// RecommendedLayout is the layout LAYOUT.md recommends for segments.
func RecommendedLayout() Layout {
	return Layout{
		Compression:  compress.Codecs.Zstd,
		RowGroupRows: 128 << 10,
		DataPageV2:   true,
		DataPageSize: 256 << 10,
		PageIndex:    true,
	}
}

// WriterProperties returns the Parquet writer properties for a segment of
// schema sch in layout l. dictionary tells, per column name, whether to
// dictionary-encode it (decide with UseDictionary / DictionaryColumns);
// columns it does not name are written without a dictionary. Statistics
// are always on: the scan planner prunes row groups by them.
func WriterProperties(l Layout, sch *arrow.Schema, dictionary map[string]bool) []parquet.WriterProperty {
	props := []parquet.WriterProperty{
		parquet.WithCompression(l.Compression),
		parquet.WithMaxRowGroupLength(l.RowGroupRows),
		parquet.WithStats(true),
		parquet.WithCreatedBy("libkalam"),
		parquet.WithDictionaryDefault(false),
		parquet.WithPageIndexEnabled(l.PageIndex),
	}
	if l.DataPageV2 {
		props = append(props, parquet.WithDataPageVersion(parquet.DataPageV2))
	}
	if l.DataPageSize > 0 {
		props = append(props, parquet.WithDataPageSize(l.DataPageSize))
	}
	for _, f := range sch.Fields() {
		if dictionary[f.Name] {
			props = append(props, parquet.WithDictionaryFor(f.Name, true))
		}
	}
	return props
}

// UseDictionary is the dictionary rule: whether a column of type t with
// rows values, distinct of them different, should be dictionary-encoded.
//
// Floats, booleans and temporal types never are: they rarely repeat, and
// a dictionary then costs a hash per value on write and a gather per
// value on read. Other columns are when each value repeats often enough
// that the dictionary and its bit-packed indices are much smaller than
// the PLAIN values: on average at least 4 times for fixed-width values,
// at least twice for strings and binary (whose PLAIN values carry a
// 4-byte length each).
func UseDictionary(t arrow.DataType, rows, distinct int64) bool {
	if rows <= 0 || distinct <= 0 {
		return false
	}
	switch t.ID() {
	case arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64, arrow.BOOL,
		arrow.TIMESTAMP, arrow.TIME32, arrow.TIME64, arrow.DURATION, arrow.DATE64:
		return false
	case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY:
		return distinct*2 <= rows
	}
	return distinct*4 <= rows
}

// CountDistinct counts the distinct non-null values of a (nulls are not
// dictionary entries), stopping once it exceeds limit (then it returns
// limit+1): the rule only needs to know whether the count is small.
func CountDistinct(a arrow.Array, limit int64) int64 {
	seed := maphash.MakeSeed()
	seen := make(map[uint64]struct{})
	add := func(h uint64) bool {
		seen[h] = struct{}{}
		return int64(len(seen)) > limit
	}
	for i := 0; i < a.Len(); i++ {
		if a.IsNull(i) {
			continue
		}
		var key uint64
		switch v := a.(type) {
		case *array.String:
			key = maphash.String(seed, v.Value(i))
		case *array.LargeString:
			key = maphash.String(seed, v.Value(i))
		case *array.Binary:
			key = maphash.Bytes(seed, v.Value(i))
		case *array.LargeBinary:
			key = maphash.Bytes(seed, v.Value(i))
		case *array.FixedSizeBinary:
			key = maphash.Bytes(seed, v.Value(i))
		case *array.Int8:
			key = uint64(v.Value(i))
		case *array.Int16:
			key = uint64(v.Value(i))
		case *array.Int32:
			key = uint64(v.Value(i))
		case *array.Int64:
			key = uint64(v.Value(i))
		case *array.Uint8:
			key = uint64(v.Value(i))
		case *array.Uint16:
			key = uint64(v.Value(i))
		case *array.Uint32:
			key = uint64(v.Value(i))
		case *array.Uint64:
			key = v.Value(i)
		case *array.Date32:
			key = uint64(v.Value(i))
		case *array.Decimal128:
			d := v.Value(i)
			key = d.LowBits() ^ uint64(d.HighBits())*0x9E3779B97F4A7C15
		default:
			// Types the rule never dictionary-encodes, or unknown ones:
			// report "all distinct".
			return min(int64(a.Len()-a.NullN()), limit+1)
		}
		if add(key) {
			return limit + 1
		}
	}
	return int64(len(seen))
}

// DictionaryColumns applies UseDictionary to every column of rec (the rows
// of one segment), counting distinct values only as far as the rule needs.
func DictionaryColumns(rec arrow.RecordBatch) map[string]bool {
	out := make(map[string]bool, rec.NumCols())
	rows := rec.NumRows()
	for i, f := range rec.Schema().Fields() {
		col := rec.Column(i)
		nonNull := int64(col.Len() - col.NullN())
		if !UseDictionary(f.Type, max(nonNull, 1), 1) {
			continue // the type alone rules it out
		}
		// The largest distinct count for which the rule still says yes.
		limit := nonNull / 2
		if !UseDictionary(f.Type, nonNull, max(limit, 1)) {
			limit = nonNull / 4
		}
		d := CountDistinct(col, max(limit, 1))
		out[f.Name] = UseDictionary(f.Type, max(nonNull, 1), max(d, 1)) && rows > 0
	}
	return out
}
