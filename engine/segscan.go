package engine

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kalamdb/libkalam/engine/exec"
	"github.com/kalamdb/libkalam/engine/filter"
	"github.com/kalamdb/libkalam/kerr"
)

// ScanSegment reads one segment file as stored: every version and tombstone
// it holds, in key order. The default projection is the user columns plus
// _seq and _deleted; filter and limit apply to the stored rows.
func (db *DB) ScanSegment(table, segmentID string, req ScanRequest) (Stream, error) {
	exit, err := db.enter(false)
	if err != nil {
		return nil, err
	}
	defer exit()
	t, err := db.st.storedTable(table, "segment scan")
	if err != nil {
		return nil, err
	}
	version, err := db.st.resolveVersion(t, req)
	if err != nil {
		return nil, err
	}
	// The same read state as a table scan: a version vacuum took is
	// NotFound, and the segment stays pinned while the stream is open.
	rs, err := db.st.acquire(t, version)
	if err != nil {
		return nil, err
	}
	t = rs.t // a storage-only reader may have reloaded the table
	snap := rs
	seg, ok := snap.man.Segment(segmentID)
	if !ok {
		snap.release(db.st)
		return nil, kerr.New(kerr.NotFound, "table %s: segment %q not found in manifest version %d", t.qname, segmentID, snap.man.Version)
	}
	if seg.Tombstone && !t.pinIfKept(rs, seg.ID) {
		snap.release(db.st)
		return nil, kerr.New(kerr.NotFound, "table %s: segment %q was removed by vacuum", t.qname, segmentID)
	}
	what := fmt.Sprintf("scan segment %s of %s", segmentID, t.qname)
	segSchema := rs.view.segmentSchema()
	names, out, err := resolveColumns(segSchema, req.Columns, userColumnNames(segSchema), what)
	if err != nil {
		snap.release(db.st)
		return nil, err
	}
	pred, err := filter.Compile(req.Filter, segSchema)
	if err != nil {
		snap.release(db.st)
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	needed := map[string]bool{colDeleted: true}
	for _, n := range names {
		needed[n] = true
	}
	if pred != nil {
		for _, c := range pred.Columns() {
			needed[c] = true
		}
	}
	var wf []arrow.Field
	for _, f := range segSchema.Fields() {
		if needed[f.Name] {
			wf = append(wf, f)
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	rc := newReadCtx(ctx, db.st, t, rs, rs.view, req.BatchRows)
	work := arrow.NewSchema(wf, nil)
	segSrc, err := rc.newSegSource(&planInput{seg: seg}, work, false, 0)
	if err != nil {
		stop()
		snap.release(db.st)
		return nil, err
	}
	fs := exec.NewFilter(segSrc, pred, work, db.st.mem).KeepDeleted()
	src := exec.NewOutput(fs, out, req.Limit, rc.batch, db.st.mem)
	sql := req.SQL
	if sql == "" {
		sql = generatedSQL(names, t.qname, pred, req.Limit, fmt.Sprintf(" SEGMENT '%s'", segmentID))
	}
	release := func() {
		stop()
		snap.release(db.st)
	}
	return db.newStream(out, &readSource{src: src, stop: stop, release: release}, sql, true), nil
}
