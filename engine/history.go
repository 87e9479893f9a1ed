package engine

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
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
		// A storage-only reader has the versions storage keeps and the
		// history mirror; the commits after it are inferred from the
		// versions' differences.
		vs, err := db.st.remoteVersions(t)
		if err != nil {
			return nil, err
		}
		stored, err := db.st.storedHistory(context.Background(), t.prefix)
		if err != nil {
			return nil, err
		}
		return historyOf(stored, vs), nil
	}
	return db.st.catalogHistory(t)
}

// catalogHistory reads t's history from the catalog, oldest first.
func (st *store) catalogHistory(t *table) ([]HistoryEntry, error) {
	prefix := historyPrefix(t.qname)
	ro := grocksdb.NewDefaultReadOptions()
	defer ro.Destroy()
	it := st.rdb.NewIteratorCF(ro, st.cfCat)
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

// historyFileName is the table-relative name of the history mirror: the
// catalog's history entries, written before version files go (vacuum, and
// open's sync of _versions/). History lives in the catalog, and a recover
// (or a storage-only reader) that finds only the versions storage still
// holds could infer the commits between those alone: the vacuumed
// versions' rows were lost, and the first kept version, whose predecessor
// was gone, was labelled by what it added (a compaction read as a flush).
const historyFileName = versionsDir + "/history.json"

// mirrorHistory writes t's catalog history to storage (historyFileName).
func (st *store) mirrorHistory(ctx context.Context, t *table) error {
	hs, err := st.catalogHistory(t)
	if err != nil {
		return err
	}
	b, err := json.Marshal(hs)
	if err != nil {
		return kerr.Wrap(kerr.Internal, err, "encode history of %s", t.qname)
	}
	if err := st.storage.WriteFile(ctx, t.prefix+"/"+historyFileName, b); err != nil {
		return fmt.Errorf("mirror history of %s: %w", t.qname, err)
	}
	return nil
}

// storedHistory reads the history mirror under a table's prefix, by
// version; nil when there is none or it does not decode (history is then
// inferred from the versions, as before the mirror existed). A read that
// fails otherwise (the disk, the server) is an error: a recover that
// inferred history then would have made it the catalog's for good.
func (st *store) storedHistory(ctx context.Context, prefix string) (map[uint64]HistoryEntry, error) {
	b, err := st.storage.ReadFile(ctx, prefix+"/"+historyFileName)
	if kerr.Is(err, kerr.NotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var hs []HistoryEntry
	if json.Unmarshal(b, &hs) != nil {
		return nil, nil
	}
	out := make(map[uint64]HistoryEntry, len(hs))
	for _, h := range hs {
		out[h.Version] = h
	}
	return out, nil
}

// historyOf is the history of a table whose storage holds versions
// (oldest first) and the history mirror stored: the mirrored entries as
// they were recorded, and for the versions after them entries inferred
// from each version and the one before it.
func historyOf(stored map[uint64]HistoryEntry, versions []*manifest.Manifest) []HistoryEntry {
	var out []HistoryEntry
	for _, h := range stored {
		out = append(out, h)
	}
	var prev *manifest.Manifest
	for _, m := range versions {
		if prev != nil && m.Version != prev.Version+1 {
			prev = nil
		}
		if _, ok := stored[m.Version]; !ok {
			out = append(out, inferHistory(prev, m))
		}
		prev = m
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out
}
