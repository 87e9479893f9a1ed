package storagetest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/kalamdb/libkalam/storage"
)

// S3Server is a running S3-compatible test server (scripts/s3-server.sh):
// where it is and how to sign for it.
type S3Server struct {
	Endpoint        string // http://127.0.0.1:PORT
	AccessKeyID     string
	SecretAccessKey string
	Region          string
	Bucket          string // exists when the server starts

	state   string
	started bool // Stop has not run yet
	root    string
}

// Options are the storage options that reach the server (AllowHTTP set:
// it speaks plain HTTP on the loopback).
func (s *S3Server) Options() storage.Options {
	allow := true
	return storage.Options{Endpoint: s.Endpoint, Region: s.Region, AccessKeyID: s.AccessKeyID,
		SecretAccessKey: s.SecretAccessKey, AllowHTTP: &allow}
}

// URI is s3://bucket/prefix on the server.
func (s *S3Server) URI(prefix string) string {
	return "s3://" + s.Bucket + "/" + strings.Trim(prefix, "/")
}

// ErrS3Skipped is wrapped by StartS3Server's error when the server is not
// to be used (KALAM_S3_TESTS=0) or cannot be (not installed): a test
// skips, stating the error.
var ErrS3Skipped = errors.New("S3 tests skipped")

// StartS3Server starts the test server through scripts/s3-server.sh with
// its own state directory build/s3-server/<name> (so that test binaries of
// different packages, run at once by go test ./..., neither share nor stop
// each other's server); Stop stops it. The error wraps ErrS3Skipped
// when KALAM_S3_TESTS is 0 or the server is not installed (run
// scripts/s3-bootstrap.sh; make test does); any other error is a failure.
func StartS3Server(name string) (*S3Server, error) {
	if os.Getenv("KALAM_S3_TESTS") == "0" {
		return nil, fmt.Errorf("%w: KALAM_S3_TESTS=0", ErrS3Skipped)
	}
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	s := &S3Server{root: root, state: filepath.Join(root, "build", "s3-server", name)}
	// start reuses a server of this state directory that still runs (one
	// left by a test binary that was killed) and Stop stops it either way:
	// the directory belongs to the test binary named name.
	out, err := s.script("start")
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 2 {
		return nil, fmt.Errorf("%w: the S3 test server is not installed (run scripts/s3-bootstrap.sh; make test does): %s",
			ErrS3Skipped, strings.TrimSpace(string(ee.Stderr)))
	}
	if err != nil {
		return nil, err
	}
	s.started = true
	vals := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			vals[k] = v
		}
	}
	s.Endpoint, s.AccessKeyID, s.SecretAccessKey = vals["AWS_ENDPOINT_URL"], vals["AWS_ACCESS_KEY_ID"], vals["AWS_SECRET_ACCESS_KEY"]
	s.Region, s.Bucket = vals["AWS_REGION"], vals["KALAM_S3_BUCKET"]
	if s.Endpoint == "" || s.Bucket == "" {
		s.Stop()
		return nil, fmt.Errorf("scripts/s3-server.sh printed no endpoint or bucket: %q", out)
	}
	return s, nil
}

// Stop stops the server (once; nil and stopped servers are fine).
func (s *S3Server) Stop() error {
	if s == nil || !s.started {
		return nil
	}
	s.started = false
	_, err := s.script("stop")
	return err
}

func (s *S3Server) script(arg string) ([]byte, error) {
	cmd := exec.Command("bash", filepath.Join(s.root, "scripts", "s3-server.sh"), arg)
	cmd.Env = append(os.Environ(), "KALAM_S3_STATE="+s.state)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			ee.Stderr = stderr.Bytes()
			return nil, fmt.Errorf("scripts/s3-server.sh %s: %w: %s", arg, err, strings.TrimSpace(stderr.String()))
		}
		return nil, fmt.Errorf("scripts/s3-server.sh %s: %w", arg, err)
	}
	return out, nil
}

// repoRoot is the directory of the go.mod above the working directory
// (go test runs in the package's directory).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "scripts", "s3-server.sh")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("storagetest: no scripts/s3-server.sh above the working directory")
		}
		dir = parent
	}
}
