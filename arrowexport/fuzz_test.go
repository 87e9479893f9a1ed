package arrowexport_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/decimal256"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/kalamdb/libkalam/arrowexport"
	"github.com/kalamdb/libkalam/arrowexport/internal/ctest"
	"github.com/kalamdb/libkalam/kerr"
)

// fuzzInput hands out the fuzzer's bytes; past the end it yields zeros
// (which generate NULLs, empty lists and no mutations).
type fuzzInput struct{ b []byte }

func (in *fuzzInput) byte() byte {
	if len(in.b) == 0 {
		return 0
	}
	c := in.b[0]
	in.b = in.b[1:]
	return c
}

func (in *fuzzInput) bytes(n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = in.byte()
	}
	return out
}

func (in *fuzzInput) u64() uint64 { return binary.LittleEndian.Uint64(in.bytes(8)) }

// importTypes are the column types FuzzImport draws from: one of each
// physical layout the C data interface has (validity + values, bits,
// offsets + data, views + variadic data, lists, list views, fixed-size
// lists, structs, maps, dictionaries, run-end encoding, both unions, null)
// and some nesting.
var importTypes = []arrow.DataType{
	arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Uint16,
	arrow.PrimitiveTypes.Float64, arrow.FixedWidthTypes.Float16, arrow.FixedWidthTypes.Boolean,
	arrow.FixedWidthTypes.Date32, &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"},
	arrow.FixedWidthTypes.Time64ns, arrow.FixedWidthTypes.Duration_us,
	&arrow.Decimal128Type{Precision: 10, Scale: 2}, &arrow.Decimal256Type{Precision: 40, Scale: 3},
	&arrow.FixedSizeBinaryType{ByteWidth: 3}, arrow.FixedWidthTypes.MonthDayNanoInterval, arrow.Null,
	arrow.BinaryTypes.String, arrow.BinaryTypes.LargeString, arrow.BinaryTypes.Binary, arrow.BinaryTypes.LargeBinary,
	arrow.BinaryTypes.StringView, arrow.BinaryTypes.BinaryView,
	arrow.ListOf(arrow.PrimitiveTypes.Int32), arrow.LargeListOf(arrow.BinaryTypes.String),
	arrow.FixedSizeListOf(2, arrow.PrimitiveTypes.Int16), arrow.ListViewOf(arrow.PrimitiveTypes.Int32),
	arrow.LargeListViewOf(arrow.BinaryTypes.String),
	arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		arrow.Field{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true}),
	arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64),
	&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String},
	&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Uint16, ValueType: arrow.PrimitiveTypes.Int32},
	arrow.RunEndEncodedOf(arrow.PrimitiveTypes.Int32, arrow.BinaryTypes.String),
	arrow.DenseUnionOf([]arrow.Field{{Name: "i", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}}, []arrow.UnionTypeCode{0, 5}),
	arrow.SparseUnionOf([]arrow.Field{{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true}}, []arrow.UnionTypeCode{3, 1}),
	arrow.ListOf(arrow.StructOf(arrow.Field{Name: "x", Type: arrow.ListOf(arrow.PrimitiveTypes.Int8), Nullable: true},
		arrow.Field{Name: "y", Type: arrow.BinaryTypes.StringView, Nullable: true})),
}

// withFlags returns dt with the schema flags the input chooses: the
// dictionary-ordered and map-keys-sorted flags of the C schema.
func withFlags(flags byte, dt arrow.DataType) arrow.DataType {
	switch t := dt.(type) {
	case *arrow.DictionaryType:
		c := *t
		c.Ordered = flags&1 == 1
		return &c
	case *arrow.MapType:
		c := arrow.MapOf(t.KeyType(), t.ItemType())
		c.KeysSorted = flags&1 == 1
		return c
	}
	return dt
}

