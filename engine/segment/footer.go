package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
)

// Options bounds what a damaged (or merely huge) file can make the reader
// allocate. A claim above a limit fails with ErrUnsupported, so that the
// caller falls back to pqarrow rather than trusting it.
type Options struct {
	// MaxFooterBytes bounds the footer (FileMetaData) size. Default 64 MiB.
	MaxFooterBytes int64
	// MaxPageBytes bounds one page's uncompressed size. Default 1 GiB.
	MaxPageBytes int64
	// MaxBufferBytes bounds any single output buffer of a decoded column
	// chunk. Default 8 GiB.
	MaxBufferBytes int64
}

func (o Options) withDefaults() Options {
	if o.MaxFooterBytes <= 0 {
		o.MaxFooterBytes = 64 << 20
	}
	if o.MaxPageBytes <= 0 {
		o.MaxPageBytes = 1 << 30
	}
	if o.MaxBufferBytes <= 0 {
		o.MaxBufferBytes = 8 << 30
	}
	return o
}

// File is an open segment: its parsed footer and a reader of its bytes.
// It is immutable after Open, so any number of goroutines may decode from
// it at once.
type File struct {
	name      string
	r         io.ReaderAt
	size      int64
	opts      Options
	meta      *fileMeta
	schema    *arrow.Schema
	stored    bool // schema came from ARROW:schema
	cols      []ColumnInfo
	plans     []colPlan
	numLeaves int
}

// ColumnInfo describes one top-level column of a segment.
type ColumnInfo struct {
	// Name is the column's name (the Arrow field name).
	Name string
	// Type is the column's Arrow type as stored (ARROW:schema), or as
	// derived from the Parquet schema when the file has no stored schema.
	Type arrow.DataType
	// Nullable reports whether the column may hold nulls.
	Nullable bool
	// FieldID is the Parquet field id; valid when HasFieldID.
	FieldID    int32
	HasFieldID bool
	// Leaf is the index of the column's first Parquet leaf column, and
	// Leaves the number of leaves (1 for a flat column).
	Leaf, Leaves int
	// PhysicalType is the Parquet physical type of a flat column ("" when
	// nested or repeated).
	PhysicalType string
}

// Open parses the footer of the segment held by r (size bytes). name is
// used in error messages only.
func Open(r io.ReaderAt, size int64, name string) (*File, error) {
	return OpenWithOptions(r, size, name, Options{})
}

// OpenWithOptions is Open with explicit limits.
func OpenWithOptions(r io.ReaderAt, size int64, name string, opts Options) (*File, error) {
	opts = opts.withDefaults()
	f := &File{name: name, r: r, size: size, opts: opts}
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("segment %s: %s: %w", name, fmt.Sprintf(format, args...), ErrCorrupt)
	}
	if size < 12 {
		return nil, corrupt("%d bytes is too small for a Parquet file", size)
	}
	var tail [8]byte
	if _, err := r.ReadAt(tail[:], size-8); err != nil {
		return nil, fmt.Errorf("segment %s: read footer: %w", name, err)
	}
	if string(tail[4:]) == "PARE" {
		return nil, fmt.Errorf("segment %s: encrypted footer: %w", name, ErrUnsupported)
	}
	if string(tail[4:]) != "PAR1" {
		return nil, corrupt("no PAR1 magic at the end")
	}
	flen := int64(binary.LittleEndian.Uint32(tail[:4]))
	if flen > size-12 {
		return nil, corrupt("footer length %d exceeds the file (%d bytes)", flen, size)
	}
	if flen > opts.MaxFooterBytes {
		return nil, fmt.Errorf("segment %s: footer of %d bytes is above the limit of %d: %w", name, flen, opts.MaxFooterBytes, ErrUnsupported)
	}
	var head [4]byte
	if _, err := r.ReadAt(head[:], 0); err != nil {
		return nil, fmt.Errorf("segment %s: read header: %w", name, err)
	}
	if string(head[:]) != "PAR1" {
		return nil, corrupt("no PAR1 magic at the start")
	}
	fb := make([]byte, flen)
	if _, err := r.ReadAt(fb, size-8-flen); err != nil {
		return nil, fmt.Errorf("segment %s: read footer: %w", name, err)
	}
	m, err := parseFileMeta(fb)
	if err != nil {
		return nil, corrupt("footer: %v", err)
	}
	if m.encrypted {
		return nil, fmt.Errorf("segment %s: encrypted: %w", name, ErrUnsupported)
	}
	f.meta = m
	if err := f.buildColumns(); err != nil {
		return nil, err
	}
	if err := f.checkRowGroups(flen); err != nil {
		return nil, err
	}
	return f, nil
}

