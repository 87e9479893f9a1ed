package keyenc

import (
	"bytes"
	"math"
	"math/rand"
	"sort"
	"testing"
	"testing/quick"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/kerr"
)

// keyTypes is every supported key type family, with several units/params.
var keyTypes = []arrow.DataType{
	arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Int16, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64,
	arrow.PrimitiveTypes.Uint8, arrow.PrimitiveTypes.Uint16, arrow.PrimitiveTypes.Uint32, arrow.PrimitiveTypes.Uint64,
	arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float64, arrow.FixedWidthTypes.Boolean,
	arrow.BinaryTypes.String, arrow.BinaryTypes.LargeString, arrow.BinaryTypes.StringView,
	arrow.BinaryTypes.Binary, arrow.BinaryTypes.LargeBinary, arrow.BinaryTypes.BinaryView,
	&arrow.FixedSizeBinaryType{ByteWidth: 3},
	arrow.FixedWidthTypes.Date32, arrow.FixedWidthTypes.Date64,
	arrow.FixedWidthTypes.Time32ms, arrow.FixedWidthTypes.Time32s,
	arrow.FixedWidthTypes.Time64us, arrow.FixedWidthTypes.Time64ns,
	&arrow.TimestampType{Unit: arrow.Second}, &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"},
	&arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "Asia/Tokyo"}, &arrow.TimestampType{Unit: arrow.Nanosecond},
	arrow.FixedWidthTypes.Duration_s, arrow.FixedWidthTypes.Duration_ns,
	&arrow.Decimal128Type{Precision: 38, Scale: 4}, &arrow.Decimal128Type{Precision: 9, Scale: 0},
}

// genValue returns a random Go value of type t, biased towards edge values;
// nulls are generated about one time in twelve.
func genValue(r *rand.Rand, t arrow.DataType) any {
	if r.Intn(12) == 0 {
		return nil
	}
	sp := specOf(t)
	edge := r.Intn(3) == 0
	switch sp.kind {
	case kindSigned:
		bits := 8 * sp.width
		lo, hi := int64(-1)<<(bits-1), int64(uint64(1)<<(bits-1)-1)
		if edge {
			return []int64{lo, hi, -1, 0, 1, lo + 1, hi - 1}[r.Intn(7)]
		}
		v := int64(r.Uint64()) >> (64 - bits)
		if r.Intn(2) == 0 {
			v = int64(r.Intn(7)) - 3 // small values collide often
		}
		return v
	case kindUnsigned:
		bits := 8 * sp.width
		hi := uint64(math.MaxUint64) >> (64 - bits)
		if edge {
			return []uint64{0, 1, hi, hi - 1, hi >> 1, hi>>1 + 1}[r.Intn(6)]
		}
		return r.Uint64() >> (64 - bits)
	case kindFloat32, kindFloat64:
		if edge {
			negZero := math.Copysign(0, -1)
			edges := []float64{0, negZero, math.Inf(1), math.Inf(-1), math.NaN(),
				math.Float64frombits(0xFFF8000000000001), // negative NaN with payload
				1, -1}
			if sp.kind == kindFloat32 {
				edges = append(edges, math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32,
					-math.SmallestNonzeroFloat32, float64(math.Float32frombits(0x7FC00001)))
			} else {
				edges = append(edges, math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64,
					-math.SmallestNonzeroFloat64)
			}
			return edges[r.Intn(len(edges))]
		}
		var f float64
		switch r.Intn(3) {
		case 0:
			f = float64(r.Intn(9) - 4)
		case 1:
			f = r.NormFloat64() * math.Pow(10, float64(r.Intn(40)-20))
		default:
			if sp.kind == kindFloat32 {
				f = float64(math.Float32frombits(r.Uint32()))
			} else {
				f = math.Float64frombits(r.Uint64())
			}
		}
		if sp.kind == kindFloat32 {
			f = float64(float32(f))
		}
		return f
	case kindBool:
		return r.Intn(2) == 0
	case kindString, kindBinary, kindFixedBinary:
		n := r.Intn(7)
		if sp.kind == kindFixedBinary {
			n = sp.width
		}
		alphabet := []byte{0x00, 0x01, 0xFF, 'a', 'b', 0xFE}
		b := make([]byte, n)
		for i := range b {
			if edge {
				b[i] = alphabet[r.Intn(len(alphabet))]
			} else {
				b[i] = byte(r.Intn(256))
			}
		}
		if sp.kind == kindString {
			return string(b)
		}
		return b
	default: // decimal128
		prec := t.(*arrow.Decimal128Type).Precision
		max := decimal128.GetMaxValue(prec)
		if edge {
			return []decimal128.Num{max, max.Negate(), decimal128.FromI64(0), decimal128.FromI64(-1),
				decimal128.FromI64(1)}[r.Intn(5)]
		}
		for {
			var n decimal128.Num
			if r.Intn(2) == 0 {
				n = decimal128.FromI64(int64(r.Uint64()) >> r.Intn(64))
			} else {
				n = decimal128.New(int64(r.Uint64())>>r.Intn(64), r.Uint64())
			}
			if n.FitsInPrecision(prec) {
				return n
			}
		}
	}
}

