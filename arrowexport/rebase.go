package arrowexport

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/validity"
)

// arrow-go's C exporter (cdata, v18.8.0) writes a struct or sparse union
// array's children as Field(i) returns them — already cut to the parent's
// offset and length — and the parent with its own offset still set. A
// consumer applies that offset a second time and reads past the children:
// any struct column of a batch sliced from a larger one (a scan cuts row
// groups into batches) reached the host malformed, and pyarrow read
// garbage or failed. Such arrays are therefore rebased before export: the
// struct or sparse union starts at offset 0 and its children carry the
// offset instead, which the exporter then leaves alone.

// rebaseForExport returns rec, or a record with the same values in which no
// struct or sparse union array (at any depth) has a nonzero offset; small
// validity bitmaps that must move to a new bit position are copied into
// mem. The caller releases the result either way.
func rebaseForExport(rec arrow.RecordBatch, mem memory.Allocator) arrow.RecordBatch {
	cols := rec.Columns()
	need := false
	for _, c := range cols {
		if needsRebase(c.Data()) {
			need = true
			break
		}
	}
	if !need {
		rec.Retain()
		return rec
	}
	out := make([]arrow.Array, len(cols))
	for i, c := range cols {
		d := rebase(c.Data(), mem)
		out[i] = array.MakeFromData(d)
		d.Release()
	}
	res := array.NewRecordBatch(rec.Schema(), out, rec.NumRows())
	for _, a := range out {
		a.Release()
	}
	return res
}

// offsetCut reports whether arrow-go's exporter cuts the children of an
// array of type dt to the parent's offset (see above).
func offsetCut(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.STRUCT, arrow.SPARSE_UNION:
		return true
	}
	return false
}

func needsRebase(d arrow.ArrayData) bool {
	if offsetCut(d.DataType()) && d.Offset() != 0 {
		return true
	}
	for _, c := range d.Children() {
		if needsRebase(c) {
			return true
		}
	}
	dict := dictionaryOf(d)
	return dict != nil && needsRebase(dict)
}

// dictionaryOf is d's dictionary, nil when it has none (Data.Dictionary
// returns a typed nil then).
func dictionaryOf(d arrow.ArrayData) arrow.ArrayData {
	if d.DataType().ID() != arrow.DICTIONARY {
		return nil
	}
	return d.Dictionary()
}

// rebase returns d (retained) or a rebased copy of its tree (new
// references to the same value buffers); the caller releases it.
func rebase(d arrow.ArrayData, mem memory.Allocator) arrow.ArrayData {
	if !needsRebase(d) {
		d.Retain()
		return d
	}
	off, n := d.Offset(), d.Len()
	cut := offsetCut(d.DataType()) && off != 0
	kids := make([]arrow.ArrayData, len(d.Children()))
	for i, c := range d.Children() {
		if cut {
			s := array.NewSliceData(c, int64(off), int64(off+n))
			kids[i] = rebase(s, mem)
			s.Release()
		} else {
			kids[i] = rebase(c, mem)
		}
	}
	defer func() {
		for _, k := range kids {
			k.Release()
		}
	}()
	bufs := d.Buffers()
	nulls := d.NullN()
	if cut {
		bufs = make([]*memory.Buffer, len(d.Buffers()))
		switch d.DataType().ID() {
		case arrow.STRUCT:
			bufs[0] = validity.Window(d.Buffers()[0], off, n, nulls, mem)
		case arrow.SPARSE_UNION: // no validity; one type code byte per slot
			bufs[1] = memory.SliceBuffer(d.Buffers()[1], off, n)
		}
		defer func() {
			for _, b := range bufs {
				if b != nil {
					b.Release()
				}
			}
		}()
		off = 0
	}
	var out arrow.ArrayData
	if dict := dictionaryOf(d); dict != nil {
		rd := rebase(dict, mem)
		defer rd.Release()
		out = array.NewDataWithDictionary(d.DataType(), n, bufs, nulls, off, rd.(*array.Data))
	} else {
		out = array.NewData(d.DataType(), n, bufs, kids, nulls, off)
	}
	return out
}
