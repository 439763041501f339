//! Merge benchmark: the three-way merge of a work index (`store::merge`) on a large project,
//! timed against parsing the same file, in the same run.
//!
//! ```text
//! cargo run --release --example mergebench -- --runs 5
//! ```
//! The common version is a generated project shaped like `bench/gen_project.py`'s: 50 sprints
//! of 10 stories and 4,500 backlog items (5,000 items), and 1,000 history entries. Each case
//! makes two versions of it, as two machines' servers would write them, and merges them:
//! 1,000 items changed on each side (disjoint items; the same items in different fields; the
//! same field to different values), 1,000 items added on each side (under different ids;
//! under the same ids, so that every one collides), 1,000 removed on each side, 1,000 history entries appended on each side (one side also rotating 500 away), and
//! the history archive (`merge_archive`) with 1,000 entries appended on each side.
//!
//! For each case it prints the median (and min–max) wall time over `--runs` runs and the
//! ratio of that median to the median time of parsing the common version's text with
//! serde_yaml_ng into a `Value` (the reference, timed in the same runs, interleaved). A
//! merge parses three versions and proves its result by parsing it, so ~4–5× the reference
//! is its floor. Before timing, each case checks that `merge(O, A, B)` and
//! `merge(O, B, A)` are the same bytes and that the result holds what the case expects; it
//! prints a digest of the merged text, so that a change to the merge that should not change
//! its results can be seen not to.

use std::path::Path;
use std::time::Instant;

use anyhow::ensure;
use clap::Parser;
use worksync::store::{ConflictKind, merge, merge_archive};

#[derive(Debug, Parser)]
struct Args {
    /// Repetitions of each measurement.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Only the case whose name contains this (for profiling one).
    #[arg(long)]
    case: Option<String>,
    /// Backlog items of the generated project (with 500 stories).
    #[arg(long, default_value_t = 4500)]
    backlog: usize,
    /// Items (or history entries) each side changes, adds or removes.
    #[arg(long, default_value_t = 1000)]
    changes: usize,
}

const THEMES: [&str; 7] = ["security", "devops", "performance", "api", "web-client", "observability", "data"];

#[derive(Clone)]
struct Story {
    id: String,
    status: String,
    notes: String,
}

#[derive(Clone)]
struct Sprint {
    id: String,
    status: &'static str,
    goal: String,
    themes: Vec<&'static str>,
    stories: Vec<Story>,
}

#[derive(Clone)]
struct Item {
    id: String,
    theme: &'static str,
    summary: String,
    status: String,
    related_sprints: Vec<String>,
}

#[derive(Clone)]
struct Entry {
    date: String,
    summary: String,
}

/// A plan as the server writes it (block style, the Python tool's key order).
#[derive(Clone)]
struct Plan {
    sprints: Vec<Sprint>,
    backlog: Vec<Item>,
    history: Vec<Entry>,
}

impl Plan {
    fn generate(backlog: usize, history: usize) -> Plan {
        let mut story = 0;
        let sprints = (0..50)
            .map(|s| {
                let status = if s % 3 == 0 { "active" } else { "completed" };
                let stories = (0..10)
                    .map(|_| {
                        story += 1;
                        let done = status == "completed" || story % 2 == 0;
                        Story {
                            id: format!("STORY-{story}"),
                            status: (if done { "done" } else { "planned" }).into(),
                            notes: format!("Story {story} notes with enough words to look like a real entry"),
                        }
                    })
                    .collect();
                Sprint {
                    id: format!("sprint-{s}"),
                    status,
                    goal: format!("Deliver increment {s} of the platform work with tests and docs"),
                    themes: vec![THEMES[s % 7], THEMES[(s + 3) % 7]],
                    stories,
                }
            })
            .collect();
        let backlog = (0..backlog)
            .map(|b| Item {
                id: format!("item-{b}"),
                theme: THEMES[b % 7],
                summary: format!("Backlog item {b} describing a piece of work someone will pick up later"),
                status: (if b % 4 == 0 { "done" } else { "todo" }).into(),
                related_sprints: if b % 3 == 0 { vec![format!("sprint-{}", b % 50)] } else { Vec::new() },
            })
            .collect();
        let history = (0..history).map(|h| entry(2025, h, "shipped")).collect();
        Plan { sprints, backlog, history }
    }