// appendValue appends one value read from the input to b: a lead byte
// decides NULL (one in five), lengths and run lengths; values are raw bits.
func appendValue(t *testing.T, in *fuzzInput, b array.Builder) {
	lead := in.byte()
	if lead%5 == 0 {
		b.AppendNull()
		return
	}
	n := int(lead>>4) % 4
	switch bb := b.(type) {
	case *array.NullBuilder:
		bb.AppendNull()
	case *array.BooleanBuilder:
		bb.Append(lead&8 != 0)
	case *array.Int8Builder:
		bb.Append(int8(in.byte()))
	case *array.Int16Builder:
		bb.Append(int16(in.u64()))
	case *array.Int32Builder:
		bb.Append(int32(in.u64()))
	case *array.Int64Builder:
		bb.Append(int64(in.u64()))
	case *array.Uint16Builder:
		bb.Append(uint16(in.u64()))
	case *array.Float16Builder:
		bb.Append(float16.FromBits(uint16(in.u64())))
	case *array.Float64Builder:
		bb.Append(math.Float64frombits(in.u64()))
	case *array.Date32Builder:
		bb.Append(arrow.Date32(int32(in.u64())))
	case *array.TimestampBuilder:
		bb.Append(arrow.Timestamp(int64(in.u64())))
	case *array.Time64Builder:
		bb.Append(arrow.Time64(int64(in.u64())))
	case *array.DurationBuilder:
		bb.Append(arrow.Duration(int64(in.u64())))
	case *array.Decimal128Builder:
		bb.Append(decimal128.FromI64(int64(in.u64()) % 1e10))
	case *array.Decimal256Builder:
		bb.Append(decimal256.FromI64(int64(in.u64())))
	case *array.FixedSizeBinaryBuilder:
		bb.Append(in.bytes(3))
	case *array.MonthDayNanoIntervalBuilder:
		bb.Append(arrow.MonthDayNanoInterval{Months: int32(in.u64()), Days: int32(in.u64()), Nanoseconds: int64(in.u64())})
	case *array.StringBuilder:
		bb.Append(utf8Of(in.bytes(n * 5)))
	case *array.LargeStringBuilder:
		bb.Append(utf8Of(in.bytes(n * 5)))
	case *array.BinaryBuilder:
		bb.Append(in.bytes(n * 5))
	case *array.StringViewBuilder:
		bb.Append(utf8Of(in.bytes(n * 6))) // up to 18 bytes: inline and out-of-line views
	case *array.BinaryViewBuilder:
		bb.Append(in.bytes(n * 6))
	case *array.ListBuilder:
		bb.Append(true)
		for ; n > 0; n-- {
			appendValue(t, in, bb.ValueBuilder())
		}
	case *array.LargeListBuilder:
		bb.Append(true)
		for ; n > 0; n-- {
			appendValue(t, in, bb.ValueBuilder())
		}
	case *array.ListViewBuilder:
		bb.AppendWithSize(true, n)
		for ; n > 0; n-- {
			appendValue(t, in, bb.ValueBuilder())
		}
	case *array.LargeListViewBuilder:
		bb.AppendWithSize(true, n)
		for ; n > 0; n-- {
			appendValue(t, in, bb.ValueBuilder())
		}
	case *array.FixedSizeListBuilder:
		bb.Append(true)
		for k := bb.Type().(*arrow.FixedSizeListType).Len(); k > 0; k-- {
			appendValue(t, in, bb.ValueBuilder())
		}
	case *array.MapBuilder:
		bb.Append(true)
		for ; n > 0; n-- {
			bb.KeyBuilder().(*array.StringBuilder).Append(utf8Of(in.bytes(2)))
			appendValue(t, in, bb.ItemBuilder())
		}
	case *array.StructBuilder:
		bb.Append(true)
		for k := 0; k < bb.NumField(); k++ {
			appendValue(t, in, bb.FieldBuilder(k))
		}
	case *array.BinaryDictionaryBuilder:
		if err := bb.AppendString(utf8Of(in.bytes(n))); err != nil {
			t.Fatal(err)
		}
	case *array.Int32DictionaryBuilder:
		if err := bb.Append(int32(in.byte() % 7)); err != nil {
			t.Fatal(err)
		}
	case *array.RunEndEncodedBuilder:
		bb.Append(uint64(1 + n))
		bb.ValueBuilder().(*array.StringBuilder).Append(utf8Of(in.bytes(n)))
		// The run covers 1+n rows; the caller counts rows by Len.
	case *array.DenseUnionBuilder:
		child := int(lead>>3) & 1
		bb.Append(bb.Type().(arrow.UnionType).TypeCodes()[child])
		appendValue(t, in, bb.Child(child))
	case *array.SparseUnionBuilder:
		child := int(lead>>3) & 1
		bb.Append(bb.Type().(arrow.UnionType).TypeCodes()[child])
		for k := 0; k < 2; k++ {
			if k == child {
				appendValue(t, in, bb.Child(k))
			} else {
				bb.Child(k).AppendEmptyValue()
			}
		}
	default:
		t.Fatalf("appendValue: no case for %T", b)
	}
}

