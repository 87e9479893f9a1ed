package storage

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kalamdb/libkalam/kerr"
)

// s3Writer buffers one part; the first full part starts a multipart upload
// and parts are then uploaded in the background, at most
// uploadConcurrency at once (Write blocks when that many are in flight), so
// a writer holds at most uploadConcurrency+1 part buffers whatever the
// object's size. An object that never fills a part is one PUT at Commit.
type s3Writer struct {
	s     *S3Storage
	ctx   context.Context
	stop  context.CancelFunc // cancels uploads in flight (Abort, failure)
	clean string
	key   string
	uri   string

	buf     []byte
	n       int64
	partNum int
	sem     chan struct{}
	wg      sync.WaitGroup

	mu       sync.Mutex
	uploadID string
	parts    []completedPart
	err      error // first failure; the writer is then only good for Abort

	done bool
}

func newS3Writer(ctx context.Context, s *S3Storage, clean string) *s3Writer {
	wctx, stop := context.WithCancel(ctx)
	return &s3Writer{
		s: s, ctx: wctx, stop: stop, clean: clean,
		key: s.key(clean), uri: s.objectURI(clean),
		sem: make(chan struct{}, s.tune.uploadConcurrency),
	}
}

// partSizeFor is the size of part num (1-based): the tuned size for the
// first 1000 parts, doubling every 1000 after, capped at S3's 5 GiB.
func (w *s3Writer) partSizeFor(num int) int {
	size := w.s.tune.partSize << ((num - 1) / 1000)
	if size > 5<<30 || size <= 0 {
		size = 5 << 30
	}
	return size
}

func (w *s3Writer) setErr(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
}

func (w *s3Writer) firstErr() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *s3Writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, kerr.New(kerr.Internal, "write %s: writer already finished", w.uri)
	}
	written := 0
	for len(p) > 0 {
		if err := w.firstErr(); err != nil {
			return written, err
		}
		want := w.partSizeFor(w.partNum + 1)
		// A full buffer is sent only once more data comes: an object of
		// exactly one part is then still one PUT at Commit.
		if len(w.buf) == want {
			if err := w.sendPart(); err != nil {
				return written, err
			}
			want = w.partSizeFor(w.partNum + 1)
		}
		if w.buf == nil {
			w.buf = make([]byte, 0, min(want, max(len(p), 64<<10)))
		}
		chunk := p[:min(len(p), want-len(w.buf))]
		w.buf = append(w.buf, chunk...)
		w.n += int64(len(chunk))
		written += len(chunk)
		p = p[len(chunk):]
	}
	return written, nil
}

// sendPart hands the buffer to a background upload, starting the
// multipart upload first when this is the first part.
func (w *s3Writer) sendPart() error {
	if w.uploadID == "" {
		id, err := w.s.c.createMultipart(w.ctx, w.key)
		if err != nil {
			err = wrapErr(w.ctx, err, "create", w.uri)
			w.setErr(err)
			return err
		}
		w.mu.Lock()
		w.uploadID = id
		w.mu.Unlock()
	}
	w.partNum++
	num, data := w.partNum, w.buf
	w.buf = nil
	select {
	case w.sem <- struct{}{}:
	case <-w.ctx.Done():
		err := wrapErr(w.ctx, w.ctx.Err(), "write", w.uri)
		w.setErr(err)
		return err
	}
	w.wg.Add(1)
	go func() {
		defer func() { <-w.sem; w.wg.Done() }()
		etag, err := w.s.c.uploadPart(w.ctx, w.key, w.uploadID, num, data)
		if err != nil {
			w.setErr(wrapErr(w.ctx, err, "upload part of", w.uri))
			w.stop() // no point finishing the other parts
			return
		}
		w.mu.Lock()
		w.parts = append(w.parts, completedPart{PartNumber: num, ETag: etag})
		w.mu.Unlock()
	}()
	return nil
}

// Commit sends what is buffered and makes the object visible: one PUT, or
// the last part and CompleteMultipartUpload. On failure it aborts, so
// nothing new is visible under the name.
func (w *s3Writer) Commit() (int64, error) {
	if w.done {
		return 0, kerr.New(kerr.Internal, "commit %s: writer already finished", w.uri)
	}
	fail := func(err error) (int64, error) {
		w.Abort()
		return 0, err
	}
	if err := w.firstErr(); err != nil {
		return fail(err)
	}
	if w.uploadID == "" {
		if err := w.s.c.putObject(w.ctx, w.key, w.buf); err != nil {
			return fail(wrapErr(w.ctx, err, "write", w.uri))
		}
		w.finish()
		return w.n, nil
	}
	if len(w.buf) > 0 {
		if err := w.sendPart(); err != nil {
			return fail(err)
		}
	}
	w.wg.Wait()
	if err := w.firstErr(); err != nil {
		return fail(err)
	}
	sort.Slice(w.parts, func(i, j int) bool { return w.parts[i].PartNumber < w.parts[j].PartNumber })
	err := w.s.c.completeMultipart(w.ctx, w.key, w.uploadID, w.parts)
	var se *s3Error
	if errors.As(err, &se) && se.Code == "NoSuchUpload" && w.completedAlready() {
		// A retried Complete whose first attempt succeeded but whose
		// reply was lost.
		err = nil
	}
	if err != nil {
		return fail(wrapErr(w.ctx, err, "complete", w.uri))
	}
	w.finish()
	return w.n, nil
}

// completedAlready reports whether the object now under the key is the one
// this writer uploaded: the size matches and, when the server gives
// multipart ETags in S3's form ("<md5 of the part md5s>-<parts>"), so does
// the part count.
func (w *s3Writer) completedAlready() bool {
	size, etag, err := w.s.c.headObject(w.ctx, w.key)
	if err != nil || size != w.n {
		return false
	}
	return multipartETagMatches(etag, w.parts)
}

func (w *s3Writer) finish() {
	w.done = true
	w.buf = nil
	w.stop()
}

// Abort stops the uploads in flight and aborts the multipart upload, which
// discards its parts. It runs even when the writer's context is cancelled
// (that is often why it is called), bounded by its own timeout.
func (w *s3Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.buf = nil
	w.stop()
	w.wg.Wait()
	if w.uploadID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), 30*time.Second)
	defer cancel()
	// Best effort: an upload left behind is invisible and a bucket
	// lifecycle rule (AbortIncompleteMultipartUpload) reclaims it.
	_ = w.s.c.abortMultipart(ctx, w.key, w.uploadID)
}

// multipartETagMatches checks an object's ETag against the parts that were
// uploaded, as far as the ETag's form allows: S3 gives a multipart object
// the ETag md5(concatenated part MD5s)-partCount; other servers give other
// forms, which are then not evidence either way.
func multipartETagMatches(etag string, parts []completedPart) bool {
	etag = strings.Trim(etag, `"`)
	dash := strings.LastIndexByte(etag, '-')
	if dash < 0 {
		return true
	}
	if etag[dash+1:] != strconv.Itoa(len(parts)) {
		return false
	}
	h := md5.New()
	for _, p := range parts {
		b, err := hex.DecodeString(strings.Trim(p.ETag, `"`))
		if err != nil || len(b) != md5.Size {
			return true // part ETags are not MD5s: the count is all we can check
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)) == etag[:dash]
}
