package storage

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kalamdb/libkalam/kerr"
)

// s3Client speaks the part of the S3 REST API that a storage root needs:
// GetObject (ranged), HeadObject, PutObject, DeleteObject, DeleteObjects,
// ListObjectsV2 and the five multipart-upload calls.
type s3Client struct {
	endpoint  *url.URL // scheme and host (and a base path, for gateways mounted below /)
	pathStyle bool     // bucket in the path, not in the host name
	bucket    string
	signer    *signer
	http      *http.Client
	retry     retryPolicy
}

// retryPolicy: a request that may be repeated is retried after a network
// error, a 5xx, a 429 or S3's RequestTimeout, with exponential backoff and
// full jitter, until attempts or the total deadline run out.
type retryPolicy struct {
	attempts int
	base     time.Duration
	max      time.Duration
	deadline time.Duration
}

var defaultRetry = retryPolicy{attempts: 8, base: 50 * time.Millisecond, max: 2 * time.Second, deadline: 60 * time.Second}

// NewHTTPClient is the HTTP client an S3 storage uses when Options names
// none: connection reuse, timeouts that let the retry policy take over from
// a silent server, no transparent decompression.
func NewHTTPClient() *http.Client {
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		// A server that accepts a connection and then says nothing must not
		// hang a scan: the retry policy takes over.
		ResponseHeaderTimeout: 30 * time.Second,
		// Objects are Parquet (already compressed) and ranged reads need
		// the stored bytes, not a transparently decoded stream.
		DisableCompression: true,
	}
	return &http.Client{Transport: tr}
}

// s3Error is an error response from the server, or a failure to get one.
type s3Error struct {
	Status    int    // HTTP status; 0 when no response arrived
	Code      string // S3 error code (NoSuchKey, SlowDown, ...)
	Message   string
	RequestID string
	Err       error // the transport error when Status is 0
}

func (e *s3Error) Error() string {
	if e.Status == 0 {
		return e.Err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d", e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request id " + e.RequestID + ")")
	}
	return b.String()
}

// Unwrap gives the transport error, unless it is an end of file: Go's
// HTTP client reports a connection closed before (or during) a reply as
// `Get "...": EOF`, and up the stack io.EOF means a normal end — an Arrow
// stream's exporter took such a read failure for the end of a scan and
// returned the rows read so far.
func (e *s3Error) Unwrap() error {
	if errors.Is(e.Err, io.EOF) || errors.Is(e.Err, io.ErrUnexpectedEOF) {
		return nil
	}
	return e.Err
}

// retryable reports whether repeating the same request may succeed.
func (e *s3Error) retryable() bool {
	if e.Status == 0 {
		return true
	}
	if e.Status >= 500 || e.Status == http.StatusTooManyRequests {
		return true
	}
	switch e.Code {
	// ConditionalRequestConflict: a conditional write raced another write
	// of the key; S3 asks for the request again.
	case "RequestTimeout", "SlowDown", "InternalError", "ServiceUnavailable", "ConditionalRequestConflict":
		return true
	}
	return false
}

func (e *s3Error) notFound() bool {
	return e.Status == http.StatusNotFound && (e.Code == "" || e.Code == "NoSuchKey" || e.Code == "NotFound")
}

type xmlError struct {
	Code      string `xml:"Code"`
	Message   string `xml:"Message"`
	RequestID string `xml:"RequestId"`
}

func errorFromResponse(resp *http.Response) *s3Error {
	e := &s3Error{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Amz-Request-Id")}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var x xmlError
	if len(body) > 0 && xml.Unmarshal(body, &x) == nil {
		e.Code, e.Message = x.Code, x.Message
		if x.RequestID != "" {
			e.RequestID = x.RequestID
		}
	} else if len(body) > 0 {
		e.Message = strings.TrimSpace(string(body))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200] + "..."
		}
	}
	if e.Code == "" && resp.StatusCode == http.StatusNotFound && resp.Request != nil && resp.Request.Method == http.MethodHead {
		e.Code = "NotFound"
	}
	return e
}

// s3Request is one S3 call. key is the full object key ("" for bucket
// calls).
type s3Request struct {
	method string
	key    string
	query  url.Values
	header http.Header
	body   []byte
	// idempotent: the same request may be sent again after a failure
	// whose outcome is unknown.
	idempotent bool
	// check, when set, turns a 200 response's body into an error (S3 may
	// answer 200 and fail: CompleteMultipartUpload's <Error> document),
	// which is retried like any other.
	check func(body []byte) error
}