// utf8Of makes valid UTF-8 of arbitrary bytes: an intact batch must be valid
// data, and invalid UTF-8 is one of the corruptions ValidateFull must catch.
func utf8Of(b []byte) string { return strings.ToValidUTF8(string(b), "?") }

// buildColumn returns an array of type dt with exactly n rows.
func buildColumn(t *testing.T, in *fuzzInput, mem memory.Allocator, dt arrow.DataType, n int) arrow.Array {
	b := array.NewBuilder(mem, dt)
	defer b.Release()
	for b.Len() < n {
		appendValue(t, in, b)
	}
	a := b.NewArray()
	if a.Len() == n {
		return a
	}
	// A run of run-end encoding may overshoot.
	defer a.Release()
	return array.NewSlice(a, 0, int64(n))
}

// toHost translates Arrow array data into the C data interface layout a
// conforming producer would hand over: no validity slot for unions, no
// buffers for null and run-end encoded arrays, a trailing variadic sizes
// buffer for views, NULL validity when there are no nulls.
func toHost(in *fuzzInput, d arrow.ArrayData) *ctest.HostArray {
	h := &ctest.HostArray{Length: int64(d.Len()), Offset: int64(d.Offset()), NullCount: int64(d.NullN())}
	dt := d.DataType()
	bufs := d.Buffers()
	switch dt.ID() {
	case arrow.NULL:
		bufs = nil
	case arrow.RUN_END_ENCODED:
		bufs = nil
		h.NullCount = 0
	case arrow.SPARSE_UNION, arrow.DENSE_UNION:
		bufs = bufs[1:]
		h.NullCount = 0 // unions and run-end encoding have no validity of their own
	default:
		// An unknown null count is allowed by the C data interface, but
		// only with a validity bitmap (NULL validity means a count of 0).
		if in.byte()%4 == 0 && hasValidity(dt) && len(bufs) > 0 && bufs[0] != nil {
			h.NullCount = -1
		}
	}
	for i, b := range bufs {
		hb := ctest.HostBuffer{Placement: int(in.byte() % 3)}
		switch {
		case b != nil:
			hb.Data = append([]byte(nil), b.Bytes()...)
		case i == 0 && hasValidity(dt):
			hb.Null = true
		}
		h.Buffers = append(h.Buffers, hb)
	}
	if dt.ID() == arrow.STRING_VIEW || dt.ID() == arrow.BINARY_VIEW {
		var sizes []byte
		for _, b := range bufs[2:] {
			sizes = binary.LittleEndian.AppendUint64(sizes, uint64(b.Len()))
		}
		h.Buffers = append(h.Buffers, ctest.HostBuffer{Data: sizes, Placement: int(in.byte() % 3)})
	}
	for _, c := range d.Children() {
		h.Children = append(h.Children, toHost(in, c))
	}
	if dt.ID() == arrow.DICTIONARY {
		h.Dictionary = toHost(in, d.Dictionary())
	}
	return h
}

func hasValidity(dt arrow.DataType) bool {
	l := hostLayout(dt)
	return len(l.slots) > 0 && l.slots[0] == slotBits
}

// Buffer slot kinds, for sizing: what a buffer of that slot must hold for
// an array spanning offset+length items. Written from the C data interface
// specification, independently of validate.go.
const (
	slotBits   = iota // one bit per item
	slotFixed         // width bytes per item
	slotOffset        // (items+1) offsets of width bytes
	slotData          // bytes up to the last offset
	slotViews         // 16 bytes per item
)

type layoutSpec struct {
	slots []int
	width []int
	views bool
}

