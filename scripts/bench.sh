#!/usr/bin/env bash
# The pipeline benchmark (README "Performance"): builds the binaries, brings up the engines,
# starts ingest, the workers and the scheduler on a fresh database and NATS prefix, runs
# `agentic bench` against them, prints each process's peak RSS, and stops everything.
# Flags after the script name go to `agentic bench` (e.g. --tasks 20000 --clients 64).
# WORKERS (1) sets the number of worker processes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/engines.sh postgres redis
bin=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$bin"' EXIT
for c in ingest worker scheduler agentic; do go build -o "$bin/$c" "./cmd/$c"; done

# A NATS server of the benchmark's own, on a fresh store, so that runs do not accumulate
# streams (unless NATS_URL names one).
if [ -z "${NATS_URL:-}" ]; then
  nats_bin="$(go env GOPATH)/bin/nats-server"
  [ -x "$nats_bin" ] || GOFLAGS=-mod=mod go install github.com/nats-io/nats-server/v2@v2.15.2
  port=${BENCH_NATS_PORT:-14222}
  "$nats_bin" -a 127.0.0.1 -p "$port" -js -sd "$bin/nats" >"$bin/nats.log" 2>&1 &
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  NATS_URL=nats://127.0.0.1:$port
fi

db=agentic_bench
psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" postgres
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable${BENCH_DB_OPTIONS:-}"
export NATS_URL
export REDIS_URL=${BENCH_REDIS_URL-redis://127.0.0.1:6379/0}
export AGENTIC_NATS_PREFIX="bench$(date +%s)"
export AGENTIC_ADMIN_TOKEN=bench-admin-token-0123456789
export AGENTIC_WEBHOOK_ALLOW=127.0.0.1/32
export AGENTIC_HTTP_ADDR=127.0.0.1:18080
export AGENTIC_LOG_LEVEL=warn
export AGENTIC_WORKER_CONCURRENCY=${AGENTIC_WORKER_CONCURRENCY:-1024}

"$bin/ingest" >"$bin/ingest.log" 2>&1 &
ingest=$!
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:18080/health/ready >/dev/null && break; sleep 0.1; done
workers=()
for _ in $(seq 1 "${WORKERS:-1}"); do AGENTIC_METRICS_ADDR=${AGENTIC_METRICS_ADDR:-127.0.0.1:0} "$bin/worker" >>"$bin/worker.log" 2>&1 & workers+=($!); done
AGENTIC_METRICS_ADDR= "$bin/scheduler" >"$bin/scheduler.log" 2>&1 &
sched=$!

"$bin/agentic" bench --url http://127.0.0.1:18080 "$@"

rss() { awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$1/status"; }
cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.1fs", ($14+$15)/hz}' "/proc/$1/stat"; }
echo "peak RSS: ingest $(rss $ingest), worker $(for w in "${workers[@]}"; do rss "$w"; echo -n ' '; done), scheduler $(rss $sched)"
echo "CPU: ingest $(cpu $ingest), worker $(for w in "${workers[@]}"; do cpu "$w"; echo -n ' '; done), scheduler $(cpu $sched)"
kill -TERM $ingest "${workers[@]}" $sched; wait $ingest "${workers[@]}" $sched || true
