package vfs

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// lockFile is the descriptor through which lk holds its lock.
func lockFile(t *testing.T, lk io.Closer) *os.File {
	t.Helper()
	if f, ok := lk.(*os.File); ok {
		return f
	}
	h, ok := lk.(*heldLock)
	if !ok {
		t.Fatalf("a lock of type %T", lk)
	}
	held.mu.Lock()
	defer held.mu.Unlock()
	return held.files[h.id][0]
}

// TestLockIsNotKeptByAnInheritedDescriptor: a process that starts another
// without exec's cleanup (a Python host forking multiprocessing workers)
// gives it the lock's descriptor, and with flock the lock belongs to that
// shared open file: released here, it stayed held by the child, and every
// later replace of the object waited LockWait and failed as Busy until the
// child exited. Lock is the process's now: a child holding the descriptor
// holds nothing, while holders in this process (and other processes'
// locks, TestLockExcludesOtherProcesses) still exclude each other.
func TestLockIsNotKeptByAnInheritedDescriptor(t *testing.T) {
	name := filepath.Join(t.TempDir(), "obj.lock")
	lk, err := Default.Lock(name, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Default.Lock(name, 20*time.Millisecond); !errors.Is(err, ErrLocked) {
		t.Fatalf("a second lock in the holding process: %v; want ErrLocked", err)
	}
	// The child gets the lock's open file as its descriptor 3, as a fork
	// would, and keeps it while it sleeps.
	child := exec.Command("sleep", "60")
	child.ExtraFiles = []*os.File{lockFile(t, lk)}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	if err := lk.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Default.Lock(name, 200*time.Millisecond)
	if err != nil {
		t.Fatalf("the lock after its holder released it, a child holding its descriptor: %v", err)
	}
	again.Close()
}

const lockChildEnv = "KALAM_VFS_LOCK_CHILD"

// TestLockChild is TestLockExcludesOtherProcesses's other process: it
// tries the lock named by KALAM_VFS_LOCK_CHILD and says what happened.
func TestLockChild(t *testing.T) {
	name := os.Getenv(lockChildEnv)
	if name == "" {
		t.Skip("not a test on its own: the process TestLockExcludesOtherProcesses starts (it sets " + lockChildEnv + ")")
	}
	lk, err := Default.Lock(name, 50*time.Millisecond)
	switch {
	case errors.Is(err, ErrLocked):
		os.Stdout.WriteString("locked\n")
	case err != nil:
		os.Stdout.WriteString("error " + err.Error() + "\n")
	default:
		os.Stdout.WriteString("got\n")
		lk.Close()
	}
}

// TestLockExcludesOtherProcesses: another process cannot take a lock this
// one holds (also after a refused second attempt here, which must not
// drop it: closing any descriptor of the file drops a process's fcntl
// lock), and takes it once released.
func TestLockExcludesOtherProcesses(t *testing.T) {
	name := filepath.Join(t.TempDir(), "obj.lock")
	other := func() string {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestLockChild$")
		cmd.Env = append(os.Environ(), lockChildEnv+"="+name)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("child: %v %s", err, out)
		}
		for _, l := range []string{"locked", "got"} {
			if len(out) >= len(l) && string(out[:len(l)]) == l {
				return l
			}
		}
		return string(out)
	}
	lk, err := Default.Lock(name, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Default.Lock(name, 10*time.Millisecond); !errors.Is(err, ErrLocked) {
		t.Fatalf("a second lock in the holding process: %v; want ErrLocked", err)
	}
	if got := other(); got != "locked" {
		t.Fatalf("another process while held: %q; want locked", got)
	}
	lk.Close()
	if got := other(); got != "got" {
		t.Fatalf("another process after the release: %q; want got", got)
	}
}
