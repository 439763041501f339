#!/usr/bin/env bash
# Compares two worksync binaries on one load scenario, interleaved, so that a busy shared
# machine slows both alike:
#
#   bench/ab.sh OLD_BIN NEW_BIN [PAIRS] [CLIENTS] [CALLS] [ITEMS]
#   bench/ab.sh /tmp/old/worksync target/release/worksync 5 8 50 0
#
# Each run: a fresh data root (ITEMS generated backlog items, with the `.worksync/state.json`
# of a project built through worksync), auto sync off, add_backlog from CLIENTS sessions of
# CALLS calls each; prints calls/s of each binary per pair. STATE=0 leaves state.json out;
# TOOL=update-backlog updates the generated items instead; CLIENT=raw uses the load
# generator's plain-HTTP client instead of rmcp's.
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=$1 NEW=$2 PAIRS=${3:-5} CLIENTS=${4:-8} CALLS=${5:-50} ITEMS=${6:-0}
PORT=${BENCH_PORT:-18499}
cargo build --release --quiet --example loadgen
export WORKSYNC_API_KEY=bench-key

one() {
  local root pid
  root=$(mktemp -d)
  "$1" --data-root "$root/r" init >/dev/null
  if [ "$ITEMS" -gt 0 ]; then
    local state=()
    [ "${STATE:-1}" = 1 ] && state=(--state)
    python3 bench/gen_project.py "$root/r/projects/orbit-api/work-index.yaml" --backlog "$ITEMS" ${state[@]+"${state[@]}"}
  fi
  WORKSYNC_AUTO_SYNC=false "$1" --data-root "$root/r" serve --port "$PORT" >/dev/null 2>&1 &
  pid=$!
  until curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; do sleep 0.01; done
  target/release/examples/loadgen --url "http://127.0.0.1:$PORT/mcp" --clients "$CLIENTS" --calls "$CALLS" \
    --tool "${TOOL:-add-backlog}" --items "$ITEMS" --client "${CLIENT:-rmcp}" | grep -o 'rate=[0-9]*' | cut -d= -f2
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  rm -rf "$root"
}

for _ in $(seq "$PAIRS"); do
  echo "old $(one "$OLD") new $(one "$NEW") calls/s"
done
