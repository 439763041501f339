#!/usr/bin/env python3
"""Writes a large work-index.yaml for load tests: N backlog items, S sprints of stories.

Usage: gen_project.py OUT_FILE [--backlog N] [--sprints S] [--stories-per-sprint K] [--state]
                      [--depends K]

--state also writes .worksync/state.json beside it with an entry for every item, as a project
whose items were all added through worksync has (revisions, who created and changed them);
with --depends K, every K-th backlog item there depends on two earlier ones.
"""
import argparse
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("--backlog", type=int, default=5000)
parser.add_argument("--sprints", type=int, default=10)
parser.add_argument("--stories-per-sprint", type=int, default=10)
parser.add_argument("--state", action="store_true")
parser.add_argument("--depends", type=int, default=0,
                    help="with --state: every K-th backlog item depends on two earlier ones")
args = parser.parse_args()

themes = ["security", "devops", "performance", "api", "web-client", "observability", "data"]
lines = ["# yaml-language-server: $schema=./SCHEMA/work-flow-schema.json", "", "sprints:"]
story = 0
for s in range(args.sprints):
    status = "active" if s % 3 == 0 else "completed"
    lines += [f"- id: sprint-{s}", f"  title: Sprint {s}", f"  file: SPRINT-{s}.md", f"  status: {status}",
              f"  goal: Deliver increment {s} of the platform work with tests and docs", "  themes:",
              f"  - {themes[s % len(themes)]}", "  stories:"]
    for _ in range(args.stories_per_sprint):
        story += 1
        st = "planned" if status == "active" and story % 2 else "done"
        lines += [f"  - id: STORY-{story}", f"    status: {st}",
                  f"    notes: Story {story} notes with enough words to look like a real entry in a real project"]
lines.append("backlog:")
for b in range(args.backlog):
    lines += [f"- id: item-{b}", f"  theme: {themes[b % len(themes)]}",
              f"  summary: Backlog item {b} describing a piece of work someone will pick up later",
              "  status: " + ("todo" if b % 4 else "done"), "  related_sprints: []"]
lines.append("history:")
for h in range(50):
    lines += [f"- date: '2026-0{1 + h % 9}-1{h % 10}'", f"  summary: History entry {h}"]
with open(args.out, "w") as f:
    f.write("\n".join(lines) + "\n")

if args.state:
    keys = [f"sprint/sprint-{s}" for s in range(args.sprints)]
    keys += [f"story/STORY-{n}" for n in range(1, story + 1)]
    keys += [f"backlog/item-{b}" for b in range(args.backlog)]
    at = "2026-11-01T09:30:00.123456Z"
    items = {k: {"rev": 2, "created_at": at, "created_by": "claude-code", "updated_at": at, "updated_by": "codex"}
             for k in keys}
    if args.depends:
        for b in range(1, args.backlog, args.depends):
            items[f"backlog/item-{b}"]["depends_on"] = sorted({f"backlog/item-{b - 1}", f"backlog/item-{b // 2}"})
    state_dir = os.path.join(os.path.dirname(args.out), ".worksync")
    os.makedirs(state_dir, exist_ok=True)
    with open(os.path.join(state_dir, "state.json"), "w") as f:
        json.dump({"items": items, "history": [], "claims": {}}, f)
