package engine

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/validity"
)

// fixed_size_list columns reach pqarrow's writer as lists. Parquet holds
// both in the same LIST layout, and the ARROW:schema hint still names the
// fixed_size_list (storageSchema), so readers — pyarrow, pqarrow, ours —
// read the column as it was. pqarrow (v18.8.0) writes fixed_size_list
// arrays wrong in two ordinary cases:
//
//   - it takes the values of slot i at i × size of the child, ignoring the
//     array's own offset (path_builder.go, fixedSizeRangeSelector): every
//     row group after a segment's first is a slice, and was written with
//     the first rows' embeddings;
//   - a null slot between slots with values (a tombstone among live rows:
//     segments hold every non-key column nullable) leaves the values it
//     spans unvisited, and pqarrow refuses the batch ("lists with non-zero
//     length null components are not supported"): such a flush failed
//     every time and its rows stayed hot.
//
// As a list, a null slot (or one under a null struct slot) is empty and
// the values of the others are contiguous from the list's offsets.

// writerType is the type pqarrow is given for a column whose storage type
// is s: every fixed_size_list in it as a (large) list of the same values.
func writerType(s arrow.DataType) arrow.DataType {
	if tt, ok := s.(*arrow.FixedSizeListType); ok {
		// A large list: a batch may hold more than 2^31 values.
		f := tt.ElemField()
		f.Type = writerType(f.Type)
		return arrow.LargeListOfField(f)
	}
	return withChildren(s, func(f arrow.Field, _ bool) arrow.Field {
		f.Type = writerType(f.Type)
		return f
	})
}

// joined is pieces (of type t) as one array's data, without a copy when
// there is one piece. The caller releases the result.
func joined(pieces []arrow.Array, t arrow.DataType, mem memory.Allocator) (arrow.ArrayData, error) {
	var out arrow.Array
	switch len(pieces) {
	case 0:
		out = array.MakeArrayOfNull(mem, t, 0)
	case 1:
		out = pieces[0]
		out.Retain()
	default:
		c, err := array.Concatenate(pieces, mem)
		if err != nil {
			return nil, err
		}
		out = c
	}
	d := out.Data()
	d.Retain()
	out.Release()
	return d, nil
}

// listsForWriter returns d (of a storage type holding a fixed_size_list) as
// an array of writerType: each fixed_size_list a list whose slots that are
// null, or that hidden says sit under a null struct slot, are empty. The
// caller releases the result.
func listsForWriter(d arrow.ArrayData, hidden func(int) bool, mem memory.Allocator) (arrow.ArrayData, error) {
	if !hasFixedSizeList(d.DataType()) {
		d.Retain()
		return d, nil
	}
	off, n := d.Offset(), d.Len()
	var kids []arrow.ArrayData
	defer func() {
		for _, k := range kids {
			k.Release()
		}
	}()
	gone := func(i int) bool { return isNullSlot(d, off+i) || hidden != nil && hidden(i) }
	switch t := d.DataType().(type) {
	case *arrow.FixedSizeListType:
		size := int(t.Len())
		offsets := memory.NewResizableBuffer(mem)
		offsets.Resize((n + 1) * 8)
		defer offsets.Release()
		offs := arrow.Int64Traits.CastFromBytes(offsets.Bytes())
		child := array.MakeFromData(d.Children()[0])
		defer child.Release()
		var runs []arrow.Array
		defer func() {
			for _, r := range runs {
				r.Release()
			}
		}()
		total, start := 0, -1
		for i := 0; i <= n; i++ {
			kept := i < n && !gone(i)
			if kept && start < 0 {
				start = i
			}
			if !kept && start >= 0 {
				runs = append(runs, array.NewSlice(child, int64((off+start)*size), int64((off+i)*size)))
				start = -1
			}
			offs[i] = int64(total)
			if kept {
				total += size
			}
		}
		values, err := joined(runs, t.Elem(), mem)
		if err != nil {
			return nil, err
		}
		kid, err := listsForWriter(values, nil, mem)
		values.Release()
		if err != nil {
			return nil, err
		}
		kids = append(kids, kid)
		validity := validity.Window(d.Buffers()[0], off, n, d.NullN(), mem)
		if validity != nil {
			defer validity.Release()
		}
		return array.NewData(writerType(t), n, []*memory.Buffer{validity, offsets}, kids, d.NullN(), 0), nil
	case *arrow.StructType:
		for _, c := range d.Children() {
			s := array.NewSliceData(c, int64(off), int64(off+n))
			k, err := listsForWriter(s, gone, mem)
			s.Release()
			if err != nil {
				return nil, err
			}
			kids = append(kids, k)
		}
		validity := validity.Window(d.Buffers()[0], off, n, d.NullN(), mem)
		if validity != nil {
			defer validity.Release()
		}
		return array.NewData(writerType(t), n, []*memory.Buffer{validity}, kids, d.NullN(), 0), nil
	default: // list, large list, map: their offsets address the whole child
		for _, c := range d.Children() {
			k, err := listsForWriter(c, nil, mem)
			if err != nil {
				return nil, err
			}
			kids = append(kids, k)
		}
		return array.NewData(writerType(d.DataType()), n, d.Buffers(), kids, d.NullN(), off), nil
	}
}

