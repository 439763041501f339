#!/usr/bin/env bash
# worksync.sh: operator wrapper for the worksync MCP server (the Rust binary in this repo).
#
#   ./worksync.sh run [serve args…]   build if needed, run `worksync serve` in the foreground
#   ./worksync.sh start [--no-auth]   build if needed, start in the background, wait for /healthz
#   ./worksync.sh stop | restart | status | logs [-f] | test
#
# Environment: WORKSYNC_DATA_ROOT (default ~/.worksync), WORKSYNC_HOST (127.0.0.1),
# WORKSYNC_PORT (8321), WORKSYNC_API_KEY, WORKSYNC_OP_REF (1Password reference used when
# WORKSYNC_API_KEY is unset and `op` is installed; default op://AI/WORKSYNC_API_KEY/credential;
# set it empty to skip 1Password). With neither, the server uses its own key file
# (`worksync key` says where; `worksync key --show` prints the key).
#
# The API key only ever travels in the server's environment: it is never put on a command
# line, printed, or written to the pid file or the log.
#
# Portable to macOS: bash 3.2 (no empty "${array[@]}" under set -u, no bash 4 features) and
# BSD tools (ps, sed -E, find); `shellcheck worksync.sh` runs in CI.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# WORKSYNC_BIN runs a given binary instead of building target/release/worksync (tests use it).
BIN="${WORKSYNC_BIN:-$REPO/target/release/worksync}"
DATA_ROOT="${WORKSYNC_DATA_ROOT:-$HOME/.worksync}"
DATA_ROOT="${DATA_ROOT/#\~/$HOME}"
PID_FILE="$DATA_ROOT/worksync.pid"
LOG_FILE="$DATA_ROOT/logs/worksync.log"
HOST="${WORKSYNC_HOST:-127.0.0.1}"
PORT="${WORKSYNC_PORT:-8321}"
CONFIGURED_PORT="$PORT" # PORT becomes the pid file's port once a running server is found
OP_REF="${WORKSYNC_OP_REF-op://AI/WORKSYNC_API_KEY/credential}" # set but empty: no 1Password
case "$HOST" in # where to reach the server (a wildcard bind is reached over loopback)
  0.0.0.0 | '') PROBE_HOST=127.0.0.1 ;;
  :: | '[::]') PROBE_HOST='[::1]' ;;
  \[*) PROBE_HOST="$HOST" ;;
  *:*) PROBE_HOST="[$HOST]" ;;
  *) PROBE_HOST="$HOST" ;;
esac
base_url() { echo "http://$PROBE_HOST:$PORT"; }
BASE_URL="$(base_url)"