// cmpValue compares two Go values of one key type, NULL first, with float
// order -Inf < ... < -0 == +0 < ... < +Inf < NaN.
func cmpValue(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	switch x := a.(type) {
	case int64:
		y := b.(int64)
		return cmpOrdered(x, y)
	case uint64:
		return cmpOrdered(x, b.(uint64))
	case float64:
		y := b.(float64)
		xn, yn := math.IsNaN(x), math.IsNaN(y)
		switch {
		case xn && yn:
			return 0
		case xn:
			return 1
		case yn:
			return -1
		}
		return cmpOrdered(x, y)
	case bool:
		y := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case string:
		return bytes.Compare([]byte(x), []byte(b.(string)))
	case []byte:
		return bytes.Compare(x, b.([]byte))
	case decimal128.Num:
		return x.Cmp(b.(decimal128.Num))
	}
	panic("cmpValue: unexpected value type")
}

func cmpOrdered[T int64 | uint64 | float64](x, y T) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func sign(c int) int {
	switch {
	case c < 0:
		return -1
	case c > 0:
		return 1
	}
	return 0
}

// buildArray builds an array of type t holding vals (Go values).
func buildArray(t *testing.T, mem memory.Allocator, dt arrow.DataType, vals []any) arrow.Array {
	t.Helper()
	b := array.NewBuilder(mem, dt)
	defer b.Release()
	for _, v := range vals {
		if v == nil {
			b.AppendNull()
			continue
		}
		switch bb := b.(type) {
		case *array.Int8Builder:
			bb.Append(int8(v.(int64)))
		case *array.Int16Builder:
			bb.Append(int16(v.(int64)))
		case *array.Int32Builder:
			bb.Append(int32(v.(int64)))
		case *array.Int64Builder:
			bb.Append(v.(int64))
		case *array.Uint8Builder:
			bb.Append(uint8(v.(uint64)))
		case *array.Uint16Builder:
			bb.Append(uint16(v.(uint64)))
		case *array.Uint32Builder:
			bb.Append(uint32(v.(uint64)))
		case *array.Uint64Builder:
			bb.Append(v.(uint64))
		case *array.Float32Builder:
			bb.Append(float32(v.(float64)))
		case *array.Float64Builder:
			bb.Append(v.(float64))
		case *array.BooleanBuilder:
			bb.Append(v.(bool))
		case *array.StringBuilder:
			bb.Append(v.(string))
		case *array.LargeStringBuilder:
			bb.Append(v.(string))
		case *array.StringViewBuilder:
			bb.Append(v.(string))
		case *array.BinaryBuilder:
			bb.Append(v.([]byte))
		case *array.BinaryViewBuilder:
			bb.Append(v.([]byte))
		case *array.FixedSizeBinaryBuilder:
			bb.Append(v.([]byte))
		case *array.Date32Builder:
			bb.Append(arrow.Date32(v.(int64)))
		case *array.Date64Builder:
			bb.Append(arrow.Date64(v.(int64)))
		case *array.Time32Builder:
			bb.Append(arrow.Time32(v.(int64)))
		case *array.Time64Builder:
			bb.Append(arrow.Time64(v.(int64)))
		case *array.TimestampBuilder:
			bb.Append(arrow.Timestamp(v.(int64)))
		case *array.DurationBuilder:
			bb.Append(arrow.Duration(v.(int64)))
		case *array.Decimal128Builder:
			bb.Append(v.(decimal128.Num))
		default:
			t.Fatalf("buildArray: no case for builder %T", b)
		}
	}
	return b.NewArray()
}