    fn text(&self) -> String {
        let mut out = String::from("# yaml-language-server: $schema=./SCHEMA/work-flow-schema.json\n\nsprints:\n");
        for s in &self.sprints {
            out += &format!("- id: {}\n  title: Sprint {}\n  file: {}.md\n", s.id, s.id, s.id.to_uppercase());
            out += &format!("  status: {}\n  goal: {}\n  themes:\n", s.status, s.goal);
            for theme in &s.themes {
                out += &format!("  - {theme}\n");
            }
            out += "  stories:\n";
            for story in &s.stories {
                out += &format!("  - id: {}\n    status: {}\n    notes: {}\n", story.id, story.status, story.notes);
            }
        }
        out += "backlog:\n";
        for item in &self.backlog {
            out += &format!("- id: {}\n  theme: {}\n  summary: {}\n", item.id, item.theme, item.summary);
            out += &format!("  status: {}\n", item.status);
            if item.related_sprints.is_empty() {
                out += "  related_sprints: []\n";
            } else {
                out += "  related_sprints:\n";
                for sprint in &item.related_sprints {
                    out += &format!("  - {sprint}\n");
                }
            }
        }
        out += "history:\n";
        for h in &self.history {
            out += &format!("- date: '{}'\n  summary: {}\n", h.date, h.summary);
        }
        out
    }

    fn stories_mut(&mut self) -> impl Iterator<Item = &mut Story> {
        self.sprints.iter_mut().flat_map(|s| s.stories.iter_mut())
    }
}

/// The `n`-th history entry of a year, a few a day.
fn entry(year: usize, n: usize, what: &str) -> Entry {
    let day = n / 4;
    Entry {
        date: format!("{year}-{:02}-{:02}", 1 + day / 28 % 12, 1 + day % 28),
        summary: format!("{what} change {n} merged the work of an agent into the plan"),
    }
}

/// The stories and backlog items of a plan, numbered stories first: every fifth of them
/// (residue `r`) is a case's "1,000 items" on a 5,000-item project.
fn change_items(
    plan: &mut Plan,
    residue: usize,
    count: usize,
    mut story: impl FnMut(&mut Story),
    mut item: impl FnMut(&mut Item),
) {
    let stories = plan.sprints.iter().map(|s| s.stories.len()).sum::<usize>();
    let mut changed = 0;
    for (n, s) in plan.stories_mut().enumerate() {
        if n % 5 == residue && changed < count {
            story(s);
            changed += 1;
        }
    }
    for (n, i) in plan.backlog.iter_mut().enumerate() {
        if (stories + n) % 5 == residue && changed < count {
            item(i);
            changed += 1;
        }
    }
}

/// One benchmark case: the two sides made from the common plan, and what the merge must show.
struct Case {
    name: &'static str,
    ours: Plan,
    theirs: Plan,
    /// Conflicts the merge reports, all of one kind.
    conflicts: usize,
    kind: ConflictKind,
    /// Backlog items plus stories in the merged plan.
    items: usize,
    /// History entries in the merged plan.
    history: usize,
}

