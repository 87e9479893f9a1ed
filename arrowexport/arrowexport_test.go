package arrowexport_test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/arrow/memory/mallocator"
	"github.com/kalamdb/libkalam/arrowexport"
	"github.com/kalamdb/libkalam/arrowexport/internal/ctest"
	"github.com/kalamdb/libkalam/kerr"
)

var testSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, Nullable: true},
	{Name: "tags", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true},
}, nil)

// newAllocator is C memory (what the engine exports), checked for leaks.
func newAllocator() *memory.CheckedAllocator {
	return memory.NewCheckedAllocator(mallocator.NewMallocator())
}

func makeBatch(mem memory.Allocator, start, n int) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, testSchema)
	defer b.Release()
	for i := start; i < start+n; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		if i%3 == 0 {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("row-%d", i))
		}
		b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(1_700_000_000_000 + int64(i)))
		lb := b.Field(3).(*array.ListBuilder)
		lb.Append(true)
		for j := 0; j < i%4; j++ {
			lb.ValueBuilder().(*array.Int32Builder).Append(int32(i * j))
		}
	}
	return b.NewRecordBatch()
}

// source is a scripted Source.
type source struct {
	schema  *arrow.Schema
	batches []arrow.RecordBatch
	pos     int
	err     error // returned after the batches
	panicAt int   // Next panics on this call (1-based); 0 never
	calls   int

	block    chan struct{} // when set, Next waits here until Cancel
	entered  chan struct{}
	canceled atomic.Bool
	closed   atomic.Int32
}

func (s *source) Schema() *arrow.Schema { return s.schema }

func (s *source) Next() (arrow.RecordBatch, error) {
	s.calls++
	if s.panicAt == s.calls {
		panic("source exploded")
	}
	if s.block != nil {
		close(s.entered)
		<-s.block
		return nil, kerr.New(kerr.Cancelled, "scan cancelled")
	}
	if s.pos < len(s.batches) {
		rec := s.batches[s.pos]
		s.batches[s.pos] = nil
		s.pos++
		return rec, nil
	}
	return nil, s.err
}

func (s *source) Cancel() {
	if s.canceled.CompareAndSwap(false, true) && s.block != nil {
		close(s.block)
	}
}

func (s *source) Close() {
	s.closed.Add(1)
	for _, b := range s.batches[s.pos:] {
		if b != nil {
			b.Release()
		}
	}
}

func exportSource(t *testing.T, src arrowexport.Source) unsafe.Pointer {
	t.Helper()
	p := ctest.NewStreamStruct()
	if err := arrowexport.ExportStream(src, p); err != nil {
		t.Fatalf("ExportStream: %v", err)
	}
	return p
}

func TestRoundTripThroughCStream(t *testing.T) {
	mem := newAllocator()
	defer mem.AssertSize(t, 0)

	var want []arrow.RecordBatch
	src := &source{schema: testSchema}
	for i := 0; i < 3; i++ {
		rec := makeBatch(mem, i*5, 5)
		rec.Retain()
		want = append(want, rec)
		src.batches = append(src.batches, rec)
	}
	defer func() {
		for _, r := range want {
			r.Release()
		}
	}()

	p := exportSource(t, src)
	defer ctest.Free(p)
	rdr, err := arrowexport.ImportStream(p)
	if err != nil {
		t.Fatalf("ImportStream: %v", err)
	}
	if !ctest.StreamReleased(p) {
		t.Fatal("ImportStream must mark the caller's stream released")
	}
	if !rdr.Schema().Equal(testSchema) {
		t.Fatalf("schema %v, want %v", rdr.Schema(), testSchema)
	}
	n := 0
	for rdr.Next() {
		got := rdr.RecordBatch()
		if !array.RecordEqual(got, want[n]) {
			t.Fatalf("batch %d differs:\n%v\nwant\n%v", n, got, want[n])
		}
		n++
	}
	if rdr.Err() != nil {
		t.Fatalf("Err at end: %v", rdr.Err())
	}
	if n != 3 {
		t.Fatalf("read %d batches, want 3", n)
	}
	if src.closed.Load() != 0 {
		t.Fatal("source closed before the stream was released")
	}
	rdr.Release()
	if src.closed.Load() != 1 {
		t.Fatalf("source closed %d times after release, want 1", src.closed.Load())
	}
}