func TestSupported(t *testing.T) {
	for _, dt := range keyTypes {
		if !Supported(dt) {
			t.Errorf("Supported(%s) = false", dt)
		}
	}
	for _, dt := range []arrow.DataType{arrow.FixedWidthTypes.Float16, arrow.ListOf(arrow.PrimitiveTypes.Int64),
		arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int8}), arrow.Null,
		&arrow.Decimal256Type{Precision: 40}, arrow.FixedWidthTypes.MonthInterval, nil} {
		if Supported(dt) {
			t.Errorf("Supported(%v) = true", dt)
		}
	}
}

// TestOrderPerType checks, for every type, that encodings sort exactly like
// the values: on random pairs and on a full sort of thousands of values.
func TestOrderPerType(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for ti, dt := range keyTypes {
		t.Run(dt.String(), func(t *testing.T) {
			r := rand.New(rand.NewSource(int64(1000 + ti)))
			const n = 3000
			vals := make([]any, n)
			for i := range vals {
				vals[i] = genValue(r, dt)
			}
			arr := buildArray(t, mem, dt, vals)
			defer arr.Release()
			enc := make([][]byte, n)
			for i := range vals {
				enc[i] = AppendValue(nil, arr, i)
				goEnc, err := AppendGo(nil, dt, vals[i])
				if err != nil {
					t.Fatalf("AppendGo(%v): %v", vals[i], err)
				}
				if !bytes.Equal(goEnc, enc[i]) {
					t.Fatalf("AppendGo(%v) = %x, AppendValue = %x", vals[i], goEnc, enc[i])
				}
				// Round trip: decoding yields an equal value and consumes exactly the encoding.
				dec, rest, err := DecodeValue(append(enc[i], 0xAB), dt)
				if err != nil {
					t.Fatalf("DecodeValue(%x): %v", enc[i], err)
				}
				if len(rest) != 1 || rest[0] != 0xAB {
					t.Fatalf("DecodeValue(%x) left %x", enc[i], rest)
				}
				if (dec == nil) != (vals[i] == nil) || cmpValue(dec, vals[i]) != 0 {
					t.Fatalf("DecodeValue(%x) = %#v, want %#v", enc[i], dec, vals[i])
				}
				// Strict prefixes of an encoding never decode.
				for cut := 0; cut < len(enc[i]); cut++ {
					if _, _, err := DecodeValue(enc[i][:cut], dt); !kerr.Is(err, kerr.Corruption) {
						t.Fatalf("DecodeValue(%x) of %x: err %v, want Corruption", enc[i][:cut], enc[i], err)
					}
				}
			}
			for k := 0; k < 5*n; k++ {
				i, j := r.Intn(n), r.Intn(n)
				if got, want := sign(bytes.Compare(enc[i], enc[j])), cmpValue(vals[i], vals[j]); got != want {
					t.Fatalf("compare(%#v, %#v): bytes %d, values %d (%x vs %x)", vals[i], vals[j], got, want, enc[i], enc[j])
				}
			}
			idx := make([]int, n)
			for i := range idx {
				idx[i] = i
			}
			sort.SliceStable(idx, func(a, b int) bool { return cmpValue(vals[idx[a]], vals[idx[b]]) < 0 })
			for k := 1; k < n; k++ {
				a, b := idx[k-1], idx[k]
				if got, want := sign(bytes.Compare(enc[a], enc[b])), cmpValue(vals[a], vals[b]); got != want {
					t.Fatalf("adjacent %#v, %#v: bytes %d, values %d", vals[a], vals[b], got, want)
				}
			}
		})
	}
}