fn cases(base: &Plan, changes: usize) -> Vec<Case> {
    let items = base.backlog.len() + base.sprints.iter().map(|s| s.stories.len()).sum::<usize>();
    let history = base.history.len();
    let mut out = Vec::new();
    let same = |conflicts| Case {
        name: "",
        ours: base.clone(),
        theirs: base.clone(),
        conflicts,
        kind: ConflictKind::SameField,
        items,
        history,
    };

    let (mut a, mut b) = (base.clone(), base.clone());
    change_items(&mut a, 0, changes, |s| s.status = "in_progress".into(), |i| i.status = "in_progress".into());
    change_items(&mut b, 1, changes, |s| s.notes += " (reviewed)", |i| i.summary += " (refined)");
    out.push(Case { name: "field changes, disjoint items", ours: a, theirs: b, ..same(0) });

    let (mut a, mut b) = (base.clone(), base.clone());
    change_items(&mut a, 0, changes, |s| s.status = "in_progress".into(), |i| i.status = "in_progress".into());
    change_items(&mut b, 0, changes, |s| s.notes += " (reviewed)", |i| i.summary += " (refined)");
    out.push(Case { name: "same items, different fields", ours: a, theirs: b, ..same(0) });

    let (mut a, mut b) = (base.clone(), base.clone());
    change_items(
        &mut a,
        0,
        changes,
        |s| s.notes = "rewritten on laptop".into(),
        |i| i.summary = "laptop's take".into(),
    );
    change_items(
        &mut b,
        0,
        changes,
        |s| s.notes = "rewritten on devbox".into(),
        |i| i.summary = "devbox's take".into(),
    );
    out.push(Case { name: "same field, conflicting", ours: a, theirs: b, ..same(changes) });

    let (a, b) = (add_items(base, "laptop", "laptop", 0, changes), add_items(base, "devbox", "devbox", 2, changes));
    out.push(Case { name: "adds on both sides", ours: a, theirs: b, items: items + 2 * changes, ..same(0) });

    let (a, b) = (add_items(base, "laptop", "new", 0, changes), add_items(base, "devbox", "new", 0, changes));
    let collisions = Case { conflicts: changes, kind: ConflictKind::IdCollision, ..same(0) };
    out.push(Case { name: "adds under the same ids", ours: a, theirs: b, items: items + 2 * changes, ..collisions });

    let (mut a, mut b) = (base.clone(), base.clone());
    for (plan, residue) in [(&mut a, 0), (&mut b, 1)] {
        let mut n = 0;
        plan.backlog.retain(|_| {
            n += 1;
            !((n - 1) % 4 == residue && (n - 1) / 4 < changes)
        });
    }
    out.push(Case { name: "removals on both sides", ours: a, theirs: b, items: items - 2 * changes, ..same(0) });

    let (mut a, mut b) = (base.clone(), base.clone());
    a.history.extend((0..changes).map(|n| entry(2026, n, "laptop")));
    b.history.extend((0..changes).map(|n| entry(2026, n, "devbox")));
    let rotated = history / 2;
    a.history.drain(..rotated);
    let history = history - rotated + 2 * changes;
    out.push(Case { name: "history appended on both sides", ours: a, theirs: b, history, ..same(0) });
    out
}

/// The plan with `count` backlog items added by `side`, one after every fourth item from
/// `residue` on, with ids `<prefix>-0`, `<prefix>-1`, …
fn add_items(base: &Plan, side: &str, prefix: &str, residue: usize, count: usize) -> Plan {
    let mut plan = base.clone();
    let mut backlog = Vec::with_capacity(plan.backlog.len() + count);
    for (n, item) in plan.backlog.drain(..).enumerate() {
        backlog.push(item);
        if n % 4 == residue && n / 4 < count {
            let mut new = backlog[backlog.len() - 1].clone();
            new.id = format!("{prefix}-{}", n / 4);
            new.summary = format!("Found by an agent on the {side} while working on item {n}");
            new.status = "todo".into();
            backlog.push(new);
        }
    }
    plan.backlog = backlog;
    plan
}