func TestEndOfStreamIsReleasedArrayAndZero(t *testing.T) {
	mem := newAllocator()
	defer mem.AssertSize(t, 0)
	src := &source{schema: testSchema, batches: []arrow.RecordBatch{makeBatch(mem, 0, 4)}}
	p := exportSource(t, src)
	defer ctest.Free(p)

	rc, sc := ctest.GetSchema(p)
	if rc != 0 {
		t.Fatalf("get_schema rc %d", rc)
	}
	format, names, formats := ctest.SchemaFields(sc)
	if format != "+s" || strings.Join(names, ",") != "id,name,ts,tags" ||
		strings.Join(formats, ",") != "l,u,tsm:UTC,+l" {
		t.Fatalf("schema %q %v %v", format, names, formats)
	}
	ctest.ReleaseSchema(sc)

	rc, arr := ctest.GetNext(p)
	if rc != 0 || ctest.ArrayReleased(arr) || ctest.ArrayLength(arr) != 4 || ctest.ArrayChildren(arr) != 4 {
		t.Fatalf("first get_next: rc %d released %v len %d", rc, ctest.ArrayReleased(arr), ctest.ArrayLength(arr))
	}
	ctest.ReleaseArray(arr)
	for i := 0; i < 3; i++ {
		rc, arr = ctest.GetNext(p)
		if rc != 0 || !ctest.ArrayReleased(arr) {
			t.Fatalf("get_next %d past the end: rc %d released %v", i, rc, ctest.ArrayReleased(arr))
		}
		ctest.ReleaseArray(arr)
		if msg, ok := ctest.LastError(p); ok {
			t.Fatalf("get_last_error after a clean end: %q", msg)
		}
	}
	if code, msg, ok := arrowexport.StreamError(p); !ok || code != kerr.OK || msg != "" {
		t.Fatalf("StreamError at clean end: %v %q %v", code, msg, ok)
	}
	ctest.ReleaseStream(p)
	if !ctest.StreamReleased(p) || src.closed.Load() != 1 {
		t.Fatalf("release: released %v closed %d", ctest.StreamReleased(p), src.closed.Load())
	}
	ctest.ReleaseStream(p) // a second release is a no-op
	if _, _, ok := arrowexport.StreamError(p); ok {
		t.Fatal("StreamError on a released stream must report !ok")
	}
}

func TestEOFFromSourceIsTheEnd(t *testing.T) {
	src := &source{schema: testSchema, err: io.EOF}
	p := exportSource(t, src)
	defer ctest.Free(p)
	rc, arr := ctest.GetNext(p)
	defer ctest.ReleaseArray(arr)
	if rc != 0 || !ctest.ArrayReleased(arr) {
		t.Fatalf("io.EOF must end the stream cleanly: rc %d", rc)
	}
	ctest.ReleaseStream(p)
}

func TestReleaseBeforeEndKeepsExportedBatchValid(t *testing.T) {
	mem := newAllocator()
	defer mem.AssertSize(t, 0)
	src := &source{schema: testSchema}
	for i := 0; i < 3; i++ {
		src.batches = append(src.batches, makeBatch(mem, i*3, 3))
	}
	p := exportSource(t, src)
	defer ctest.Free(p)
	rc, arr := ctest.GetNext(p)
	if rc != 0 || ctest.ArrayReleased(arr) {
		t.Fatalf("get_next rc %d", rc)
	}
	ctest.ReleaseStream(p)
	if src.closed.Load() != 1 {
		t.Fatal("release before the end must close the source")
	}
	// The batch outlives its stream (C data interface rule).
	if ctest.ArrayLength(arr) != 3 {
		t.Fatalf("batch length %d after stream release", ctest.ArrayLength(arr))
	}
	ctest.ReleaseArray(arr)
}

func TestReleaseFromAnotherThread(t *testing.T) {
	mem := newAllocator()
	defer mem.AssertSize(t, 0)
	src := &source{schema: testSchema, batches: []arrow.RecordBatch{makeBatch(mem, 0, 2), makeBatch(mem, 2, 2)}}
	p := exportSource(t, src)
	defer ctest.Free(p)
	if rc := ctest.ReleaseStreamInThread(p); rc != 0 {
		t.Fatalf("pthread rc %d", rc)
	}
	if !ctest.StreamReleased(p) || src.closed.Load() != 1 {
		t.Fatal("release from a pthread did not release")
	}
}