func hostLayout(dt arrow.DataType) layoutSpec {
	switch t := dt.(type) {
	case *arrow.NullType, *arrow.RunEndEncodedType:
		return layoutSpec{}
	case *arrow.DictionaryType:
		return hostLayout(t.IndexType)
	case *arrow.BooleanType:
		return layoutSpec{slots: []int{slotBits, slotBits}, width: []int{0, 0}}
	case *arrow.StringType, *arrow.BinaryType:
		return layoutSpec{slots: []int{slotBits, slotOffset, slotData}, width: []int{0, 4, 4}}
	case *arrow.LargeStringType, *arrow.LargeBinaryType:
		return layoutSpec{slots: []int{slotBits, slotOffset, slotData}, width: []int{0, 8, 8}}
	case *arrow.StringViewType, *arrow.BinaryViewType:
		return layoutSpec{slots: []int{slotBits, slotViews}, width: []int{0, 16}, views: true}
	case *arrow.ListType, *arrow.MapType:
		return layoutSpec{slots: []int{slotBits, slotOffset}, width: []int{0, 4}}
	case *arrow.LargeListType:
		return layoutSpec{slots: []int{slotBits, slotOffset}, width: []int{0, 8}}
	case *arrow.ListViewType:
		return layoutSpec{slots: []int{slotBits, slotFixed, slotFixed}, width: []int{0, 4, 4}}
	case *arrow.LargeListViewType:
		return layoutSpec{slots: []int{slotBits, slotFixed, slotFixed}, width: []int{0, 8, 8}}
	case *arrow.FixedSizeListType, *arrow.StructType:
		return layoutSpec{slots: []int{slotBits}, width: []int{0}}
	case *arrow.SparseUnionType:
		return layoutSpec{slots: []int{slotFixed}, width: []int{1}}
	case *arrow.DenseUnionType:
		return layoutSpec{slots: []int{slotFixed, slotFixed}, width: []int{1, 4}}
	case arrow.FixedWidthDataType:
		return layoutSpec{slots: []int{slotBits, slotFixed}, width: []int{0, t.BitWidth() / 8}}
	}
	panic(fmt.Sprintf("hostLayout: %s", dt))
}

// childType is the type the consumer expects for child i of dt (nil: none).
func childType(dt arrow.DataType, i int) arrow.DataType {
	switch t := dt.(type) {
	case arrow.ListLikeType:
		if i == 0 {
			return t.Elem()
		}
	case *arrow.StructType:
		if i < t.NumFields() {
			return t.Field(i).Type
		}
	case *arrow.RunEndEncodedType:
		switch i {
		case 0:
			return t.RunEnds()
		case 1:
			return t.Encoded()
		}
	case arrow.UnionType:
		if i < len(t.Fields()) {
			return t.Fields()[i].Type
		}
	}
	return nil
}

// maxClaim bounds what a claimed size may be. Corrupted words never exceed
// it; where a buffer of random bytes ends up holding offsets or variadic
// sizes, fit rewrites a larger claim (the host chooses not to lie), so every
// claim is backed by memory.
const maxClaim = 1 << 20

