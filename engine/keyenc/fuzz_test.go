package keyenc

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/big"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/kerr"
)

// fuzzInput hands out the fuzzer's bytes; past the end it yields zeros, so
// every input describes some key.
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

// fuzzValue derives a value of key type t from the input: a mode byte
// chooses NULL, an edge value of the type or raw bits, so the fuzzer reaches
// NaN payloads, ±0, ±Inf, extreme integers and embedded NULs easily.
func fuzzValue(in *fuzzInput, t arrow.DataType) any {
	mode := in.byte()
	if mode%11 == 0 {
		return nil
	}
	edge := mode%3 == 1
	pick := int(mode >> 4)
	sp := specOf(t)
	switch sp.kind {
	case kindSigned:
		bits := 8 * sp.width
		lo, hi := int64(-1)<<(bits-1), int64(uint64(1)<<(bits-1)-1)
		if edge {
			e := []int64{lo, hi, -1, 0, 1, lo + 1, hi - 1}
			return e[pick%len(e)]
		}
		raw := readUnsigned(in.bytes(sp.width))
		shift := 64 - bits
		return int64(raw<<shift) >> shift
	case kindUnsigned:
		hi := uint64(math.MaxUint64) >> (64 - 8*sp.width)
		if edge {
			e := []uint64{0, 1, hi, hi - 1, hi >> 1, hi>>1 + 1}
			return e[pick%len(e)]
		}
		return readUnsigned(in.bytes(sp.width))
	case kindFloat32, kindFloat64:
		if edge {
			e := []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(),
				math.Float64frombits(0xFFF8000000000001), 1, -1}
			if sp.kind == kindFloat32 {
				e = append(e, math.MaxFloat32, -math.SmallestNonzeroFloat32)
			} else {
				e = append(e, math.MaxFloat64, -math.SmallestNonzeroFloat64)
			}
			return e[pick%len(e)]
		}
		if sp.kind == kindFloat32 {
			return float64(math.Float32frombits(binary.BigEndian.Uint32(in.bytes(4))))
		}
		return math.Float64frombits(binary.BigEndian.Uint64(in.bytes(8)))
	case kindBool:
		return mode&0x10 != 0
	case kindString, kindBinary, kindFixedBinary:
		n := int(in.byte() % 12)
		if sp.kind == kindFixedBinary {
			n = sp.width
		}
		b := in.bytes(n)
		if edge { // the bytes the escape treats specially
			for i := range b {
				b[i] = []byte{0x00, 0x01, 0xFF, 0xFE, 'a'}[b[i]%5]
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
			e := []decimal128.Num{max, max.Negate(), decimal128.FromI64(0), decimal128.FromI64(-1), decimal128.FromI64(1)}
			return e[pick%len(e)]
		}
		raw := in.bytes(16)
		n := decimal128.New(int64(binary.BigEndian.Uint64(raw)), binary.BigEndian.Uint64(raw[8:]))
		if n.FitsInPrecision(prec) {
			return n
		}
		// Fold into the type's range, keeping the sign: v mod 10^prec.
		m := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(prec)), nil)
		return decimal128.FromBigInt(new(big.Int).Rem(n.BigInt(), m))
	}
}

// nearValue returns a value of t close to v (or v itself) as a relation byte
// says, so that ties and neighbours in leading columns are common and later
// columns and string prefixes get to decide the order.
func nearValue(in *fuzzInput, t arrow.DataType, v any) any {
	rel := in.byte()
	switch rel % 4 {
	case 0:
		return v
	case 1:
		switch x := v.(type) {
		case int64:
			if y := x + 1; fitsSigned(y, specOf(t).width) && y > x {
				return y
			}
		case uint64:
			if x > 0 {
				return x - 1
			}
		case string:
			if rel&0x10 != 0 && len(x) > 0 {
				return x[:len(x)-1]
			}
			return x + string([]byte{rel >> 5})
		case []byte:
			if specOf(t).kind == kindFixedBinary {
				return x
			}
			return append(append([]byte{}, x...), rel>>5)
		}
	}
	return fuzzValue(in, t)
}