func TestReleaseCancelsAGetNextInProgress(t *testing.T) {
	src := &source{schema: testSchema, block: make(chan struct{}), entered: make(chan struct{})}
	p := exportSource(t, src)
	defer ctest.Free(p)
	job := ctest.StartGetNext(p)
	select {
	case <-src.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("get_next never reached the source")
	}
	done := make(chan struct{})
	go func() {
		ctest.ReleaseStream(p)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("release blocked behind a pending get_next")
	}
	rc, released := job.Join()
	if rc != int(syscall.ECANCELED) || !released {
		t.Fatalf("pending get_next: rc %d released %v, want ECANCELED", rc, released)
	}
	if !src.canceled.Load() || src.closed.Load() != 1 {
		t.Fatalf("canceled %v closed %d", src.canceled.Load(), src.closed.Load())
	}
}

func TestPanicInNextBecomesEIO(t *testing.T) {
	mem := newAllocator()
	defer mem.AssertSize(t, 0)
	src := &source{schema: testSchema, batches: []arrow.RecordBatch{makeBatch(mem, 0, 2), makeBatch(mem, 2, 2)}, panicAt: 2}
	p := exportSource(t, src)
	defer ctest.Free(p)
	rc, arr := ctest.GetNext(p)
	if rc != 0 {
		t.Fatalf("first get_next rc %d", rc)
	}
	ctest.ReleaseArray(arr)
	rc, arr = ctest.GetNext(p)
	if rc != int(syscall.EIO) || !ctest.ArrayReleased(arr) {
		t.Fatalf("panicking get_next: rc %d released %v", rc, ctest.ArrayReleased(arr))
	}
	ctest.ReleaseArray(arr)
	msg, ok := ctest.LastError(p)
	if !ok || !strings.Contains(msg, "source exploded") {
		t.Fatalf("get_last_error %q", msg)
	}
	code, rich, ok := arrowexport.StreamError(p)
	if !ok || code != kerr.Internal || !strings.Contains(rich, "panic: source exploded") {
		t.Fatalf("StreamError %v %q %v", code, rich, ok)
	}
	// The failure sticks.
	rc, arr = ctest.GetNext(p)
	if rc != int(syscall.EIO) {
		t.Fatalf("get_next after failure rc %d", rc)
	}
	ctest.ReleaseArray(arr)
	ctest.ReleaseStream(p)
	if src.closed.Load() != 1 {
		t.Fatal("source not closed")
	}
}

func TestSourceErrorsMapToErrno(t *testing.T) {
	cases := []struct {
		err   error
		errno syscall.Errno
		code  kerr.Code
	}{
		{kerr.New(kerr.InvalidArgument, "unknown column \"x\""), syscall.EINVAL, kerr.InvalidArgument},
		{kerr.New(kerr.Closed, "database is closed"), syscall.EINVAL, kerr.Closed},
		{kerr.New(kerr.NotFound, "no table"), syscall.EINVAL, kerr.NotFound},
		{kerr.New(kerr.Cancelled, "scan cancelled"), syscall.ECANCELED, kerr.Cancelled},
		{kerr.New(kerr.IO, "read segment_001.parquet"), syscall.EIO, kerr.IO},
		{kerr.New(kerr.Corruption, "bad footer"), syscall.EIO, kerr.Corruption},
		{fmt.Errorf("wrapped: %w", kerr.New(kerr.Busy, "too many scans")), syscall.EIO, kerr.Busy},
		{errors.New("no code"), syscall.EIO, kerr.Internal},
		{fmt.Errorf("decode: %w", arrow.ErrNotImplemented), syscall.ENOSYS, kerr.Internal},
		// Only io.EOF itself ends a stream: a failure that wraps it (Go's
		// HTTP client reports a connection closed before a reply as
		// `Get "...": EOF`) ended a scan early, silently, with the rows
		// read so far. Found by an S3 fault pass.
		{fmt.Errorf("read segment_001.parquet: %w", fmt.Errorf("Get \"http://s3/b/k\": %w", io.EOF)), syscall.EIO, kerr.Internal},
		{kerr.Wrap(kerr.IO, fmt.Errorf("Get: %w", io.ErrUnexpectedEOF), "read segment"), syscall.EIO, kerr.IO},
	}
	for _, c := range cases {
		src := &source{schema: testSchema, err: c.err}
		p := exportSource(t, src)
		rc, arr := ctest.GetNext(p)
		ctest.ReleaseArray(arr)
		if rc != int(c.errno) {
			t.Errorf("%v: errno %d, want %d", c.err, rc, c.errno)
		}
		if msg, _ := ctest.LastError(p); msg != c.err.Error() {
			t.Errorf("get_last_error %q, want %q", msg, c.err.Error())
		}
		if code, msg, ok := arrowexport.StreamError(p); !ok || code != c.code || msg != c.err.Error() {
			t.Errorf("StreamError %v %q %v, want %v", code, msg, ok, c.code)
		}
		ctest.ReleaseStream(p)
		ctest.Free(p)
	}
	if got := arrowexport.Errno(nil); got != 0 {
		t.Errorf("Errno(nil) = %d", got)
	}
}