// fit sizes every buffer of h to exactly what h's (possibly corrupted)
// length, offset, offsets and variadic sizes claim for the type the consumer
// expects there: a host may describe garbage, but it does not lie about how
// much memory it handed over (DESIGN §6: a wild pointer cannot be defended
// against). Grown offsets and sizes buffers are zero-filled, other grown
// buffers take bytes from the input.
func fit(in *fuzzInput, h *ctest.HostArray, dt arrow.DataType) {
	if h == nil || dt == nil {
		return
	}
	if h.Offset >= 0 && h.Length >= 0 && h.Offset <= math.MaxInt64-h.Length && h.Offset+h.Length <= maxClaim/16 {
		items := h.Offset + h.Length
		lay := hostLayout(dt)
		nbuf := len(h.Buffers)
		// Older producers give unions a leading (NULL) validity slot; with
		// that many buffers the consumer reads the legacy layout.
		if _, ok := dt.(arrow.UnionType); ok && nbuf == len(lay.slots)+1 {
			lay.slots = append([]int{slotBits}, lay.slots...)
			lay.width = append([]int{0}, lay.width...)
		}
		sizesAt := -1
		if lay.views && nbuf >= 3 {
			// The variadic sizes buffer first: the data buffers' claims
			// depend on it.
			sizesAt = nbuf - 1
			if b := &h.Buffers[sizesAt]; !b.Null {
				resize(in, b, (nbuf-3)*8, true)
				for i := 0; i+8 <= len(b.Data); i += 8 {
					if v := int64(binary.LittleEndian.Uint64(b.Data[i:])); v > maxClaim {
						binary.LittleEndian.PutUint64(b.Data[i:], uint64(v%4096))
					}
				}
			}
		}
		for i := range h.Buffers {
			b := &h.Buffers[i]
			if b.Null || i == sizesAt {
				continue
			}
			claim, zero := int64(-1), false
			switch {
			case lay.views && i >= 2: // variadic data: as the sizes buffer says
				if s := h.Buffers[sizesAt]; !s.Null {
					claim = max(0, int64(binary.LittleEndian.Uint64(s.Data[8*(i-2):])))
				}
			case i < len(lay.slots):
				switch lay.slots[i] {
				case slotBits:
					claim = (items + 7) / 8
				case slotFixed, slotViews:
					claim = items * int64(lay.width[i])
					zero = dt.ID() == arrow.LIST_VIEW || dt.ID() == arrow.LARGE_LIST_VIEW
				case slotOffset:
					claim, zero = (items+1)*int64(lay.width[i]), true
				case slotData:
					claim = 0
					if o := h.Buffers[1]; !o.Null && int64(len(o.Data)) >= (items+1)*int64(lay.width[i]) {
						claim = max(0, lastOffset(o.Data, items, lay.width[i]))
					}
				}
			}
			if claim >= 0 {
				resize(in, b, int(claim), zero)
			}
		}
	}
	for i, c := range h.Children {
		fit(in, c, childType(dt, i))
	}
	if d, ok := dt.(*arrow.DictionaryType); ok {
		fit(in, h.Dictionary, d.ValueType)
	}
}

// lastOffset reads offsets[items], rewriting it first when it claims more
// than maxClaim bytes of data.
func lastOffset(offsets []byte, items int64, width int) int64 {
	if width == 4 {
		v := int64(int32(binary.LittleEndian.Uint32(offsets[items*4:])))
		if v > maxClaim {
			v %= 4096
			binary.LittleEndian.PutUint32(offsets[items*4:], uint32(v))
		}
		return v
	}
	v := int64(binary.LittleEndian.Uint64(offsets[items*8:]))
	if v > maxClaim {
		v %= 4096
		binary.LittleEndian.PutUint64(offsets[items*8:], uint64(v))
	}
	return v
}

func resize(in *fuzzInput, b *ctest.HostBuffer, n int, zero bool) {
	if len(b.Data) >= n {
		b.Data = b.Data[:n:n]
		return
	}
	for len(b.Data) < n {
		if zero {
			b.Data = append(b.Data, 0)
		} else {
			b.Data = append(b.Data, in.byte())
		}
	}
}

// node is a HostArray of a batch and the column it belongs to (-1: the
// batch's own struct).
type node struct {
	h   *ctest.HostArray
	col int
}

func nodesOf(h *ctest.HostArray, col int, out []node) []node {
	if h == nil {
		return out
	}
	out = append(out, node{h, col})
	for i, c := range h.Children {
		cc := col
		if col < 0 {
			cc = i
		}
		out = nodesOf(c, cc, out)
	}
	return nodesOf(h.Dictionary, col, out)
}

// wordValues are the integers a corrupted offset, size, run end, type id or
// view field is set to: boundaries and small values, never more than
// maxClaim, so that a claim stays backed by memory.
var wordValues = []int64{-1, 0, 1, 2, 3, 7, 8, 12, 13, 100, 1 << 16, math.MinInt32, math.MinInt64, 0x7f, -128}