// TestCompositeOrder checks that composite keys of mixed types sort
// lexicographically by column, using small domains so that ties in leading
// columns (and string prefixes) are common, and that RowEncoder agrees with
// AppendValue, also on sliced arrays.
func TestCompositeOrder(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schemas := [][]arrow.DataType{
		{arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int32},
		{arrow.BinaryTypes.Binary, arrow.BinaryTypes.LargeString, arrow.PrimitiveTypes.Float64},
		{arrow.FixedWidthTypes.Boolean, arrow.BinaryTypes.StringView, &arrow.TimestampType{Unit: arrow.Microsecond}},
		{arrow.PrimitiveTypes.Uint8, arrow.BinaryTypes.BinaryView, &arrow.Decimal128Type{Precision: 20, Scale: 2},
			arrow.PrimitiveTypes.Int64},
		{arrow.PrimitiveTypes.Float32, arrow.FixedWidthTypes.Date32, arrow.BinaryTypes.String, arrow.BinaryTypes.String},
	}
	for si, types := range schemas {
		r := rand.New(rand.NewSource(int64(77 + si)))
		const n = 2000
		rows := make([][]any, n)
		cols := make([][]any, len(types))
		for i := range rows {
			rows[i] = make([]any, len(types))
			for c, dt := range types {
				v := genValue(r, dt)
				// Keep leading-column domains tiny so later columns decide often.
				if s, ok := v.(string); ok && len(s) > 2 {
					v = s[:2]
				}
				if b, ok := v.([]byte); ok && len(b) > 2 && specOf(dt).kind != kindFixedBinary {
					v = b[:2]
				}
				rows[i][c] = v
				cols[c] = append(cols[c], v)
			}
		}
		arrs := make([]arrow.Array, len(types))
		for c, dt := range types {
			arrs[c] = buildArray(t, mem, dt, cols[c])
		}
		re, err := NewRowEncoder(arrs)
		if err != nil {
			t.Fatal(err)
		}
		keys := make([][]byte, n)
		for i := range rows {
			keys[i] = re.Append(nil, i)
			var want []byte
			for c := range arrs {
				want = AppendValue(want, arrs[c], i)
			}
			if !bytes.Equal(keys[i], want) {
				t.Fatalf("schema %d row %d: RowEncoder %x, AppendValue %x", si, i, keys[i], want)
			}
			// Decoding the columns in sequence consumes the key exactly.
			rest := keys[i]
			for c, dt := range types {
				var v any
				v, rest, err = DecodeValue(rest, dt)
				if err != nil || cmpValue(v, rows[i][c]) != 0 {
					t.Fatalf("schema %d row %d col %d: decoded %#v (%v), want %#v", si, i, c, v, err, rows[i][c])
				}
			}
			if len(rest) != 0 {
				t.Fatalf("schema %d row %d: %d bytes left after decoding", si, i, len(rest))
			}
		}
		cmpRows := func(a, b []any) int {
			for c := range a {
				if x := cmpValue(a[c], b[c]); x != 0 {
					return x
				}
			}
			return 0
		}
		for k := 0; k < 10*n; k++ {
			i, j := r.Intn(n), r.Intn(n)
			if got, want := sign(bytes.Compare(keys[i], keys[j])), cmpRows(rows[i], rows[j]); got != want {
				t.Fatalf("schema %d: %#v vs %#v: bytes %d, values %d", si, rows[i], rows[j], got, want)
			}
		}
		// Sliced arrays (non-zero offset) encode the same rows.
		sliced := make([]arrow.Array, len(arrs))
		for c := range arrs {
			sliced[c] = array.NewSlice(arrs[c], 7, n)
		}
		se, err := NewRowEncoder(sliced)
		if err != nil {
			t.Fatal(err)
		}
		if se.Len() != n-7 {
			t.Fatalf("sliced Len = %d", se.Len())
		}
		for i := 0; i < n-7; i++ {
			if got := se.Append(nil, i); !bytes.Equal(got, keys[i+7]) {
				t.Fatalf("schema %d sliced row %d: %x, want %x", si, i, got, keys[i+7])
			}
		}
		for c := range arrs {
			sliced[c].Release()
			arrs[c].Release()
		}
	}
}