func TestBatchNotMatchingSchemaIsAnError(t *testing.T) {
	mem := newAllocator()
	defer mem.AssertSize(t, 0)
	other := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int32}}, nil)
	b := array.NewRecordBuilder(mem, other)
	b.Field(0).(*array.Int32Builder).Append(1)
	rec := b.NewRecordBatch()
	b.Release()
	src := &source{schema: testSchema, batches: []arrow.RecordBatch{rec}}
	p := exportSource(t, src)
	defer ctest.Free(p)
	rc, arr := ctest.GetNext(p)
	ctest.ReleaseArray(arr)
	if rc != int(syscall.EIO) {
		t.Fatalf("rc %d", rc)
	}
	if code, msg, _ := arrowexport.StreamError(p); code != kerr.Internal || !strings.Contains(msg, "1 columns") {
		t.Fatalf("StreamError %v %q", code, msg)
	}
	ctest.ReleaseStream(p)
}

func TestStreamErrorRejectsForeignStreams(t *testing.T) {
	if _, _, ok := arrowexport.StreamError(nil); ok {
		t.Fatal("NULL stream")
	}
	p := ctest.NewProducer(ctest.OK, 1, 1)
	defer ctest.Free(p)
	if _, _, ok := arrowexport.StreamError(p); ok || arrowexport.IsExported(p) {
		t.Fatal("a host stream is not ours")
	}
	ctest.ReleaseStream(p)
	junk := ctest.NewStreamStruct()
	defer ctest.Free(junk)
	if _, _, ok := arrowexport.StreamError(junk); ok {
		t.Fatal("junk struct")
	}
}

func TestExportStreamNullOutputClosesSource(t *testing.T) {
	src := &source{schema: testSchema}
	err := arrowexport.ExportStream(src, nil)
	if kerr.CodeOf(err) != kerr.InvalidArgument || src.closed.Load() != 1 {
		t.Fatalf("err %v closed %d", err, src.closed.Load())
	}
}

// nilStream exports a source with no schema, for get_schema's error path.
func nilStream(t *testing.T) unsafe.Pointer {
	src := &source{}
	p := exportSource(t, src)
	t.Cleanup(func() { ctest.ReleaseStream(p); ctest.Free(p) })
	return p
}

func TestGetSchemaWithoutSchemaFails(t *testing.T) {
	p := nilStream(t)
	rc, sc := ctest.GetSchema(p)
	defer ctest.ReleaseSchema(sc)
	if rc != int(syscall.EIO) || !ctest.SchemaReleased(sc) {
		t.Fatalf("rc %d released %v", rc, ctest.SchemaReleased(sc))
	}
	if code, _, _ := arrowexport.StreamError(p); code != kerr.Internal {
		t.Fatalf("code %v", code)
	}
}