// mutate applies one structural corruption to a node of a batch, as a
// broken host could: lengths, offsets, null counts, buffer and child counts
// and pointers, released children, dictionaries, and buffer contents.
func mutate(in *fuzzInput, nodes []node) int {
	n := nodes[int(in.byte())%len(nodes)]
	h := n.h
	switch in.byte() % 20 {
	case 0:
		h.Length = int64(in.byte() % 12)
	case 1:
		h.Length = -1 - int64(in.byte()%3)
	case 2:
		h.Offset = int64(in.byte() % 8)
	case 3:
		h.Offset = math.MaxInt64 - int64(in.byte()%4)
	case 4:
		h.NullCount = int64(in.byte())%(h.Length+4) - 1
	case 5:
		h.NullCount = []int64{-2, -5, h.Length + 1, math.MaxInt64, math.MinInt64}[in.byte()%5]
	case 6:
		h.Buffers = append(h.Buffers, ctest.HostBuffer{Data: in.bytes(int(in.byte() % 32)), Placement: int(in.byte() % 3)})
	case 7:
		if len(h.Buffers) > 0 {
			h.Buffers = h.Buffers[:len(h.Buffers)-1]
		}
	case 8:
		h.NilBuffers = true
	case 9:
		if len(h.Buffers) > 0 {
			h.Buffers[int(in.byte())%len(h.Buffers)].Null = true
		}
	case 10:
		var extra *ctest.HostArray // NULL, or a copy of the first child
		if len(h.Children) > 0 && h.Children[0] != nil && in.byte()&1 == 1 {
			extra = cloneHost(h.Children[0])
		}
		h.Children = append(h.Children, extra)
	case 11:
		if len(h.Children) > 0 {
			h.Children = h.Children[:len(h.Children)-1]
		}
	case 12:
		h.NilChildren = true
	case 13:
		if len(h.Children) > 0 {
			h.Children[int(in.byte())%len(h.Children)] = nil
		}
	case 14:
		h.Released = true
	case 15:
		if h.Dictionary != nil {
			h.Dictionary = nil
		} else {
			h.Dictionary = &ctest.HostArray{Length: 1, Buffers: []ctest.HostBuffer{{Null: true}, {Data: make([]byte, 4)}}}
		}
	case 16, 17: // a 32-bit word: offsets, sizes, run ends, view lengths/offsets, union offsets
		if b := pickBuffer(in, h); b != nil && len(b.Data) >= 4 {
			at := int(in.byte()) % (len(b.Data) - 3) &^ 3
			binary.LittleEndian.PutUint32(b.Data[at:], uint32(int32(wordValues[int(in.byte())%len(wordValues)])))
		}
	case 18: // a 64-bit word: large offsets and sizes, variadic buffer sizes
		if b := pickBuffer(in, h); b != nil && len(b.Data) >= 8 {
			at := int(in.byte()) % (len(b.Data) - 7) &^ 7
			binary.LittleEndian.PutUint64(b.Data[at:], uint64(wordValues[int(in.byte())%len(wordValues)]))
		}
	case 19: // a byte: validity bits, type ids, dictionary indices, bools
		if b := pickBuffer(in, h); b != nil && len(b.Data) > 0 {
			b.Data[int(in.byte())%len(b.Data)] = in.byte()
		}
	}
	return n.col
}

func cloneHost(h *ctest.HostArray) *ctest.HostArray {
	if h == nil {
		return nil
	}
	c := *h
	c.Buffers = append([]ctest.HostBuffer(nil), h.Buffers...)
	for i := range c.Buffers {
		c.Buffers[i].Data = append([]byte(nil), c.Buffers[i].Data...)
	}
	c.Children = make([]*ctest.HostArray, len(h.Children))
	for i, ch := range h.Children {
		c.Children[i] = cloneHost(ch)
	}
	c.Dictionary = cloneHost(h.Dictionary)
	return &c
}

func pickBuffer(in *fuzzInput, h *ctest.HostArray) *ctest.HostBuffer {
	if len(h.Buffers) == 0 {
		return nil
	}
	b := &h.Buffers[int(in.byte())%len(h.Buffers)]
	if b.Null {
		return nil
	}
	return b
}

// expectedBatch is what an intact batch must import as.
type expectedBatch struct {
	cols []arrow.Array
	rows int64
}

