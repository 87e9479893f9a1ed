package engine

import (
	"encoding/binary"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/engine/rowcodec"
	"github.com/kalamdb/libkalam/kerr"
)

// A hot row's value is a flag byte and the row (package rowcodec). Rows
// written since schema versions existed carry the version of the schema
// they were encoded with, so that rows written before an alter read under
// the new schema (DESIGN §3.2):
//
//	flagLive, flagTombstone:               row encoded with schema version 1
//	flagLiveVersioned, flagTombVersioned:  uvarint schema version, then the row
const (
	flagLiveVersioned = 2
	flagTombVersioned = 3
)

// appendHotValue encodes a hot row's value.
func appendHotValue(dst []byte, tomb bool, sv *schemaView, cols []arrow.Array, row int) []byte {
	flag := byte(flagLiveVersioned)
	if tomb {
		flag = flagTombVersioned
	}
	dst = append(dst, flag)
	dst = binary.AppendUvarint(dst, uint64(sv.version))
	return sv.enc.AppendRow(dst, cols, row)
}

// isHotTombstone reports whether a hot row's value is a tombstone, in
// either value format.
func isHotTombstone(v []byte) bool {
	return len(v) > 0 && (v[0] == flagTombstone || v[0] == flagTombVersioned)
}

// parseHotValue splits a hot row's value.
func parseHotValue(v []byte) (tomb bool, version int64, row []byte, err error) {
	if len(v) == 0 {
		return false, 0, nil, kerr.New(kerr.Corruption, "empty hot row value")
	}
	switch v[0] {
	case flagLive, flagTombstone:
		return v[0] == flagTombstone, 1, v[1:], nil
	case flagLiveVersioned, flagTombVersioned:
		ver, n := binary.Uvarint(v[1:])
		if n <= 0 || ver == 0 {
			return false, 0, nil, kerr.New(kerr.Corruption, "hot row value: bad schema version")
		}
		return v[0] == flagTombVersioned, int64(ver), v[1+n:], nil
	}
	return false, 0, nil, kerr.New(kerr.Corruption, "hot row value: unknown flag %d", v[0])
}

// hotDecoder decodes hot rows of any schema version of a table into
// builders of chosen columns of one target schema view: columns match by
// field id; a column the row's schema lacks (added later) is null; a
// widened column is widened.
type hotDecoder struct {
	t      *table
	mem    memory.Allocator
	target *schemaView
	want   []int // target column indices, in builder order
	byVer  map[int64]*versionDecoder
}

type versionDecoder struct {
	dec *rowcodec.Decoder
	// for each wanted target column: the decoder output it comes from (-1:
	// absent, null), and whether it is decoded into a scratch builder of the
	// old, narrower type and widened.
	from    []int
	scratch []array.Builder // per decoder output; nil when decoded in place
	into    []array.Builder // per decoder output, set per row
}

func newHotDecoder(t *table, mem memory.Allocator, target *schemaView, want []int) *hotDecoder {
	return &hotDecoder{t: t, mem: mem, target: target, want: want, byVer: map[int64]*versionDecoder{}}
}

func (d *hotDecoder) forVersion(version int64, builders []array.Builder) (*versionDecoder, error) {
	if vd, ok := d.byVer[version]; ok {
		return vd, nil
	}
	src := d.target
	if version != d.target.version {
		src = d.t.viewOf(version)
		if src.version != version {
			return nil, kerr.New(kerr.Corruption, "hot row of unknown schema version %d of %s", version, d.t.qname)
		}
	}
	vd := &versionDecoder{}
	var srcIdx []int
	for k, ti := range d.want {
		si, ok := src.byFID[d.target.fids[ti]]
		if !ok {
			vd.from = append(vd.from, -1)
			continue
		}
		vd.from = append(vd.from, len(srcIdx))
		srcIdx = append(srcIdx, si)
		var scratch array.Builder
		if st := src.schema.Field(si).Type; !arrow.TypeEqual(st, builders[k].Type()) {
			scratch = array.NewBuilder(d.mem, st)
		}
		vd.scratch = append(vd.scratch, scratch)
	}
	dec, err := rowcodec.NewDecoder(src.schema, srcIdx)
	if err != nil {
		return nil, err
	}
	vd.dec = dec
	vd.into = make([]array.Builder, len(srcIdx))
	d.byVer[version] = vd
	return vd, nil
}

// decode appends the row in value v to builders (one per wanted column)
// and reports whether it is a tombstone.
func (d *hotDecoder) decode(v []byte, builders []array.Builder) (bool, error) {
	tomb, version, row, err := parseHotValue(v)
	if err != nil {
		return false, err
	}
	vd, err := d.forVersion(version, builders)
	if err != nil {
		return false, err
	}
	for k, f := range vd.from {
		if f < 0 {
			continue
		}
		if vd.scratch[f] != nil {
			vd.into[f] = vd.scratch[f]
		} else {
			vd.into[f] = builders[k]
		}
	}
	if err := vd.dec.DecodeRow(row, vd.into); err != nil {
		return false, err
	}
	for k, f := range vd.from {
		switch {
		case f < 0:
			builders[k].AppendNull()
		case vd.scratch[f] != nil:
			arr := vd.scratch[f].NewArray()
			err := appendWidened(builders[k], arr, 0)
			arr.Release()
			if err != nil {
				return false, err
			}
		}
	}
	return tomb, nil
}

// release frees the scratch builders.
func (d *hotDecoder) release() {
	for _, vd := range d.byVer {
		for _, b := range vd.scratch {
			if b != nil {
				b.Release()
			}
		}
	}
	d.byVer = nil
}
