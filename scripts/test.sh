#!/usr/bin/env bash
# The project's test command (README, .ci/run): brings up the engines the tests need, then
# runs every package's tests with the race detector. A missing engine fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/engines.sh postgres redis versitygw
go test -race -count=1 -timeout 25m "${@:-./...}"