// parquetNode is a top-level field of the Parquet schema: its element and
// the range of leaves under it.
type parquetNode struct {
	elem         *schemaElement
	group        bool
	firstLeaf    int
	leaves       int
	maxDef       int
	maxRep       int // repeated levels on the way to the (first) leaf
	hasRepeated  bool
	leafElem     *schemaElement
	nestedReason string
}

func (f *File) corrupt(format string, args ...any) error {
	return fmt.Errorf("segment %s: %s: %w", f.name, fmt.Sprintf(format, args...), ErrCorrupt)
}

// parquetTree splits the flattened schema into top-level nodes.
func (f *File) parquetTree() ([]parquetNode, error) {
	s := f.meta.schema
	if len(s) == 0 {
		return nil, f.corrupt("empty schema")
	}
	root := s[0]
	if root.numChildren < 0 || int(root.numChildren) > len(s)-1 {
		return nil, f.corrupt("schema root claims %d children", root.numChildren)
	}
	pos := 1
	leaf := 0
	// walk consumes the subtree at pos and returns its leaf count.
	var walk func(depth, def, rep int, node *parquetNode) (int, error)
	walk = func(depth, def, rep int, node *parquetNode) (int, error) {
		if depth > maxSchemaDepth {
			return 0, f.corrupt("schema nested deeper than %d", maxSchemaDepth)
		}
		if pos >= len(s) {
			return 0, f.corrupt("schema ends inside a group")
		}
		e := &s[pos]
		pos++
		if e.repetition == repOptional {
			def++
		}
		if e.repetition == repRepeated {
			node.hasRepeated = true
			def++
			rep++
		}
		if e.numChildren < 0 || int(e.numChildren) > len(s)-pos {
			return 0, f.corrupt("schema element %q claims %d children", e.name, e.numChildren)
		}
		if e.numChildren == 0 {
			if !e.hasType {
				return 0, f.corrupt("leaf %q has no physical type", e.name)
			}
			if node.leafElem == nil {
				node.leafElem, node.maxDef, node.maxRep = e, def, rep
			}
			leaf++
			return 1, nil
		}
		n := 0
		for i := 0; i < int(e.numChildren); i++ {
			k, err := walk(depth+1, def, rep, node)
			if err != nil {
				return 0, err
			}
			n += k
		}
		return n, nil
	}
	nodes := make([]parquetNode, root.numChildren)
	for i := range nodes {
		if pos >= len(s) {
			return nil, f.corrupt("schema root claims %d fields, the schema ends after %d", root.numChildren, i)
		}
		nodes[i].elem = &s[pos]
		nodes[i].firstLeaf = leaf
		nodes[i].group = s[pos].numChildren > 0
		n, err := walk(1, 0, 0, &nodes[i])
		if err != nil {
			return nil, err
		}
		nodes[i].leaves = n
	}
	if pos != len(s) {
		return nil, f.corrupt("schema has %d elements after the last field", len(s)-pos)
	}
	f.numLeaves = leaf
	return nodes, nil
}