func TestFloatNormalisation(t *testing.T) {
	for _, dt := range []arrow.DataType{arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float64} {
		negZero, _ := AppendGo(nil, dt, math.Copysign(0, -1))
		posZero, _ := AppendGo(nil, dt, 0.0)
		if !bytes.Equal(negZero, posZero) {
			t.Errorf("%s: -0 %x != +0 %x", dt, negZero, posZero)
		}
		nan1, _ := AppendGo(nil, dt, math.NaN())
		nan2, _ := AppendGo(nil, dt, math.Float64frombits(0xFFF0000000000123))
		inf, _ := AppendGo(nil, dt, math.Inf(1))
		if !bytes.Equal(nan1, nan2) {
			t.Errorf("%s: NaNs encode differently: %x %x", dt, nan1, nan2)
		}
		if bytes.Compare(inf, nan1) >= 0 {
			t.Errorf("%s: +Inf %x not below NaN %x", dt, inf, nan1)
		}
		v, _, err := DecodeValue(nan2, dt)
		if f, ok := v.(float64); err != nil || !ok || !math.IsNaN(f) {
			t.Errorf("%s: NaN decodes to %v, %v", dt, v, err)
		}
	}
}

func TestFixedEncodings(t *testing.T) {
	cases := []struct {
		dt   arrow.DataType
		v    any
		want []byte
	}{
		{arrow.PrimitiveTypes.Int8, int64(-1), []byte{1, 0x7F}},
		{arrow.PrimitiveTypes.Int8, int64(0), []byte{1, 0x80}},
		{arrow.PrimitiveTypes.Int32, int64(1), []byte{1, 0x80, 0, 0, 1}},
		{arrow.PrimitiveTypes.Int64, int64(math.MinInt64), []byte{1, 0, 0, 0, 0, 0, 0, 0, 0}},
		{arrow.PrimitiveTypes.Uint16, uint64(258), []byte{1, 1, 2}},
		{arrow.FixedWidthTypes.Boolean, true, []byte{1, 1}},
		{arrow.BinaryTypes.String, "a\x00b", []byte{1, 'a', 0, 0xFF, 'b', 0, 1}},
		{arrow.BinaryTypes.Binary, []byte{}, []byte{1, 0, 1}},
		{arrow.PrimitiveTypes.Float64, 1.0, []byte{1, 0xBF, 0xF0, 0, 0, 0, 0, 0, 0}},
		{arrow.PrimitiveTypes.Int64, nil, []byte{0}},
		{&arrow.Decimal128Type{Precision: 38}, decimal128.FromI64(-1),
			[]byte{1, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}},
	}
	for _, c := range cases {
		got, err := AppendGo([]byte{}, c.dt, c.v)
		if err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("AppendGo(%s, %#v) = %x, %v; want %x", c.dt, c.v, got, err, c.want)
		}
	}
	if got := AppendInt64(nil, -5); !bytes.Equal(got, mustGo(t, arrow.PrimitiveTypes.Int64, int64(-5))) {
		t.Errorf("AppendInt64(-5) = %x", got)
	}
	if got := AppendNull([]byte{9}); !bytes.Equal(got, []byte{9, 0}) {
		t.Errorf("AppendNull = %x", got)
	}
}