// FuzzImport hands the importer host streams whose batches the input
// describes: 1–3 columns of any layout, 1–2 batches with top-level and
// per-column offsets, null counts (-1 included) and flags, then up to three
// corruptions of lengths, offsets, null counts, buffer/child counts and
// pointers, released children, dictionaries and buffer contents. Every
// struct, pointer array and buffer is in guarded memory of exactly the size
// the (corrupted) metadata claims, so reading anything the host did not
// hand over faults. It checks:
//   - no crash, no out-of-bounds read;
//   - intact batches import with exactly the values the host built;
//   - a corrupted batch either imports as data that passes ValidateFull or
//     fails with kerr.InvalidArgument naming the input batch and, unless the
//     batch's own struct was corrupted, a corrupted column; never a panic
//     turned into INTERNAL;
//   - the host's stream is released exactly once, every batch handed over is
//     released exactly once (none twice, none leaked) by the time the reader
//     is released, and the library holds no host memory after that (it is
//     unmapped while the checked allocator of the expected data is audited).
func FuzzImport(f *testing.F) {
	f.Add([]byte{})
	// Value bytes after the header: a fixed pseudo-random tail.
	tail := make([]byte, 96)
	for i := range tail {
		tail[i] = byte(i*37 + 11)
	}
	for i := range importTypes {
		// One intact column of each type in two batches, and three columns
		// around it.
		f.Add(append([]byte{0, byte(i), 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0}, append(make([]byte, 24), tail...)...))
		f.Add(append([]byte{2, 16, 0, 1, byte(i), 0, 0, 22, 0, 0, 0, 0, 0}, append(make([]byte, 24), tail...)...))
		// Each corruption kind on a node of a one-column batch of that type.
		for k := 0; k < 20; k++ {
			mut := []byte{byte(i + k), byte(k), byte(k * 3), byte(k * 5), byte(k * 7), byte(k + 1), 0, 0}
			f.Add(append([]byte{0, byte(i), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, append(append(mut, make([]byte, 16)...), tail...)...))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// A fixed-size header, so that seeds (and the fuzzer) control the
		// shape and the corruptions directly; values and placements follow.
		in := &fuzzInput{b: data}
		ncols := 1 + int(in.byte()%3)
		exported := make([]arrow.Field, ncols) // the host's schema, flags and all
		fields := make([]arrow.Field, ncols)   // what the importer reads it as
		for i := 0; i < 3; i++ {
			typ, flags, nullable := in.byte(), in.byte(), in.byte()
			if i >= ncols {
				continue
			}
			dt := withFlags(flags, importTypes[int(typ)%len(importTypes)])
			exported[i] = arrow.Field{Name: fmt.Sprintf("c%d", i), Type: dt, Nullable: nullable&1 == 0}
			fields[i] = exported[i]
			if d, ok := dt.(*arrow.DictionaryType); ok {
				// arrow-go v18.8's importer reads the ordered flag from the
				// dictionary's value schema; its exporter (and the spec)
				// put it on the indices' schema, so it never survives. The
				// engine decodes dictionaries, so it does not matter here.
				c := *d
				c.Ordered = false
				fields[i].Type = &c
			}
		}
		schema := arrow.NewSchema(fields, nil)
		nbatches := 1 + int(in.byte()%2)
		bad := int(in.byte()) % nbatches // the batch that gets the corruptions
		nmut := int(in.byte() % 4)
		mutIn := &fuzzInput{b: in.bytes(8 * 3)}

		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		hosts := make([]*ctest.HostArray, nbatches)
		want := make([]expectedBatch, nbatches)
		defer func() {
			for _, w := range want {
				for _, c := range w.cols {
					c.Release()
				}
			}
		}()
		for b := range hosts {
			rows := int64(in.byte() % 7)
			topOff := int64(in.byte() % 3)
			top := &ctest.HostArray{Length: rows, Offset: topOff, Buffers: []ctest.HostBuffer{{Null: true}}}
			want[b].rows = rows
			for _, fd := range fields {
				colOff := int(in.byte() % 3)
				extra := int(in.byte() % 2) // a column may be longer than the batch
				full := buildColumn(t, in, mem, fd.Type, colOff+int(topOff+rows)+extra)
				col := array.NewSlice(full, int64(colOff), int64(full.Len()))
				full.Release()
				top.Children = append(top.Children, toHost(in, col.Data()))
				want[b].cols = append(want[b].cols, array.NewSlice(col, topOff, topOff+rows))
				col.Release()
			}
			hosts[b] = top
		}

		// Corruptions, all in one batch; the batches before it are intact.
		mutated := map[int]bool{}
		for m := 0; m < nmut; m++ {
			mutated[mutate(mutIn, nodesOf(hosts[bad], -1, nil))] = true
		}
		topReleased := hosts[bad].Released
		stType := arrow.StructOf(fields...)
		for _, h := range hosts {
			fit(in, h, stType)
		}

		host := ctest.NewFuzzHost(arrow.NewSchema(exported, nil), hosts)
		defer host.Free()
		rdr, err := arrowexport.ImportStream(host.Stream())
		if err != nil {
			t.Fatalf("ImportStream of a well-formed host schema %v: %v", schema, err)
		}
		if !rdr.Schema().Equal(schema) {
			t.Fatalf("imported schema %v, want %v", rdr.Schema(), schema)
		}
		n := 0
		for rdr.Next() {
			rec := rdr.RecordBatch()
			if len(mutated) > 0 && n == bad {
				// A corrupted batch that imports must at least be valid data.
				for i := 0; i < int(rec.NumCols()); i++ {
					if err := array.ValidateFull(rec.Column(i)); err != nil {
						t.Fatalf("batch %d column %d imported but is invalid: %v", n, i, err)
					}
					// Reading every value must stay inside the host's memory.
					// (Not for empty arrays: arrow-go v18.8's DenseUnion
					// String panics on an empty slice at a non-zero offset,
					// which is valid data the engine never formats.)
					if rec.Column(i).Len() > 0 {
						_ = rec.Column(i).String()
					}
				}
			} else {
				w := want[n]
				if rec.NumRows() != w.rows || int(rec.NumCols()) != len(w.cols) {
					t.Fatalf("batch %d: %d rows × %d columns, want %d × %d", n, rec.NumRows(), rec.NumCols(), w.rows, len(w.cols))
				}
				for i, c := range w.cols {
					if !array.ApproxEqual(rec.Column(i), c, array.WithNaNsEqual(true), array.WithAbsTolerance(0)) {
						t.Fatalf("batch %d column %d (%s):\n got %v\nwant %v", n, i, fields[i].Type, rec.Column(i), c)
					}
				}
			}
			n++
		}
		err = rdr.Err()
		switch {
		case err == nil && topReleased && n != bad:
			t.Fatalf("a released batch %d must end the stream, read %d", bad, n)
		case err == nil && !topReleased && n != nbatches:
			t.Fatalf("stream ended without error after %d of %d batches (corrupted: %v in batch %d)", n, nbatches, mutated, bad)
		case err != nil:
			if len(mutated) == 0 || n != bad {
				t.Fatalf("batch %d failed (corrupted: %v in batch %d): %v", n, mutated, bad, err)
			}
			checkImportError(t, err, bad, mutated, fields)
		}
		rdr.Release()
		if got := host.StreamReleases(); got != 1 {
			t.Fatalf("host stream released %d times, want 1", got)
		}
		for b := 0; b < nbatches; b++ {
			want := 0
			if b < host.Delivered() && !(b == bad && topReleased) {
				want = 1
			}
			if got := host.Released(b); got != want {
				t.Fatalf("batch %d (delivered %d) released %d times, want %d", b, host.Delivered(), got, want)
			}
		}
	})
}

// checkImportError asserts the error contract for a corrupted batch.
func checkImportError(t *testing.T, err error, bad int, mutated map[int]bool, fields []arrow.Field) {
	t.Helper()
	msg := err.Error()
	if kerr.CodeOf(err) != kerr.InvalidArgument {
		t.Fatalf("corrupted batch %d (columns %v): code %v, want INVALID_ARGUMENT: %v", bad, mutated, kerr.CodeOf(err), err)
	}
	if !strings.Contains(msg, fmt.Sprintf("input batch %d", bad)) {
		t.Fatalf("error does not name input batch %d: %v", bad, err)
	}
	if mutated[-1] {
		return // the batch's own struct: the error may be about the batch
	}
	for c := range mutated {
		if c < len(fields) && strings.Contains(msg, fmt.Sprintf("column %q", fields[c].Name)) {
			return
		}
	}
	t.Fatalf("error names none of the corrupted columns %v: %v", mutated, err)
}
