package engine

import (
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/kalamdb/libkalam/manifest"
)

// statsCollector gathers min, max and null count of each orderable user
// column of a segment as it is written (manifest extension column_stats).
// Values are kept in the filter package's Value convention: int64 for signed
// and temporal types, uint64, float64, string, bool.
type statsCollector struct {
	schema *arrow.Schema
	cols   []*colStat
}

type colStat struct {
	name     string
	has      bool
	min, max any
	nulls    uint64
	ok       bool // type supported
	badFloat bool // NaN seen: min/max of floats with NaN are not recorded
}

func newStatsCollector(schema *arrow.Schema) *statsCollector {
	sc := &statsCollector{schema: schema}
	for _, f := range schema.Fields() {
		if f.Name == colSeq || f.Name == colDeleted {
			sc.cols = append(sc.cols, nil)
			continue
		}
		sc.cols = append(sc.cols, &colStat{name: f.Name, ok: statsSupported(f.Type)})
	}
	return sc
}

func statsSupported(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT32, arrow.FLOAT64, arrow.STRING, arrow.LARGE_STRING, arrow.BOOL,
		arrow.DATE32, arrow.DATE64, arrow.TIMESTAMP, arrow.TIME32, arrow.TIME64, arrow.DURATION:
		return true
	}
	return false
}

func (sc *statsCollector) add(rec arrow.RecordBatch) {
	for i, cs := range sc.cols {
		if cs == nil {
			continue
		}
		arr := rec.Column(i)
		cs.nulls += uint64(arr.NullN())
		if !cs.ok || arr.NullN() == arr.Len() {
			continue
		}
		switch a := arr.(type) {
		case *array.Int8:
			addOrdered(cs, a.Len(), a.IsNull, func(i int) int64 { return int64(a.Value(i)) })
		case *array.Int16:
			addOrdered(cs, a.Len(), a.IsNull, func(i int) int64 { return int64(a.Value(i)) })
		case *array.Int32:
			addOrdered(cs, a.Len(), a.IsNull, func(i int) int64 { return int64(a.Value(i)) })
		case *array.Int64:
			addOrdered(cs, a.Len(), a.IsNull, func(i int) int64 { return a.Value(i) })
		case *array.Date32:
			addOrdered(cs, a.Len(), a.IsNull, func(i int) int64 { return int64(a.Value(i)) })
		case *array.Date64:
			addOrdered(cs, a.Len(), a.IsNull, func(i int) int64 { return int64(a.Value(i)) })
		case *array.Timestamp:
			addOrdered(cs, a.Len(), a.IsNull, func(i int) int64 { return int64(a.Value(i)) })
		case *array.Time32:
			addOrdered(cs, a.Len(), a.IsNull, func(i int) int64 { return int64(a.Value(i)) })
		case *array.Time64:
			addOrdered(cs, a.Len(), a.IsNull, func(i int) int64 { return int64(a.Value(i)) })
		case *array.Duration:
			addOrdered(cs, a.Len(), a.IsNull, func(i int) int64 { return int64(a.Value(i)) })
		case *array.Uint8:
			addOrdered(cs, a.Len(), a.IsNull, func(i int) uint64 { return uint64(a.Value(i)) })
		case *array.Uint16:
			addOrdered(cs, a.Len(), a.IsNull, func(i int) uint64 { return uint64(a.Value(i)) })
		case *array.Uint32:
			addOrdered(cs, a.Len(), a.IsNull, func(i int) uint64 { return uint64(a.Value(i)) })
		case *array.Uint64:
			addOrdered(cs, a.Len(), a.IsNull, func(i int) uint64 { return a.Value(i) })
		case *array.Float32:
			addFloat(cs, a.Len(), a.IsNull, func(i int) float64 { return float64(a.Value(i)) })
		case *array.Float64:
			addFloat(cs, a.Len(), a.IsNull, a.Value)
		case *array.String:
			addOrdered(cs, a.Len(), a.IsNull, a.Value)
		case *array.LargeString:
			addOrdered(cs, a.Len(), a.IsNull, a.Value)
		case *array.Boolean:
			addBool(cs, a)
		}
	}
}

func addOrdered[T int64 | uint64 | float64 | string](cs *colStat, n int, isNull func(int) bool, val func(int) T) {
	var lo, hi T
	have := false
	if cs.has {
		lo, hi, have = cs.min.(T), cs.max.(T), true
	}
	for i := 0; i < n; i++ {
		if isNull(i) {
			continue
		}
		v := val(i)
		if !have {
			lo, hi, have = v, v, true
			continue
		}
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	if have {
		if s, ok := any(lo).(string); ok {
			// Copy: the string may alias an Arrow buffer released later.
			lo = any(string([]byte(s))).(T)
			hi = any(string([]byte(any(hi).(string)))).(T)
		}
		cs.min, cs.max, cs.has = lo, hi, true
	}
}

func addFloat(cs *colStat, n int, isNull func(int) bool, val func(int) float64) {
	for i := 0; i < n; i++ {
		if !isNull(i) && math.IsNaN(val(i)) {
			cs.badFloat = true
		}
	}
	if cs.badFloat {
		return
	}
	addOrdered(cs, n, isNull, val)
}

func addBool(cs *colStat, a *array.Boolean) {
	for i := 0; i < a.Len(); i++ {
		if a.IsNull(i) {
			continue
		}
		v := a.Value(i)
		if !cs.has {
			cs.min, cs.max, cs.has = v, v, true
			continue
		}
		if !v {
			cs.min = false
		} else {
			cs.max = true
		}
	}
}

func (sc *statsCollector) result() map[string]manifest.ColumnStat {
	out := map[string]manifest.ColumnStat{}
	for _, cs := range sc.cols {
		if cs == nil || !cs.ok {
			continue
		}
		st := manifest.ColumnStat{NullCount: cs.nulls}
		if cs.has && !cs.badFloat {
			st.Min, st.Max = cs.min, cs.max
		}
		out[cs.name] = st
	}
	return out
}
