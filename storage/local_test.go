package storage_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/kalamdb/libkalam/storage"
)

// TestLocalClaimRemovesTmpLeftByAKilledWriter: a writer killed between
// CreateExclusive's temporary file and its link left
// _kalam_store.json.<hex>.tmp at the storage root, and nothing removed it.
// The next writer of that name, holding the name's lock, removes it (and
// a WriteFile's name.tmp), and leaves temporary files of other names.
func TestLocalClaimRemovesTmpLeftByAKilledWriter(t *testing.T) {
	dir := t.TempDir()
	s, err := storage.NewLocal(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	left := []string{"rec.json.0123456789abcdef.tmp", "rec.json.tmp"}
	kept := []string{"rec.json.other.tmp", "rec.jsonx.0123456789abcdef.tmp", "other.json.0123456789abcdef.tmp"}
	for _, n := range append(slices.Clone(left), kept...) {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateExclusive(ctx, "rec.json", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceIf(ctx, "rec.json", []byte("one"), []byte("two")); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	want := append([]string{"rec.json", "rec.json" + storage.LockSuffix}, kept...)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("storage root holds %q; want %q", got, want)
	}
}