func (c *s3Client) url(key string, query url.Values) *url.URL {
	u := *c.endpoint
	base := strings.TrimSuffix(u.Path, "/")
	var p string
	if c.pathStyle {
		p = base + "/" + c.bucket
		if key != "" {
			p += "/" + key
		} else {
			p += "/"
		}
	} else {
		u.Host = c.bucket + "." + u.Host
		p = base + "/" + key
	}
	u.Path = p
	u.RawPath = uriEncode(p, true)
	u.RawQuery = canonicalQuery(query)
	return &u
}

func (c *s3Client) newRequest(ctx context.Context, r *s3Request) (*http.Request, error) {
	u := c.url(r.key, r.query)
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, err
	}
	// NewRequest re-parses the string; put back the exact encoding we sign.
	req.URL = u
	for k, v := range r.header {
		req.Header[k] = append([]string(nil), v...)
	}
	hash := emptySHA256Hex
	if r.body != nil {
		req.ContentLength = int64(len(r.body))
		hash = sha256Hex(r.body)
	} else if r.method == http.MethodPut || r.method == http.MethodPost {
		req.ContentLength = 0
		req.Body = http.NoBody
	}
	c.signer.sign(req, hash, time.Now())
	return req, nil
}

// retrier runs one retry loop: attempts, backoff and the total deadline.
type retrier struct {
	p       retryPolicy
	start   time.Time
	attempt int
}

func newRetrier(p retryPolicy) *retrier { return &retrier{p: p, start: time.Now()} }

// again sleeps before the next attempt after err and reports whether there
// is one: not when err is not worth repeating, the attempts or the deadline
// are used up, or ctx ends.
func (r *retrier) again(ctx context.Context, err error) bool {
	r.attempt++ // attempts that failed so far
	var se *s3Error
	if !errors.As(err, &se) || !se.retryable() || ctx.Err() != nil || r.attempt >= r.p.attempts {
		return false
	}
	backoff := r.p.base << (r.attempt - 1)
	if backoff > r.p.max || backoff <= 0 {
		backoff = r.p.max
	}
	sleep := time.Duration(rand.Int64N(int64(backoff)) + 1)
	if time.Since(r.start)+sleep > r.p.deadline {
		return false
	}
	t := time.NewTimer(sleep)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// describe adds the number of attempts to the error of the last one.
func (r *retrier) describe(err error) error {
	if r.attempt <= 1 {
		return err
	}
	return fmt.Errorf("%w (after %d attempts in %s)", err, r.attempt, time.Since(r.start).Round(time.Millisecond))
}

// once sends r and returns a 2xx response (the caller closes its body), or
// an *s3Error.
func (c *s3Client) once(ctx context.Context, r *s3Request) (*http.Response, error) {
	req, err := c.newRequest(ctx, r)
	if err != nil {
		return nil, &s3Error{Err: err}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &s3Error{Err: err}
	}
	if resp.StatusCode/100 != 2 {
		e := errorFromResponse(resp)
		resp.Body.Close()
		return nil, e
	}
	return resp, nil
}

// call sends r, retrying it by the policy when it is idempotent, for
// requests whose response body is small: it is read whole
// (within the retry loop, so a body cut short is retried too).
func (c *s3Client) call(ctx context.Context, r *s3Request) ([]byte, http.Header, error) {
	rt := newRetrier(c.retry)
	for {
		resp, err := c.once(ctx, r)
		if err == nil {
			var body []byte
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				err = &s3Error{Err: fmt.Errorf("reading response: %w", err)}
			} else if r.check != nil {
				err = r.check(body)
			}
			if err == nil {
				return body, resp.Header, nil
			}
		}
		if !r.idempotent || !rt.again(ctx, err) {
			return nil, nil, rt.describe(err)
		}
	}
}

// ---- object calls -------------------------------------------------------------

type listResult struct {
	Contents []struct {
		Key  string `xml:"Key"`
		Size int64  `xml:"Size"`
	} `xml:"Contents"`
	CommonPrefixes []struct {
		Prefix string `xml:"Prefix"`
	} `xml:"CommonPrefixes"`
	IsTruncated           bool   `xml:"IsTruncated"`
	NextContinuationToken string `xml:"NextContinuationToken"`
}

