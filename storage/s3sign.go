package storage

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// AWS Signature Version 4 for S3, written here rather than taken from an SDK
// (storage/S3.md says why). Only header-based signing is needed: no
// presigned URLs and no aws-chunked streaming payloads, since every body we
// send is a byte slice whose hash is known before the request.

const (
	sigAlgorithm   = "AWS4-HMAC-SHA256"
	amzDateFormat  = "20060102T150405Z"
	emptySHA256Hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

type s3Credentials struct {
	AccessKeyID, SecretAccessKey, SessionToken string
}

func (c s3Credentials) anonymous() bool { return c.AccessKeyID == "" }

// signer signs requests for one region and set of credentials. The derived
// signing key depends on the date only, so it is kept for the day.
type signer struct {
	creds  s3Credentials
	region string

	mu      sync.Mutex
	keyDate string
	key     []byte
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (s *signer) signingKey(date string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keyDate != date {
		k := hmacSHA256([]byte("AWS4"+s.creds.SecretAccessKey), date)
		k = hmacSHA256(k, s.region)
		k = hmacSHA256(k, "s3")
		s.key = hmacSHA256(k, "aws4_request")
		s.keyDate = date
	}
	return s.key
}

// sign adds the x-amz-date, x-amz-content-sha256, x-amz-security-token and
// Authorization headers. payloadHash is the hex SHA-256 of the body. The
// request's URL must carry RawPath and RawQuery exactly as they are to be
// sent (s3URL builds them so).
func (s *signer) sign(req *http.Request, payloadHash string, now time.Time) {
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	if s.creds.anonymous() {
		return
	}
	amzDate := now.UTC().Format(amzDateFormat)
	date := amzDate[:8]
	req.Header.Set("X-Amz-Date", amzDate)
	if s.creds.SessionToken != "" {
		req.Header.Set("X-Amz-Security-Token", s.creds.SessionToken)
	}
	canonical, signedHeaders := canonicalRequest(req, payloadHash)
	scope := date + "/" + s.region + "/s3/aws4_request"
	toSign := sigAlgorithm + "\n" + amzDate + "\n" + scope + "\n" + sha256Hex([]byte(canonical))
	sig := hex.EncodeToString(hmacSHA256(s.signingKey(date), toSign))
	req.Header.Set("Authorization", sigAlgorithm+" Credential="+s.creds.AccessKeyID+"/"+scope+
		", SignedHeaders="+signedHeaders+", Signature="+sig)
}

// unsignedHeaders are left out of the signature: a proxy or Go's transport
// may change them.
var unsignedHeaders = map[string]bool{
	"authorization": true, "user-agent": true, "accept-encoding": true,
	"connection": true, "expect": true, "x-amzn-trace-id": true, "content-length": true,
}

func canonicalRequest(req *http.Request, payloadHash string) (canonical, signedHeaders string) {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	headers := map[string]string{"host": host}
	for name, vals := range req.Header {
		lname := strings.ToLower(name)
		if unsignedHeaders[lname] {
			continue
		}
		trimmed := make([]string, len(vals))
		for i, v := range vals {
			trimmed[i] = strings.Join(strings.Fields(v), " ")
		}
		headers[lname] = strings.Join(trimmed, ",")
	}
	names := make([]string, 0, len(headers))
	for n := range headers {
		names = append(names, n)
	}
	sort.Strings(names)
	var hb strings.Builder
	for _, n := range names {
		hb.WriteString(n)
		hb.WriteByte(':')
		hb.WriteString(headers[n])
		hb.WriteByte('\n')
	}
	signedHeaders = strings.Join(names, ";")
	path := req.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	canonical = req.Method + "\n" + path + "\n" + req.URL.RawQuery + "\n" + hb.String() + "\n" +
		signedHeaders + "\n" + payloadHash
	return canonical, signedHeaders
}

// uriEncode is SigV4's URI encoding: every byte but the unreserved
// characters A-Z a-z 0-9 - . _ ~ as %XX (upper-case hex); '/' is kept when
// keepSlash (object key paths) and encoded otherwise (query strings).
func uriEncode(s string, keepSlash bool) string {
	const hexdig = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == '/' && keepSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexdig[c>>4])
			b.WriteByte(hexdig[c&15])
		}
	}
	return b.String()
}

// canonicalQuery encodes q sorted by key then value, as SigV4 wants it; the
// same string is sent, so what is signed is what the server sees.
func canonicalQuery(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vals := append([]string(nil), q[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			parts = append(parts, uriEncode(k, false)+"="+uriEncode(v, false))
		}
	}
	return strings.Join(parts, "&")
}