func TestImportHostStreamValues(t *testing.T) {
	p := ctest.NewProducer(ctest.OK, 3, 4)
	defer ctest.Free(p)
	rdr, err := arrowexport.ImportStream(p)
	if err != nil {
		t.Fatal(err)
	}
	if !ctest.StreamReleased(p) {
		t.Fatal("caller's struct must be marked released")
	}
	var ids []int64
	var names []string
	for rdr.Next() {
		rec := rdr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			ids = append(ids, rec.Column(0).(*array.Int64).Value(i))
			names = append(names, rec.Column(1).(*array.String).Value(i))
		}
	}
	if rdr.Err() != nil {
		t.Fatal(rdr.Err())
	}
	if ctest.Live() == 0 {
		t.Fatal("producer stream released before the reader")
	}
	rdr.Release()
	if got := ctest.Live(); got != 0 {
		t.Fatalf("%d producer allocations leaked", got)
	}
	if len(ids) != 12 || ids[0] != 0 || ids[11] != 11 || names[0] != "ra" || names[11] != "rl" {
		t.Fatalf("ids %v names %v", ids, names)
	}
}

func TestImportRejectsMalformedInput(t *testing.T) {
	cases := []struct {
		mode int
		code kerr.Code
		want string // substring of the error
		atOp bool   // the error comes from ImportStream itself, not Next
	}{
		{ctest.NegativeLength, kerr.InvalidArgument, `column "id": negative length -5`, false},
		{ctest.WrongBuffers, kerr.InvalidArgument, `column "id": int64 array has 1 buffers, want 2`, false},
		{ctest.NullValues, kerr.InvalidArgument, `column "id": values buffer is NULL`, false},
		{ctest.NullsNoBitmap, kerr.InvalidArgument, `column "id": validity buffer is NULL but null_count is 1`, false},
		{ctest.BadOffsets, kerr.InvalidArgument, `column "name": offsets decrease at 2 (1 after 7)`, false},
		{ctest.TooFewColumns, kerr.InvalidArgument, "1 columns, the stream schema 2", false},
		{ctest.NullChild, kerr.InvalidArgument, `column "name": array is NULL`, false},
		{ctest.ShortColumn, kerr.InvalidArgument, `column "name": length 3 is shorter`, false},
		{ctest.NextError, kerr.IO, "get_next failed (errno 5): disk on fire", false},
		{ctest.BadFormat, kerr.InvalidArgument, "invalid schema", true},
		{ctest.SchemaError, kerr.IO, "get_schema failed (errno 5): schema unavailable", true},
	}
	for _, c := range cases {
		p := ctest.NewProducer(c.mode, 2, 4)
		rdr, err := arrowexport.ImportStream(p)
		if !ctest.StreamReleased(p) {
			t.Errorf("mode %d: caller's stream not marked released", c.mode)
		}
		if c.atOp {
			if err == nil {
				rdr.Release()
				t.Errorf("mode %d: ImportStream succeeded", c.mode)
			} else if kerr.CodeOf(err) != c.code || !strings.Contains(err.Error(), c.want) {
				t.Errorf("mode %d: %v (%v), want %v containing %q", c.mode, err, kerr.CodeOf(err), c.code, c.want)
			}
		} else {
			if err != nil {
				t.Fatalf("mode %d: ImportStream: %v", c.mode, err)
			}
			for rdr.Next() {
			}
			err = rdr.Err()
			if err == nil || kerr.CodeOf(err) != c.code || !strings.Contains(err.Error(), c.want) {
				t.Errorf("mode %d: %v (%v), want %v containing %q", c.mode, err, kerr.CodeOf(err), c.code, c.want)
			}
			if rdr.Next() {
				t.Errorf("mode %d: Next after an error", c.mode)
			}
			rdr.Release()
		}
		if got := ctest.Live(); got != 0 {
			t.Errorf("mode %d: %d producer allocations leaked", c.mode, got)
		}
		ctest.Free(p)
	}
}

func TestImportSurvivesReleaseThatForgetsToMarkReleased(t *testing.T) {
	p := ctest.NewProducer(ctest.BuggyRelease, 2, 3)
	defer ctest.Free(p)
	rdr, err := arrowexport.ImportStream(p)
	if err != nil {
		t.Fatal(err)
	}
	rows := int64(0)
	for rdr.Next() {
		rows += rdr.RecordBatch().NumRows()
	}
	rdr.Release()
	if rdr.Err() != nil || rows != 6 || ctest.Live() != 0 {
		t.Fatalf("err %v rows %d live %d", rdr.Err(), rows, ctest.Live())
	}
}

