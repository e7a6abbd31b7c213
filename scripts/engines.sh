#!/usr/bin/env bash
# Makes sure the engines the tests and a local production-mode run need are up on this machine:
# PostgreSQL on 127.0.0.1:5432 (trust auth for local TCP), Redis on 127.0.0.1:6379 and a NATS
# server >= 2.11 with JetStream. Starts what is installed but stopped, installs what is missing
# (Debian packages; the NATS server from the Go module proxy, since Debian's is 2.9), and exits
# non-zero naming the engine it could not bring up. `versitygw` only installs the S3-compatible
# server the backup tests start themselves (internal/s3test). Idempotent.
set -euo pipefail

log() { printf 'engines: %s\n' "$*" >&2; }
up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_up() { # port name
  for _ in $(seq 1 100); do up "$1" && return 0; sleep 0.1; done
  log "$2 did not come up on port $1"; return 1
}
apt_updated=
apt_install() {
  if [ "$(id -u)" != 0 ]; then log "$* missing and not root: install it"; return 1; fi
  if [ -z "$apt_updated" ]; then apt-get update -qq >/dev/null; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

postgres() {
  up 5432 && return 0
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    log "installing postgresql"
    apt_install postgresql
  fi
  local ver; ver=$(ls /etc/postgresql | sort -V | tail -1)
  local hba=/etc/postgresql/$ver/main/pg_hba.conf
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    # Local test engine: trust TCP connections from this machine only.
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  log "starting postgresql $ver"
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  wait_up 5432 postgresql
}

redis() {
  up 6379 && return 0
  command -v redis-server >/dev/null || { log "installing redis-server"; apt_install redis-server; }
  log "starting redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/agentic.log
  wait_up 6379 redis
}

nats_version() { # port → the version the server announces in its INFO line, or nothing
  local info=""
  { exec 3<>"/dev/tcp/127.0.0.1/$1" && IFS= read -r -t 2 info <&3; exec 3<&-; } 2>/dev/null || true
  sed -nE 's/.*"version":"([0-9.]+)".*/\1/p' <<<"$info"
}

nats() {
  # Tests embed their own nats-server; this one serves local runs (scripts/dev.sh, bench.sh).
  # An older server already on the port (Debian's 2.9) is left alone and ours takes port+1.
  local port=${AGENTIC_NATS_PORT:-4222} v
  while up "$port"; do
    v=$(nats_version "$port")
    if [ -n "$v" ] && printf '2.11.0\n%s\n' "$v" | sort -V -C; then
      echo "nats://127.0.0.1:$port" >"${NATS_URL_FILE:-/dev/null}"; return 0
    fi
    log "nats-server ${v:-?} on port $port is older than 2.11; using port $((port + 1))"
    port=$((port + 1))
  done
  local bin; bin="$(go env GOPATH)/bin/nats-server"
  if [ ! -x "$bin" ]; then
    log "building nats-server v2.15.2"
    GOFLAGS=-mod=mod go install github.com/nats-io/nats-server/v2@v2.15.2
  fi
  log "starting nats-server on $port"
  mkdir -p "/var/lib/agentic-nats-$port"
  nohup "$bin" -a 127.0.0.1 -p "$port" -js -sd "/var/lib/agentic-nats-$port" >"/var/log/agentic-nats-$port.log" 2>&1 &
  wait_up "$port" nats
  echo "nats://127.0.0.1:$port" >"${NATS_URL_FILE:-/dev/null}"
}

versitygw() {
  # The S3-compatible server of the backup upload tests; each test starts its own.
  type -P versitygw >/dev/null && return 0 # -P: on PATH, not this function
  local bin; bin="$(go env GOPATH)/bin/versitygw"
  [ -x "$bin" ] && return 0
  log "building versitygw v1.8.0"
  GOFLAGS=-mod=mod go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
}

want=${*:-postgres redis nats}
for e in $want; do "$e"; done
log "up: $want"