func mustGo(t *testing.T, dt arrow.DataType, v any) []byte {
	t.Helper()
	b, err := AppendGo(nil, dt, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAppendInt64Order(t *testing.T) {
	f := func(a, b int64) bool {
		return sign(bytes.Compare(AppendInt64(nil, a), AppendInt64(nil, b))) == cmpOrdered(a, b)
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 5000, Rand: rand.New(rand.NewSource(5))}); err != nil {
		t.Error(err)
	}
	g := func(a, b float64) bool {
		ea := mustGo(t, arrow.PrimitiveTypes.Float64, a)
		eb := mustGo(t, arrow.PrimitiveTypes.Float64, b)
		return sign(bytes.Compare(ea, eb)) == cmpValue(a, b)
	}
	if err := quick.Check(g, &quick.Config{MaxCount: 5000, Rand: rand.New(rand.NewSource(6))}); err != nil {
		t.Error(err)
	}
}

func TestAppendGoErrors(t *testing.T) {
	cases := []struct {
		dt arrow.DataType
		v  any
	}{
		{arrow.PrimitiveTypes.Uint8, uint64(300)},
		{arrow.PrimitiveTypes.Uint8, int64(-1)},
		{arrow.PrimitiveTypes.Int8, int64(128)},
		{arrow.PrimitiveTypes.Int8, int64(-129)},
		{arrow.PrimitiveTypes.Int32, int64(1 << 31)},
		{arrow.FixedWidthTypes.Date32, int64(-1 << 40)},
		{arrow.PrimitiveTypes.Int64, uint64(math.MaxUint64)},
		{arrow.PrimitiveTypes.Int64, "12"},
		{arrow.PrimitiveTypes.Int64, 1.5},
		{arrow.PrimitiveTypes.Float32, 0.1},
		{arrow.PrimitiveTypes.Float32, 1e300},
		{arrow.PrimitiveTypes.Float64, int64(1)},
		{arrow.FixedWidthTypes.Boolean, int64(1)},
		{arrow.BinaryTypes.String, int64(1)},
		{&arrow.FixedSizeBinaryType{ByteWidth: 4}, []byte{1, 2}},
		{&arrow.Decimal128Type{Precision: 3}, decimal128.FromI64(1000)},
		{&arrow.Decimal128Type{Precision: 3}, int64(1)},
		{arrow.FixedWidthTypes.Float16, 1.0},
	}
	for _, c := range cases {
		dst := []byte{7}
		got, err := AppendGo(dst, c.dt, c.v)
		if !kerr.Is(err, kerr.InvalidArgument) {
			t.Errorf("AppendGo(%s, %#v): err %v, want InvalidArgument", c.dt, c.v, err)
		}
		if !bytes.Equal(got, []byte{7}) {
			t.Errorf("AppendGo(%s, %#v) changed dst to %x on error", c.dt, c.v, got)
		}
	}
	// Accepted conveniences encode like the canonical Go value.
	if !bytes.Equal(mustGo(t, arrow.PrimitiveTypes.Uint8, int64(200)), mustGo(t, arrow.PrimitiveTypes.Uint8, uint64(200))) {
		t.Error("int64 for uint8 differs from uint64")
	}
	if !bytes.Equal(mustGo(t, arrow.BinaryTypes.Binary, "x\x00"), mustGo(t, arrow.BinaryTypes.Binary, []byte("x\x00"))) {
		t.Error("string for binary differs from []byte")
	}
	if !bytes.Equal(mustGo(t, &arrow.TimestampType{Unit: arrow.Second}, arrow.Timestamp(9)),
		mustGo(t, &arrow.TimestampType{Unit: arrow.Second}, int64(9))) {
		t.Error("arrow.Timestamp differs from int64")
	}
}

func TestNewRowEncoderErrors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ints := buildArray(t, mem, arrow.PrimitiveTypes.Int64, []any{int64(1), int64(2)})
	defer ints.Release()
	short := buildArray(t, mem, arrow.PrimitiveTypes.Int64, []any{int64(1)})
	defer short.Release()
	fb := array.NewFloat16Builder(mem)
	fb.AppendNull()
	fb.AppendNull()
	f16 := fb.NewArray()
	fb.Release()
	defer f16.Release()

	_, err := NewRowEncoder([]arrow.Array{ints, f16})
	if !kerr.Is(err, kerr.InvalidArgument) || !bytes.Contains([]byte(err.Error()), []byte("key column 1 (type float16)")) {
		t.Errorf("float16 column: %v", err)
	}
	_, err = NewRowEncoder([]arrow.Array{ints, short})
	if !kerr.Is(err, kerr.InvalidArgument) || !bytes.Contains([]byte(err.Error()), []byte("key column 1")) {
		t.Errorf("length mismatch: %v", err)
	}
	if _, err := NewRowEncoder([]arrow.Array{nil}); !kerr.Is(err, kerr.InvalidArgument) {
		t.Errorf("nil column: %v", err)
	}
}

