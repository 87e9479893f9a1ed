package engine

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// TestMergePaths: overlapping segments (upserts and deletes across many
// flushes, row groups of 7, keys with nulls) merge to the newest version of
// every key whichever way the merge decides: by segment age without
// reading _seq (the default: disjoint _seq ranges), by _seq (asked for),
// keeping tombstones for the filter (_deleted asked for), through pqarrow,
// and with hot rows on top; checked against a model of the writes.
func TestMergePaths(t *testing.T) {
	db, mem, _ := testDB(t)
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "v", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	if _, err := db.CreateTable("m", "", sch, map[string]string{"primary_key": "id", "row_group_rows": "7"}); err != nil {
		t.Fatal(err)
	}
	model := map[string]string{} // key ("null" or the id) -> v
	rng := rand.New(rand.NewSource(11))
	write := func(n int, tag string) {
		b := array.NewRecordBuilder(mem, sch)
		defer b.Release()
		seen := map[int64]bool{}
		for i := 0; i < n; i++ {
			id := int64(rng.Intn(300))
			if seen[id] {
				continue
			}
			seen[id] = true
			v := fmt.Sprintf("%s-%d", tag, id)
			if id == 0 {
				b.Field(0).AppendNull() // a null key sorts first
				model["null"] = v
			} else {
				b.Field(0).(*array.Int64Builder).Append(id)
				model[fmt.Sprint(id)] = v
			}
			b.Field(1).(*array.StringBuilder).Append(v)
		}
		rec := b.NewRecordBatch()
		defer rec.Release()
		if _, err := db.AppendRecord("m", rec); err != nil {
			t.Fatal(err)
		}
	}
	del := func(lo, hi int) {
		if _, err := db.DeleteWhere("m", fmt.Sprintf("id >= %d AND id < %d", lo, hi)); err != nil {
			t.Fatal(err)
		}
		for id := lo; id < hi; id++ {
			delete(model, fmt.Sprint(id))
		}
	}
	check := func(stage string) {
		t.Helper()
		want := map[string]string{}
		for k, v := range model {
			want[k] = v
		}
		for _, req := range []ScanRequest{
			{Limit: -1, Columns: []string{"id", "v"}},
			{Limit: -1, Columns: []string{"id", "v", "_seq"}},
			{Limit: -1, Columns: []string{"id", "v", "_deleted"}, BatchRows: 5},
			{Limit: -1, Columns: []string{"id", "v"}, Filter: "v >= 'w'"},
		} {
			for _, narrow := range []bool{true, false} {
				narrowReads = narrow
				s, err := db.Scan("m", req)
				if err != nil {
					t.Fatal(err)
				}
				rows := collect(t, s)
				got := map[string]string{}
				var prev string
				for i, r := range rows {
					k := fmt.Sprint(r["id"])
					if r["id"] == nil {
						k = "null"
						if i != 0 {
							t.Fatalf("%s %+v: the null key is row %d, not first", stage, req, i)
						}
					} else if i > 0 && rows[i-1]["id"] != nil && r["id"].(int64) <= rows[i-1]["id"].(int64) {
						t.Fatalf("%s %+v: keys out of order at row %d (%s after %s)", stage, req, i, k, prev)
					}
					if _, dup := got[k]; dup {
						t.Fatalf("%s %+v: key %s twice", stage, req, k)
					}
					if d, ok := r["_deleted"]; ok && d != false {
						t.Fatalf("%s %+v: a tombstone in the output", stage, req)
					}
					got[k] = r["v"].(string)
					prev = k
				}
				for k, v := range want {
					if req.Filter != "" && v < "w" {
						continue
					}
					if got[k] != v {
						t.Fatalf("%s %+v narrow=%v: key %s = %q, want %q", stage, req, narrow, k, got[k], v)
					}
				}
				n := 0
				for _, v := range want {
					if req.Filter == "" || v >= "w" {
						n++
					}
				}
				if len(got) != n {
					t.Fatalf("%s %+v narrow=%v: %d keys, want %d", stage, req, narrow, len(got), n)
				}
			}
			narrowReads = true
		}
	}
	tags := []string{"a", "b", "c", "d", "e", "w", "x", "y"}
	for i, tag := range tags {
		write(120, tag)
		if i%3 == 1 {
			del(40+i*10, 60+i*10)
		}
		if _, err := db.Flush("m"); err != nil {
			t.Fatal(err)
		}
		check("after flush " + tag)
	}
	write(30, "z") // hot rows: merged by _seq
	del(100, 110)
	check("hot")
	if _, err := db.Compact("m", CompactOptions{TargetRows: 50}); err != nil {
		t.Fatal(err)
	}
	write(40, "zz") // compacted outputs (their _seq ranges overlap) and new rows
	if _, err := db.Flush("m"); err != nil {
		t.Fatal(err)
	}
	check("after compaction")
}
