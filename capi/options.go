package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/memory/mallocator"

	"github.com/kalamdb/libkalam/engine"
	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/storage"
)

// parseObject decodes a JSON object, keeping each value raw so that errors
// can name the key. Empty or whitespace-only text and JSON null mean "no
// options".
func parseObject(what, text string) (map[string]json.RawMessage, []string, error) {
	trimmed := strings.TrimSpace(text)
	if trimmed == "" || trimmed == "null" {
		return nil, nil, nil
	}
	if trimmed[0] != '{' {
		return nil, nil, kerr.New(kerr.InvalidArgument, "%s: must be a JSON object, got %.40q", what, trimmed)
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, nil, kerr.New(kerr.InvalidArgument, "%s: invalid JSON: %v", what, err)
	}
	if dec.More() {
		return nil, nil, kerr.New(kerr.InvalidArgument, "%s: trailing data after the JSON object", what)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return raw, keys, nil
}

// s3Connections is the one HTTP client of every store this process opens on
// object storage. A worker runs scan splits one after another, each through
// a storage-only reader of its own; with a client per reader every split
// opened new connections (a TLS handshake each on a real object store).
// Process-wide like the handle table, and like Go's http.DefaultTransport;
// idle connections close after 90 s.
var s3Connections = sync.OnceValue(storage.NewHTTPClient)

// scanBuffers is the one buffer pool of every store this process opens,
// for the same worker: each split's reader would otherwise start with no
// buffer to reuse, and every column buffer of its scan would be a fresh
// mmap that the kernel faults in and zeroes (a third of a scan's CPU).
// What it keeps is bounded (recycleRetainBound) and goes back after ten
// seconds unused.
var scanBuffers = sync.OnceValue(func() *engine.BufferPool { return engine.NewBufferPool(mallocator.NewMallocator()) })

// openOptions turns kalam_open's options_json into engine options.
func openOptions(text string) (engine.Options, error) {
	opts := engine.DefaultOptions()
	opts.StorageOptions.HTTPClient = s3Connections()
	opts.Buffers = scanBuffers()
	raw, keys, err := parseObject("options_json", text)
	if err != nil {
		return opts, err
	}
	for _, k := range keys {
		v := raw[k]
		var err error
		switch k {
		case "read_only":
			opts.ReadOnly, err = jsonBool(v)
		case "create_if_missing":
			opts.CreateIfMissing, err = jsonBool(v)
		case "recover":
			opts.Recover, err = jsonBool(v)
		case "session_id":
			err = json.Unmarshal(v, &opts.SessionID)
			if err != nil || opts.SessionID == "" {
				err = fmt.Errorf("must be a non-empty string")
			}
		case "max_concurrent_scans":
			var n int64
			n, err = jsonInt(v, 1, math.MaxInt32)
			opts.MaxConcurrentScans = int(n)
		case "node_id":
			var n int64
			n, err = jsonInt(v, 0, 1023)
			opts.NodeID = int(n)
		case "storage":
			err = json.Unmarshal(v, &opts.Storage)
			if err != nil || opts.Storage == "" {
				err = fmt.Errorf("must be a non-empty string (a path or s3://bucket/prefix)")
			}
		case "storage_options":
			if err := storageOptions(v, &opts.StorageOptions); err != nil {
				return opts, err
			}
		default:
			return opts, kerr.New(kerr.InvalidArgument,
				"options_json: unknown key %q (known: read_only, create_if_missing, session_id, max_concurrent_scans, node_id, recover, storage, storage_options)", k)
		}
		if err != nil {
			return opts, kerr.New(kerr.InvalidArgument, "options_json: key %q: %v", k, err)
		}
	}
	return opts, nil
}

// storageOptions reads "storage_options" (DESIGN §10): JSON scalars,
// allow_http a bool, the others strings.
func storageOptions(v json.RawMessage, so *storage.Options) error {
	raw, keys, err := parseObject("options_json: storage_options", string(v))
	if err != nil {
		return err
	}
	for _, k := range keys {
		var err error
		switch k {
		case "allow_http":
			var b bool
			if b, err = jsonBool(raw[k]); err == nil {
				so.AllowHTTP = &b
			}
		case "endpoint", "region", "access_key_id", "secret_access_key", "session_token":
			var s string
			if json.Unmarshal(raw[k], &s) != nil {
				err = fmt.Errorf("must be a string, got %s", raw[k])
			}
			switch k {
			case "endpoint":
				so.Endpoint = s
			case "region":
				so.Region = s
			case "access_key_id":
				so.AccessKeyID = s
			case "secret_access_key":
				so.SecretAccessKey = s
			case "session_token":
				so.SessionToken = s
			}
		default:
			return kerr.New(kerr.InvalidArgument,
				"options_json: storage_options: unknown key %q (known: endpoint, region, access_key_id, secret_access_key, session_token, allow_http)", k)
		}
		if err != nil {
			return kerr.New(kerr.InvalidArgument, "options_json: storage_options: key %q: %v", k, err)
		}
	}
	return nil
}

func jsonBool(v json.RawMessage) (bool, error) {
	var b bool
	// Unmarshal accepts null for a bool and leaves it unchanged; an option
	// set to null is a mistake worth reporting.
	if err := json.Unmarshal(v, &b); err != nil || string(bytes.TrimSpace(v)) == "null" {
		return false, fmt.Errorf("must be true or false, got %s", v)
	}
	return b, nil
}

func jsonInt(v json.RawMessage, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("must be an integer, got %s", v)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("must be between %d and %d, got %d", lo, hi, n)
	}
	return n, nil
}

// tableOptions turns kalam_create_table's options_json into the table's
// option map: values are strings; numbers and booleans are kept as written.
func tableOptions(text string) (map[string]string, error) {
	raw, keys, err := parseObject("options_json", text)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		if k == "" {
			return nil, kerr.New(kerr.InvalidArgument, "options_json: empty key")
		}
		v := bytes.TrimSpace(raw[k])
		switch {
		case len(v) > 0 && v[0] == '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, kerr.New(kerr.InvalidArgument, "options_json: key %q: %v", k, err)
			}
			out[k] = s
		case string(v) == "true" || string(v) == "false":
			out[k] = string(v)
		case len(v) > 0 && (v[0] == '-' || v[0] >= '0' && v[0] <= '9'):
			out[k] = string(v)
		default:
			return nil, kerr.New(kerr.InvalidArgument,
				"options_json: key %q: must be a string, number or boolean, got %s", k, v)
		}
	}
	return out, nil
}
