package storage

import (
	"context"
	"encoding/xml"
	"github.com/kalamdb/libkalam/vfs"
	"net/http"
	"net/url"
	"time"
)

// Knobs of the S3 backend for the tests of package storage_test.

// SetS3Tuning sets the multipart part size, the read-ahead and the
// reader's cache size (0 keeps a value).
func SetS3Tuning(s *S3Storage, partSize, readAhead, cacheSize int) {
	if partSize > 0 {
		s.tune.partSize = partSize
	}
	if readAhead > 0 {
		s.tune.readAhead = readAhead
	}
	if cacheSize > 0 {
		s.tune.cacheSize = cacheSize
	}
}

// SetS3Pages sets ListObjectsV2's page size and DeleteObjects' batch.
func SetS3Pages(s *S3Storage, listPage, deleteBatch int) {
	s.tune.listPage, s.tune.deleteBatch = listPage, deleteBatch
}

// SetS3Retry sets the retry policy.
func SetS3Retry(s *S3Storage, attempts int, base, maxBackoff, deadline time.Duration) {
	s.c.retry = retryPolicy{attempts: attempts, base: base, max: maxBackoff, deadline: deadline}
}

// S3PendingUploads lists the multipart uploads in progress under the
// storage's prefix (ListMultipartUploads), as "key uploadId".
func S3PendingUploads(ctx context.Context, s *S3Storage) ([]string, error) {
	body, _, err := s.c.call(ctx, &s3Request{method: http.MethodGet,
		query: url.Values{"uploads": {""}, "prefix": {s.prefix + "/"}}, idempotent: true})
	if err != nil {
		return nil, err
	}
	var res struct {
		Uploads []struct {
			Key      string `xml:"Key"`
			UploadID string `xml:"UploadId"`
		} `xml:"Upload"`
	}
	if err := xml.Unmarshal(body, &res); err != nil {
		return nil, err
	}
	var out []string
	for _, u := range res.Uploads {
		out = append(out, u.Key+" "+u.UploadID)
	}
	return out, nil
}

// S3Key is the object key of name.
func S3Key(s *S3Storage, name string) string { return s.key(name) }

// RecordWriteback replaces the local writer's writeback hint with record
// (and the hint), until the returned function restores it.
func RecordWriteback(record func(off, n int64)) (restore func()) {
	prev := startWriteback
	startWriteback = func(f vfs.File, off, n int64) error {
		record(off, n)
		return prev(f, off, n)
	}
	return func() { startWriteback = prev }
}
