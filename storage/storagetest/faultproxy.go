package storagetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
)

// Fault is what a FaultProxy does with one request.
type Fault int

// The faults a FaultProxy injects.
const (
	// Pass forwards the request.
	Pass Fault = iota
	// Status500 answers 500 InternalError without forwarding.
	Status500
	// Drop closes the connection without answering.
	Drop
	// CutBody forwards the request and cuts the response body off after
	// half of it (the connection closes; the client sees an unexpected
	// EOF).
	CutBody
	// Hang holds the request until the client gives up (or the proxy
	// closes).
	Hang
	// LoseReply forwards the request, so the server carries it out, and
	// answers 500 instead of the server's reply: a reply lost on the way.
	LoseReply
	// NoSuchUpload answers 404 NoSuchUpload without forwarding: what S3
	// answers a retried CompleteMultipartUpload whose first attempt
	// succeeded (some servers, s3proxy among them, complete it again).
	NoSuchUpload
	// Status200Error answers 200 with an InternalError document without
	// forwarding: how S3 may fail a CompleteMultipartUpload.
	Status200Error
)

// FaultProxy is a reverse proxy in front of an S3 server that counts the
// requests by S3 operation and injects faults, for tests of what a client
// does when the server fails. The SigV4 signature survives it: the Host
// header the client signed is passed on unchanged.
type FaultProxy struct {
	// URL is the proxy's endpoint, http://127.0.0.1:PORT.
	URL string

	srv       *httptest.Server
	closing   chan struct{}
	closeOnce sync.Once

	mu     sync.Mutex
	decide func(op string, r *http.Request) Fault
	ops    []string
	ranges []string
	conns  int
}

// NewFaultProxy starts a proxy to target (an endpoint URL) that passes
// every request until SetFault says otherwise.
func NewFaultProxy(target string) (*FaultProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("fault proxy target %q: %w", target, err)
	}
	p := &FaultProxy{closing: make(chan struct{})}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0) // the client reports what matters
	rp.ModifyResponse = func(resp *http.Response) error {
		if f, _ := resp.Request.Context().Value(faultKey{}).(Fault); f == CutBody {
			resp.Body = &cutBody{rc: resp.Body, left: max(resp.ContentLength/2, 1)}
		}
		return nil
	}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := Op(r)
		p.mu.Lock()
		p.ops = append(p.ops, op)
		if rg := r.Header.Get("Range"); rg != "" {
			p.ranges = append(p.ranges, rg)
		}
		decide := p.decide
		p.mu.Unlock()
		f := Pass
		if decide != nil {
			f = decide(op, r)
		}
		switch f {
		case Status500:
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>`+
				`<Message>injected by the fault proxy</Message></Error>`)
		case Drop:
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
			panic(http.ErrAbortHandler)
		case Hang:
			select {
			case <-r.Context().Done():
			case <-p.closing:
			}
		case Status200Error:
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>`+
				`<Message>injected by the fault proxy</Message></Error>`)
		case NoSuchUpload:
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchUpload</Code>`+
				`<Message>The specified upload does not exist.</Message></Error>`)
		case LoseReply:
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>`+
				`<Message>reply lost by the fault proxy</Message></Error>`)
		default:
			ctx := r.Context()
			if f == CutBody {
				ctx = contextWithFault(ctx, f)
			}
			rp.ServeHTTP(w, r.WithContext(ctx))
		}
	}))
	p.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			p.mu.Lock()
			p.conns++
			p.mu.Unlock()
		}
	}
	p.srv.Start()
	p.URL = p.srv.URL
	return p, nil
}

// SetFault sets the function that picks each request's fault from its S3
// operation (see Op); nil passes everything.
func (p *FaultProxy) SetFault(decide func(op string, r *http.Request) Fault) {
	p.mu.Lock()
	p.decide = decide
	p.mu.Unlock()
}

// Ops returns the operations of the requests seen since the last Reset,
// in order.
func (p *FaultProxy) Ops() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.ops...)
}

// Ranges returns the Range headers of the requests seen since the last
// Reset, in order.
func (p *FaultProxy) Ranges() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.ranges...)
}

// Conns returns how many connections clients opened since the last Reset.
func (p *FaultProxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns
}

// Count returns how many requests of operation op were seen since the
// last Reset.
func (p *FaultProxy) Count(op string) int {
	n := 0
	for _, o := range p.Ops() {
		if o == op {
			n++
		}
	}
	return n
}

// Reset forgets the requests seen.
func (p *FaultProxy) Reset() {
	p.mu.Lock()
	p.ops, p.ranges, p.conns = nil, nil, 0
	p.mu.Unlock()
}

// Close stops the proxy: from then on its port refuses connections, as a
// server that went down.
func (p *FaultProxy) Close() {
	p.closeOnce.Do(func() {
		close(p.closing)
		p.srv.CloseClientConnections()
		p.srv.Close()
	})
}

// Op names the S3 operation of a request: GetObject (RangedGet with a
// Range header), HeadObject, PutObject, DeleteObject, DeleteObjects,
// ListObjectsV2, CreateMultipartUpload, UploadPart,
// CompleteMultipartUpload, AbortMultipartUpload, ListMultipartUploads.
func Op(r *http.Request) string {
	q := r.URL.Query()
	switch {
	case q.Has("uploads") && r.Method == http.MethodPost:
		return "CreateMultipartUpload"
	case q.Has("uploads"):
		return "ListMultipartUploads"
	case q.Has("partNumber"):
		return "UploadPart"
	case q.Has("uploadId") && r.Method == http.MethodPost:
		return "CompleteMultipartUpload"
	case q.Has("uploadId") && r.Method == http.MethodDelete:
		return "AbortMultipartUpload"
	case q.Has("delete"):
		return "DeleteObjects"
	case q.Has("list-type"):
		return "ListObjectsV2"
	}
	switch r.Method {
	case http.MethodGet:
		if r.Header.Get("Range") != "" {
			return "RangedGet"
		}
		return "GetObject"
	case http.MethodHead:
		return "HeadObject"
	case http.MethodPut:
		return "PutObject"
	case http.MethodDelete:
		return "DeleteObject"
	}
	return r.Method
}

type faultKey struct{}

func contextWithFault(ctx context.Context, f Fault) context.Context {
	return context.WithValue(ctx, faultKey{}, f)
}

type cutBody struct {
	rc   io.ReadCloser
	left int64
}

var errCut = errors.New("fault proxy: response body cut")

func (c *cutBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errCut
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *cutBody) Close() error { return c.rc.Close() }
