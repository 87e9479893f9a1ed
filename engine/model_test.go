package engine

import (
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/kerr"
)

// The model-based test drives the engine and a plain map with the same random
// operations and compares every scan with what the map says.

type mrow struct {
	id int64
	v  *int64
	s  *string
}

var modelSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "v", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

// tri is SQL three-valued truth: 0 false, 1 true, 2 unknown.
type tri int

const (
	tFalse tri = iota
	tTrue
	tNull
)

func triNot(a tri) tri {
	switch a {
	case tTrue:
		return tFalse
	case tFalse:
		return tTrue
	}
	return tNull
}

func triAnd(a, b tri) tri {
	if a == tFalse || b == tFalse {
		return tFalse
	}
	if a == tTrue && b == tTrue {
		return tTrue
	}
	return tNull
}

func triOr(a, b tri) tri {
	if a == tTrue || b == tTrue {
		return tTrue
	}
	if a == tFalse && b == tFalse {
		return tFalse
	}
	return tNull
}

type mexpr struct {
	sql  string
	eval func(r mrow) tri
}

func cmpTri(c int, op string) tri {
	ok := map[string]bool{"=": c == 0, "!=": c != 0, "<": c < 0, "<=": c <= 0, ">": c > 0, ">=": c >= 0}[op]
	if ok {
		return tTrue
	}
	return tFalse
}

func sign[T int64 | string](a, b T) int {
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	return 0
}

var ops = []string{"=", "!=", "<", "<=", ">", ">="}

func genExpr(r *rand.Rand, depth int) mexpr {
	if depth > 0 && r.Intn(3) == 0 {
		a, b := genExpr(r, depth-1), genExpr(r, depth-1)
		switch r.Intn(3) {
		case 0:
			return mexpr{"(" + a.sql + ") AND (" + b.sql + ")", func(x mrow) tri { return triAnd(a.eval(x), b.eval(x)) }}
		case 1:
			return mexpr{"(" + a.sql + ") OR (" + b.sql + ")", func(x mrow) tri { return triOr(a.eval(x), b.eval(x)) }}
		default:
			return mexpr{"NOT (" + a.sql + ")", func(x mrow) tri { return triNot(a.eval(x)) }}
		}
	}
	op := ops[r.Intn(len(ops))]
	switch r.Intn(7) {
	case 0, 1:
		k := int64(r.Intn(220) - 10)
		return mexpr{fmt.Sprintf("id %s %d", op, k), func(x mrow) tri { return cmpTri(sign(x.id, k), op) }}
	case 2:
		lo := int64(r.Intn(200))
		hi := lo + int64(r.Intn(40))
		return mexpr{fmt.Sprintf("id BETWEEN %d AND %d", lo, hi), func(x mrow) tri {
			if x.id >= lo && x.id <= hi {
				return tTrue
			}
			return tFalse
		}}
	case 3:
		k := int64(r.Intn(10))
		return mexpr{fmt.Sprintf("v %s %d", op, k), func(x mrow) tri {
			if x.v == nil {
				return tNull
			}
			return cmpTri(sign(*x.v, k), op)
		}}
	case 4:
		k := string(rune('a' + r.Intn(5)))
		return mexpr{fmt.Sprintf("s %s '%s'", op, k), func(x mrow) tri {
			if x.s == nil {
				return tNull
			}
			return cmpTri(sign(*x.s, k), op)
		}}
	case 5:
		if r.Intn(2) == 0 {
			return mexpr{"v IS NULL", func(x mrow) tri {
				if x.v == nil {
					return tTrue
				}
				return tFalse
			}}
		}
		return mexpr{"s IS NOT NULL", func(x mrow) tri {
			if x.s != nil {
				return tTrue
			}
			return tFalse
		}}
	default:
		vals := []int64{int64(r.Intn(10)), int64(r.Intn(10)), int64(r.Intn(200))}
		not := r.Intn(2) == 0
		col := "v"
		if r.Intn(2) == 0 {
			col = "id"
		}
		kw := "IN"
		if not {
			kw = "NOT IN"
		}
		return mexpr{fmt.Sprintf("%s %s (%d, %d, %d)", col, kw, vals[0], vals[1], vals[2]), func(x mrow) tri {
			var val int64
			if col == "v" {
				if x.v == nil {
					return tNull
				}
				val = *x.v
			} else {
				val = x.id
			}
			in := tFalse
			for _, c := range vals {
				if c == val {
					in = tTrue
				}
			}
			if not {
				return triNot(in)
			}
			return in
		}}
	}
}

