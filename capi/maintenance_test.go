package main

import (
	"strings"
	"testing"

	"github.com/kalamdb/libkalam/engine"
	"github.com/kalamdb/libkalam/kerr"
)

func TestCompactOptions(t *testing.T) {
	opts, err := compactOptions(`{"target_rows": 500, "min_segments": 3}`)
	if err != nil {
		t.Fatal(err)
	}
	if want := (engine.CompactOptions{TargetRows: 500, MinSegments: 3}); opts != want {
		t.Fatalf("got %+v, want %+v", opts, want)
	}
	for _, empty := range []string{"", " ", "null", "{}"} {
		opts, err := compactOptions(empty)
		if err != nil || opts != (engine.CompactOptions{}) {
			t.Errorf("%q: %+v %v", empty, opts, err)
		}
	}
}

func TestCompactOptionsErrorsNameTheKey(t *testing.T) {
	cases := map[string]string{
		`{"target_row": 5}`:         `unknown key "target_row"`,
		`{"target_rows": 0}`:        `key "target_rows": must be between 1`,
		`{"target_rows": "5"}`:      `key "target_rows": must be an integer`,
		`{"min_segments": -1}`:      `key "min_segments": must be between 0`,
		`{"min_segments": 1.5}`:     `key "min_segments": must be an integer`,
		`[1]`:                       `must be a JSON object`,
		`{"target_rows": 5`:         `invalid JSON`,
		`{"target_rows": 5} {}`:     `trailing data`,
		`{"min_segments": null}`:    `key "min_segments": must be an integer`,
		`{"target_rows": 1e3}`:      `key "target_rows": must be an integer`,
		`{"target_rows": 1, "x":1}`: `unknown key "x"`,
	}
	for in, want := range cases {
		_, err := compactOptions(in)
		if err == nil || kerr.CodeOf(err) != kerr.InvalidArgument || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want INVALID_ARGUMENT containing %q", in, err, want)
		}
	}
}
