#!/usr/bin/env bash
# Runs the standard load scenarios (the Python tool's, plus a 10,000-item project) against a
# release server on a temp data root, over real Streamable HTTP MCP, and prints a table.
#
#   bench/run.sh            # all scenarios; takes a few minutes on 2 cores
#
# The load generator speaks MCP with plain HTTP requests (`--client raw`), which leaves the
# cores to the server; the 8-client scenarios are repeated with rmcp's own client, which
# spends about as much CPU per call as the server. Large projects come with the
# `.worksync/state.json` a project built through worksync has.
#
# Every run first measures the floor (`examples/floor.rs`: rmcp's Streamable HTTP on axum,
# one no-op tool, no auth or store) with the same load generator, and states worksync's
# status rates as a share of it: the framework's cost on this machine, in this minute.
#
# Figures vary with the machine: quote medians of several runs, not one.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin worksync --example floor --example loadgen --example vaultbench --example mergebench --example sharebench
BIN=target/release/worksync
LOADGEN=target/release/examples/loadgen
export WORKSYNC_API_KEY=bench-key
PORT=${BENCH_PORT:-18499}
URL="http://127.0.0.1:$PORT/mcp"
WORK=$(mktemp -d)
FLOOR_PIDS=()
trap 'kill "$PID" "${FLOOR_PIDS[@]}" 2>/dev/null || true; rm -rf "$WORK"' EXIT

PID=""
READY_MS=0
# start ROOT: starts a server on ROOT; sets PID and READY_MS (start to ready, in ms).
start() {
  local t0 t1
  if curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then
    echo "port $PORT is taken by another server; set BENCH_PORT" >&2
    exit 1
  fi
  t0=$(date +%s%N)
  "$BIN" --data-root "$1" serve --port "$PORT" >"$WORK/server.log" 2>&1 &
  PID=$!
  until curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; do sleep 0.005; done
  t1=$(date +%s%N)
  READY_MS=$(((t1 - t0) / 1000000))
  # The vault's start-up regeneration runs in the background (auto sync is on, as for
  # users); let it finish so that it does not share the cores with the first scenario.
  until curl -fsS -H "Authorization: Bearer $WORKSYNC_API_KEY" "http://127.0.0.1:$PORT/status" 2>/dev/null |
    grep -q '"pending":false,"regenerations":[1-9]'; do sleep 0.02; done
}
stop() {
  if ! kill "$PID" 2>/dev/null; then
    echo "the server died; its log ends:" >&2
    tail -n 20 "$WORK/server.log" >&2
    exit 1
  fi
  wait "$PID" 2>/dev/null || true
}
# settle: waits until the vault has caught up with the last scenario's writes, so that its
# regeneration does not share the cores with the next scenario.
settle() {
  sleep 0.1
  until curl -fsS -H "Authorization: Bearer $WORKSYNC_API_KEY" "http://127.0.0.1:$PORT/status" 2>/dev/null |
    grep -q '"pending":false'; do sleep 0.05; done
}
rss() { echo $(($(ps -o rss= -p "$PID") / 1024)); }
fresh_root() { rm -rf "$1"; "$BIN" --data-root "$1" init >/dev/null; }
big_root() {
  fresh_root "$1"
  python3 bench/gen_project.py "$1/projects/orbit-api/work-index.yaml" --backlog "$2" --state
}
run() { settle; "$LOADGEN" --url "$URL" --client raw "$@"; }
# call_tool NAME ARGUMENTS: one tool call, as a 2026-07-28 client makes it (no session).
call_tool() {
  local meta='{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"}}'
  curl -fsS -X POST "$URL" -H "Authorization: Bearer $WORKSYNC_API_KEY" -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' -H 'MCP-Protocol-Version: 2026-07-28' \
    -H 'Mcp-Method: tools/call' -H "Mcp-Name: $1" \
    -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"$1\",\"arguments\":$2,\"_meta\":$meta}}"
}
# reply_bytes NAME ARGUMENTS: the size of the tool's answer as the model reads it (its text).
reply_bytes() {
  call_tool "$1" "$2" | python3 -c 'import json, sys
text = sys.stdin.read()
events = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
print(len(json.loads(events[-1] if events else text)["result"]["content"][0]["text"]))'
}
run_stateless() { settle; "$LOADGEN" --url "$URL" --client raw --protocol stateless "$@"; }
rate_of() { sed -n 's/.*rate=\([0-9]*\) calls.*/\1/p' <<<"$1"; }
# share LINE RATE [WHAT]: the line, and its rate as a share of RATE, the floor's (or WHAT's).
share() { echo "$1 = $(awk -v a="$(rate_of "$1")" -v b="$2" 'BEGIN { printf "%.2f", a / b }') of the ${3:-floor}"; }

# The floor, stateful (sessions, as worksync serves 2025 clients) and stateless (JSON
# answers, the 2026-07-28 path), measured with the same generator and call count.
FLOOR_PORT=$((PORT + 1))
target/release/examples/floor --port "$FLOOR_PORT" >/dev/null 2>&1 &
FLOOR_PIDS=("$!")
target/release/examples/floor --port "$((FLOOR_PORT + 1))" --stateless >/dev/null 2>&1 &
FLOOR_PIDS+=("$!")
until curl -fsS "http://127.0.0.1:$FLOOR_PORT/healthz" >/dev/null 2>&1 &&
  curl -fsS "http://127.0.0.1:$((FLOOR_PORT + 1))/healthz" >/dev/null 2>&1; do sleep 0.01; done
