package storage

import (
	"os"
	"path/filepath"
	"testing"
)

// TestLocationNamesOneStorageOneWay: every spelling Open reads as one
// storage has one Location (a store compares them to tell its storage
// from another store's: an S3 prefix spelled with a doubled slash or an
// upper-case scheme was taken for other storage, found by a verification
// pass), and different storages have different ones.
func TestLocationNamesOneStorageOneWay(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	same := [][]string{
		{"s3://bucket/a/b", "S3://bucket/a/b", "s3://bucket//a/b", "s3://bucket/a/b/", "s3://bucket/a/b//"},
		{"s3://bucket", "s3://bucket/", "S3://bucket//"},
		{real, real + "/", filepath.Join(dir, "link"), "file://" + real, "file://localhost" + real, filepath.Join(dir, "x", "..", "real")},
	}
	seen := map[string]int{}
	for g, spellings := range same {
		want := Location(spellings[0])
		for _, s := range spellings[1:] {
			if got := Location(s); got != want {
				t.Errorf("Location(%q) = %q, Location(%q) = %q: one storage, two names", s, got, spellings[0], want)
			}
		}
		if other, ok := seen[want]; ok {
			t.Errorf("groups %d and %d share the location %q", other, g, want)
		}
		seen[want] = g
	}
	if Location("s3://bucket/a") == Location("s3://bucket/a/b") || Location("s3://bucket/a") == Location("s3://other/a") {
		t.Error("different S3 prefixes share a location")
	}
}
