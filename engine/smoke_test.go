package engine

import (
	"encoding/json"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var eventsSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "kind", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
}, nil)

func eventsBatch(mem memory.Allocator, ids []int64, kinds []string, amounts []float64) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, eventsSchema)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).AppendValues(ids, nil)
	b.Field(1).(*array.StringBuilder).AppendValues(kinds, nil)
	b.Field(2).(*array.Float64Builder).AppendValues(amounts, nil)
	return b.NewRecordBatch()
}

func TestSmokeAppendFlushScan(t *testing.T) {
	db, mem, _ := testDB(t)
	if err := db.CreateNamespace("app"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateTable("app.events", "", eventsSchema, map[string]string{"primary_key": "id"}); err != nil {
		t.Fatal(err)
	}
	rec := eventsBatch(mem, []int64{3, 1, 2}, []string{"c", "a", "b"}, []float64{3, 1, 2})
	if n, err := db.AppendRecord("app.events", rec); err != nil || n != 3 {
		t.Fatalf("append: %d %v", n, err)
	}
	rec.Release()
	s, err := db.Scan("app.events", allRows())
	if err != nil {
		t.Fatal(err)
	}
	if got := rowsString(collect(t, s), "id", "kind"); got != "1,a;2,b;3,c" {
		t.Fatalf("hot scan: %s", got)
	}
	id, err := db.Flush("app.events")
	if err != nil || id == "" {
		t.Fatalf("flush: %q %v", id, err)
	}
	// Upsert id 2 and add 4 in hot rows: the merge must pick the new version.
	rec = eventsBatch(mem, []int64{2, 4}, []string{"B", "d"}, []float64{20, 4})
	if _, err := db.AppendRecord("app.events", rec); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	s, err = db.Scan("app.events", allRows())
	if err != nil {
		t.Fatal(err)
	}
	if got := rowsString(collect(t, s), "id", "kind", "amount"); got != "1,a,1;2,B,20;3,c,3;4,d,4" {
		t.Fatalf("merged scan: %s", got)
	}
	s, err = db.Scan("app.events", ScanRequest{Filter: "id >= 3", Limit: -1, Columns: []string{"kind"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := rowsString(collect(t, s), "kind"); got != "c;d" {
		t.Fatalf("filtered scan: %s", got)
	}
	plan, err := db.Explain("app.events", ScanRequest{Filter: "id >= 3", Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(plan, &doc); err != nil {
		t.Fatalf("explain json: %v\n%s", err, plan)
	}
	t.Logf("%s", plan)
}
