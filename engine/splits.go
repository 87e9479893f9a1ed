package engine

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/manifest"
)

// Scan splits (DESIGN §10): a scan of one committed version divided into
// key-range tasks that run anywhere a storage-only reader could open. The
// ranges partition the key space, so each key is in exactly one split; a
// split reads every segment that can hold a key of its range, so newest
// wins inside it exactly as in the whole scan.

// DefaultSplitRows is about how many rows a split reads by default.
const DefaultSplitRows = 1 << 20

// ScanSplit is one split. It is small and self-contained: it names the
// storage root, not how to authenticate to it.
type ScanSplit struct {
	Storage  string   `json:"storage"`
	Table    string   `json:"table"`
	Version  uint64   `json:"version"`
	KeyLo    hexKey   `json:"key_lo"` // inclusive; null: unbounded
	KeyHi    hexKey   `json:"key_hi"` // exclusive; null: unbounded
	Columns  []string `json:"columns"`
	Filter   string   `json:"filter,omitempty"`
	Batch    int64    `json:"batch_rows,omitempty"`
	Segments []string `json:"segments"`
	Rows     uint64   `json:"rows"` // rows of its segments: an upper bound of what it returns
	// TableDef and Manifest make the split self-contained: the table's
	// definition (table.json) and the version's manifest holding only the
	// segments the split reads. A worker then reads no metadata object
	// before the data (two requests less per split, each a round trip to
	// object storage). Absent (a split made by an older library): both are
	// read from storage.
	TableDef json.RawMessage `json:"table_def,omitempty"`
	Manifest json.RawMessage `json:"manifest,omitempty"`
}

// hexKey is an encoded key as hex in JSON (null when nil).
type hexKey []byte

// MarshalJSON renders the key as hex or null.
func (k hexKey) MarshalJSON() ([]byte, error) {
	if k == nil {
		return []byte("null"), nil
	}
	return json.Marshal(hex.EncodeToString(k))
}

// UnmarshalJSON reads hex or null.
func (k *hexKey) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*k = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	if err != nil {
		return err
	}
	*k = append(hexKey{}, v...)
	return nil
}

// ScanSplits divides the scan req of table into splits of about
// targetRows rows (<= 0: DefaultSplitRows), at most maxSplits of them
// (<= 0: no cap). The scan reads req's version, or the latest committed
// one; hot rows are not part of it (flush first to include them).
func (db *DB) ScanSplits(table string, req ScanRequest, maxSplits int, targetRows int64) ([]ScanSplit, error) {
	exit, err := db.enter(false)
	if err != nil {
		return nil, err
	}
	defer exit()
	if req.Limit >= 0 {
		return nil, kerr.New(kerr.InvalidArgument, "splits of %q: a limit applies to the whole scan; apply it to the splits' results", table)
	}
	t, err := db.st.storedTable(table, "splits")
	if err != nil {
		return nil, err
	}
	if targetRows <= 0 {
		targetRows = DefaultSplitRows
	}
	version, err := db.st.resolveVersion(t, req)
	if err != nil {
		return nil, err
	}
	if version == 0 {
		m, err := db.st.latestManifest(t)
		if err != nil {
			return nil, err
		}
		version = m.Version
	}
	req.AsOfVersion, req.AsOfTimeMs = int64(version), 0
	p, err := db.st.planScan(t, req)
	if err != nil {
		return nil, err
	}
	defer p.close()
	var segs []*planInput
	for _, in := range p.inputs {
		if in.seg != nil {
			segs = append(segs, in)
		}
	}
	sort.SliceStable(segs, func(i, j int) bool { return bytes.Compare(segs[i].minKey, segs[j].minKey) < 0 })
	// Boundaries: the min key of the segment that starts a new split, once
	// the rows gathered reach the target.
	var bounds [][]byte
	var acc uint64
	for i, in := range segs {
		if i > 0 && acc >= uint64(targetRows) && bytes.Compare(in.minKey, segs[i-1].minKey) > 0 {
			bounds = append(bounds, in.minKey)
			acc = 0
		}
		acc += in.seg.RowCount
	}
	for maxSplits > 0 && len(bounds)+1 > maxSplits {
		// Too many: drop every other boundary (merging neighbours).
		kept := bounds[:0]
		for i, b := range bounds {
			if i%2 == 1 {
				kept = append(kept, b)
			}
		}
		bounds = kept
	}
	cols := req.Columns
	if cols == nil {
		cols = p.outNames
	}
	def, err := json.Marshal(p.t.currentDef())
	if err != nil {
		return nil, kerr.Wrap(kerr.Internal, err, "splits of %s: encode the table definition", p.t.qname)
	}
	var out []ScanSplit
	for i := 0; i <= len(bounds); i++ {
		var lo, hi []byte
		if i > 0 {
			lo = bounds[i-1]
		}
		if i < len(bounds) {
			hi = bounds[i]
		}
		sp := ScanSplit{Storage: db.st.storage.String(), Table: p.t.qname, Version: version, KeyLo: lo, KeyHi: hi,
			Columns: append([]string{}, cols...), Filter: req.Filter, Batch: req.BatchRows, Segments: []string{}}
		kr := manifest.KeyRange{Lo: lo, Hi: hi}
		// The split's manifest: the version's, with only the segments it
		// reads. Leaving out the others changes nothing a scan of its range
		// returns: they hold no key of the range, or the planner pruned them
		// (then nothing older than them is masked by them either: DESIGN §4).
		// A shallow copy: it is only encoded, and cloning every segment of
		// the version per split would cost splits × segments.
		m := *p.rs.man
		m.Segments = []manifest.SegmentMetadata{}
		for _, in := range segs {
			if in.seg.Overlaps(kr) {
				sp.Segments = append(sp.Segments, in.seg.ID)
				sp.Rows += in.seg.RowCount
				m.Segments = append(m.Segments, *in.seg)
			}
		}
		if sp.Manifest, err = manifest.Encode(&m); err != nil {
			return nil, kerr.Wrap(kerr.Internal, err, "splits of %s: encode the manifest", p.t.qname)
		}
		sp.TableDef = def
		out = append(out, sp)
	}
	return out, nil
}