usage() {
  cat <<EOF
Usage: $(basename "$0") <command> [args]

Commands:
  run [args…]        build if needed and run \`worksync serve [args…]\` in the foreground
  start [--no-auth]  build if needed and start the server in the background
  stop               stop the background server (SIGTERM, then SIGKILL after 10 s)
  restart [--no-auth]  stop, then start
  status             show whether the server runs and what /healthz says
                     (exit 0 healthy, 1 running but unhealthy, 3 not running)
  logs [-f]          show the last 50 log lines (-f: follow)
  test               run the test suite (cargo test --locked)

Data root: $DATA_ROOT   (WORKSYNC_DATA_ROOT)
Address:   $HOST:$PORT   (WORKSYNC_HOST, WORKSYNC_PORT)
API key:   WORKSYNC_API_KEY, else \`op read \$WORKSYNC_OP_REF\` if \`op\` is installed (WORKSYNC_OP_REF=
           skips it), else the server's own key file (\`worksync key\` says where)
EOF
}

die() { echo "worksync.sh: $*" >&2; exit 1; }

# Rebuilds the release binary when it is missing or older than any input.
ensure_built() {
  [[ -n "${WORKSYNC_BIN:-}" ]] && return 0
  local inputs=() p
  for p in src templates guidance projects.example config.yaml Cargo.toml Cargo.lock; do
    if [[ -e "$REPO/$p" ]]; then inputs+=("$REPO/$p"); fi
  done
  # ${a[@]+"${a[@]}"}: bash < 4.4 aborts on an empty "${a[@]}" under set -u.
  if [[ -x "$BIN" ]] && [[ -z "$(find ${inputs[@]+"${inputs[@]}"} -newer "$BIN" -print -quit)" ]]; then
    return 0
  fi
  echo "Building worksync (cargo build --release)…" >&2
  (cd "$REPO" && cargo build --release --quiet) || die "build failed"
  touch "$BIN" # cargo may find nothing to relink; remember that the inputs were checked
}

# True if process $1 exists and is not a zombie; with a 2nd argument, only if its name is that
# (macOS's `ps -o comm=` prints the program's full path, Linux's only its name).
alive() {
  local stat comm
  read -r stat comm < <(ps -p "$1" -o stat= -o comm= 2>/dev/null) || return 1
  [[ "$stat" != Z* && ( $# -lt 2 || "${comm##*/}" == "$2" ) ]]
}

# The pid file holds "<pid> <port>": the port the server was started on, so that status and
# stop reach it whatever WORKSYNC_PORT says now (a pid file holding just a pid still works).
# True if the pid file names a live worksync: sets PID, and adopts the recorded port (not in a
# subshell, or the port would be lost); drops a stale pid file.
running_pid() {
  PID=''
  [[ -f "$PID_FILE" ]] || return 1
  local pid='' port=''
  read -r pid port <"$PID_FILE" || true
  if [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" worksync; then
    if [[ "$port" =~ ^[0-9]+$ ]]; then
      PORT="$port"
      BASE_URL="$(base_url)"
    fi
    PID="$pid"
    return 0
  fi
  rm -f "$PID_FILE"
  return 1
}

# Puts the key clients must send into WORKSYNC_API_KEY, as `start` hands it to the server:
# the variable if set, else 1Password (`op`, unless WORKSYNC_OP_REF is empty); with neither
# it stays unset and the server uses its own key file.
load_key() {
  if [[ -n "${WORKSYNC_API_KEY:-}" || -z "$OP_REF" ]] || ! command -v op >/dev/null 2>&1; then
    return 0
  fi
  WORKSYNC_API_KEY="$(op read "$OP_REF")" \
    || die "op read $OP_REF failed; sign in with \`op signin\`, set WORKSYNC_API_KEY, or set WORKSYNC_OP_REF= (empty) to use worksync's own key file"
  [[ -n "$WORKSYNC_API_KEY" ]] || die "op read $OP_REF returned an empty key"
}

# A data root is only bootstrapped by `serve` while empty, and creating logs/ makes it
# non-empty; so bootstrap it here when it holds nothing but this script's own files.
init_if_new() {
  [[ -e "$DATA_ROOT/config.yaml" ]] && return 0
  [[ -z "$(find "$DATA_ROOT" -mindepth 1 -maxdepth 1 ! -name logs ! -name worksync.pid ! -name .worksync -print -quit 2>/dev/null)" ]] \
    || return 0 # someone else's files: let the server explain
  mkdir -p "$(dirname "$LOG_FILE")"
  "$BIN" --data-root "$DATA_ROOT" init >>"$LOG_FILE" 2>&1 || { show_log_tail; die "worksync init failed"; }
  echo "Created a new data root at $DATA_ROOT"
}

healthz() { curl -fsS --max-time 2 "$BASE_URL/healthz" 2>/dev/null; }

show_log_tail() {
  echo "--- last 20 lines of $LOG_FILE ---" >&2
  tail -n 20 "$LOG_FILE" >&2 2>/dev/null || true
}

cmd_start() {
  local serve_args=() want_key=1 arg pid
  for arg in "$@"; do
    case "$arg" in
      --no-auth) serve_args+=(--no-auth); want_key=0 ;;
      --allow-remote) serve_args+=(--allow-remote) ;;
      *) usage >&2; exit 2 ;;
    esac
  done
  case "${WORKSYNC_DEBUG:-}" in 1 | [Tt][Rr][Uu][Ee] | [Yy][Ee][Ss]) want_key=0 ;; esac

  ensure_built
  if running_pid; then die "already running (pid $PID, $BASE_URL); use stop or restart"; fi
  # `restart` found the old server's port; the new one listens where it is told to now.
  PORT="$CONFIGURED_PORT"
  BASE_URL="$(base_url)"
  if healthz >/dev/null; then die "something already answers at $BASE_URL/healthz; is another worksync running?"; fi

  if [[ "$want_key" == 1 ]]; then load_key; fi

  init_if_new
  mkdir -p "$(dirname "$LOG_FILE")"
  # The key reaches the child through its environment only (exported, never an argument:
  # not even `env KEY=…`, whose own argv would show it), so `ps` never displays it.
  if [[ -n "${WORKSYNC_API_KEY:-}" ]]; then export WORKSYNC_API_KEY; fi
  nohup "$BIN" --data-root "$DATA_ROOT" serve --port "$PORT" ${serve_args[@]+"${serve_args[@]}"} \
    </dev/null >>"$LOG_FILE" 2>&1 &
  pid=$!
  echo "$pid $PORT" >"$PID_FILE"

  local i
  for ((i = 0; i < 50; i++)); do
    if ! alive "$pid"; then
      rm -f "$PID_FILE"
      echo "worksync.sh: the server exited during start-up" >&2
      show_log_tail
      exit 1
    fi
    if healthz >/dev/null && alive "$pid"; then
      echo "worksync started (pid $pid)"
      echo "  URL: $BASE_URL/mcp"
      echo "  log: $LOG_FILE"
      if [[ "$want_key" == 1 && -z "${WORKSYNC_API_KEY:-}" ]]; then
        echo "  key: the server's key file (print it with \`$BIN key --show\`)"
      fi
      return 0
    fi
    sleep 0.2
  done
  echo "worksync.sh: no answer from $BASE_URL/healthz within 10 s; stopping pid $pid" >&2
  kill -TERM "$pid" 2>/dev/null || true
  rm -f "$PID_FILE"
  show_log_tail
  exit 1
}

cmd_stop() {
  local pid i
  if ! running_pid; then
    echo "worksync is not running"
    return 0
  fi
  pid="$PID"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    alive "$pid" worksync || break
    sleep 0.2
  done
  if alive "$pid" worksync; then
    echo "pid $pid did not stop within 10 s; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
  echo "worksync stopped (pid $pid)"
}

cmd_status() {
  local pid answer status_json
  if ! running_pid; then
    echo "worksync is not running ($BASE_URL, data root $DATA_ROOT)"
    exit 3
  fi
  pid="$PID"
  if ! answer="$(healthz)"; then
    echo "worksync process $pid is alive but $BASE_URL/healthz does not answer"
    exit 1
  fi
  # What the server itself reports; the project list needs the key (it is data). sed -E:
  # BSD sed has no \| in basic regular expressions.
  field() { sed -nE "s/.*\"$1\":(\"[^\"]*\"|[0-9]*).*/\1/p" <<<"$2" | tr -d '"'; }
  echo "worksync is running"
  echo "  pid:      $(field pid "$answer")"
  echo "  url:      $BASE_URL/mcp"
  echo "  uptime:   $(field uptime_seconds "$answer")s"
  echo "  auth:     $(field auth "$answer")"
  # The same key sources as start: the variable, 1Password, else the server's key file.
  local key=''
  if [[ "$(field auth "$answer")" == bearer ]]; then
    load_key
    key="${WORKSYNC_API_KEY:-}"
    if [[ -z "$key" ]]; then key="$("$BIN" key --show 2>/dev/null)" || key=''; fi
  fi
  # The header goes through stdin (`-H @-`), so the key never appears in curl's arguments.
  if status_json="$(printf 'Authorization: Bearer %s\n' "$key" \
    | curl -fsS --max-time 2 -H @- "$BASE_URL/status" 2>/dev/null)"; then
    echo "  projects: $(sed -n 's/.*"projects":\[\([^]]*\)\].*/\1/p' <<<"$status_json" | tr -d '"' | sed 's/,/, /g')"
  else
    echo "  projects: (the server refused this key: it was started with another one; see \`worksync key\`)"
  fi
}

cmd_logs() {
  [[ -f "$LOG_FILE" ]] || die "no log file at $LOG_FILE"
  case "${1:-}" in
    '') tail -n 50 "$LOG_FILE" ;;
    -f | --follow) tail -n 50 -F "$LOG_FILE" ;;
    *) usage >&2; exit 2 ;;
  esac
}

cmd="${1:-}"
if [[ $# -gt 0 ]]; then shift; fi
case "$cmd" in
  run) ensure_built; exec "$BIN" serve "$@" ;;
  start) cmd_start "$@" ;;
  stop) cmd_stop ;;
  restart) cmd_stop; cmd_start "$@" ;;
  status) cmd_status ;;
  logs) cmd_logs "$@" ;;
  test) cd "$REPO" && exec cargo test --locked "$@" ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
