//go:build valgrind

package main

import "C"

import (
	"os"
	"runtime"
)

// The valgrind build (Makefile: build/valgrind/, a test build that is never
// installed) also exports this hook. A C test that gives up waiting calls
// it (found with dlsym, so the same test runs against the shipped library,
// which has no such symbol) to print every goroutine's stack: under
// valgrind a hang cannot be caught with a debugger in CI, and the Go
// runtime of a c-shared library prints nothing on SIGQUIT.

//export kalam_test_dump_goroutines
func kalam_test_dump_goroutines() {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			os.Stderr.Write(buf[:n])
			return
		}
		buf = make([]byte, 2*len(buf))
	}
}