func (f *File) buildColumns() error {
	nodes, err := f.parquetTree()
	if err != nil {
		return err
	}
	var stored *arrow.Schema
	for _, kv := range f.meta.kv {
		if kv.key == "ARROW:schema" {
			stored, err = decodeArrowSchema(kv.value)
			if errors.Is(err, errArrowType) {
				return fmt.Errorf("segment %s: ARROW:schema: %v: %w", f.name, err, ErrUnsupported)
			}
			if err != nil {
				return f.corrupt("ARROW:schema: %v", err)
			}
		}
	}
	if stored != nil && stored.NumFields() != len(nodes) {
		return f.corrupt("ARROW:schema has %d fields, the Parquet schema %d", stored.NumFields(), len(nodes))
	}
	fields := make([]arrow.Field, len(nodes))
	f.cols = make([]ColumnInfo, len(nodes))
	f.plans = make([]colPlan, len(nodes))
	for i := range nodes {
		nd := &nodes[i]
		e := nd.elem
		ci := ColumnInfo{Name: e.name, Nullable: e.repetition != repRequired, FieldID: e.fieldID,
			HasFieldID: e.hasFieldID, Leaf: nd.firstLeaf, Leaves: nd.leaves}
		var field arrow.Field
		if stored != nil {
			field = stored.Field(i)
			if field.Name != e.name {
				return f.corrupt("ARROW:schema field %d is %q, the Parquet column %q", i, field.Name, e.name)
			}
			field.Type = heldType(nd, field.Type)
		} else {
			field = arrow.Field{Name: e.name, Nullable: ci.Nullable, Type: derivedType(nd)}
		}
		ci.Type = field.Type
		ci.Nullable = field.Nullable || ci.Nullable
		if !nd.group && !nd.hasRepeated {
			ci.PhysicalType = nameOr(physicalNames, nd.leafElem.typ)
		}
		fields[i] = field
		f.cols[i] = ci
		f.plans[i] = planColumn(nd, field.Type)
	}
	var md arrow.Metadata
	if stored != nil {
		md = stored.Metadata()
		f.stored = true
	}
	f.schema = arrow.NewSchema(fields, &md)
	return nil
}

// heldType is hinted, the ARROW:schema type of a column, as the values
// in its Parquet column are: pqarrow stores the writer's Arrow type there
// but writes timestamp[s] and time32[s] as milliseconds and date64 as
// date32 days, so such a hint names another unit than the values have.
// Readers convert from what the values are, and statistics are of them.
func heldType(nd *parquetNode, hinted arrow.DataType) arrow.DataType {
	if nd.group || nd.hasRepeated || nd.leaves != 1 {
		return hinted
	}
	e := nd.leafElem
	u := logicalUnit(e)
	switch h := hinted.(type) {
	case *arrow.TimestampType:
		if u >= 0 && u != h.Unit {
			return &arrow.TimestampType{Unit: u, TimeZone: h.TimeZone}
		}
	case *arrow.Time32Type:
		if u == arrow.Millisecond && h.Unit != u {
			return arrow.FixedWidthTypes.Time32ms
		}
	case *arrow.Date64Type:
		if e.typ == ptInt32 {
			return arrow.FixedWidthTypes.Date32
		}
	}
	return hinted
}

// checkRowGroups validates what every read relies on: one chunk per leaf,
// chunk byte ranges inside the file, non-negative counts.
func (f *File) checkRowGroups(flen int64) error {
	dataEnd := f.size - 8 - flen
	var total int64
	for g := range f.meta.rowGroups {
		rg := &f.meta.rowGroups[g]
		if rg.numRows < 0 {
			return f.corrupt("row group %d has %d rows", g, rg.numRows)
		}
		total += rg.numRows
		if total < 0 {
			return f.corrupt("row counts overflow")
		}
		if len(rg.columns) != f.numLeaves {
			return f.corrupt("row group %d has %d column chunks, the schema %d leaves", g, len(rg.columns), f.numLeaves)
		}
		for c := range rg.columns {
			cc := &rg.columns[c]
			if !cc.hasMeta {
				continue // reported by Supported / a read
			}
			start, end := cc.byteRange()
			if start < 4 || end > dataEnd || end < start {
				return f.corrupt("row group %d: column chunk %d spans bytes [%d, %d), outside the data [4, %d)", g, c, start, end, dataEnd)
			}
			if cc.numValues < 0 {
				return f.corrupt("row group %d: column chunk %d has %d values", g, c, cc.numValues)
			}
		}
	}
	if total != f.meta.numRows {
		return f.corrupt("row groups hold %d rows, the footer says %d", total, f.meta.numRows)
	}
	return f.checkStatistics()
}