// FuzzKeyOrder derives two composite keys of 1–3 columns of any key type
// (DESIGN §3 ordering: NULL first; floats -Inf < … < -0 = +0 < … < +Inf <
// NaN) from the input and checks:
//   - bytes.Compare of the encodings is the lexicographic value order;
//   - AppendGo, AppendValue and RowEncoder (also on arrays sliced to an
//     offset) produce the same bytes;
//   - decoding column by column returns equal values, consumes the key
//     exactly, and re-encoding a decoded value gives the same bytes;
//   - the input itself, as raw bytes, decoded as a key of the same columns:
//     no panic, errors are Corruption, a decoded value re-encodes to the
//     bytes it was read from (except non-canonical float bits, which must
//     decode to the value their canonical encoding has).
func FuzzKeyOrder(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 1, 2, 3, 4})
	f.Add([]byte{3, 9, 12, 1, 0x41, 0x10, 0x22, 5, 0xff, 0, 0xff})
	// One seed per key type: first column of that type, b next to a.
	for i := range keyTypes {
		f.Add([]byte{1, byte(i), 0x02, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 1, 0})
		f.Add([]byte{3, byte(i), byte(len(keyTypes) - 1 - i), 11, 0x14, 0x12, 0xfe, 0, 1, 0x25, 0x31, 0})
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &fuzzInput{b: data}
		ncols := 1 + int(in.byte()%3)
		types := make([]arrow.DataType, ncols)
		for c := range types {
			types[c] = keyTypes[int(in.byte())%len(keyTypes)]
		}
		a, b := make([]any, ncols), make([]any, ncols)
		for c, dt := range types {
			a[c] = fuzzValue(in, dt)
			b[c] = nearValue(in, dt, a[c])
		}
		ea, eb := encodeKey(t, types, a), encodeKey(t, types, b)
		want := 0
		for c := range a {
			if want = cmpValue(a[c], b[c]); want != 0 {
				break
			}
		}
		if got := sign(bytes.Compare(ea, eb)); got != want {
			t.Fatalf("%v: %#v vs %#v: bytes compare %d, values %d (%x vs %x)", types, a, b, got, want, ea, eb)
		}

		// The array paths agree with AppendGo.
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		arrs := make([]arrow.Array, ncols)
		sliced := make([]arrow.Array, ncols)
		for c, dt := range types {
			arrs[c] = buildArray(t, mem, dt, []any{a[c], b[c]})
			defer arrs[c].Release()
			sliced[c] = array.NewSlice(arrs[c], 1, 2)
			defer sliced[c].Release()
		}
		re, err := NewRowEncoder(arrs)
		if err != nil {
			t.Fatal(err)
		}
		se, err := NewRowEncoder(sliced)
		if err != nil {
			t.Fatal(err)
		}
		var va, vb []byte
		for c := range arrs {
			va, vb = AppendValue(va, arrs[c], 0), AppendValue(vb, arrs[c], 1)
		}
		for _, p := range []struct {
			what      string
			got, want []byte
		}{{"AppendValue(a)", va, ea}, {"AppendValue(b)", vb, eb}, {"RowEncoder(a)", re.Append(nil, 0), ea},
			{"RowEncoder(b)", re.Append(nil, 1), eb}, {"sliced RowEncoder(b)", se.Append(nil, 0), eb}} {
			if !bytes.Equal(p.got, p.want) {
				t.Fatalf("%v %#v %#v: %s = %x, AppendGo gives %x", types, a, b, p.what, p.got, p.want)
			}
		}

		for _, k := range []struct {
			vals []any
			enc  []byte
		}{{a, ea}, {b, eb}} {
			rest := k.enc
			for c, dt := range types {
				start := rest
				var v any
				if v, rest, err = DecodeValue(rest, dt); err != nil {
					t.Fatalf("DecodeValue(%x, %s): %v", start, dt, err)
				}
				if (v == nil) != (k.vals[c] == nil) || cmpValue(v, k.vals[c]) != 0 {
					t.Fatalf("column %d (%s): decoded %#v, encoded %#v", c, dt, v, k.vals[c])
				}
				if again := mustGo(t, dt, v); !bytes.Equal(again, start[:len(start)-len(rest)]) {
					t.Fatalf("column %d (%s): %#v re-encodes as %x, was %x", c, dt, v, again, start[:len(start)-len(rest)])
				}
			}
			if len(rest) != 0 {
				t.Fatalf("%x: %d bytes left after decoding %d columns", k.enc, len(rest), ncols)
			}
		}

		decodeArbitrary(t, types, data)
	})
}

// encodeKey concatenates AppendGo of every column.
func encodeKey(t *testing.T, types []arrow.DataType, vals []any) []byte {
	t.Helper()
	var k []byte
	for c, dt := range types {
		var err error
		if k, err = AppendGo(k, dt, vals[c]); err != nil {
			t.Fatalf("AppendGo(%s, %#v): %v", dt, vals[c], err)
		}
	}
	return k
}

// decodeArbitrary decodes src as a key of types, column after column, and
// checks what any successfully decoded value must satisfy.
func decodeArbitrary(t *testing.T, types []arrow.DataType, src []byte) {
	t.Helper()
	rest := src
	for _, dt := range types {
		start := rest
		v, next, err := DecodeValue(rest, dt)
		if err != nil {
			if !kerr.Is(err, kerr.Corruption) {
				t.Fatalf("DecodeValue(%x, %s): error %v is not Corruption", start, dt, err)
			}
			if !bytes.Equal(next, start) {
				t.Fatalf("DecodeValue(%x, %s) failed but consumed input", start, dt)
			}
			return
		}
		if len(next) >= len(start) || !bytes.Equal(next, start[len(start)-len(next):]) {
			t.Fatalf("DecodeValue(%x, %s) returned %x, not a proper suffix", start, dt, next)
		}
		read := start[:len(start)-len(next)]
		again, err := AppendGo(nil, dt, v)
		if err != nil {
			// Corrupt bytes may hold a decimal wider than the type's
			// precision; everything else decodes to a value of the type.
			if _, isDec := v.(decimal128.Num); !isDec || !kerr.Is(err, kerr.InvalidArgument) {
				t.Fatalf("DecodeValue(%x, %s) = %#v, which does not encode: %v", read, dt, v, err)
			}
			rest = next
			continue
		}
		if !bytes.Equal(again, read) {
			// Only floats have several encodings of one value (NaN payloads,
			// -0); the canonical one must decode to the same value.
			if k := specOf(dt).kind; k != kindFloat32 && k != kindFloat64 {
				t.Fatalf("DecodeValue(%x, %s) = %#v, which encodes as %x: two encodings of one key", read, dt, v, again)
			}
			back, _, err := DecodeValue(again, dt)
			if err != nil || cmpValue(back, v) != 0 {
				t.Fatalf("float %#v from %x: canonical %x decodes to %#v (%v)", v, read, again, back, err)
			}
		}
		rest = next
	}
}
