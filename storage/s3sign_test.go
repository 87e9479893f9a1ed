package storage

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The example of AWS's "Signature Calculations for the Authorization
// Header: Transferring Payload in a Single Chunk" (GET Object with a
// range), whose published signature is f0e8bdb8...bdb41.
func TestSignV4AWSExample(t *testing.T) {
	s := &signer{creds: s3Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE",
		SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}, region: "us-east-1"}
	u := &url.URL{Scheme: "https", Host: "examplebucket.s3.amazonaws.com", Path: "/test.txt", RawPath: "/test.txt"}
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL = u
	req.Header.Set("Range", "bytes=0-9")
	s.sign(req, emptySHA256Hex, time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC))
	want := "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, " +
		"SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, " +
		"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
	if got := req.Header.Get("Authorization"); got != want {
		t.Fatalf("Authorization\n got %s\nwant %s", got, want)
	}
}

func TestURIEncodeAndQuery(t *testing.T) {
	if got := uriEncode("a b/c~d+e=%é", true); got != "a%20b/c~d%2Be%3D%25%C3%A9" {
		t.Fatalf("path encoding: %s", got)
	}
	if got := uriEncode("a/b", false); got != "a%2Fb" {
		t.Fatalf("query encoding: %s", got)
	}
	q := url.Values{"prefix": {"x y/"}, "list-type": {"2"}, "delete": {""}}
	if got := canonicalQuery(q); got != "delete=&list-type=2&prefix=x%20y%2F" {
		t.Fatalf("canonical query: %s", got)
	}
	c := &s3Client{endpoint: &url.URL{Scheme: "http", Host: "127.0.0.1:9000"}, pathStyle: true, bucket: "bkt"}
	if got := c.url("p/a b+c", nil).String(); got != "http://127.0.0.1:9000/bkt/p/a%20b%2Bc" {
		t.Fatalf("path-style URL: %s", got)
	}
	c = &s3Client{endpoint: &url.URL{Scheme: "https", Host: "s3.eu-west-1.amazonaws.com"}, bucket: "bkt"}
	if got := c.url("k", url.Values{"uploads": {""}}).String(); !strings.HasPrefix(got, "https://bkt.s3.eu-west-1.amazonaws.com/k?uploads=") {
		t.Fatalf("virtual-hosted URL: %s", got)
	}
}
