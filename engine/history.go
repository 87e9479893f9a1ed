package engine

import (
	"encoding/binary"
	"encoding/json"
	"sort"

	"github.com/linxGnu/grocksdb"

	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/manifest"
)

// Operations recorded in a table's history (Python Table.history()).
const (
	opCreate  = "create"
	opFlush   = "flush"
	opCompact = "compact"
	opVacuum  = "vacuum"
	opAlter   = "alter"
)

// HistoryEntry is one manifest version of a table.
type HistoryEntry struct {
	Version         uint64 `json:"version"`
	Time            int64  `json:"time"` // Unix ms
	Operation       string `json:"operation"`
	SegmentsAdded   uint64 `json:"segments_added"`
	SegmentsRemoved uint64 `json:"segments_removed"`
}

const catHistoryPrefix = "hist\x00"

func historyPrefix(qname string) []byte { return []byte(catHistoryPrefix + qname + "\x00") }

func historyKey(qname string, version uint64) []byte {
	return binary.BigEndian.AppendUint64(historyPrefix(qname), version)
}

// putHistory adds the entry to a commit batch, so history and manifest
// versions never disagree.
func (st *store) putHistory(wb *grocksdb.WriteBatch, t *table, h HistoryEntry) {
	b, _ := json.Marshal(h)
	wb.PutCF(st.cfCat, historyKey(t.qname, h.Version), b)
}

// History returns one entry per manifest version of the table, oldest first.
func (db *DB) History(table string) ([]HistoryEntry, error) {
	exit, err := db.enter(false)
	if err != nil {
		return nil, err
	}
	defer exit()
	t, err := db.st.storedTable(table, "history")
	if err != nil {
		return nil, err
	}
	if db.st.remote {
		// A storage-only reader has the versions storage keeps; the commits
		// between them are inferred from their differences.
		vs, err := db.st.remoteVersions(t)
		if err != nil {
			return nil, err
		}
		var out []HistoryEntry
		var prev *manifest.Manifest
		for _, m := range vs {
			if prev != nil && m.Version != prev.Version+1 {
				prev = nil
			}
			out = append(out, inferHistory(prev, m))
			prev = m
		}
		return out, nil
	}
	prefix := historyPrefix(t.qname)
	ro := grocksdb.NewDefaultReadOptions()
	defer ro.Destroy()
	it := db.st.rdb.NewIteratorCF(ro, db.st.cfCat)
	defer it.Close()
	var out []HistoryEntry
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		var h HistoryEntry
		if err := json.Unmarshal(it.Value().Data(), &h); err != nil {
			return nil, kerr.Wrap(kerr.Corruption, err, "history of %s", t.qname)
		}
		out = append(out, h)
	}
	if err := it.Err(); err != nil {
		return nil, kerr.Wrap(kerr.IO, err, "history of %s", t.qname)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}
