#!/usr/bin/env bash
# Prints the directory tests should put their stores in: a tmpfs when one
# with room is at hand (the tests fsync thousands of times; on tmpfs that
# costs nothing, and what they check does not depend on the disk), else
# $TMPDIR or /tmp. KALAM_TEST_TMPDIR overrides.
set -euo pipefail
if [[ -n ${KALAM_TEST_TMPDIR:-} ]]; then
  mkdir -p "$KALAM_TEST_TMPDIR" && echo "$KALAM_TEST_TMPDIR" && exit 0
fi
if [[ -d /dev/shm && -w /dev/shm ]]; then
  avail=$(df -Pk /dev/shm | awk 'NR==2 {print $4}')
  if [[ ${avail:-0} -ge $((4 * 1024 * 1024)) ]]; then
    mkdir -p /dev/shm/kalam-tests && echo /dev/shm/kalam-tests && exit 0
  fi
fi
echo "${TMPDIR:-/tmp}"
