package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kalamdb/libkalam/kerr"
)

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func assertNoTmp(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Stat(p + TmpSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("tmp file %s left behind (stat err %v)", p+TmpSuffix, err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.json")
	if err := WriteFileAtomic(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, p); got != "one" {
		t.Fatalf("content %q", got)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	assertNoTmp(t, p)

	// A stale tmp from an earlier crash, longer than the new content, is
	// truncated rather than leaking its tail into the file.
	if err := os.WriteFile(p+TmpSuffix, []byte("stale stale stale"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(p, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, p); got != "two" {
		t.Fatalf("content %q", got)
	}
	assertNoTmp(t, p)
}

func TestWriteFileAtomicInjectedFailures(t *testing.T) {
	cases := []struct {
		at   Step
		want string // content of the target after the failed write
	}{
		{StepTmpWritten, "old"},
		{StepTmpSynced, "old"},
		{StepRenamed, "new"},
	}
	for _, c := range cases {
		t.Run(c.at.String(), func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "f")
			if err := WriteFileAtomic(p, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			err := Writer{FailAfter: c.at}.WriteFile(p, []byte("new"), 0o644)
			if !errors.Is(err, ErrInjected) || !kerr.Is(err, kerr.IO) {
				t.Fatalf("err = %v, want IO wrapping ErrInjected", err)
			}
			if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.at.String()) {
				t.Fatalf("error %q does not name the path and step", err)
			}
			if got := readFile(t, p); got != c.want {
				t.Fatalf("after failure at %s the file holds %q, want %q", c.at, got, c.want)
			}
			assertNoTmp(t, p)
			// The next write recovers normally.
			if err := WriteFileAtomic(p, []byte("newer"), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, p); got != "newer" {
				t.Fatalf("content %q", got)
			}
		})
	}
}

func TestWriteFileAtomicInjectedFailureWithoutPreviousFile(t *testing.T) {
	for _, at := range []Step{StepTmpWritten, StepTmpSynced} {
		p := filepath.Join(t.TempDir(), "f")
		if err := (Writer{FailAfter: at}).WriteFile(p, []byte("x"), 0o644); !errors.Is(err, ErrInjected) {
			t.Fatalf("%s: %v", at, err)
		}
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s: target exists after a failure before rename", at)
		}
		assertNoTmp(t, p)
	}
}

func TestWriteFileAtomicRealErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no", "such", "f")
	err := WriteFileAtomic(missing, []byte("x"), 0o644)
	if !kerr.Is(err, kerr.IO) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("err = %v, want IO naming %s", err, missing)
	}
	// Renaming a file over a non-empty directory fails after the tmp was
	// written: the tmp must be cleaned up and the directory left alone.
	target := filepath.Join(dir, "d")
	if err := os.MkdirAll(filepath.Join(target, "child"), 0o755); err != nil {
		t.Fatal(err)
	}
	err = WriteFileAtomic(target, []byte("x"), 0o644)
	if !kerr.Is(err, kerr.IO) || !strings.Contains(err.Error(), "rename") {
		t.Fatalf("err = %v, want IO rename error", err)
	}
	assertNoTmp(t, target)
	if st, err := os.Stat(filepath.Join(target, "child")); err != nil || !st.IsDir() {
		t.Fatalf("directory damaged: %v", err)
	}
}

func TestSyncDir(t *testing.T) {
	if err := SyncDir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "gone")
	err := SyncDir(missing)
	if !kerr.Is(err, kerr.IO) || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("SyncDir(missing) = %v", err)
	}
}

func TestManifestFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	m := goldenManifests()["full.json"]
	if err := WriteManifestFile(dir, m); err != nil {
		t.Fatal(err)
	}
	if got, want := readFile(t, filepath.Join(dir, ManifestFileName)), string(readGolden(t, "full.json")); got != want {
		t.Fatalf("manifest.json = %s", got)
	}
	back, err := ReadManifestFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := Encode(m)
	got, _ := Encode(back)
	if string(got) != string(want) {
		t.Fatalf("read back %s", got)
	}

	// A failed mirror update leaves the previous manifest readable.
	next := m.Clone()
	next.Version++
	err = Writer{FailAfter: StepTmpSynced}.WriteManifestFile(dir, next)
	if !errors.Is(err, ErrInjected) {
		t.Fatalf("err = %v", err)
	}
	cur, err := ReadManifestFile(dir)
	if err != nil || cur.Version != m.Version {
		t.Fatalf("after failed write: version %v, err %v", cur, err)
	}
	assertNoTmp(t, filepath.Join(dir, ManifestFileName))

	bad := m.Clone()
	bad.Segments[0].Path = "data/\xff"
	if err := WriteManifestFile(dir, bad); !kerr.Is(err, kerr.InvalidArgument) {
		t.Fatalf("unencodable manifest: %v", err)
	}
}

func TestReadManifestFileErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := ReadManifestFile(dir)
	if !errors.Is(err, os.ErrNotExist) || !kerr.Is(err, kerr.NotFound) {
		t.Fatalf("missing manifest: %v", err)
	}
	p := filepath.Join(dir, ManifestFileName)
	if err := os.WriteFile(p, []byte(`{"version":`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ReadManifestFile(dir)
	if !kerr.Is(err, kerr.Corruption) || !strings.Contains(err.Error(), p) {
		t.Fatalf("truncated manifest: %v", err)
	}
	invalid := New("app", "events", 0)
	invalid.Version = 0
	data, err := Encode(invalid)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ReadManifestFile(dir)
	if !kerr.Is(err, kerr.Corruption) || !strings.Contains(err.Error(), "version is 0") {
		t.Fatalf("invalid manifest: %v", err)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = ReadManifestFile(dir)
	if !kerr.Is(err, kerr.IO) {
		t.Fatalf("manifest.json is a directory: %v", err)
	}
}
