// Package storagetest holds the conformance cases every storage.Storage
// backend passes (the same cases for a local directory and an object
// store), and StartS3Server, which brings up the S3-compatible test server
// for tests of any package.
package storagetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kalamdb/libkalam/kerr"
	"github.com/kalamdb/libkalam/storage"
)

// Config describes the backend under test.
type Config struct {
	// New returns a fresh, empty storage root; the suite calls it once per
	// case.
	New func(t *testing.T) storage.Storage
	// LargeSize is the size of the "large object" cases: above the
	// backend's single-request limit (a multipart upload for S3), so that
	// the large-object path is the one tested.
	LargeSize int
	// NoReplaceRace, when set, says why the backend under test cannot
	// show ReplaceIf's exclusivity under a race (the server does not
	// make a conditional write atomic), and the racing part of that case
	// is left out; the rest of the case runs.
	NoReplaceRace string
}

// Run runs every conformance case as a subtest of t.
func Run(t *testing.T, cfg Config) {
	if cfg.LargeSize <= 0 {
		cfg.LargeSize = 3 << 20
	}
	cases := []struct {
		name string
		fn   func(t *testing.T, s storage.Storage, cfg Config)
	}{
		{"InvalidNames", testInvalidNames},
		{"WriteReadFile", testWriteReadFile},
		{"NotFound", testNotFound},
		{"CommitVisibility", testCommitVisibility},
		{"AbortLeavesNothing", testAbort},
		{"ReplaceKeepsOldUntilCommit", testReplace},
		{"LargeObject", testLarge},
		{"ReadAt", testReadAt},
		{"ConcurrentReadAt", testConcurrentReadAt},
		{"List", testList},
		{"Remove", testRemove},
		{"RemoveAll", testRemoveAll},
		{"CreateExclusive", testCreateExclusive},
		{"ReplaceIf", testReplaceIf},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.fn(t, cfg.New(t), cfg)
		})
	}
}

// Data returns n deterministic pseudo-random bytes (seeded by seed), so a
// mismatch is reproducible.
func Data(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0x6b616c616d))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// WantCode fails t unless err carries code c (and, when c is an error,
// its message contains every one of mention).
func WantCode(t testing.TB, err error, c kerr.Code, mention ...string) {
	t.Helper()
	if kerr.CodeOf(err) != c {
		t.Fatalf("got error %v (code %v), want code %v", err, kerr.CodeOf(err), c)
	}
	for _, m := range mention {
		if !strings.Contains(err.Error(), m) {
			t.Fatalf("error %q does not mention %q", err, m)
		}
	}
}

func mustWrite(t *testing.T, s storage.Storage, name string, data []byte) {
	t.Helper()
	if err := s.WriteFile(context.Background(), name, data); err != nil {
		t.Fatalf("WriteFile(%q): %v", name, err)
	}
}

func mustRead(t *testing.T, s storage.Storage, name string) []byte {
	t.Helper()
	b, err := s.ReadFile(context.Background(), name)
	if err != nil {
		t.Fatalf("ReadFile(%q): %v", name, err)
	}
	return b
}

func names(ents []storage.Entry) []string {
	out := make([]string, len(ents))
	for i, e := range ents {
		out[i] = e.Name
		if e.IsDir {
			out[i] += "/"
		}
	}
	return out
}

// visibleUnder returns the entries of dir named base (a local backend's
// base.tmp, an object being written, is not under that name).
func visibleUnder(t *testing.T, s storage.Storage, dir, base string) []string {
	t.Helper()
	ents, err := s.List(context.Background(), dir)
	if err != nil {
		t.Fatalf("List(%q): %v", dir, err)
	}
	var out []string
	for _, e := range ents {
		if e.Name == base {
			out = append(out, e.Name)
		}
	}
	return out
}

