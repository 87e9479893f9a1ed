#!/usr/bin/env bash
# Runs the C test programs given as arguments in one mode and prints a
# "ctest-MODE: N passed, N failed" summary (one program = one test).
#   plain      GOGC=1 (the collector runs constantly) against build/libkalam.so
#   cgocheck2  GOGC=1 against build/cgocheck2/ (GOEXPERIMENT=cgocheck2 checks
#              every cgo pointer rule at run time)
#   valgrind   memcheck against build/valgrind/ (built with -tags valgrind so
#              that valgrind understands the Go heap and stacks); asynchronous
#              preemption is off because its signal frames confuse memcheck.
#              Valgrind runs one thread at a time, and its default lock is
#              not fair on a multicore machine: a thread calling a cheap
#              function in a loop (test_close_race's vacuum of an empty table
#              made 730,000 calls in one round while the scan holder made
#              none) kept it for minutes. --fair-sched=yes hands it round.
set -uo pipefail

mode=$1
shift
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/kalam-ctest.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
export KALAM_TEST_TMP="$tmp"
# Programs size their work by mode (test_close_race runs few rounds under
# valgrind).
export KALAM_TEST_MODE="$mode"

case $mode in
plain) prefix=(env GOGC=1) ;;
cgocheck2) prefix=(env GOGC=1 LD_LIBRARY_PATH="$root/build/cgocheck2") ;;
valgrind)
  prefix=(env GODEBUG=asyncpreemptoff=1 LD_LIBRARY_PATH="$root/build/valgrind"
    valgrind --quiet --fair-sched=yes --error-exitcode=99 --leak-check=no --track-fds=no
    --suppressions="$root/tests/c/valgrind.supp")
  ;;
*)
  echo "run.sh: unknown mode $mode" >&2
  exit 2
  ;;
esac

passed=0
failed=0
for bin in "$@"; do
  name="$(basename "$bin")"
  log="$tmp/$name.log"
  if timeout 900 "${prefix[@]}" "$bin" >"$log" 2>&1; then
    passed=$((passed + 1))
    echo "ok   $mode $name"
  else
    rc=$?
    failed=$((failed + 1))
    echo "FAIL $mode $name (exit $rc)"
    sed 's/^/    /' "$log"
  fi
done
echo "ctest-$mode: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