func modelBatch(mem memory.Allocator, rows []mrow) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, modelSchema)
	defer b.Release()
	for _, r := range rows {
		b.Field(0).(*array.Int64Builder).Append(r.id)
		if r.v == nil {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.Int64Builder).Append(*r.v)
		}
		if r.s == nil {
			b.Field(2).AppendNull()
		} else {
			b.Field(2).(*array.StringBuilder).Append(*r.s)
		}
	}
	return b.NewRecordBatch()
}

func keyBatch(mem memory.Allocator, ids []int64) arrow.RecordBatch {
	sch := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := array.NewRecordBuilder(mem, sch)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).AppendValues(ids, nil)
	return b.NewRecordBatch()
}

func fmtRow(r mrow, cols []string) string {
	var parts []string
	for _, c := range cols {
		switch c {
		case "id":
			parts = append(parts, fmt.Sprint(r.id))
		case "v":
			if r.v == nil {
				parts = append(parts, "<nil>")
			} else {
				parts = append(parts, fmt.Sprint(*r.v))
			}
		case "s":
			if r.s == nil {
				parts = append(parts, "<nil>")
			} else {
				parts = append(parts, *r.s)
			}
		}
	}
	return strings.Join(parts, ",")
}

func TestModelBased(t *testing.T) {
	seeds := []int64{1, 2, 3, 4}
	if testing.Short() {
		seeds = seeds[:1]
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { runModel(t, seed, 120, seed%2 == 0) })
	}
}