func TestImportNullOrReleasedStream(t *testing.T) {
	if _, err := arrowexport.ImportStream(nil); kerr.CodeOf(err) != kerr.InvalidArgument {
		t.Fatalf("NULL: %v", err)
	}
	p := ctest.NewProducer(ctest.OK, 1, 1)
	defer ctest.Free(p)
	ctest.ReleaseStream(p)
	_, err := arrowexport.ImportStream(p)
	if kerr.CodeOf(err) != kerr.InvalidArgument || !strings.Contains(err.Error(), "released") {
		t.Fatalf("released: %v", err)
	}
}

func TestImportSchema(t *testing.T) {
	p := ctest.NewSchema(false)
	defer ctest.Free(p)
	s, err := arrowexport.ImportSchema(p)
	if err != nil {
		t.Fatal(err)
	}
	want := arrow.NewSchema([]arrow.Field{
		{Name: "a", Type: arrow.PrimitiveTypes.Int32},
		{Name: "b", Type: arrow.ListOfField(arrow.Field{Name: "item", Type: arrow.BinaryTypes.String, Nullable: true}), Nullable: true},
	}, nil)
	if !s.Equal(want) || !ctest.SchemaReleased(p) || ctest.Live() != 0 {
		t.Fatalf("schema %v released %v live %d", s, ctest.SchemaReleased(p), ctest.Live())
	}

	bad := ctest.NewSchema(true)
	defer ctest.Free(bad)
	_, err = arrowexport.ImportSchema(bad)
	if kerr.CodeOf(err) != kerr.InvalidArgument || !strings.Contains(err.Error(), `field 1 "b": format is NULL`) {
		t.Fatalf("NULL format: %v", err)
	}
	if !ctest.SchemaReleased(bad) || ctest.Live() != 0 {
		t.Fatal("a rejected schema must still be released")
	}
	if _, err := arrowexport.ImportSchema(nil); kerr.CodeOf(err) != kerr.InvalidArgument {
		t.Fatalf("NULL: %v", err)
	}
	if _, err := arrowexport.ImportSchema(bad); kerr.CodeOf(err) != kerr.InvalidArgument {
		t.Fatalf("released: %v", err)
	}
}

func TestExportSchemaRoundTrip(t *testing.T) {
	out := ctest.NewSchemaStruct()
	defer ctest.Free(out)
	if err := arrowexport.ExportSchema(testSchema, out); err != nil {
		t.Fatal(err)
	}
	s, err := arrowexport.ImportSchema(out)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Equal(testSchema) {
		t.Fatalf("%v", s)
	}
	if err := arrowexport.ExportSchema(testSchema, nil); kerr.CodeOf(err) != kerr.InvalidArgument {
		t.Fatalf("NULL out: %v", err)
	}
}

func TestConcurrentStreamsAreIndependent(t *testing.T) {
	mem := newAllocator()
	defer mem.AssertSize(t, 0)
	var wg sync.WaitGroup
	var ptrs [4]unsafe.Pointer
	for i := range ptrs {
		src := &source{schema: testSchema}
		for j := 0; j < 5; j++ {
			src.batches = append(src.batches, makeBatch(mem, j*2, 2))
		}
		ptrs[i] = exportSource(t, src)
	}
	errs := make(chan error, len(ptrs))
	for _, p := range ptrs {
		wg.Add(1)
		go func(p unsafe.Pointer) {
			defer wg.Done()
			rdr, err := arrowexport.ImportStream(p)
			if err != nil {
				errs <- err
				return
			}
			defer rdr.Release()
			rows := int64(0)
			for rdr.Next() {
				rows += rdr.RecordBatch().NumRows()
			}
			if rdr.Err() != nil || rows != 10 {
				errs <- fmt.Errorf("rows %d err %v", rows, rdr.Err())
			}
		}(p)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, p := range ptrs {
		ctest.Free(p)
	}
}

// TestHostErrnoCode: a host stream's failure keeps the host's meaning:
// EINVAL (pyarrow's errno when a reader's Python source raises) is
// InvalidArgument, ECANCELED Cancelled, anything else IO (it was IO for
// every errno, so a bad input read as a storage failure).
func TestHostErrnoCode(t *testing.T) {
	for rc, want := range map[int]kerr.Code{22: kerr.InvalidArgument, 125: kerr.Cancelled, 5: kerr.IO, 12: kerr.IO, 99999: kerr.IO} {
		if got := arrowexport.HostErrnoCode(rc); got != want {
			t.Errorf("errno %d: %v, want %v", rc, got, want)
		}
	}
}

// nestedSchema has every type whose children arrow-go's exporter cuts to
// the parent's offset (structs, also nested, and sparse unions), and a
// struct under a list, whose values are exported whole.
var nestedSchema = arrow.NewSchema([]arrow.Field{
	{Name: "s", Type: arrow.StructOf(
		arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int64},
		arrow.Field{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true}), Nullable: true},
	{Name: "ss", Type: arrow.StructOf(arrow.Field{Name: "inner", Type: arrow.StructOf(
		arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Int32, Nullable: true}), Nullable: true})},
	{Name: "ls", Type: arrow.ListOf(arrow.StructOf(arrow.Field{Name: "y", Type: arrow.PrimitiveTypes.Int64})), Nullable: true},
	{Name: "u", Type: arrow.SparseUnionOf([]arrow.Field{
		{Name: "i", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "t", Type: arrow.BinaryTypes.String, Nullable: true}}, []arrow.UnionTypeCode{0, 1})},
}, nil)

