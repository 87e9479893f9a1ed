package filter

import (
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

func BenchmarkEval(b *testing.B) {
	const n = 65536
	ids, names, fs, ts := make([]any, n), make([]any, n), make([]any, n), make([]any, n)
	for i := range ids {
		ids[i], names[i], fs[i], ts[i] = int64(i), fmt.Sprintf("user%05d", i%1000), float64(i)/3, int64(i)*1000
		if i%17 == 0 {
			names[i] = nil
		}
	}
	mem := newMem()
	rec := buildRecord(b, mem, []col{
		{"id", arrow.PrimitiveTypes.Int64, ids},
		{"name", arrow.BinaryTypes.String, names},
		{"f", arrow.PrimitiveTypes.Float64, fs},
		{"ts", &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, ts},
	})
	defer func() { rec.Release(); mem.AssertSize(b, 0) }()
	for _, src := range []string{
		"id >= 1000 AND id < 50000",
		"name = 'user00042'",
		"name IN ('user00001', 'user00002', 'user00003')",
		"f > 100.5 OR ts < '1970-01-01T00:00:10Z'",
	} {
		p, err := Compile(src, rec.Schema())
		if err != nil {
			b.Fatal(err)
		}
		b.Run(src, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(n)
			for i := 0; i < b.N; i++ {
				if _, err := p.Eval(rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