// checkStatistics checks the row-group statistics of flat columns that a
// scan prunes by: a null count within the chunk's values, and min <= max
// (boundsInOrder). They have no checksum; a flipped bit that makes them
// contradict themselves is reported here rather than pruning row groups
// whose rows the filter wants.
func (f *File) checkStatistics() error {
	for g := range f.meta.rowGroups {
		for col := range f.cols {
			cc := f.chunk(g, col)
			if f.nested(col) || !cc.hasMeta || !cc.hasStats {
				continue
			}
			s := &cc.stats
			if s.hasNullCount && (s.nullCount < 0 || s.nullCount > cc.numValues) {
				return f.corrupt("row group %d: column %q: statistics count %d nulls in %d values", g, f.cols[col].Name, s.nullCount, cc.numValues)
			}
			if s.hasMin && s.hasMax {
				if err := boundsInOrder(f.cols[col], s.min, s.max); err != nil {
					return f.corrupt("row group %d: column %q: statistics: %v", g, f.cols[col].Name, err)
				}
			}
		}
	}
	return nil
}

// byteRange is the chunk's [start, end) in the file: from its dictionary
// page (when it has one) through its last data page.
func (cc *columnChunk) byteRange() (int64, int64) {
	start := cc.dataPageOffset
	if cc.hasDictOffset && cc.dictPageOffset > 0 && cc.dictPageOffset < start {
		start = cc.dictPageOffset
	}
	end := start + cc.totalCompressed
	if cc.totalCompressed < 0 || end < start {
		return start, -1
	}
	return start, end
}

// Name returns the name given to Open.
func (f *File) Name() string { return f.name }

// Size returns the file size given to Open.
func (f *File) Size() int64 { return f.size }

// Schema returns the stored Arrow schema (ARROW:schema as pqarrow wrote
// it, field metadata included), or one derived from the Parquet schema.
func (f *File) Schema() *arrow.Schema { return f.schema }

// HasStoredSchema reports whether the file carries ARROW:schema.
func (f *File) HasStoredSchema() bool { return f.stored }

// NumRows returns the file's row count.
func (f *File) NumRows() int64 { return f.meta.numRows }

// NumRowGroups returns the number of row groups.
func (f *File) NumRowGroups() int { return len(f.meta.rowGroups) }

// RowGroupNumRows returns the row count of row group rg.
func (f *File) RowGroupNumRows(rg int) int64 { return f.meta.rowGroups[rg].numRows }

// NumColumns returns the number of top-level columns.
func (f *File) NumColumns() int { return len(f.cols) }

// Column describes top-level column i.
func (f *File) Column(i int) ColumnInfo { return f.cols[i] }

// ColumnIndex returns the index of the column named name, or -1.
func (f *File) ColumnIndex(name string) int {
	for i := range f.cols {
		if f.cols[i].Name == name {
			return i
		}
	}
	return -1
}

// ColumnByFieldID returns the index of the column with Parquet field id id,
// or -1 (schema evolution reads columns by field id).
func (f *File) ColumnByFieldID(id int32) int {
	for i := range f.cols {
		if f.cols[i].HasFieldID && f.cols[i].FieldID == id {
			return i
		}
	}
	return -1
}