FLOOR=$("$LOADGEN" --url "http://127.0.0.1:$FLOOR_PORT/mcp" --client raw --clients 8 --calls 500 --tool noop)
FLOOR_STATELESS=$("$LOADGEN" --url "http://127.0.0.1:$((FLOOR_PORT + 1))/mcp" --client raw --protocol stateless \
  --clients 8 --calls 500 --tool noop)
kill "${FLOOR_PIDS[@]}"
FLOOR_PIDS=()
run_rmcp() { settle; "$LOADGEN" --url "$URL" --client rmcp "$@"; }

echo "## worksync load scenarios ($(nproc) cores, $(date -u +%Y-%m-%d))"
echo "floor, no-op tool, 8 clients, session:   $FLOOR"
echo "floor, no-op tool, 8 clients, stateless: $FLOOR_STATELESS"
fresh_root "$WORK/a"
start "$WORK/a"
echo "start to ready: ${READY_MS} ms; idle RSS: $(rss) MB"
echo "add_backlog, 1 client, 0->100:   $(run --clients 1 --calls 100 --tool add-backlog)"
echo "add_backlog, 8 clients:          $(run --clients 8 --calls 100 --tool add-backlog)"
# An empty project's status (a 0.7 KB message) shows what a call costs us whatever it
# answers; the example project's (13 KB: every story of two active sprints, with notes),
# what an answer's size adds.
call_tool worksync_register_project '{"name":"empty","repo":"/tmp"}' >/dev/null
share "status, 8 clients, empty project: $(run --clients 8 --calls 500 --tool status --project empty)" "$(rate_of "$FLOOR")"
share "status, 8 clients:               $(run --clients 8 --calls 500 --tool status)" "$(rate_of "$FLOOR")"
share "status, 8 clients, stateless:    $(run_stateless --clients 8 --calls 500 --tool status)" \
  "$(rate_of "$FLOOR_STATELESS")"
echo "add_backlog, 8 clients, rmcp client: $(run_rmcp --clients 8 --calls 100 --tool add-backlog)"
echo "status, 8 clients, rmcp client:      $(run_rmcp --clients 8 --calls 500 --tool status)"
stop

big_root "$WORK/b" 400
start "$WORK/b"
echo "update_backlog, 8 clients, 400 items: $(run --clients 8 --calls 50 --tool update-backlog --items 400)"
echo "add_backlog, 8 clients, 400 items:    $(run --clients 8 --calls 50 --tool add-backlog)"
stop

big_root "$WORK/c" 10000
start "$WORK/c"
echo "10,000 items: start to ready ${READY_MS} ms, RSS $(rss) MB"
# The disk's floor for one such write: an atomic, durable replace of a file this size.
DISK=$(python3 bench/atomic_write.py "$WORK/c/projects/orbit-api/work-index.yaml" 200)
echo "disk floor, 10,000 items: $DISK"
DISK_RATE=$(sed -n 's/.*rate=\([0-9]*\) writes.*/\1/p' <<<"$DISK")
share "add_backlog, 1 client, 10,000 items:    $(run --clients 1 --calls 200 --tool add-backlog)" "$DISK_RATE" "disk floor"
share "update_backlog, 1 client, 10,000 items: $(run --clients 1 --calls 200 --tool update-backlog --items 10000)" \
  "$DISK_RATE" "disk floor"
share "status, 8 clients, 10,000 items:     $(run --clients 8 --calls 200 --tool status)" "$(rate_of "$FLOOR")"
echo "RSS after load, 10,000 items: $(rss) MB; 5 s later: $(settle; sleep 5; rss) MB (freed memory given back)"
# What an agent reads: the answers' text (the structured copy is the same JSON again).
echo "reply bytes, 10,000 items (after the load above): status $(reply_bytes worksync_status '{"project":"orbit-api"}')," \
  "next $(reply_bytes worksync_next '{"project":"orbit-api"}')," \
  "changes (default limit) $(reply_bytes worksync_changes '{"project":"orbit-api"}')"
stop

# Dependencies: 2,000 of the 10,000 backlog items wait on two others each; `next` weighs
# them on every call (and status after every write).
fresh_root "$WORK/e"
python3 bench/gen_project.py "$WORK/e/projects/orbit-api/work-index.yaml" --backlog 10000 --state --depends 5
start "$WORK/e"
echo "next, 8 clients, 10,000 items, 2,000 dependencies: $(run --clients 8 --calls 50 --tool next)"
stop

# The vault generator alone: 10,000 backlog items and 500 stories.
fresh_root "$WORK/d"
python3 bench/gen_project.py "$WORK/d/projects/orbit-api/work-index.yaml" --backlog 10000 --sprints 50 --stories-per-sprint 10
echo "vault, 10,000 backlog items + 500 stories:"
target/release/examples/vaultbench --root "$WORK/d" --runs 5

# The three-way merge of a shared project's work index: 5,000 items, 1,000 changes a side.
target/release/examples/mergebench --runs 5

# Shared projects: a write's visibility on another server (interval 1 s, local bare remote),
# an idle sync, and a claim in a shared project against one in a local-only project.
target/release/examples/sharebench