func testInvalidNames(t *testing.T, s storage.Storage, _ Config) {
	ctx := context.Background()
	for _, bad := range []string{"", "/abs/x", "../x", "a/../../x", "a\\b", "nul\x00x", ".."} {
		_, err := s.Create(ctx, bad)
		WantCode(t, err, kerr.InvalidArgument)
		_, err = s.Open(ctx, bad)
		WantCode(t, err, kerr.InvalidArgument)
		_, err = s.ReadFile(ctx, bad)
		WantCode(t, err, kerr.InvalidArgument)
		WantCode(t, s.WriteFile(ctx, bad, []byte("x")), kerr.InvalidArgument)
		WantCode(t, s.Remove(ctx, bad), kerr.InvalidArgument)
		WantCode(t, s.RemoveAll(ctx, bad), kerr.InvalidArgument)
		if bad != "" {
			_, err = s.List(ctx, bad)
			WantCode(t, err, kerr.InvalidArgument)
		}
	}
}

func testWriteReadFile(t *testing.T, s storage.Storage, _ Config) {
	data := Data(1000, 1)
	mustWrite(t, s, "ns/t/manifest.json", data)
	if got := mustRead(t, s, "ns/t/manifest.json"); !bytes.Equal(got, data) {
		t.Fatalf("ReadFile returned %d bytes, not the %d written", len(got), len(data))
	}
	// A name is cleaned: a/./b is a/b.
	if got := mustRead(t, s, "ns/./t/manifest.json"); !bytes.Equal(got, data) {
		t.Fatal("ReadFile of an uncleaned name differs")
	}
	mustWrite(t, s, "ns/t/manifest.json", []byte("v2"))
	if got := string(mustRead(t, s, "ns/t/manifest.json")); got != "v2" {
		t.Fatalf("after replacing: %q", got)
	}
	// Characters that URLs and signatures encode.
	odd := "ns/t/odd name+=%é~,;@$&'()!*.json"
	mustWrite(t, s, odd, []byte("odd"))
	if got := string(mustRead(t, s, odd)); got != "odd" {
		t.Fatalf("ReadFile(%q) = %q", odd, got)
	}
	if ents, err := s.List(context.Background(), "ns/t"); err != nil || !slices.Contains(names(ents), path.Base(odd)) {
		t.Fatalf("List(ns/t) = %v, %v; want %q among them", names(ents), err, path.Base(odd))
	}
	mustWrite(t, s, "ns/t/empty", nil)
	if got := mustRead(t, s, "ns/t/empty"); len(got) != 0 {
		t.Fatalf("empty object read back as %d bytes", len(got))
	}
	r, err := s.Open(context.Background(), "ns/t/empty")
	if err != nil {
		t.Fatalf("Open of an empty object: %v", err)
	}
	defer r.Close()
	if r.Size() != 0 {
		t.Fatalf("empty object has size %d", r.Size())
	}
	if n, err := r.ReadAt(make([]byte, 4), 0); n != 0 || err != io.EOF {
		t.Fatalf("ReadAt of an empty object: %d, %v (want 0, io.EOF)", n, err)
	}
}

func testNotFound(t *testing.T, s storage.Storage, _ Config) {
	ctx := context.Background()
	_, err := s.ReadFile(ctx, "ns/t/missing.json")
	WantCode(t, err, kerr.NotFound, "missing.json")
	_, err = s.Open(ctx, "ns/t/data/segment_001.parquet")
	WantCode(t, err, kerr.NotFound, "segment_001.parquet")
	// An S3 backend names the object by its full URI.
	if strings.HasPrefix(s.String(), "s3://") {
		WantCode(t, err, kerr.NotFound, s.String()+"/ns/t/data/segment_001.parquet")
	}
}

