package segment

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
)

// TestSupported: columns outside the reader's subset are reported with a
// reason, and reading them is ErrUnsupported (the caller's cue to use
// pqarrow); supported columns of the same file still read.
func TestSupported(t *testing.T) {
	mem := memory.DefaultAllocator
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "list", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true},
		{Name: "st", Type: arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int32, Nullable: true}), Nullable: true},
		{Name: "d64", Type: arrow.FixedWidthTypes.Date64, Nullable: true},
		{Name: "tss", Type: &arrow.TimestampType{Unit: arrow.Second}, Nullable: true},
		{Name: "t32s", Type: arrow.FixedWidthTypes.Time32s, Nullable: true},
		{Name: "f16", Type: arrow.FixedWidthTypes.Float16, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, sch)
	defer b.Release()
	for i := 0; i < 5; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		for c := 1; c < sch.NumFields(); c++ {
			b.Field(c).AppendNull()
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	f := openBytes(t, writeSegment(t, rec, writeVariant{codec: compress.Codecs.Zstd, dict: true, rgRows: 5}))
	want := map[string]string{"list": "nested", "st": "nested", "f16": "not decoded"}
	// pqarrow writes these in another unit than its ARROW:schema names:
	// they are reported, and read, as the type their values have.
	held := map[string]string{"id": "int64", "d64": "date32", "tss": "timestamp[ms]", "t32s": "time32[ms]"}
	for c := 0; c < f.NumColumns(); c++ {
		name := f.Column(c).Name
		ok, why := f.Supported(c)
		if h, is := held[name]; is {
			if got := f.Column(c).Type.String(); got != h && !strings.HasPrefix(got, h+"[") {
				t.Errorf("%s: type %s, want %s", name, got, h)
			}
		}
		if _, is := held[name]; is {
			if !ok {
				t.Fatalf("%s unsupported: %s", name, why)
			}
			a, err := f.ReadColumn(context.Background(), 0, c, mem)
			if err != nil || a.Len() != 5 || a.DataType().String() != f.Column(c).Type.String() {
				t.Fatalf("%s: %v", name, err)
			}
			a.Release()
			continue
		}
		if ok || !strings.Contains(why, want[name]) {
			t.Errorf("%s: Supported = %v, %q; want false mentioning %q", name, ok, why, want[name])
		}
		if _, err := f.ReadColumn(context.Background(), 0, c, mem); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: read error %v, want ErrUnsupported", name, err)
		}
	}

	// Codecs and encodings outside the subset.
	one := arrow.NewSchema([]arrow.Field{{Name: "v", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil)
	ob := array.NewRecordBuilder(mem, one)
	defer ob.Release()
	for i := 0; i < 100; i++ {
		ob.Field(0).(*array.Int64Builder).Append(int64(i * i))
	}
	orec := ob.NewRecordBatch()
	defer orec.Release()
	gz := openBytes(t, writeSegment(t, orec, writeVariant{codec: compress.Codecs.Gzip, rgRows: 100}))
	if ok, why := gz.Supported(0); ok || !strings.Contains(why, "GZIP") {
		t.Errorf("gzip: %v %q", ok, why)
	}
	delta := openBytes(t, writeWithProps(t, orec, parquet.WithDictionaryDefault(false),
		parquet.WithEncoding(parquet.Encodings.DeltaBinaryPacked)))
	if ok, why := delta.Supported(0); ok || !strings.Contains(why, "DELTA_BINARY_PACKED") {
		t.Errorf("delta: %v %q", ok, why)
	}
}
