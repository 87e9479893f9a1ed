#!/usr/bin/env bash
# The S3-compatible test server (s3proxy over a local directory) on
# 127.0.0.1, for the storage tests.
#
#   scripts/s3-server.sh start    start it unless it runs; wait until it answers;
#                                 print its settings (below)
#   scripts/s3-server.sh stop     stop it (nothing to do when it is not running)
#   scripts/s3-server.sh status   print its settings and exit 0 when it answers,
#                                 else say so and exit 1
#
# The settings are printed as shell assignments, so that
#   eval "$(scripts/s3-server.sh start)"
# points the AWS_* variables (and so storage.Open("s3://...")) at it:
#   AWS_ENDPOINT_URL=http://127.0.0.1:PORT   AWS_ALLOW_HTTP=true
#   AWS_ACCESS_KEY_ID=kalam-test             AWS_SECRET_ACCESS_KEY=kalam-test-secret
#   AWS_REGION=us-east-1                     KALAM_S3_BUCKET=kalam-test
# The bucket kalam-test exists from the start; requests must be signed with
# those credentials (SigV4 or V2). Tests use a fresh prefix each.
#
# Environment: KALAM_S3_PORT (default: a free port), KALAM_S3_STATE (state
# directory, default build/s3-server: pid, port, config, data/, s3proxy.log),
# KALAM_TOOLS (where scripts/s3-bootstrap.sh put the jar).
# A fresh start empties data/: the server is a test fixture.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
S3PROXY_VERSION=4.1.0
jar="${KALAM_TOOLS:-$HOME/.cache/kalam}/s3proxy/s3proxy-$S3PROXY_VERSION-jar-with-dependencies.jar"
state="${KALAM_S3_STATE:-$root/build/s3-server}"
bucket=kalam-test
access=kalam-test
secret=kalam-test-secret

log() { printf 's3-server: %s\n' "$*" >&2; }

pid_alive() {
  [[ -f $state/pid ]] && kill -0 "$(cat "$state/pid")" 2>/dev/null
}

answers() {
  # Any HTTP answer (an anonymous request gets 403) means it is serving.
  local port=$1 code
  code="$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/" 2>/dev/null || true)"
  [[ -n $code && $code != 000 ]]
}

settings() {
  local port
  port="$(cat "$state/port")"
  cat <<EOT
AWS_ENDPOINT_URL=http://127.0.0.1:$port
AWS_ALLOW_HTTP=true
AWS_ACCESS_KEY_ID=$access
AWS_SECRET_ACCESS_KEY=$secret
AWS_REGION=us-east-1
KALAM_S3_BUCKET=$bucket
EOT
}

running() { pid_alive && [[ -f $state/port ]] && answers "$(cat "$state/port")"; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  if running; then
    settings
    return 0
  fi
  if pid_alive; then stop; fi
  if [[ ! -f $jar ]]; then
    log "s3proxy $S3PROXY_VERSION is not installed ($jar); run scripts/s3-bootstrap.sh"
    exit 2
  fi
  command -v java >/dev/null || { log "java is not installed; run scripts/s3-bootstrap.sh"; exit 2; }
  local port="${KALAM_S3_PORT:-$(free_port)}"
  mkdir -p "$state"
  rm -rf "$state/data"
  mkdir -p "$state/data/$bucket"   # a bucket of the filesystem provider is a directory
  cat >"$state/s3proxy.conf" <<EOT
s3proxy.endpoint=http://127.0.0.1:$port
s3proxy.authorization=aws-v2-or-v4
s3proxy.identity=$access
s3proxy.credential=$secret
jclouds.provider=filesystem-nio2
jclouds.filesystem.basedir=$state/data
EOT
  echo "$port" >"$state/port"
  : >>"$state/s3proxy.log"
  log "starting s3proxy $S3PROXY_VERSION on 127.0.0.1:$port (log: $state/s3proxy.log)"
  # setsid: the server outlives this script and is not in the caller's
  # process group (go test's, make's), so only `stop` ends it.
  setsid nohup java -Xmx512m -XX:+UseSerialGC -jar "$jar" --properties "$state/s3proxy.conf" \
    >>"$state/s3proxy.log" 2>&1 </dev/null &
  echo $! >"$state/pid"
  local i
  for ((i = 0; i < 600; i++)); do
    if answers "$port"; then
      settings
      return 0
    fi
    if ! pid_alive; then
      log "s3proxy exited while starting; the end of its log:"
      tail -20 "$state/s3proxy.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  log "s3proxy did not answer on port $port within 60 s; the end of its log:"
  tail -20 "$state/s3proxy.log" >&2
  stop
  exit 1
}

stop() {
  if ! pid_alive; then
    rm -f "$state/pid"
    return 0
  fi
  local pid i
  pid="$(cat "$state/pid")"
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "s3proxy (pid $pid) did not stop on TERM; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$state/pid"
  log "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status)
    if running; then settings; else
      log "not running"
      exit 1
    fi
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