// OpenSplit runs a split: it opens a storage-only reader on the split's
// storage (with opts' storage options) and scans the split's version and
// key range. Closing the stream closes that reader.
func OpenSplit(sp ScanSplit, opts Options) (Stream, error) {
	if sp.Storage == "" || sp.Table == "" || sp.Version == 0 {
		return nil, kerr.New(kerr.InvalidArgument, "split: storage, table and version are required")
	}
	if sp.KeyLo != nil && sp.KeyHi != nil && bytes.Compare(sp.KeyLo, sp.KeyHi) >= 0 {
		return nil, kerr.New(kerr.InvalidArgument, "split: key_lo is not below key_hi")
	}
	opts.Storage = sp.Storage
	opts.ReadOnly = true
	var db *DB
	var err error
	if len(sp.TableDef) > 0 && len(sp.Manifest) > 0 {
		db, err = openSplitTable(opts, sp)
	} else {
		db, err = openRemoteTable(opts, sp.Table, sp.Version)
	}
	if err != nil {
		return nil, err
	}
	s, err := db.Scan(sp.Table, ScanRequest{Columns: sp.Columns, Filter: sp.Filter, Limit: -1, BatchRows: sp.Batch,
		AsOfVersion: int64(sp.Version), keyLo: sp.KeyLo, keyHi: sp.KeyHi, keyBounded: true})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &ownedStream{Stream: s, db: db}, nil
}

// ownedStream closes the reader it was opened on with itself.
type ownedStream struct {
	Stream
	db *DB
}

func (o *ownedStream) Close() {
	o.Stream.Close()
	o.db.Close()
}

// Schema is the split's result schema.
func (o *ownedStream) Schema() *arrow.Schema { return o.Stream.Schema() }

// openSplitTable opens a storage-only store holding the split's table as
// the split describes it, reading nothing from storage.
func openSplitTable(opts Options, sp ScanSplit) (*DB, error) {
	return openRemoteWith(opts, func(st *store) error {
		ns, name, err := splitTableName(sp.Table)
		if err != nil {
			return err
		}
		var def tableDef
		if err := json.Unmarshal(sp.TableDef, &def); err != nil {
			return kerr.Wrap(kerr.InvalidArgument, err, "split: table_def")
		}
		def.Namespace, def.Name = ns, name
		t, err := st.newTable(&def)
		if err != nil {
			return kerr.Wrap(kerr.InvalidArgument, err, "split: table_def")
		}
		m, err := manifest.Decode(sp.Manifest)
		if err == nil {
			err = m.Validate()
		}
		if err != nil {
			return kerr.Wrap(kerr.InvalidArgument, err, "split: manifest")
		}
		if m.Version != sp.Version || m.TableID.NamespaceID != ns || m.TableID.TableName != name {
			return kerr.New(kerr.InvalidArgument, "split: its manifest is version %d of %s, the split names version %d of %s",
				m.Version, m.TableID, sp.Version, sp.Table)
		}
		t.man = m
		st.catMu.Lock()
		st.tables[ns+"."+name] = t
		st.namespaces[ns] = t.def.CreatedAt
		st.catMu.Unlock()
		return nil
	})
}
