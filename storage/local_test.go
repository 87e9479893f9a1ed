package storage_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kalamdb/libkalam/kerr"
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

const holdRootChildEnv = "KALAM_HOLD_ROOT_CHILD"

// TestHoldRootChild is a process of TestLocalHoldRootIsTheProcessLock: it
// tries HoldRoot on the root it is given and says what it got.
func TestHoldRootChild(t *testing.T) {
	root := os.Getenv(holdRootChildEnv)
	if root == "" {
		t.Skip("not a test on its own: the process TestLocalHoldRootIsTheProcessLock starts (it sets " + holdRootChildEnv + ")")
	}
	s, err := storage.NewLocal(root, nil)
	if err != nil {
		fmt.Println("error", err)
		return
	}
	release, err := s.HoldRoot(context.Background())
	if err != nil {
		fmt.Println("refused", kerr.CodeOf(err))
		return
	}
	release()
	fmt.Println("held")
}

// TestLocalHoldRootIsTheProcessLock: a root held in this process refuses a
// second holder here and in another process; a refused attempt here does
// not drop the hold (a process's fcntl lock goes with any descriptor of
// its file it closes); once released, another process gets it.
func TestLocalHoldRootIsTheProcessLock(t *testing.T) {
	dir := t.TempDir()
	s, err := storage.NewLocal(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	child := func() string {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestHoldRootChild$")
		// KALAM_S3_TESTS=0: the child's TestMain must not start (and
		// at its end stop) this package's S3 test server, which is this
		// process's too.
		cmd.Env = append(os.Environ(), holdRootChildEnv+"="+dir, "KALAM_S3_TESTS=0")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("child: %v %s", err, out)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "held") || strings.HasPrefix(l, "refused") || strings.HasPrefix(l, "error") {
				return l
			}
		}
		return string(out)
	}
	release, err := s.HoldRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := s.HoldRoot(ctx); !kerr.Is(err, kerr.Busy) {
			t.Fatalf("a second hold in the holding process: %v; want Busy", err)
		}
	}
	if got := child(); got != "refused BUSY" {
		t.Fatalf("another process while held (after two refused attempts here): %q; want refused BUSY", got)
	}
	release()
	if got := child(); got != "held" {
		t.Fatalf("another process after the release: %q; want held", got)
	}
	again, err := s.HoldRoot(ctx)
	if err != nil {
		t.Fatalf("a hold after the release: %v", err)
	}
	again()
}
