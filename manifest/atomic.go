package manifest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/kalamdb/libkalam/kerr"
)

// Step is a point in the atomic write sequence after which a Writer can be
// told to fail, to test crash and error handling.
type Step int

const (
	// StepNone never fails on purpose.
	StepNone Step = iota
	// StepTmpWritten is after the data went into path+".tmp", before fsync.
	StepTmpWritten
	// StepTmpSynced is after the tmp file was fsynced and closed, before the
	// rename.
	StepTmpSynced
	// StepRenamed is after the rename, before the directory fsync: the new
	// content is in place but not yet durable.
	StepRenamed
)

// String names the step for error messages.
func (s Step) String() string {
	switch s {
	case StepNone:
		return "none"
	case StepTmpWritten:
		return "tmp written"
	case StepTmpSynced:
		return "tmp synced"
	case StepRenamed:
		return "renamed"
	default:
		return "unknown step"
	}
}

// ErrInjected is the cause of a failure injected by Writer.FailAfter.
var ErrInjected = errors.New("injected failure")

// Writer writes files atomically: readers see either the old content or the
// new content, never a mix, and after a successful return the new content
// survives a crash. The zero Writer is ready to use.
type Writer struct {
	// FailAfter makes the write return an error wrapping ErrInjected right
	// after the given step, exercising the same cleanup as a real failure
	// there. StepNone (the default) disables it.
	FailAfter Step
}

// WriteFileAtomic writes data to path with a zero Writer; see
// Writer.WriteFile.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return Writer{}.WriteFile(path, data, perm)
}

// WriteFile writes data to path+".tmp" (created with perm, truncated if a
// stale one exists), fsyncs it, renames it over path and fsyncs the parent
// directory. On any error the tmp file is removed and the error, a kerr.IO
// naming path, is returned; path then holds its previous content, or the new
// content when only the directory fsync failed.
func (w Writer) WriteFile(path string, data []byte, perm os.FileMode) (err error) {
	tmp := path + TmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return kerr.Wrap(kerr.IO, err, "write %s", path)
	}
	closed := false
	defer func() {
		if err == nil {
			return
		}
		if !closed {
			_ = f.Close()
		}
		// After a successful rename tmp no longer exists, so this is a no-op
		// then; before it, it keeps half-written files from piling up.
		if rmErr := os.Remove(tmp); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
			err = errors.Join(err, kerr.Wrap(kerr.IO, rmErr, "remove %s", tmp))
		}
	}()
	if _, err = f.Write(data); err != nil {
		return kerr.Wrap(kerr.IO, err, "write %s", path)
	}
	if err = w.inject(StepTmpWritten, path); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return kerr.Wrap(kerr.IO, err, "write %s: fsync", path)
	}
	closed = true
	if err = f.Close(); err != nil {
		return kerr.Wrap(kerr.IO, err, "write %s: close", path)
	}
	if err = w.inject(StepTmpSynced, path); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return kerr.Wrap(kerr.IO, err, "write %s: rename", path)
	}
	if err = w.inject(StepRenamed, path); err != nil {
		return err
	}
	if err = SyncDir(filepath.Dir(path)); err != nil {
		return kerr.Wrap(kerr.IO, err, "write %s", path)
	}
	return nil
}

func (w Writer) inject(at Step, path string) error {
	if w.FailAfter != at {
		return nil
	}
	return kerr.Wrap(kerr.IO, ErrInjected, "write %s: after step %q", path, at)
}

// SyncDir fsyncs a directory so that renames and creations inside it are
// durable. Errors are kerr.IO naming dir.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return kerr.Wrap(kerr.IO, err, "sync directory %s", dir)
	}
	serr := d.Sync()
	cerr := d.Close()
	if serr != nil {
		return kerr.Wrap(kerr.IO, serr, "sync directory %s", dir)
	}
	if cerr != nil {
		return kerr.Wrap(kerr.IO, cerr, "close directory %s", dir)
	}
	return nil
}

// WriteManifestFile encodes m and writes tableDir/manifest.json atomically
// with a zero Writer. It does not validate m.
func WriteManifestFile(tableDir string, m *Manifest) error {
	return Writer{}.WriteManifestFile(tableDir, m)
}

// WriteManifestFile encodes m and writes tableDir/manifest.json atomically,
// honouring w.FailAfter. It does not validate m.
func (w Writer) WriteManifestFile(tableDir string, m *Manifest) error {
	data, err := Encode(m)
	if err != nil {
		return err
	}
	return w.WriteFile(filepath.Join(tableDir, ManifestFileName), data, 0o644)
}

// ReadManifestFile reads, decodes and validates tableDir/manifest.json. A
// missing file is a kerr.NotFound error that still satisfies
// errors.Is(err, os.ErrNotExist); other read errors are kerr.IO; a file that
// does not decode or validate is kerr.Corruption naming the file and field.
func ReadManifestFile(tableDir string) (*Manifest, error) {
	p := filepath.Join(tableDir, ManifestFileName)
	data, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, kerr.Wrap(kerr.NotFound, err, "read manifest")
		}
		return nil, kerr.Wrap(kerr.IO, err, "read manifest")
	}
	m, err := Decode(data)
	if err != nil {
		return nil, kerr.Wrap(kerr.Corruption, err, "%s", p)
	}
	if err := m.Validate(); err != nil {
		return nil, kerr.Wrap(kerr.Corruption, err, "%s", p)
	}
	return m, nil
}
