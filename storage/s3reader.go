package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/kalamdb/libkalam/kerr"
)

// s3Reader reads one object with ranged GETs, shaped for a Parquet reader:
// it makes many small reads (the footer length, the footer, then column
// chunks that lie next to each other, several at once when columns are
// decoded in parallel), and a round trip each would cost more than the
// bytes.
//
//   - The footer: Open's one request is a suffix-range GET of the last
//     footerSize bytes, which also tells the object's size; those bytes
//     stay for the reader's life, so reading the footer costs nothing more.
//   - Blocks: below the footer the object is cut into aligned blocks of
//     readAhead bytes. A read smaller than a block that misses fetches the
//     whole block (and the next ones it spans, in the same request) and
//     keeps it, so the neighbouring column chunks come from memory. Aligned
//     blocks make reads that arrive in any order, from any goroutine, share
//     requests: a read of a block being fetched waits for that request.
//   - A read of readAhead bytes or more goes straight into the caller's
//     buffer in one request, uncached.
//
// Memory: the footer, at most cacheSize bytes of blocks (least recently
// used go first), and the blocks being fetched (at most two per read in
// flight). Each GET carries If-Match with the ETag seen at Open, so an
// object replaced under a reader fails the read instead of mixing two
// objects.
type s3Reader struct {
	s    *S3Storage
	ctx  context.Context
	key  string
	uri  string
	size int64
	etag string

	footer    []byte
	footerOff int64

	mu       sync.Mutex
	blocks   map[int64][]byte   // by block index
	lru      []int64            // block indices, least recently used first
	cached   int                // bytes in blocks
	inflight map[int64]*s3Fetch // by block index; a fetch may cover several
	closed   bool
}

// s3Fetch is a GET in flight for the blocks [off, end).
type s3Fetch struct {
	off, end int64
	done     chan struct{}
	data     []byte
	err      error
}

func openS3Reader(ctx context.Context, s *S3Storage, clean string) (*s3Reader, error) {
	r := &s3Reader{s: s, ctx: ctx, key: s.key(clean), uri: s.objectURI(clean),
		blocks: map[int64][]byte{}, inflight: map[int64]*s3Fetch{}}
	h := http.Header{}
	h.Set("Range", "bytes=-"+strconv.Itoa(s.tune.footerSize))
	body, hdr, err := s.c.call(ctx, &s3Request{method: http.MethodGet, key: r.key, header: h, idempotent: true})
	var se *s3Error
	switch {
	case errors.As(err, &se) && se.Status == http.StatusRequestedRangeNotSatisfiable:
		// S3 refuses any range of an empty object.
		size, etag, herr := s.c.headObject(ctx, r.key)
		if herr != nil {
			return nil, wrapErr(ctx, herr, "open", r.uri)
		}
		r.size, r.etag, r.footer = size, etag, []byte{}
		if size != 0 {
			return nil, kerr.New(kerr.IO, "open %s: the server refused a suffix range of a %d-byte object", r.uri, size)
		}
		return r, nil
	case err != nil:
		return nil, wrapErr(ctx, err, "open", r.uri)
	}
	r.etag = hdr.Get("Etag")
	r.footer = body
	if cr := hdr.Get("Content-Range"); cr != "" {
		first, total, perr := parseContentRange(cr)
		if perr != nil || first+int64(len(body)) != total {
			return nil, kerr.New(kerr.IO, "open %s: unexpected Content-Range %q for %d bytes", r.uri, cr, len(body))
		}
		r.footerOff, r.size = first, total
	} else {
		// The whole object (a server may answer a suffix range larger
		// than the object with 200).
		r.footerOff, r.size = 0, int64(len(body))
	}
	return r, nil
}

// parseContentRange parses "bytes first-last/total".
func parseContentRange(s string) (first, total int64, err error) {
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, fmt.Errorf("bad Content-Range %q", s)
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, fmt.Errorf("bad Content-Range %q", s)
	}
	a, _, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, fmt.Errorf("bad Content-Range %q", s)
	}
	if first, err = strconv.ParseInt(a, 10, 64); err != nil {
		return 0, 0, err
	}
	if total, err = strconv.ParseInt(tot, 10, 64); err != nil {
		return 0, 0, err
	}
	return first, total, nil
}

func (r *s3Reader) Size() int64 { return r.size }

// Close drops the cached ranges; reads after it fail with kerr.Closed.
func (r *s3Reader) Close() error {
	r.mu.Lock()
	r.closed = true
	r.blocks, r.lru, r.cached, r.footer = map[int64][]byte{}, nil, 0, nil
	r.mu.Unlock()
	return nil
}

// ReadAt reads len(p) bytes at off (fewer, with io.EOF, at the end of the
// object). Safe for concurrent use.
func (r *s3Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, kerr.New(kerr.InvalidArgument, "read %s: negative offset %d", r.uri, off)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if off >= r.size {
		return 0, io.EOF
	}
	end := off + int64(len(p))
	if end > r.size {
		end = r.size
	}
	pos := off
	for pos < end {
		n, err := r.readSome(p[pos-off:end-off], pos)
		pos += int64(n)
		if err != nil {
			return int(pos - off), err
		}
	}
	if int(end-off) < len(p) {
		return int(end - off), io.EOF
	}
	return len(p), nil
}

