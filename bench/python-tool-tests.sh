#!/usr/bin/env bash
# Runs the Python tool's own integration tests (test_client.py, test_parity.py of
# credibleforce/worksync-mcp) unchanged against worksync.
#
#   bench/python-tool-tests.sh PATH-TO-A-CHECKOUT-OF-THE-PYTHON-TOOL
#
# The tests connect to http://127.0.0.1:8321/mcp with $WORKSYNC_API_KEY and expect the
# sample projects of their repository (demo-main). So this script builds worksync, makes a
# data root from the checkout's config.yaml, guidance/ and projects/, serves it on port
# 8321 with a fresh key, installs the MCP Python SDK into a virtualenv, and runs both tests.
# (Each test also tries to start the Python server from a path on its author's machine;
# that start fails harmlessly and the test talks to worksync.) Exits non-zero if a test fails.
set -euo pipefail

checkout=${1:?usage: bench/python-tool-tests.sh PATH-TO-A-CHECKOUT-OF-THE-PYTHON-TOOL}
checkout=$(cd "$checkout" && pwd)
for file in test_client.py test_parity.py config.yaml; do
  [ -f "$checkout/$file" ] || { echo "error: $checkout/$file not found: is this a checkout of worksync-mcp?" >&2; exit 2; }
done
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
server_pid=
# shellcheck disable=SC2317  # called by the trap
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== building worksync"
(cd "$here" && cargo build --locked --quiet)
bin="$here/target/debug/worksync"

echo "== data root from $checkout"
root="$work/root"
mkdir -p "$root"
cp "$checkout/config.yaml" "$root/"
cp -R "$checkout/guidance" "$checkout/projects" "$root/"

echo "== MCP Python SDK"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet "mcp>=1.26,<2" pyyaml

export WORKSYNC_API_KEY
WORKSYNC_API_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
"$bin" --data-root "$root" serve --port 8321 --auto-sync false >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS http://127.0.0.1:8321/healthz >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS http://127.0.0.1:8321/healthz >/dev/null || { echo "error: worksync did not start on port 8321:" >&2; cat "$work/server.log" >&2; exit 1; }

failed=0
for test in test_client.py test_parity.py; do
  echo "== $test"
  if (cd "$checkout" && "$work/venv/bin/python" "$test"); then
    echo "== $test: passed"
  else
    echo "== $test: FAILED"
    failed=1
  fi
done
exit $failed