func TestDecodeValueErrors(t *testing.T) {
	cases := []struct {
		dt  arrow.DataType
		src []byte
	}{
		{arrow.PrimitiveTypes.Int64, []byte{2, 0, 0, 0, 0, 0, 0, 0, 0}},
		{arrow.FixedWidthTypes.Boolean, []byte{1, 2}},
		{arrow.BinaryTypes.String, []byte{1, 'a', 0, 0x05}},
		{arrow.BinaryTypes.String, []byte{1, 'a', 0}},
		{arrow.BinaryTypes.Binary, []byte{1, 'a', 'b'}},
	}
	for _, c := range cases {
		if _, _, err := DecodeValue(c.src, c.dt); !kerr.Is(err, kerr.Corruption) {
			t.Errorf("DecodeValue(%x, %s): %v, want Corruption", c.src, c.dt, err)
		}
	}
	if _, _, err := DecodeValue([]byte{0}, arrow.FixedWidthTypes.Float16); !kerr.Is(err, kerr.InvalidArgument) {
		t.Errorf("float16: %v", err)
	}
	v, rest, err := DecodeValue([]byte{1, 0, 1, 0}, arrow.BinaryTypes.Binary)
	if b, ok := v.([]byte); err != nil || !ok || b == nil || len(b) != 0 || len(rest) != 1 {
		t.Errorf("empty binary decodes to %#v, %x, %v", v, rest, err)
	}
}

func TestPrefixEnd(t *testing.T) {
	cases := []struct{ in, want []byte }{
		{nil, nil},
		{[]byte{}, nil},
		{[]byte{0xFF}, nil},
		{[]byte{0xFF, 0xFF, 0xFF}, nil},
		{[]byte{0x00}, []byte{0x01}},
		{[]byte{1, 2, 3}, []byte{1, 2, 4}},
		{[]byte{1, 0xFF}, []byte{2}},
		{[]byte{1, 0xFE, 0xFF, 0xFF}, []byte{1, 0xFF}},
	}
	for _, c := range cases {
		in := append([]byte(nil), c.in...)
		got := PrefixEnd(in)
		if !bytes.Equal(got, c.want) || (got == nil) != (c.want == nil) {
			t.Errorf("PrefixEnd(%x) = %x, want %x", c.in, got, c.want)
		}
		if !bytes.Equal(in, c.in) {
			t.Errorf("PrefixEnd modified its input %x", c.in)
		}
	}
	// Property: end is above every extension of p and is not itself an extension.
	r := rand.New(rand.NewSource(9))
	for k := 0; k < 3000; k++ {
		p := make([]byte, r.Intn(4))
		for i := range p {
			p[i] = []byte{0, 1, 0xFE, 0xFF}[r.Intn(4)]
		}
		end := PrefixEnd(p)
		ext := append(append([]byte(nil), p...), make([]byte, r.Intn(3))...)
		for i := len(p); i < len(ext); i++ {
			ext[i] = byte(r.Intn(256))
		}
		if end == nil {
			if !allFF(p) {
				t.Fatalf("PrefixEnd(%x) = nil", p)
			}
			continue
		}
		if bytes.Compare(ext, end) >= 0 || bytes.HasPrefix(end, p) {
			t.Fatalf("PrefixEnd(%x) = %x, not above %x", p, end, ext)
		}
	}
}

func allFF(p []byte) bool {
	for _, c := range p {
		if c != 0xFF {
			return false
		}
	}
	return true
}

// FuzzStringOrder checks the string escape: order, composite order and round trip.
func FuzzStringOrder(f *testing.F) {
	f.Add("", "\x00", "a")
	f.Add("a", "a\x00", "\xff")
	f.Add("a\x00\x01", "a\x01", "")
	f.Add("\xff\xff", "\xff\x00", "\x00\x00")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		dt := arrow.BinaryTypes.String
		ea, eb := mustGo(t, dt, a), mustGo(t, dt, b)
		if got, want := sign(bytes.Compare(ea, eb)), sign(bytes.Compare([]byte(a), []byte(b))); got != want {
			t.Fatalf("%q vs %q: bytes %d, want %d", a, b, got, want)
		}
		// Composite (a, c) vs (b, c): the first column decides unless equal.
		ca, cb := mustGo(t, dt, a), mustGo(t, dt, b)
		ca = append(ca, mustGo(t, arrow.BinaryTypes.Binary, c)...)
		cb = append(cb, mustGo(t, arrow.BinaryTypes.Binary, []byte(c+"\x00"))...)
		want := sign(bytes.Compare([]byte(a), []byte(b)))
		if want == 0 {
			want = -1 // c < c+"\x00"
		}
		if got := sign(bytes.Compare(ca, cb)); got != want {
			t.Fatalf("(%q,%q) vs (%q,%q+NUL): bytes %d, want %d", a, c, b, c, got, want)
		}
		v, rest, err := DecodeValue(ca, dt)
		if err != nil || v != a {
			t.Fatalf("decode %q: %#v, %v", a, v, err)
		}
		v, rest, err = DecodeValue(rest, arrow.BinaryTypes.Binary)
		if err != nil || !bytes.Equal(v.([]byte), []byte(c)) || len(rest) != 0 {
			t.Fatalf("decode second column %q: %#v, %x, %v", c, v, rest, err)
		}
	})
}

