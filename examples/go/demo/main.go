// Command demo builds a small store with the Go engine API: it loads sample
// events, flushes a few segments, runs a filtered scan and prints its plan.
//
//	go run ./examples/go/demo [-dir ./demo-data-go] [-rows 200000]
package main

import (
	"flag"
	"fmt"
	"log"
	"math/rand"
	"os"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/engine"
	"github.com/kalamdb/libkalam/kerr"
)

var schema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "user_id", Type: arrow.BinaryTypes.String},
	{Name: "event_time", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	{Name: "kind", Type: arrow.BinaryTypes.String},
	{Name: "payload_size", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
}, nil)

func main() {
	dir := flag.String("dir", "./demo-data-go", "store directory")
	rows := flag.Int("rows", 200000, "events to load")
	segments := flag.Int("segments", 4, "segments to flush")
	flag.Parse()
	log.SetFlags(0)

	db, err := engine.Open(*dir, engine.DefaultOptions())
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := db.CreateNamespace("app"); err != nil && !kerr.Is(err, kerr.AlreadyExists) {
		log.Fatal(err)
	}
	if err := db.DropTable("app.events"); err != nil && !kerr.Is(err, kerr.NotFound) {
		log.Fatal(err)
	}
	if _, err := db.CreateTable("app.events", "shared", schema, map[string]string{"primary_key": "id"}); err != nil {
		log.Fatal(err)
	}
	mem := memory.DefaultAllocator
	r := rand.New(rand.NewSource(42))
	kinds := []string{"click", "view", "purchase", "signup"}
	start := time.Now()
	per := *rows / *segments
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	for s := 0; s < *segments; s++ {
		b := array.NewRecordBuilder(mem, schema)
		for i := 0; i < per; i++ {
			id := int64(s*per + i)
			b.Field(0).(*array.Int64Builder).Append(id)
			b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("user_%03d", r.Intn(500)))
			b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(base + id*1_000_000))
			b.Field(3).(*array.StringBuilder).Append(kinds[r.Intn(len(kinds))])
			b.Field(4).(*array.Int32Builder).Append(int32(r.Intn(4096)))
			b.Field(5).(*array.Float64Builder).Append(float64(r.Intn(100000)) / 100)
		}
		rec := b.NewRecordBatch()
		b.Release()
		if _, err := db.AppendRecord("app.events", rec); err != nil {
			log.Fatal(err)
		}
		rec.Release()
		id, err := db.Flush("app.events")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("flushed segment %d/%d: %s\n", s+1, *segments, id)
	}
	fmt.Printf("loaded %d rows in %v\n", per**segments, time.Since(start).Round(time.Millisecond))

	req := engine.ScanRequest{Filter: fmt.Sprintf("id BETWEEN %d AND %d AND kind = 'purchase'", per, per+999), Limit: -1}
	plan, err := db.Explain("app.events", req)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("explain: %s\n", plan)
	t0 := time.Now()
	s, err := db.Scan("app.events", req)
	if err != nil {
		log.Fatal(err)
	}
	n := 0
	for {
		rec, err := s.Next()
		if err != nil {
			log.Fatal(err)
		}
		if rec == nil {
			break
		}
		n += int(rec.NumRows())
		rec.Release()
	}
	s.Close()
	fmt.Printf("selective scan: %d rows in %v\n", n, time.Since(t0).Round(time.Microsecond))
	for _, name := range []string{"tables", "segments"} {
		st, err := db.SystemTable(name, engine.ScanRequest{Limit: -1})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("system.%s:\n", name)
		for {
			rec, err := st.Next()
			if err != nil {
				log.Fatal(err)
			}
			if rec == nil {
				break
			}
			for i := 0; i < int(rec.NumRows()); i++ {
				fmt.Print("  ")
				for c := 0; c < int(rec.NumCols()); c++ {
					if c > 0 {
						fmt.Print(" | ")
					}
					fmt.Print(rec.Column(c).ValueStr(i))
				}
				fmt.Println()
			}
			rec.Release()
		}
		st.Close()
	}
	if n == 0 {
		fmt.Fprintln(os.Stderr, "selective scan returned no rows")
		os.Exit(1)
	}
}