func makeNestedBatch(mem memory.Allocator, n int) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, nestedSchema)
	defer b.Release()
	s := b.Field(0).(*array.StructBuilder)
	ss := b.Field(1).(*array.StructBuilder)
	ls := b.Field(2).(*array.ListBuilder)
	u := b.Field(3).(*array.SparseUnionBuilder)
	for i := 0; i < n; i++ {
		if i%5 == 1 {
			s.AppendNull()
		} else {
			s.Append(true)
			s.FieldBuilder(0).(*array.Int64Builder).Append(int64(i) * 10)
			if i%3 == 0 {
				s.FieldBuilder(1).AppendNull()
			} else {
				s.FieldBuilder(1).(*array.StringBuilder).Append(fmt.Sprintf("v%d", i))
			}
		}
		ss.Append(true)
		in := ss.FieldBuilder(0).(*array.StructBuilder)
		if i%4 == 2 {
			in.AppendNull()
		} else {
			in.Append(true)
			in.FieldBuilder(0).(*array.Int32Builder).Append(int32(-i))
		}
		ls.Append(true)
		vb := ls.ValueBuilder().(*array.StructBuilder)
		for j := 0; j < i%3; j++ {
			vb.Append(true)
			vb.FieldBuilder(0).(*array.Int64Builder).Append(int64(i*100 + j))
		}
		if i%2 == 0 {
			u.Append(0)
			u.Child(0).(*array.Int32Builder).Append(int32(i))
			u.Child(1).AppendEmptyValue()
		} else {
			u.Append(1)
			u.Child(0).AppendEmptyValue()
			u.Child(1).(*array.StringBuilder).Append(fmt.Sprintf("t%d", i))
		}
	}
	return b.NewRecordBatch()
}

// A batch sliced from a larger one (how a scan cuts a row group into
// batches) must reach the host well-formed: arrow-go's exporter left a
// struct's offset set on children it had already cut, so the host read
// past them (pyarrow: "Struct child array #0 has length smaller than
// expected"). Our importer checks every child length, as Arrow C++ does.
func TestSlicedNestedColumnsExportIntact(t *testing.T) {
	mem := newAllocator()
	defer mem.AssertSize(t, 0)
	full := makeNestedBatch(mem, 64)
	defer full.Release()
	for _, cut := range [][2]int64{{0, 64}, {8, 40}, {3, 20}, {13, 64}} {
		want := full.NewSlice(cut[0], cut[1])
		src := &source{schema: nestedSchema}
		want.Retain()
		src.batches = append(src.batches, want)
		p := exportSource(t, src)
		rdr, err := arrowexport.ImportStream(p)
		if err != nil {
			t.Fatalf("slice %v: ImportStream: %v", cut, err)
		}
		if !rdr.Next() {
			t.Fatalf("slice %v: no batch: %v", cut, rdr.Err())
		}
		got := rdr.RecordBatch()
		if !array.RecordEqual(got, want) {
			t.Errorf("slice %v differs:\n%v\nwant\n%v", cut, got, want)
		}
		if rdr.Next() || rdr.Err() != nil {
			t.Errorf("slice %v: after the batch: more or %v", cut, rdr.Err())
		}
		rdr.Release()
		ctest.Free(p)
		want.Release()
	}
}
