package arrowexport_test

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/kalamdb/libkalam/arrowexport"
	"github.com/kalamdb/libkalam/arrowexport/internal/ctest"
)

// importOne hands one host batch (columns c0.. of schema, rows rows) to the
// importer and returns what it read: the batch or the error.
func importOne(t *testing.T, schema *arrow.Schema, rows int64, cols []*ctest.HostArray) (arrow.RecordBatch, error) {
	t.Helper()
	host := ctest.NewFuzzHost(schema, []*ctest.HostArray{{Length: rows, Buffers: []ctest.HostBuffer{{Null: true}}, Children: cols}})
	t.Cleanup(host.Free)
	rdr, err := arrowexport.ImportStream(host.Stream())
	if err != nil {
		t.Fatalf("ImportStream: %v", err)
	}
	t.Cleanup(rdr.Release)
	if !rdr.Next() {
		return nil, rdr.Err()
	}
	rec := rdr.RecordBatch()
	rec.Retain()
	t.Cleanup(rec.Release)
	return rec, nil
}

// A null-typed column (what pyarrow infers for an all-None pandas column)
// and a run-end encoded one are valid C data with no buffers; arrow-go's
// importer builds them without the buffer slot its own ValidateFull wants,
// so every such column used to fail with "invalid data: expected at least 1
// buffers". Found by FuzzImport.
func TestImportNullAndRunEndEncodedColumns(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ree := arrow.RunEndEncodedOf(arrow.PrimitiveTypes.Int32, arrow.BinaryTypes.String)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "n", Type: arrow.Null, Nullable: true},
		{Name: "r", Type: ree, Nullable: true},
		{Name: "l", Type: arrow.ListOf(arrow.Null), Nullable: true},
	}, nil)
	// r: runs "ab" ×2, "c" ×1; l: [null, null], [], [null]
	rec, err := importOne(t, schema, 3, []*ctest.HostArray{
		{Length: 3, NullCount: 3},
		{Length: 3, Children: []*ctest.HostArray{
			{Length: 2, Buffers: []ctest.HostBuffer{{Null: true}, {Data: []byte{2, 0, 0, 0, 3, 0, 0, 0}}}},
			{Length: 2, Buffers: []ctest.HostBuffer{{Null: true}, {Data: []byte{0, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0}}, {Data: []byte("abc")}}},
		}},
		{Length: 3, Buffers: []ctest.HostBuffer{{Null: true}, {Data: []byte{0, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0}}},
			Children: []*ctest.HostArray{{Length: 3, NullCount: 3}}},
	})
	if err != nil {
		t.Fatalf("valid null, run-end encoded and list<null> columns refused: %v", err)
	}
	if rec.NumRows() != 3 || rec.Column(0).NullN() != 3 {
		t.Fatalf("null column: %d rows, %d nulls", rec.NumRows(), rec.Column(0).NullN())
	}
	r := rec.Column(1).(*array.RunEndEncoded)
	vals := r.Values().(*array.String)
	ends := r.RunEndsArr().(*array.Int32)
	if ends.Len() != 2 || ends.Value(0) != 2 || ends.Value(1) != 3 || vals.Value(0) != "ab" || vals.Value(1) != "c" {
		t.Fatalf("run-end encoded column imported as %v", r)
	}
	if l := rec.Column(2).(*array.List); l.ListValues().Len() != 3 || l.ListValues().NullN() != 3 {
		t.Fatalf("list<null> column imported as %v", l)
	}
	for i := 0; i < int(rec.NumCols()); i++ {
		if err := array.ValidateFull(rec.Column(i)); err != nil {
			t.Fatalf("column %d does not validate after import: %v", i, err)
		}
	}
}