func testCommitVisibility(t *testing.T, s storage.Storage, _ Config) {
	ctx := context.Background()
	w, err := s.Create(ctx, "ns/t/data/segment_001.parquet")
	if err != nil {
		t.Fatal(err)
	}
	data := Data(100_000, 2)
	for off := 0; off < len(data); off += 7000 {
		if _, err := w.Write(data[off:min(off+7000, len(data))]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.ReadFile(ctx, "ns/t/data/segment_001.parquet"); kerr.CodeOf(err) != kerr.NotFound {
		t.Fatalf("before Commit, ReadFile gives %v; want NotFound", err)
	}
	if _, err := s.Open(ctx, "ns/t/data/segment_001.parquet"); kerr.CodeOf(err) != kerr.NotFound {
		t.Fatalf("before Commit, Open gives %v; want NotFound", err)
	}
	if v := visibleUnder(t, s, "ns/t/data", "segment_001.parquet"); len(v) != 0 {
		t.Fatalf("before Commit, List shows %v", v)
	}
	n, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(data)) {
		t.Fatalf("Commit returned size %d, want %d", n, len(data))
	}
	w.Abort() // after Commit: a no-op
	if got := mustRead(t, s, "ns/t/data/segment_001.parquet"); !bytes.Equal(got, data) {
		t.Fatal("committed object differs from what was written")
	}
	ents, err := s.List(ctx, "ns/t/data")
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name != "segment_001.parquet" || ents[0].IsDir || ents[0].Size != int64(len(data)) {
		t.Fatalf("after Commit, List shows %+v", ents)
	}
	if _, err := w.Commit(); err == nil {
		t.Fatal("a second Commit succeeded")
	}
}

func testAbort(t *testing.T, s storage.Storage, cfg Config) {
	ctx := context.Background()
	for _, size := range []int{10, cfg.LargeSize} {
		name := fmt.Sprintf("ns/t/data/aborted_%d.parquet", size)
		w, err := s.Create(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(Data(size, 3)); err != nil {
			t.Fatal(err)
		}
		w.Abort()
		w.Abort()
		if _, err := s.ReadFile(ctx, name); kerr.CodeOf(err) != kerr.NotFound {
			t.Fatalf("after Abort (%d bytes), ReadFile gives %v; want NotFound", size, err)
		}
		ents, err := s.List(ctx, "ns/t/data")
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 0 {
			t.Fatalf("after Abort (%d bytes), List shows %v", size, names(ents))
		}
		if _, err := w.Commit(); err == nil {
			t.Fatal("Commit after Abort succeeded")
		}
	}
}

func testReplace(t *testing.T, s storage.Storage, _ Config) {
	ctx := context.Background()
	mustWrite(t, s, "ns/t/manifest.json", []byte("old"))
	w, err := s.Create(ctx, "ns/t/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("new")); err != nil {
		t.Fatal(err)
	}
	if got := string(mustRead(t, s, "ns/t/manifest.json")); got != "old" {
		t.Fatalf("before Commit the object reads %q, want the old one", got)
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := string(mustRead(t, s, "ns/t/manifest.json")); got != "new" {
		t.Fatalf("after Commit the object reads %q", got)
	}
}

func testLarge(t *testing.T, s storage.Storage, cfg Config) {
	ctx := context.Background()
	data := Data(cfg.LargeSize+12345, 4)
	w, err := s.Create(ctx, "ns/t/data/segment_002.parquet")
	if err != nil {
		t.Fatal(err)
	}
	// Uneven writes, one of them larger than any buffer.
	rest := data
	for i := 0; len(rest) > 0; i++ {
		n := min(len(rest), []int{1, 100_000, 3 << 20, 777}[i%4])
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if n, err := w.Commit(); err != nil || n != int64(len(data)) {
		t.Fatalf("Commit: %d, %v (want %d)", n, err, len(data))
	}
	if got := mustRead(t, s, "ns/t/data/segment_002.parquet"); !bytes.Equal(got, data) {
		t.Fatalf("large object read back differs (%d bytes, want %d)", len(got), len(data))
	}
	big := Data(cfg.LargeSize+1, 5)
	mustWrite(t, s, "ns/t/big.json", big)
	if got := mustRead(t, s, "ns/t/big.json"); !bytes.Equal(got, big) {
		t.Fatal("large WriteFile read back differs")
	}
}

func testReadAt(t *testing.T, s storage.Storage, cfg Config) {
	ctx := context.Background()
	data := Data(cfg.LargeSize, 6)
	mustWrite(t, s, "obj", data)
	r, err := s.Open(ctx, "obj")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Size() != int64(len(data)) {
		t.Fatalf("Size %d, want %d", r.Size(), len(data))
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < 200; i++ {
		off := rng.IntN(len(data))
		n := rng.IntN(min(len(data)-off, []int{16, 4096, 200_000, 2 << 20}[i%4]) + 1)
		buf := make([]byte, n)
		got, err := r.ReadAt(buf, int64(off))
		if err != nil && !(err == io.EOF && off+n == len(data)) {
			t.Fatalf("ReadAt(%d bytes at %d): %v", n, off, err)
		}
		if got != n || !bytes.Equal(buf, data[off:off+n]) {
			t.Fatalf("ReadAt(%d bytes at %d) returned %d bytes that differ from the object", n, off, got)
		}
	}
	// Past the end: a short read with io.EOF.
	buf := make([]byte, 100)
	n, err := r.ReadAt(buf, int64(len(data)-40))
	if n != 40 || err != io.EOF || !bytes.Equal(buf[:40], data[len(data)-40:]) {
		t.Fatalf("ReadAt across the end: %d, %v (want 40, io.EOF)", n, err)
	}
	if n, err := r.ReadAt(buf, int64(len(data)+5)); n != 0 || err != io.EOF {
		t.Fatalf("ReadAt past the end: %d, %v", n, err)
	}
	// The whole object in one read.
	all := make([]byte, len(data))
	if n, err := r.ReadAt(all, 0); n != len(data) || (err != nil && err != io.EOF) || !bytes.Equal(all, data) {
		t.Fatalf("ReadAt of the whole object: %d, %v", n, err)
	}
}

func testConcurrentReadAt(t *testing.T, s storage.Storage, cfg Config) {
	ctx := context.Background()
	data := Data(cfg.LargeSize, 8)
	mustWrite(t, s, "obj", data)
	r, err := s.Open(ctx, "obj")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for i := 0; i < 40; i++ {
				off := rng.IntN(len(data))
				n := rng.IntN(min(len(data)-off, 300_000)) + 1
				buf := make([]byte, n)
				if got, err := r.ReadAt(buf, int64(off)); (err != nil && err != io.EOF) || got != n {
					errs <- fmt.Errorf("goroutine %d: ReadAt(%d at %d): %d, %v", g, n, off, got, err)
					return
				}
				if !bytes.Equal(buf, data[off:off+n]) {
					errs <- fmt.Errorf("goroutine %d: ReadAt(%d at %d) differs from the object", g, n, off)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testList(t *testing.T, s storage.Storage, _ Config) {
	ctx := context.Background()
	for _, n := range []string{"a/b/c", "a/b/d/e", "a/f", "g", "a/b/d/h/i", "ab"} {
		mustWrite(t, s, n, []byte(n))
	}
	for _, c := range []struct {
		dir  string
		want []string
	}{
		{"", []string{"a/", "ab", "g"}},
		{"a", []string{"b/", "f"}},
		{"a/b", []string{"c", "d/"}},
		{"a/b/d", []string{"e", "h/"}},
		{"a/b/", []string{"c", "d/"}},
		{"missing", []string{}},
		{"a/f/x", []string{}},
	} {
		ents, err := s.List(ctx, c.dir)
		if err != nil {
			if c.dir == "a/f/x" {
				continue // under a file: an error is as good as empty
			}
			t.Fatalf("List(%q): %v", c.dir, err)
		}
		if got := names(ents); !slices.Equal(got, c.want) {
			t.Fatalf("List(%q) = %v, want %v", c.dir, got, c.want)
		}
		for _, e := range ents {
			if full := path.Join(c.dir, e.Name); !e.IsDir && e.Size != int64(len(full)) {
				t.Fatalf("List(%q): %s has size %d", c.dir, e.Name, e.Size)
			}
		}
	}
}

func testRemove(t *testing.T, s storage.Storage, _ Config) {
	ctx := context.Background()
	mustWrite(t, s, "ns/t/x", []byte("x"))
	mustWrite(t, s, "ns/t/y", []byte("y"))
	if err := s.Remove(ctx, "ns/t/x"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadFile(ctx, "ns/t/x"); kerr.CodeOf(err) != kerr.NotFound {
		t.Fatalf("after Remove, ReadFile gives %v", err)
	}
	if err := s.Remove(ctx, "ns/t/x"); err != nil {
		t.Fatalf("Remove of a missing object: %v", err)
	}
	if err := s.Remove(ctx, "never/was"); err != nil {
		t.Fatalf("Remove under a missing directory: %v", err)
	}
	if got := string(mustRead(t, s, "ns/t/y")); got != "y" {
		t.Fatalf("sibling after Remove: %q", got)
	}
}

func testRemoveAll(t *testing.T, s storage.Storage, _ Config) {
	ctx := context.Background()
	for i := 0; i < 25; i++ {
		mustWrite(t, s, fmt.Sprintf("ns/t/data/segment_%03d.parquet", i), []byte{byte(i)})
	}
	mustWrite(t, s, "ns/t/manifest.json", []byte("m"))
	mustWrite(t, s, "ns/t/_versions/00000000000000000001.json", []byte("v"))
	mustWrite(t, s, "ns/tt/manifest.json", []byte("other table")) // shares the prefix "ns/t"
	mustWrite(t, s, "ns/t.json", []byte("file beside"))
	if err := s.RemoveAll(ctx, "ns/t"); err != nil {
		t.Fatal(err)
	}
	ents, err := s.List(ctx, "ns")
	if err != nil {
		t.Fatal(err)
	}
	if got := names(ents); !slices.Equal(got, []string{"t.json", "tt/"}) {
		t.Fatalf("after RemoveAll(ns/t), List(ns) = %v", got)
	}
	if got := string(mustRead(t, s, "ns/tt/manifest.json")); got != "other table" {
		t.Fatalf("RemoveAll touched a sibling: %q", got)
	}
	if err := s.RemoveAll(ctx, "ns/t"); err != nil {
		t.Fatalf("RemoveAll of a missing directory: %v", err)
	}
	// A single object.
	if err := s.RemoveAll(ctx, "ns/t.json"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadFile(ctx, "ns/t.json"); kerr.CodeOf(err) != kerr.NotFound {
		t.Fatalf("RemoveAll of an object left it: %v", err)
	}
}

// testCreateExclusive: a second create of a name is refused and leaves
// the first's bytes; of racing creators exactly one wins, and every
// reader after the race sees the winner's whole object; no temporary
// object is left visible.
func testCreateExclusive(t *testing.T, s storage.Storage, _ Config) {
	ctx := context.Background()
	first := Data(300, 7)
	if err := s.CreateExclusive(ctx, "rec.json", first); err != nil {
		t.Fatalf("first CreateExclusive: %v", err)
	}
	err := s.CreateExclusive(ctx, "rec.json", []byte("second"))
	WantCode(t, err, kerr.AlreadyExists, "rec.json")
	if got := mustRead(t, s, "rec.json"); !bytes.Equal(got, first) {
		t.Fatalf("after a refused create the object holds %d bytes, not the first's %d", len(got), len(first))
	}
	mustWrite(t, s, "other.json", []byte("x"))
	WantCode(t, s.CreateExclusive(ctx, "other.json", []byte("y")), kerr.AlreadyExists)
	if got := string(mustRead(t, s, "other.json")); got != "x" {
		t.Fatalf("CreateExclusive over a written object left %q", got)
	}
	WantCode(t, s.CreateExclusive(ctx, "../x", nil), kerr.InvalidArgument)

	for round := 0; round < 5; round++ {
		name := fmt.Sprintf("race/%d.json", round)
		winner := raceOnce(t, round, name, "created", func(i int) error {
			return s.CreateExclusive(ctx, name, Data(200+i, uint64(i)))
		})
		if got := mustRead(t, s, name); !bytes.Equal(got, Data(200+winner, uint64(winner))) {
			t.Fatalf("round %d: %s holds %d bytes, not the winner's", round, name, len(got))
		}
	}
	if got := objectNames(t, s, "race"); len(got) != 5 {
		t.Fatalf("race/ holds %v; want the 5 created objects and nothing else", got)
	}
}

// raceOnce runs 8 racers (write(i) each) at once and returns the one that
// succeeded: exactly one must, and every other fail with AlreadyExists.
func raceOnce(t *testing.T, round int, name, did string, write func(i int) error) int {
	t.Helper()
	const racers = 8
	var wg sync.WaitGroup
	errs := make([]error, racers)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = write(i)
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("round %d: racers %d and %d both %s %s", round, winner, i, did, name)
		case err == nil:
			winner = i
		case !kerr.Is(err, kerr.AlreadyExists):
			t.Fatalf("round %d: racer %d: %v (want success or AlreadyExists)", round, i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("round %d: no racer %s %s", round, did, name)
	}
	return winner
}

// objectNames lists dir's objects, without local lock files (which stay
// beside the objects they lock).
func objectNames(t *testing.T, s storage.Storage, dir string) []string {
	t.Helper()
	ents, err := s.List(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names(ents) {
		if !storage.IsLock(n) {
			out = append(out, n)
		}
	}
	return out
}

// testReplaceIf: a replace of the content found succeeds, one of other
// content is refused and changes nothing, a missing object is NotFound;
// of racers replacing one content exactly one wins, and readers after
// the race see its whole object.
func testReplaceIf(t *testing.T, s storage.Storage, cfg Config) {
	ctx := context.Background()
	first, second := Data(300, 1), Data(310, 2)
	mustWrite(t, s, "rec.json", first)
	if err := s.ReplaceIf(ctx, "rec.json", first, second); err != nil {
		t.Fatalf("ReplaceIf of the content found: %v", err)
	}
	if got := mustRead(t, s, "rec.json"); !bytes.Equal(got, second) {
		t.Fatalf("after ReplaceIf the object holds %d bytes, not the new %d", len(got), len(second))
	}
	WantCode(t, s.ReplaceIf(ctx, "rec.json", first, []byte("third")), kerr.AlreadyExists, "rec.json")
	if got := mustRead(t, s, "rec.json"); !bytes.Equal(got, second) {
		t.Fatalf("a refused ReplaceIf left %d bytes, not the %d it found", len(got), len(second))
	}
	WantCode(t, s.ReplaceIf(ctx, "none.json", nil, []byte("x")), kerr.NotFound)
	if _, err := s.ReadFile(ctx, "none.json"); !kerr.Is(err, kerr.NotFound) {
		t.Fatalf("ReplaceIf of a missing object created it: %v", err)
	}
	WantCode(t, s.ReplaceIf(ctx, "../x", nil, nil), kerr.InvalidArgument)

	if cfg.NoReplaceRace != "" {
		t.Logf("racing replaces left out: %s", cfg.NoReplaceRace)
		return
	}
	for round := 0; round < 5; round++ {
		name := fmt.Sprintf("race/%d.json", round)
		base := Data(100, uint64(round))
		mustWrite(t, s, name, base)
		winner := raceOnce(t, round, name, "replaced", func(i int) error {
			return s.ReplaceIf(ctx, name, base, Data(200+i, uint64(i)))
		})
		if got := mustRead(t, s, name); !bytes.Equal(got, Data(200+winner, uint64(winner))) {
			t.Fatalf("round %d: %s holds %d bytes, not the winner's", round, name, len(got))
		}
	}
	if got := objectNames(t, s, "race"); len(got) != 5 {
		t.Fatalf("race/ holds %v; want the 5 replaced objects and nothing else", got)
	}
}