// TestAppendAllMatchesAppend: for integer-like key columns without nulls,
// encoding a column at a time (AppendAll, FillRows) gives every row exactly the
// bytes Append gives it — each such type alone and composite, sliced —
// and a column with a null, or of another type, turns it off.
func TestAppendAllMatchesAppend(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var fixed []arrow.DataType
	for _, dt := range keyTypes {
		switch dt.ID() {
		case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
			arrow.DATE32, arrow.DATE64, arrow.TIME32, arrow.TIME64, arrow.TIMESTAMP, arrow.DURATION:
			fixed = append(fixed, dt)
		}
	}
	if len(fixed) < 14 {
		t.Fatalf("only %d integer-like key types in keyTypes", len(fixed))
	}
	r := rand.New(rand.NewSource(5))
	schemas := [][]arrow.DataType{{arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Int64}, fixed}
	for _, dt := range fixed {
		schemas = append(schemas, []arrow.DataType{dt})
	}
	for si, types := range schemas {
		const n = 500
		arrs := make([]arrow.Array, len(types))
		for c, dt := range types {
			vals := make([]any, n)
			for i := range vals {
				for vals[i] == nil {
					vals[i] = genValue(r, dt)
				}
			}
			arrs[c] = buildArray(t, mem, dt, vals)
		}
		for _, from := range []int{0, 7} {
			cols := make([]arrow.Array, len(arrs))
			for c := range arrs {
				cols[c] = array.NewSlice(arrs[c], int64(from), n)
			}
			re, err := NewRowEncoder(cols)
			if err != nil {
				t.Fatal(err)
			}
			w := re.FixedWidth()
			if w == 0 {
				t.Fatalf("schema %d (%v): no column-at-a-time encoding", si, types)
			}
			all := re.AppendAll([]byte("prefix"))
			if string(all[:6]) != "prefix" || len(all) != 6+(n-from)*w {
				t.Fatalf("schema %d: AppendAll wrote %d bytes after the prefix, want %d", si, len(all)-6, (n-from)*w)
			}
			for i := 0; i < n-from; i++ {
				if got, want := all[6+i*w:6+(i+1)*w], re.Append(nil, i); !bytes.Equal(got, want) {
					t.Fatalf("schema %d (%v) from %d row %d: AppendAll %x, Append %x", si, types, from, i, got, want)
				}
			}
			// A block of rows alone (FillRows) gives them the same bytes.
			part := make([]byte, 64*w)
			re.FillRows(part, 13, 77)
			for i := 13; i < 77; i++ {
				if got, want := part[(i-13)*w:(i-12)*w], re.Append(nil, i); !bytes.Equal(got, want) {
					t.Fatalf("schema %d (%v) from %d row %d: FillRows %x, Append %x", si, types, from, i, got, want)
				}
			}
			for _, c := range cols {
				c.Release()
			}
		}
		for _, a := range arrs {
			a.Release()
		}
	}
	// A null, or a string column, leaves AppendAll off.
	withNull := buildArray(t, mem, arrow.PrimitiveTypes.Int64, []any{int64(1), nil})
	str := buildArray(t, mem, arrow.BinaryTypes.String, []any{"a", "b"})
	ints := buildArray(t, mem, arrow.PrimitiveTypes.Int64, []any{int64(1), int64(2)})
	defer withNull.Release()
	defer str.Release()
	defer ints.Release()
	for _, cols := range [][]arrow.Array{{withNull}, {ints, str}, {ints, withNull}} {
		re, err := NewRowEncoder(cols)
		if err != nil {
			t.Fatal(err)
		}
		if re.FixedWidth() != 0 {
			t.Fatalf("%v: FixedWidth %d, want 0", cols, re.FixedWidth())
		}
	}
}