/// An archive (`COMPLETE/history.yaml`) of `entries` entries.
fn archive_text(entries: &[Entry]) -> String {
    let mut out = String::from("history:\n");
    for h in entries {
        out += &format!("- date: '{}'\n  summary: {}\n", h.date, h.summary);
    }
    out
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let path = Path::new("work-index.yaml");
    let base = Plan::generate(args.backlog, 1000);
    let base_text = base.text();
    let parse = || serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&base_text).map(drop);

    let mut rows: Vec<(String, Vec<f64>, Vec<f64>, String)> = Vec::new();
    let wanted = |name: &str| args.case.as_deref().is_none_or(|c| name.contains(c));
    for case in cases(&base, args.changes).into_iter().filter(|c| wanted(c.name)) {
        let (ours, theirs) = (case.ours.text(), case.theirs.text());
        let one = merge(path, &base_text, &ours, &theirs)?;
        let other = merge(path, &base_text, &theirs, &ours)?;
        ensure!(one.text == other.text, "{}: merge(O, A, B) and merge(O, B, A) differ", case.name);
        let items = one.index.backlog().len() + one.index.sprints().iter().map(|s| s.stories().len()).sum::<usize>();
        ensure!(items == case.items, "{}: {items} items, expected {}", case.name, case.items);
        ensure!(one.conflicts.len() == case.conflicts, "{}: {} conflicts", case.name, one.conflicts.len());
        ensure!(one.conflicts.iter().all(|c| c.kind == case.kind), "{}: unexpected conflicts", case.name);
        ensure!(
            one.index.history().len() == case.history,
            "{}: {} history entries",
            case.name,
            one.index.history().len()
        );
        let (mut merges, mut parses) = (Vec::new(), Vec::new());
        for _ in 0..args.runs {
            parses.push(timed(parse)?);
            merges.push(timed(|| merge(path, &base_text, &ours, &theirs).map(drop))?);
        }
        let note = format!("{} conflicts, {} KB, {}", one.conflicts.len(), one.text.len() / 1024, digest(&one.text));
        rows.push((case.name.to_string(), merges, parses, note));
    }

    if wanted("archive") {
        let old: Vec<Entry> = (0..5000).map(|n| entry(2024, n, "archived")).collect();
        let side = |who: &str| {
            let mut list = old.clone();
            list.extend((0..args.changes).map(|n| entry(2026, n, who)));
            archive_text(&list)
        };
        let (o, a, b) = (archive_text(&old), side("laptop"), side("devbox"));
        let one = merge_archive(Path::new("history.yaml"), &o, &a, &b)?;
        ensure!(one.history.len() == old.len() + 2 * args.changes, "archive: {} entries", one.history.len());
        let parse_archive = || serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&o).map(drop);
        let (mut merges, mut parses) = (Vec::new(), Vec::new());
        for _ in 0..args.runs {
            parses.push(timed(parse_archive)?);
            merges.push(timed(|| merge_archive(Path::new("history.yaml"), &o, &a, &b).map(drop))?);
        }
        let note = format!("5,000 entries, {} KB, {}", one.text.len() / 1024, digest(&one.text));
        rows.push(("archive, appended on both sides".into(), merges, parses, note));
    }

    println!(
        "merge of a {}-item project ({} KB), {} changes a side, medians of {} runs:",
        base.backlog.len() + 500,
        base_text.len() / 1024,
        args.changes,
        args.runs
    );
    println!("{:34} {:>22} {:>12} {:>7}", "case", "merge ms (min-max)", "parse ms", "ratio");
    for (name, merges, parses, note) in rows {
        let (m, p) = (median(&merges), median(&parses));
        let (min, max) = (min_max(&merges).0, min_max(&merges).1);
        println!("{name:34} {m:8.1} ({min:5.1}-{max:6.1}) {p:12.1} {:6.1}x  {note}", m / p);
    }
    Ok(())
}

/// A short digest of a merged text: two versions of the merge that print the same digests
/// wrote the same bytes.
fn digest(text: &str) -> String {
    format!("xxh3 {:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}

fn timed<E: Into<anyhow::Error>>(run: impl FnOnce() -> Result<(), E>) -> anyhow::Result<f64> {
    let started = Instant::now();
    run().map_err(Into::into)?;
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

fn median(millis: &[f64]) -> f64 {
    let mut sorted = millis.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn min_max(millis: &[f64]) -> (f64, f64) {
    millis.iter().fold((f64::INFINITY, 0.0), |(lo, hi), &m| (lo.min(m), hi.max(m)))
}
