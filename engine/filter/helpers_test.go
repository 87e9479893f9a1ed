package filter

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/kalamdb/libkalam/kerr"
)

// col is one test column: a field and its Values (nil = NULL).
type col struct {
	name string
	typ  arrow.DataType
	vals []any
}

// buildArray appends Values of the shared convention to a builder of typ.
func buildArray(t testing.TB, mem memory.Allocator, typ arrow.DataType, vals []any) arrow.Array {
	t.Helper()
	b := array.NewBuilder(mem, typ)
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
		case *array.Float16Builder:
			bb.Append(float16.New(float32(v.(float64))))
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
		case *array.Decimal128Builder:
			bb.Append(v.(decimal128.Num))
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
		case *array.ListBuilder:
			bb.Append(true)
			vb := bb.ValueBuilder().(*array.Int64Builder)
			for _, x := range v.([]int64) {
				vb.Append(x)
			}
		default:
			t.Fatalf("buildArray: no case for %T", b)
		}
	}
	return b.NewArray()
}

func schemaOf(cols []col) *arrow.Schema {
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = arrow.Field{Name: c.name, Type: c.typ, Nullable: true}
	}
	return arrow.NewSchema(fields, nil)
}

// buildRecord builds a record of cols; the caller releases it.
func buildRecord(t testing.TB, mem memory.Allocator, cols []col) arrow.RecordBatch {
	t.Helper()
	arrs := make([]arrow.Array, len(cols))
	n := -1
	for i, c := range cols {
		arrs[i] = buildArray(t, mem, c.typ, c.vals)
		if n >= 0 && n != len(c.vals) {
			t.Fatalf("column %s has %d values, want %d", c.name, len(c.vals), n)
		}
		n = len(c.vals)
	}
	rec := array.NewRecordBatch(schemaOf(cols), arrs, int64(n))
	for _, a := range arrs {
		a.Release()
	}
	return rec
}

// selected evaluates src on rec and returns the indices of the selected
// rows.
func selected(t testing.TB, src string, rec arrow.RecordBatch) []int {
	t.Helper()
	p, err := Compile(src, rec.Schema())
	if err != nil {
		t.Fatalf("Compile(%q): %v", src, err)
	}
	sel, err := p.Eval(rec)
	if err != nil {
		t.Fatalf("Eval(%q): %v", src, err)
	}
	if len(sel) != int(rec.NumRows()) {
		t.Fatalf("Eval(%q): %d results for %d rows", src, len(sel), rec.NumRows())
	}
	out := []int{}
	for i, s := range sel {
		if s {
			out = append(out, i)
		}
	}
	return out
}

func fmtInts(v []int) string { return fmt.Sprint(v) }

// wantInvalid asserts err is INVALID_ARGUMENT with exactly msg, or containing
// every fragment when msg starts with "~".
func wantInvalid(t testing.TB, what string, err error, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %q", what, msg)
	}
	var ke *kerr.Error
	if !errors.As(err, &ke) || kerr.CodeOf(err) != kerr.InvalidArgument {
		t.Fatalf("%s: error %v has code %v, want INVALID_ARGUMENT", what, err, kerr.CodeOf(err))
	}
	if strings.HasPrefix(msg, "~") {
		for _, frag := range strings.Split(msg[1:], "|") {
			if !strings.Contains(err.Error(), frag) {
				t.Fatalf("%s: error %q does not contain %q", what, err, frag)
			}
		}
		return
	}
	if err.Error() != msg {
		t.Fatalf("%s: error %q, want %q", what, err, msg)
	}
}

func newMem() *memory.CheckedAllocator {
	return memory.NewCheckedAllocator(memory.NewGoAllocator())
}

func big64(v int64) string { return fmt.Sprint(v) }

func decimalOf(v int64) decimal128.Num { return decimal128.FromI64(v) }