// KeyValueMetadata returns the footer's key-value metadata.
func (f *File) KeyValueMetadata() map[string]string {
	out := make(map[string]string, len(f.meta.kv))
	for _, kv := range f.meta.kv {
		out[kv.key] = kv.value
	}
	return out
}

// CreatedBy returns the footer's created_by string.
func (f *File) CreatedBy() string { return f.meta.createdBy }

// Statistics are the Parquet statistics of one column chunk.
type Statistics struct {
	// NullCount is valid when HasNullCount.
	NullCount    int64
	HasNullCount bool
	// DistinctCount is valid when HasDistinctCount (writers rarely set it).
	DistinctCount    int64
	HasDistinctCount bool
	// Min and Max are the Parquet min_value/max_value: the PLAIN encoding
	// of the physical value (for byte arrays the bytes themselves, without
	// a length prefix). Decode them with ColumnInfo.StatValue.
	Min, Max   []byte
	HasMinMax  bool
	MinIsExact bool
	MaxIsExact bool
}

// Statistics returns the statistics of column col in row group rg, and
// false when the chunk has none or the column is nested: a nested column's
// Parquet statistics are those of a leaf, whose null count counts every
// missing leaf value (an empty list, a null item, a struct of null
// fields), not null rows, and whose bounds are not the column's values.
func (f *File) Statistics(rg, col int) (Statistics, bool) {
	cc := f.chunk(rg, col)
	if cc == nil || !cc.hasStats || f.nested(col) {
		return Statistics{}, false
	}
	s := cc.stats
	out := Statistics{NullCount: s.nullCount, HasNullCount: s.hasNullCount, DistinctCount: s.distinctCount,
		HasDistinctCount: s.hasDistinct, HasMinMax: s.hasMin && s.hasMax,
		MinIsExact: !s.hasMinExact || s.minExact, MaxIsExact: !s.hasMaxExa || s.maxExact}
	if out.HasMinMax {
		out.Min = bytes.Clone(s.min)
		out.Max = bytes.Clone(s.max)
	}
	return out, true
}

// nested reports whether top-level column col is not a flat column (one
// leaf, not repeated: its values are its rows).
func (f *File) nested(col int) bool {
	return f.cols[col].PhysicalType == ""
}

// chunk returns the column chunk of top-level column col's first leaf.
func (f *File) chunk(rg, col int) *columnChunk {
	if rg < 0 || rg >= len(f.meta.rowGroups) || col < 0 || col >= len(f.cols) {
		return nil
	}
	return &f.meta.rowGroups[rg].columns[f.cols[col].Leaf]
}

// HasPageIndex reports whether column col of row group rg has an
// OffsetIndex (Parquet page index), which row-range reads use to skip
// pages without reading their headers.
func (f *File) HasPageIndex(rg, col int) bool {
	cc := f.chunk(rg, col)
	return cc != nil && cc.hasOffsetIndex && cc.offsetIndexLength > 0
}

// ChunkInfo describes a column chunk's storage.
type ChunkInfo struct {
	Codec            string
	Encodings        []string
	NumValues        int64
	CompressedSize   int64
	UncompressedSize int64
	HasDictionary    bool
}

// Chunk describes the storage of column col in row group rg.
func (f *File) Chunk(rg, col int) ChunkInfo {
	cc := f.chunk(rg, col)
	if cc == nil {
		return ChunkInfo{}
	}
	ci := ChunkInfo{Codec: nameOr(codecNames, cc.codec), NumValues: cc.numValues,
		CompressedSize: cc.totalCompressed, UncompressedSize: cc.totalUncompressed,
		HasDictionary: cc.hasDictOffset && cc.dictPageOffset > 0}
	for _, e := range cc.encodings {
		ci.Encodings = append(ci.Encodings, nameOr(encodingNames, e))
		if e == encPlainDict || e == encRLEDict {
			ci.HasDictionary = true
		}
	}
	return ci
}