// listsAsFixedSize returns d, a column pqarrow read with its
// fixed_size_lists as lists (pqarrowReadTypes), with those lists turned
// back into fixed_size_lists where want, the column's storage type, has
// one: a list of size values as it is, a null or empty one (a null list,
// or one under a null struct slot) as size null values. Any other length
// is corruption. The caller releases the result.
func listsAsFixedSize(d arrow.ArrayData, want arrow.DataType, mem memory.Allocator) (arrow.ArrayData, error) {
	if !hasFixedSizeList(want) {
		d.Retain()
		return d, nil
	}
	off, n := d.Offset(), d.Len()
	var kids []arrow.ArrayData
	defer func() {
		for _, k := range kids {
			k.Release()
		}
	}()
	switch w := want.(type) {
	case *arrow.FixedSizeListType:
		l, ok := d.DataType().(*arrow.ListType)
		if !ok {
			d.Retain() // read as it is stored
			return d, nil
		}
		size := int(w.Len())
		offs := arrow.Int32Traits.CastFromBytes(d.Buffers()[1].Bytes())[off : off+n+1]
		child := array.MakeFromData(d.Children()[0])
		defer child.Release()
		var pieces []arrow.Array
		defer func() {
			for _, p := range pieces {
				p.Release()
			}
		}()
		for i := 0; i < n; {
			switch ln := int(offs[i+1] - offs[i]); ln {
			case size:
				j := i + 1
				for j < n && int(offs[j+1]-offs[j]) == size {
					j++
				}
				pieces = append(pieces, array.NewSlice(child, int64(offs[i]), int64(offs[j])))
				i = j
			case 0:
				j := i + 1
				for j < n && offs[j+1] == offs[j] {
					j++
				}
				pieces = append(pieces, array.MakeArrayOfNull(mem, l.Elem(), (j-i)*size))
				i = j
			default:
				return nil, kerr.New(kerr.Corruption, "a fixed_size_list of %d values holds %d", size, ln)
			}
		}
		values, err := joined(pieces, l.Elem(), mem)
		if err != nil {
			return nil, err
		}
		kid, err := listsAsFixedSize(values, w.Elem(), mem)
		values.Release()
		if err != nil {
			return nil, err
		}
		kids = append(kids, kid)
		elem := l.ElemField()
		elem.Type = kid.DataType()
		validity := validity.Window(d.Buffers()[0], off, n, d.NullN(), mem)
		if validity != nil {
			defer validity.Release()
		}
		return array.NewData(arrow.FixedSizeListOfField(int32(size), elem), n, []*memory.Buffer{validity}, kids, d.NullN(), 0), nil
	case *arrow.StructType:
		st, ok := d.DataType().(*arrow.StructType)
		if !ok || st.NumFields() != w.NumFields() {
			d.Retain()
			return d, nil
		}
		fields := make([]arrow.Field, st.NumFields())
		for i, c := range d.Children() {
			s := array.NewSliceData(c, int64(off), int64(off+n))
			k, err := listsAsFixedSize(s, w.Field(i).Type, mem)
			s.Release()
			if err != nil {
				return nil, err
			}
			kids = append(kids, k)
			fields[i] = st.Field(i)
			fields[i].Type = k.DataType()
		}
		validity := validity.Window(d.Buffers()[0], off, n, d.NullN(), mem)
		if validity != nil {
			defer validity.Release()
		}
		return array.NewData(arrow.StructOf(fields...), n, []*memory.Buffer{validity}, kids, d.NullN(), 0), nil
	case arrow.ListLikeType: // list, large list, map: convert the values
		elemWant := w.Elem()
		if m, isMap := w.(*arrow.MapType); isMap {
			elemWant = m.Elem()
		}
		if len(d.Children()) != 1 {
			d.Retain()
			return d, nil
		}
		k, err := listsAsFixedSize(d.Children()[0], elemWant, mem)
		if err != nil {
			return nil, err
		}
		kids = append(kids, k)
		var typ arrow.DataType
		switch got := d.DataType().(type) {
		case *arrow.ListType:
			f := got.ElemField()
			f.Type = k.DataType()
			typ = arrow.ListOfField(f)
		case *arrow.LargeListType:
			f := got.ElemField()
			f.Type = k.DataType()
			typ = arrow.LargeListOfField(f)
		case *arrow.MapType:
			st := k.DataType().(*arrow.StructType)
			typ = arrow.MapOfFields(st.Field(0), st.Field(1))
		default:
			d.Retain()
			return d, nil
		}
		return array.NewData(typ, n, d.Buffers(), kids, d.NullN(), off), nil
	}
	d.Retain()
	return d, nil
}