// listPage is one ListObjectsV2 call.
func (c *s3Client) listPage(ctx context.Context, prefix, delimiter, token string, maxKeys int) (*listResult, error) {
	q := url.Values{"list-type": {"2"}, "prefix": {prefix}}
	if delimiter != "" {
		q.Set("delimiter", delimiter)
	}
	if token != "" {
		q.Set("continuation-token", token)
	}
	if maxKeys > 0 {
		q.Set("max-keys", strconv.Itoa(maxKeys))
	}
	body, _, err := c.call(ctx, &s3Request{method: http.MethodGet, query: q, idempotent: true})
	if err != nil {
		return nil, err
	}
	var res listResult
	if err := xml.Unmarshal(body, &res); err != nil {
		return nil, &s3Error{Err: fmt.Errorf("malformed ListObjectsV2 response: %w", err)}
	}
	if res.IsTruncated && res.NextContinuationToken == "" {
		return nil, &s3Error{Err: errors.New("truncated ListObjectsV2 response without a continuation token")}
	}
	return &res, nil
}

func (c *s3Client) putObject(ctx context.Context, key string, data []byte) error {
	if data == nil {
		data = []byte{}
	}
	_, _, err := c.call(ctx, &s3Request{method: http.MethodPut, key: key, body: data, idempotent: true})
	return err
}

// putObjectIfAbsent is a conditional PUT (If-None-Match: *): 412 when the
// key exists.
func (c *s3Client) putObjectIfAbsent(ctx context.Context, key string, data []byte) error {
	_, _, err := c.call(ctx, &s3Request{method: http.MethodPut, key: key, body: data,
		header: http.Header{"If-None-Match": {"*"}}, idempotent: true})
	return err
}

// getObject reads a whole (small) object and its ETag.
func (c *s3Client) getObject(ctx context.Context, key string) ([]byte, string, error) {
	body, h, err := c.call(ctx, &s3Request{method: http.MethodGet, key: key, idempotent: true})
	if err != nil {
		return nil, "", err
	}
	return body, h.Get("ETag"), nil
}

// putObjectIfMatch is a conditional PUT (If-Match: etag): 412 when the
// object has another ETag, 404 when it is missing.
func (c *s3Client) putObjectIfMatch(ctx context.Context, key, etag string, data []byte) error {
	_, _, err := c.call(ctx, &s3Request{method: http.MethodPut, key: key, body: data,
		header: http.Header{"If-Match": {etag}}, idempotent: true})
	return err
}

func (c *s3Client) deleteObject(ctx context.Context, key string) error {
	_, _, err := c.call(ctx, &s3Request{method: http.MethodDelete, key: key, idempotent: true})
	var se *s3Error
	if errors.As(err, &se) && se.notFound() {
		return nil // some servers answer 404 where S3 answers 204
	}
	return err
}

type deleteRequest struct {
	XMLName xml.Name `xml:"Delete"`
	Quiet   bool     `xml:"Quiet"`
	Objects []struct {
		Key string `xml:"Key"`
	} `xml:"Object"`
}