func runModel(t *testing.T, seed int64, steps int, maintenance bool) {
	r := rand.New(rand.NewSource(seed))
	dir := t.TempDir()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	open := func() *DB {
		opts := DefaultOptions()
		opts.Allocator = mem
		db, err := Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	db := open()
	defer func() {
		db.Close()
		mem.AssertSize(t, 0)
	}()
	if _, err := db.CreateTable("m", "", modelSchema, map[string]string{"primary_key": "id", "row_group_rows": "16"}); err != nil {
		t.Fatal(err)
	}
	model := map[int64]mrow{}
	segModel := map[int64]mrow{}
	versions := map[int64]map[int64]mrow{1: {}}
	lastVacuum := int64(0)
	for step := 0; step < steps; step++ {
		switch op := r.Intn(10); {
		case op < 4: // append (upserts included)
			n := 1 + r.Intn(30)
			rows := make([]mrow, n)
			for i := range rows {
				row := mrow{id: int64(r.Intn(200))}
				if r.Intn(5) > 0 {
					v := int64(r.Intn(10))
					row.v = &v
				}
				if r.Intn(5) > 0 {
					s := string(rune('a' + r.Intn(5)))
					row.s = &s
				}
				rows[i] = row
				model[row.id] = row
			}
			rec := modelBatch(mem, rows)
			if _, err := db.AppendRecord("m", rec); err != nil {
				t.Fatalf("step %d append: %v", step, err)
			}
			rec.Release()
		case op < 6: // delete
			n := 1 + r.Intn(10)
			ids := make([]int64, n)
			want := map[int64]bool{}
			for i := range ids {
				ids[i] = int64(r.Intn(220))
				if _, ok := model[ids[i]]; ok {
					want[ids[i]] = true
				}
			}
			for id := range want {
				delete(model, id)
			}
			rec := keyBatch(mem, ids)
			rdr, _ := array.NewRecordReader(rec.Schema(), []arrow.RecordBatch{rec})
			got, err := db.Delete("m", rdr)
			rdr.Release()
			rec.Release()
			if err != nil || got != int64(len(want)) {
				t.Fatalf("step %d delete %v: got %d, %v; want %d", step, ids, got, err, len(want))
			}
		case op < 8:
			if _, err := db.Flush("m"); err != nil {
				t.Fatalf("step %d flush: %v", step, err)
			}
			segModel = cloneModel(model)
			versions[currentVersion(t, db)] = segModel
		case op < 9 && maintenance:
			if r.Intn(2) == 0 {
				rep, err := db.Compact("m", CompactOptions{TargetRows: int64(1 + r.Intn(80))})
				if err != nil {
					t.Fatalf("step %d compact: %v", step, err)
				}
				if !rep.Skipped && rep.TombstonesDropped+rep.RowsWritten+rep.VersionsDropped != rep.RowsRead {
					t.Fatalf("step %d compact report does not add up: %+v", step, rep)
				}
			} else {
				if _, err := db.Vacuum("m", 0, false); err != nil {
					t.Fatalf("step %d vacuum: %v", step, err)
				}
				lastVacuum = currentVersion(t, db)
			}
			versions[currentVersion(t, db)] = segModel
		default:
			db.Close()
			db = open()
		}
		for q := 0; q < 3; q++ {
			checkModelScan(t, r, db, model, step, 0)
		}
		if maintenance && len(versions) > 0 {
			// A scan at a random earlier version reads exactly that version's
			// segments, or is NOT_FOUND because a vacuum removed its files.
			var vs []int64
			for v := range versions {
				vs = append(vs, v)
			}
			sort.Slice(vs, func(i, j int) bool { return vs[i] < vs[j] })
			v := vs[r.Intn(len(vs))]
			if err := tryModelScanAt(t, r, db, versions[v], step, v); err != nil {
				if !kerr.Is(err, kerr.NotFound) || lastVacuum <= v {
					t.Fatalf("step %d scan at version %d: %v", step, v, err)
				}
			}
		}
	}
}

func currentVersion(t *testing.T, db *DB) int64 {
	m, err := db.Manifest("m")
	if err != nil {
		t.Fatal(err)
	}
	return int64(m.Version)
}

func cloneModel(m map[int64]mrow) map[int64]mrow {
	out := make(map[int64]mrow, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func checkModelScan(t *testing.T, r *rand.Rand, db *DB, model map[int64]mrow, step int, version int64) {
	t.Helper()
	if err := tryModelScanAt(t, r, db, model, step, version); err != nil {
		t.Fatalf("step %d scan: %v", step, err)
	}
}

// tryModelScanAt runs a random scan (at version, 0 = latest) and compares it
// with model; errors from the engine are returned, mismatches fail the test.
func tryModelScanAt(t *testing.T, r *rand.Rand, db *DB, model map[int64]mrow, step int, version int64) error {
	t.Helper()
	all := []string{"id", "v", "s"}
	cols := all
	if r.Intn(2) == 0 {
		cols = nil
		for _, c := range all {
			if r.Intn(2) == 0 {
				cols = append(cols, c)
			}
		}
		if len(cols) == 0 {
			cols = []string{"s"}
		}
	}
	var e *mexpr
	if r.Intn(4) > 0 {
		x := genExpr(r, 2)
		e = &x
	}
	limit := int64(-1)
	if r.Intn(3) == 0 {
		limit = int64(r.Intn(50))
	}
	batch := int64(1 + r.Intn(40))
	if r.Intn(4) == 0 {
		batch = 5000 // and sometimes larger than the inputs' own batches
	}
	req := ScanRequest{Columns: cols, Limit: limit, BatchRows: batch, AsOfVersion: version}
	if e != nil {
		req.Filter = e.sql
	}
	ids := make([]int64, 0, len(model))
	for id := range model {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var want []string
	for _, id := range ids {
		if e != nil && e.eval(model[id]) != tTrue {
			continue
		}
		if limit >= 0 && int64(len(want)) >= limit {
			break
		}
		want = append(want, fmtRow(model[id], cols))
	}
	s, err := db.Scan("m", req)
	if err != nil {
		return err
	}
	var got []string
	for {
		rec, err := s.Next()
		if err != nil {
			s.Close()
			return err
		}
		if rec == nil {
			break
		}
		if rec.NumRows() > batch {
			t.Fatalf("step %d: batch of %d rows > batch_rows %d", step, rec.NumRows(), batch)
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			var row mrow
			for c, f := range rec.Schema().Fields() {
				col := rec.Column(c)
				switch f.Name {
				case "id":
					row.id = col.(*array.Int64).Value(i)
				case "v":
					if col.IsValid(i) {
						v := col.(*array.Int64).Value(i)
						row.v = &v
					}
				case "s":
					if col.IsValid(i) {
						v := col.(*array.String).Value(i)
						row.s = &v
					}
				}
			}
			got = append(got, fmtRow(row, cols))
		}
		rec.Release()
	}
	s.Close()
	if strings.Join(got, ";") != strings.Join(want, ";") {
		plan, _ := db.Explain("m", req)
		t.Fatalf("step %d scan version=%d cols=%v filter=%q limit=%d:\n got  %v\n want %v\nplan %s", step, version, cols, req.Filter, limit, got, want, plan)
	}
	return nil
}
