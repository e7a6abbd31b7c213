#!/usr/bin/env bash
# Runs the whole platform locally on real engines: brings up PostgreSQL, Redis and NATS
# (installing them if missing), starts ingest, a worker and the scheduler, creates a demo
# tenant with an API key on first start, and prints a curl line to try. Ctrl-C stops it all.
# State lives in the `agentic` database and AGENTIC_DATA_DIR (./.agentic).
set -euo pipefail
cd "$(dirname "$0")/.."
export NATS_URL_FILE=$(mktemp)
scripts/engines.sh
data=${AGENTIC_DATA_DIR:-./.agentic}
mkdir -p "$data/bin"
for c in ingest worker scheduler; do go build -o "$data/bin/$c" "./cmd/$c"; done

psql -q -h 127.0.0.1 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname='agentic'" postgres | grep -q 1 ||
  psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE agentic" postgres
[ -s "$data/admin-token" ] || head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$data/admin-token"
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/agentic?sslmode=disable}
export NATS_URL=${NATS_URL:-$(cat "$NATS_URL_FILE")}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
export AGENTIC_ADMIN_TOKEN=${AGENTIC_ADMIN_TOKEN:-$(cat "$data/admin-token")}
export AGENTIC_HTTP_ADDR=${AGENTIC_HTTP_ADDR:-127.0.0.1:8080}
export AGENTIC_METRICS_ADDR=${AGENTIC_METRICS_ADDR:-127.0.0.1:0}
export AGENTIC_WEBHOOK_ALLOW=${AGENTIC_WEBHOOK_ALLOW:-127.0.0.1/32,localhost}

trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
"$data/bin/ingest" & "$data/bin/worker" & "$data/bin/scheduler" &
url="http://$AGENTIC_HTTP_ADDR"
for _ in $(seq 1 100); do curl -fs "$url/health/ready" >/dev/null && break; sleep 0.2; done

if [ ! -s "$data/demo-key" ]; then
  tenant=$(curl -fs -H "Authorization: Bearer $AGENTIC_ADMIN_TOKEN" -H 'Content-Type: application/json' \
    -d '{"name":"demo","tier":"pro"}' "$url/v1/admin/tenants" | sed -E 's/.*"id":"([^"]+)".*/\1/')
  curl -fs -H "Authorization: Bearer $AGENTIC_ADMIN_TOKEN" -H 'Content-Type: application/json' -d '{"name":"demo"}' \
    "$url/v1/admin/tenants/$tenant/api-keys" | sed -E 's/.*"key":"([^"]+)".*/\1/' >"$data/demo-key"
fi
key=$(cat "$data/demo-key")
cat <<MSG

Agentic is running at $url
  admin token: $AGENTIC_ADMIN_TOKEN   (in $data/admin-token)
  demo API key: $key   (in $data/demo-key)

Try:
  curl -s -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \\
    -d '{"agent":"summarizer","input":{"text":"Agentic runs AI agents as durable tasks."}}' $url/v1/tasks
  curl -s -H "Authorization: Bearer $key" "$url/v1/tasks/<id>?wait=30s"

MSG
wait