type deleteResult struct {
	Errors []struct {
		Key     string `xml:"Key"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
}

// deleteObjects removes up to 1000 keys in one DeleteObjects call. A key
// that does not exist is not an error (S3 reports it as deleted).
func (c *s3Client) deleteObjects(ctx context.Context, keys []string) error {
	req := deleteRequest{Quiet: true}
	for _, k := range keys {
		req.Objects = append(req.Objects, struct {
			Key string `xml:"Key"`
		}{k})
	}
	body, err := xml.Marshal(req)
	if err != nil {
		return &s3Error{Err: err}
	}
	sum := md5.Sum(body)
	h := http.Header{}
	h.Set("Content-Type", "application/xml")
	// S3 refuses DeleteObjects without an integrity header.
	h.Set("Content-Md5", base64.StdEncoding.EncodeToString(sum[:]))
	resp, _, err := c.call(ctx, &s3Request{method: http.MethodPost, query: url.Values{"delete": {""}},
		header: h, body: body, idempotent: true})
	if err != nil {
		return err
	}
	var res deleteResult
	if err := xml.Unmarshal(resp, &res); err != nil {
		return &s3Error{Err: fmt.Errorf("malformed DeleteObjects response: %w", err)}
	}
	for _, e := range res.Errors {
		if e.Code == "NoSuchKey" {
			continue
		}
		return fmt.Errorf("delete %s: %s: %s", e.Key, e.Code, e.Message)
	}
	return nil
}

type initiateResult struct {
	UploadID string `xml:"UploadId"`
}

// createMultipart starts a multipart upload. Retried like an idempotent
// call: a lost reply leaves an upload nobody completes, which costs only
// its parts (none yet) until the bucket's lifecycle rule removes it.
func (c *s3Client) createMultipart(ctx context.Context, key string) (string, error) {
	body, _, err := c.call(ctx, &s3Request{method: http.MethodPost, key: key, query: url.Values{"uploads": {""}}, idempotent: true})
	if err != nil {
		return "", err
	}
	var res initiateResult
	if err := xml.Unmarshal(body, &res); err != nil || res.UploadID == "" {
		return "", &s3Error{Err: fmt.Errorf("malformed CreateMultipartUpload response %q", truncate(body))}
	}
	return res.UploadID, nil
}

// uploadPart sends one part; re-sending a part number replaces it, so the
// call is idempotent.
func (c *s3Client) uploadPart(ctx context.Context, key, uploadID string, num int, data []byte) (string, error) {
	q := url.Values{"partNumber": {strconv.Itoa(num)}, "uploadId": {uploadID}}
	_, h, err := c.call(ctx, &s3Request{method: http.MethodPut, key: key, query: q, body: data, idempotent: true})
	if err != nil {
		return "", err
	}
	etag := h.Get("Etag")
	if etag == "" {
		return "", &s3Error{Err: fmt.Errorf("UploadPart %d returned no ETag", num)}
	}
	return etag, nil
}

type completedPart struct {
	PartNumber int    `xml:"PartNumber"`
	ETag       string `xml:"ETag"`
}

type completeRequest struct {
	XMLName xml.Name        `xml:"CompleteMultipartUpload"`
	Parts   []completedPart `xml:"Part"`
}

// completeMultipart makes the object visible. S3 may answer 200 and still
// fail (an <Error> document in the body), so the body's root is checked
// (completeResult) and a retryable failure retried.
// A retry after a lost reply finds the upload gone (NoSuchUpload); the
// caller then checks whether the object it meant to create is there.
func (c *s3Client) completeMultipart(ctx context.Context, key, uploadID string, parts []completedPart) error {
	body, err := xml.Marshal(completeRequest{Parts: parts})
	if err != nil {
		return &s3Error{Err: err}
	}
	h := http.Header{}
	h.Set("Content-Type", "application/xml")
	_, _, err = c.call(ctx, &s3Request{method: http.MethodPost, key: key, query: url.Values{"uploadId": {uploadID}},
		header: h, body: body, idempotent: true, check: completeResult})
	return err
}

// completeResult is the error a CompleteMultipartUpload answer of 200
// carries, if any: an InternalError there is retried (AWS asks clients to).
func completeResult(body []byte) error {
	var root struct {
		XMLName xml.Name
		xmlError
	}
	if err := xml.Unmarshal(body, &root); err != nil {
		return &s3Error{Err: fmt.Errorf("malformed CompleteMultipartUpload response: %w", err)}
	}
	if root.XMLName.Local == "Error" {
		return &s3Error{Status: http.StatusOK, Code: root.Code, Message: root.Message, RequestID: root.RequestID}
	}
	return nil
}

func (c *s3Client) abortMultipart(ctx context.Context, key, uploadID string) error {
	_, _, err := c.call(ctx, &s3Request{method: http.MethodDelete, key: key, query: url.Values{"uploadId": {uploadID}}, idempotent: true})
	var se *s3Error
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		return nil // already gone
	}
	return err
}

// headObject returns the object's size and ETag.
func (c *s3Client) headObject(ctx context.Context, key string) (int64, string, error) {
	_, h, err := c.call(ctx, &s3Request{method: http.MethodHead, key: key, idempotent: true})
	if err != nil {
		return 0, "", err
	}
	n, perr := strconv.ParseInt(h.Get("Content-Length"), 10, 64)
	if perr != nil {
		return 0, "", &s3Error{Err: fmt.Errorf("HeadObject: bad Content-Length %q", h.Get("Content-Length"))}
	}
	return n, h.Get("Etag"), nil
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

// ---- errors to status codes ---------------------------------------------------

// wrapErr gives a failed call its kerr code, naming the object (uri) and
// what was being done (op): a missing key or bucket is NotFound, the
// caller's cancelled context is Cancelled, everything else (network, server,
// refused credentials) is IO.
func wrapErr(ctx context.Context, err error, op, uri string) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ctx.Err())) {
		return kerr.Wrap(kerr.Cancelled, ctx.Err(), "%s %s", op, uri)
	}
	var se *s3Error
	if errors.As(err, &se) {
		switch {
		case se.notFound():
			return kerr.Wrap(kerr.NotFound, err, "%s %s: no such object", op, uri)
		case se.Code == "NoSuchBucket":
			return kerr.Wrap(kerr.NotFound, err, "%s %s: no such bucket", op, uri)
		}
	}
	return kerr.Wrap(kerr.IO, err, "%s %s", op, uri)
}