// readSome places a first part (at least one byte) of the range [pos,
// pos+len(dst)) in dst from the footer, a cached block, a fetch in flight
// or a new request, and returns its length.
func (r *s3Reader) readSome(dst []byte, pos int64) (int, error) {
	bs := int64(r.s.tune.readAhead)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return 0, kerr.New(kerr.Closed, "read %s: reader is closed", r.uri)
	}
	if pos >= r.footerOff && pos < r.footerOff+int64(len(r.footer)) {
		n := copy(dst, r.footer[pos-r.footerOff:])
		r.mu.Unlock()
		return n, nil
	}
	k := pos / bs
	if b, ok := r.blocks[k]; ok {
		n := copy(dst, b[pos-k*bs:])
		r.touch(k)
		r.mu.Unlock()
		return n, nil
	}
	if f, ok := r.inflight[k]; ok {
		r.mu.Unlock()
		<-f.done
		if f.err != nil {
			return 0, f.err
		}
		return copy(dst, f.data[pos-f.off:]), nil
	}
	// A miss. Nothing at or past the footer is fetched again.
	limit := r.size
	if len(r.footer) > 0 {
		limit = r.footerOff
	}
	want := min(pos+int64(len(dst)), limit)
	if want-pos >= bs {
		r.mu.Unlock()
		n := int(want - pos)
		if err := r.get(dst[:n], pos); err != nil {
			return 0, err
		}
		return n, nil
	}
	// The block of pos and, in the same request, the following blocks
	// the read spans that are neither held nor on their way.
	last := k
	for last < (want-1)/bs {
		if _, held := r.blocks[last+1]; held {
			break
		}
		if _, coming := r.inflight[last+1]; coming {
			break
		}
		last++
	}
	f := &s3Fetch{off: k * bs, end: min((last+1)*bs, limit), done: make(chan struct{})}
	for i := k; i <= last; i++ {
		r.inflight[i] = f
	}
	r.mu.Unlock()

	buf := make([]byte, f.end-f.off)
	err := r.get(buf, f.off)

	r.mu.Lock()
	for i := k; i <= last; i++ {
		delete(r.inflight, i)
	}
	if err == nil && !r.closed {
		for i := k; i <= last; i++ {
			b := buf[i*bs-f.off : min((i+1)*bs, f.end)-f.off]
			r.blocks[i] = b
			r.lru = append(r.lru, i)
			r.cached += len(b)
		}
		for r.cached > r.s.tune.cacheSize && len(r.lru) > 1 {
			old := r.lru[0]
			r.lru = r.lru[1:]
			r.cached -= len(r.blocks[old])
			delete(r.blocks, old)
		}
	}
	f.data, f.err = buf, err
	close(f.done)
	r.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return copy(dst, buf[pos-f.off:]), nil
}

// touch marks block k as just used.
func (r *s3Reader) touch(k int64) {
	for i, j := range r.lru {
		if j == k {
			copy(r.lru[i:], r.lru[i+1:])
			r.lru[len(r.lru)-1] = k
			return
		}
	}
}

// get fills dst with the object's bytes at off: one ranged GET, and when
// the connection drops part-way, further GETs for the rest, within the
// retry policy.
func (r *s3Reader) get(dst []byte, off int64) error {
	c := r.s.c
	rt := newRetrier(c.retry)
	got := 0
	for got < len(dst) {
		from, to := off+int64(got), off+int64(len(dst))-1
		h := http.Header{}
		h.Set("Range", "bytes="+strconv.FormatInt(from, 10)+"-"+strconv.FormatInt(to, 10))
		if r.etag != "" {
			h.Set("If-Match", r.etag)
		}
		resp, err := c.once(r.ctx, &s3Request{method: http.MethodGet, key: r.key, header: h, idempotent: true})
		if err == nil {
			var n int
			n, err = readRangeBody(resp, from, dst[got:])
			resp.Body.Close()
			got += n
			if err == nil {
				return nil
			}
		}
		if !rt.again(r.ctx, err) {
			var se *s3Error
			if errors.As(err, &se) && se.Status == http.StatusPreconditionFailed {
				return kerr.Wrap(kerr.IO, err, "read %s: the object was replaced since it was opened", r.uri)
			}
			return wrapErr(r.ctx, rt.describe(err), fmt.Sprintf("read bytes %d-%d of", from, to), r.uri)
		}
	}
	return nil
}

// readRangeBody reads a ranged GET's body into dst. A server that ignores
// Range answers 200 with the whole object; its first from bytes are
// skipped.
func readRangeBody(resp *http.Response, from int64, dst []byte) (int, error) {
	switch resp.StatusCode {
	case http.StatusPartialContent:
		first, _, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil || first != from {
			return 0, &s3Error{Status: resp.StatusCode, Message: fmt.Sprintf("Content-Range %q does not start at %d",
				resp.Header.Get("Content-Range"), from)}
		}
	case http.StatusOK:
		if _, err := io.CopyN(io.Discard, resp.Body, from); err != nil {
			return 0, &s3Error{Err: fmt.Errorf("reading response: %w", err)}
		}
	default:
		return 0, &s3Error{Status: resp.StatusCode, Message: "unexpected status for a ranged GET"}
	}
	n, err := io.ReadFull(resp.Body, dst)
	if err != nil {
		return n, &s3Error{Err: fmt.Errorf("reading response: %w", err)}
	}
	return n, nil
}
