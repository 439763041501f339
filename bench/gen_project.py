#!/usr/bin/env python3
"""Writes a large work-index.yaml for load tests: N backlog items, S sprints of stories.

Usage: gen_project.py OUT_FILE [--backlog N] [--sprints S] [--stories-per-sprint K]
"""
import argparse

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("--backlog", type=int, default=5000)
parser.add_argument("--sprints", type=int, default=10)
parser.add_argument("--stories-per-sprint", type=int, default=10)
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
