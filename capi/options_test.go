package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/kalamdb/libkalam/engine"
	"github.com/kalamdb/libkalam/kerr"
)

func TestOpenOptions(t *testing.T) {
	opts, err := openOptions(`{"read_only": true, "create_if_missing": false, "session_id": "s-1",
		"max_concurrent_scans": 3, "node_id": 1023, "recover": true}`)
	if err != nil {
		t.Fatal(err)
	}
	want := engine.DefaultOptions()
	want.ReadOnly, want.CreateIfMissing, want.SessionID = true, false, "s-1"
	want.MaxConcurrentScans, want.NodeID, want.Recover = 3, 1023, true
	want.StorageOptions.HTTPClient = s3Connections()
	want.Buffers = scanBuffers()
	if !reflect.DeepEqual(opts, want) {
		t.Fatalf("got %+v, want %+v", opts, want)
	}
	for _, empty := range []string{"", "  ", "null", "{}"} {
		opts, err := openOptions(empty)
		want := engine.DefaultOptions()
		want.StorageOptions.HTTPClient = s3Connections()
		want.Buffers = scanBuffers()
		if err != nil || !reflect.DeepEqual(opts, want) {
			t.Errorf("%q: %+v %v", empty, opts, err)
		}
	}
	opts, err = openOptions(`{"storage": "s3://b/p", "storage_options": {"endpoint": "http://127.0.0.1:9", "region": "r",
		"access_key_id": "a", "secret_access_key": "s", "session_token": "t", "allow_http": true}}`)
	if err != nil {
		t.Fatal(err)
	}
	so := opts.StorageOptions
	if opts.Storage != "s3://b/p" || so.Endpoint != "http://127.0.0.1:9" || so.Region != "r" || so.AccessKeyID != "a" ||
		so.SecretAccessKey != "s" || so.SessionToken != "t" || so.AllowHTTP == nil || !*so.AllowHTTP {
		t.Fatalf("storage options: %+v", opts)
	}
	// Every store of the process shares one HTTP client (connections).
	if so.HTTPClient == nil || so.HTTPClient != s3Connections() {
		t.Fatalf("storage options' HTTP client %p, the process's %p", so.HTTPClient, s3Connections())
	}
	if o2, _ := openOptions(`{"storage": "s3://c/q"}`); o2.StorageOptions.HTTPClient != so.HTTPClient {
		t.Fatal("two opens got two HTTP clients")
	}
}

func TestOpenOptionsErrorsNameTheKey(t *testing.T) {
	cases := map[string]string{
		`{"readonly": true}`:                         `unknown key "readonly"`,
		`{"read_only": "yes"}`:                       `key "read_only": must be true or false`,
		`{"create_if_missing": 1}`:                   `key "create_if_missing"`,
		`{"session_id": ""}`:                         `key "session_id": must be a non-empty string`,
		`{"session_id": 5}`:                          `key "session_id"`,
		`{"max_concurrent_scans": 0}`:                `key "max_concurrent_scans": must be between 1`,
		`{"max_concurrent_scans": 2.5}`:              `key "max_concurrent_scans": must be an integer`,
		`{"node_id": -1}`:                            `key "node_id": must be between 0 and 1023`,
		`{"storage": 5}`:                             `key "storage": must be a non-empty string`,
		`{"storage_options": {"x": 1}}`:              `storage_options: unknown key "x"`,
		`{"storage_options": {"allow_http": "yes"}}`: `storage_options: key "allow_http": must be true or false`,
		`{"storage_options": []}`:                    `storage_options: must be a JSON object`,
		`{"node_id": 99999999999999999999}`:          `key "node_id": must be an integer`,
		`{"recover": null}`:                          `key "recover"`,
		`[true]`:                                     `must be a JSON object`,
		`{"read_only": true`:                         `invalid JSON`,
		`{"read_only": true} {"x": 1}`:               `trailing data`,
	}
	for text, want := range cases {
		_, err := openOptions(text)
		if kerr.CodeOf(err) != kerr.InvalidArgument || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want INVALID_ARGUMENT containing %q", text, err, want)
		}
	}
}

func TestTableOptions(t *testing.T) {
	got, err := tableOptions(`{"primary_key": "id,ts", "row_group_rows": 1000, "flush_rows": 2.5e3,
		"fast": false, "note": "a \"quoted\" value"}`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"primary_key": "id,ts", "row_group_rows": "1000", "flush_rows": "2.5e3",
		"fast": "false", "note": `a "quoted" value`}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for text, wantErr := range map[string]string{
		`{"primary_key": ["id"]}`: `key "primary_key": must be a string, number or boolean`,
		`{"x": {"y": 1}}`:         `key "x"`,
		`{"x": null}`:             `key "x"`,
		`{"": "v"}`:               `empty key`,
		`"id"`:                    `must be a JSON object`,
	} {
		_, err := tableOptions(text)
		if kerr.CodeOf(err) != kerr.InvalidArgument || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: %v, want %q", text, err, wantErr)
		}
	}
	if m, err := tableOptions(""); err != nil || len(m) != 0 {
		t.Fatalf("empty: %v %v", m, err)
	}
}
