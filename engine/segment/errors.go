// Package segment is the Parquet segment format of libkalam: a narrow,
// allocation-exact reader for the flat Parquet files the store writes, and
// the writer properties those files are written with.
//
// The reader decodes a column chunk straight into final Arrow-layout
// buffers taken from a caller-given allocator (in the C library: C memory,
// exported to the host without a second copy). It understands exactly the
// subset of Parquet that libkalam writes; everything else is reported by
// Supported (and by ErrUnsupported from a read) so that the caller can fall
// back to pqarrow for that file or column.
package segment

import "errors"

// ErrCorrupt is wrapped by every error caused by bytes that do not form a
// valid segment: a bad footer, page header, size, level or index. The
// message names the file, row group, column and page.
var ErrCorrupt = errors.New("corrupt parquet segment")

// ErrUnsupported is wrapped by errors for valid Parquet that this reader
// does not decode (an encoding, codec or type outside its subset, or a size
// above the reader's limits). The caller reads such a file or column with
// pqarrow instead.
var ErrUnsupported = errors.New("not supported by the segment reader")
