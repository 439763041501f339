#!/usr/bin/env python3
"""The web board's figures: server time of a 5,000-item board, and how long an agent's write
takes to reach an open page's event stream.

Usage: bench/board.py [--binary target/release/worksync] [--items 5000] [--runs 30]

Starts the release server on a fresh data root holding a generated project (bench/
gen_project.py), logs in with a one-time code as `worksync open` does, then:
  * fetches the project's board `--runs` times and reports the median and p90 of the
    server's own `Server-Timing: render` and of the whole request;
  * opens `/events` (SSE), makes `--runs` writes through MCP (worksync_update_backlog), and
    reports the median and p90 time from the moment the write was answered to the moment its
    event arrived on the stream.
Needs only Python 3's standard library.
"""
import argparse
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

KEY = "bench-key"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response, data


class Mcp:
    """A minimal MCP client over Streamable HTTP (JSON answers are enough here)."""

    def __init__(self, port):
        self.port = port
        self.session = None
        self.next_id = 0
        self.call("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                 "clientInfo": {"name": "board-bench", "version": "1"}})
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def headers(self):
        h = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json",
             "Accept": "application/json, text/event-stream"}
        if self.session:
            h["Mcp-Session-Id"] = self.session
        return h

    def send(self, message):
        response, data = request(self.port, "POST", "/mcp", json.dumps(message), self.headers())
        self.session = response.getheader("Mcp-Session-Id") or self.session
        return data.decode()

    def call(self, method, params):
        self.next_id += 1
        text = self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        for line in text.splitlines():
            if line.startswith("data:"):
                text = line[5:]
        return json.loads(text) if text.strip() else None


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/release/worksync")
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    root = tempfile.mkdtemp(prefix="board-bench-")
    subprocess.run([args.binary, "--data-root", root, "init"], check=True, stdout=subprocess.DEVNULL)
    stories = 10
    sprints = max(1, args.items // 10 // stories)
    backlog = args.items - sprints * stories
    subprocess.run([sys.executable, os.path.join(here, "gen_project.py"),
                    os.path.join(root, "projects/orbit-api/work-index.yaml"),
                    "--backlog", str(backlog), "--sprints", str(sprints),
                    "--stories-per-sprint", str(stories), "--state"], check=True)
    port = free_port()
    env = dict(os.environ, WORKSYNC_API_KEY=KEY, RUST_LOG="warn")
    server = subprocess.Popen([args.binary, "--data-root", root, "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                if request(port, "GET", "/healthz")[0].status == 200:
                    break
            except OSError:
                time.sleep(0.05)
        _, data = request(port, "POST", "/board/code", "", {"Authorization": f"Bearer {KEY}"})
        code = json.loads(data)["code"]
        response, _ = request(port, "GET", f"/login?code={code}")
        cookie = response.getheader("Set-Cookie").split(";")[0]

        renders, totals, size = [], [], 0
        for _ in range(args.runs + 3):
            started = time.perf_counter()
            response, body = request(port, "GET", "/p/orbit-api", headers={"Cookie": cookie})
            totals.append((time.perf_counter() - started) * 1000)
            renders.append(float(re.search(r"dur=([0-9.]+)", response.getheader("Server-Timing")).group(1)))
            size = len(body)
        renders, totals = renders[3:], totals[3:]
        print(f"board of {args.items} items ({size} bytes of HTML), {args.runs} requests:")
        print(f"  server time  median {statistics.median(renders):.1f} ms, p90 {pct(renders, 0.9):.1f} ms")
        print(f"  whole request median {statistics.median(totals):.1f} ms, p90 {pct(totals, 0.9):.1f} ms")

        # The live stream: the time from a write's answer to its event on /events.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", "/events?project=orbit-api", headers={"Cookie": cookie, "Accept": "text/event-stream"})
        stream = conn.getresponse()
        arrivals = []
        seen = threading.Event()

        def read():
            for raw in stream:
                if raw.startswith(b"event: changes"):
                    arrivals.append(time.perf_counter())
                    seen.set()

        threading.Thread(target=read, daemon=True).start()
        time.sleep(0.3)
        mcp = Mcp(port)
        index = open(os.path.join(root, "projects/orbit-api/work-index.yaml")).read()
        first = re.search(r"^- id: (\S+)", index[index.index("backlog:"):], re.M).group(1)
        latencies, writes = [], []
        for n in range(args.runs):
            seen.clear()
            sent = time.perf_counter()
            mcp.call("tools/call", {"name": "worksync_update_backlog", "arguments": {
                "project": "orbit-api", "id": first, "priority": 1 + n % 5, "agent": "bench"}})
            answered = time.perf_counter()
            if not seen.wait(5):
                print("  no event within 5 s", file=sys.stderr)
                continue
            writes.append((answered - sent) * 1000)
            latencies.append((arrivals[-1] - sent) * 1000)
        print(f"{len(latencies)} writes through MCP (worksync_update_backlog), from the call:")
        print(f"  answered (durable)  median {statistics.median(writes):.2f} ms, p90 {pct(writes, 0.9):.2f} ms")
        print(f"  event on /events    median {statistics.median(latencies):.2f} ms, p90 {pct(latencies, 0.9):.2f} ms")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
