use super::*;

fn merged(base: &str, ours: &str, theirs: &str) -> Merged {
    let path = Path::new("work-index.yaml");
    let one = merge(path, base, ours, theirs).unwrap_or_else(|e| panic!("{e}"));
    let other = merge(path, base, theirs, ours).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(one.text, other.text, "merge(O, A, B) and merge(O, B, A) differ");
    assert_eq!(one.conflicts, other.conflicts);
    let parsed: WorkIndex = crate::store::yaml::parse(path, &one.text).unwrap();
    assert_eq!(parsed, one.index, "the merged text reads as the merged index:\n{}", one.text);
    one
}

const BASE: &str = "\
# yaml-language-server: $schema=./SCHEMA/work-flow-schema.json

sprints:
- id: s1
  title: First   # a comment kept by every merge
  file: S1.md
  status: active
  goal: Ship it
  themes: [api]
  stories:
  - id: STORY-1
    status: planned
    notes: first notes
  - id: STORY-2
    status: planned
backlog:
- id: b1
  theme: t
  summary: one
  status: todo
- id: b2
  theme: t
  summary: two
  status: todo
history:
- date: '2026-01-01'
  summary: started
- date: '2026-01-02'
  summary: second day
";

/// Different fields of one item, and different items, changed on the two sides: all
/// changes apply, untouched lines keep their bytes.
#[test]
fn different_fields_both_apply() {
    let ours = BASE.replace("  summary: one\n  status: todo", "  summary: one\n  status: in_progress");
    let theirs = BASE
        .replace("  summary: one\n", "  summary: one, refined\n")
        .replace("    status: planned\n    notes", "    status: done\n    notes");
    let m = merged(BASE, &ours, &theirs);
    assert!(m.conflicts.is_empty(), "{:?}", m.conflicts);
    assert_eq!(
        m.text,
        BASE.replace("  summary: one\n  status: todo", "  summary: one, refined\n  status: in_progress")
            .replace("    status: planned\n    notes", "    status: done\n    notes")
    );
}

/// Items added on both sides are all kept, in an order that does not depend on the side.
#[test]
fn additions_on_both_sides_are_kept() {
    let ours = BASE.replace("history:", "- id: from-a\n  theme: t\n  summary: a\n  status: todo\nhistory:");
    let theirs = BASE.replace("history:", "- id: from-b\n  theme: t\n  summary: b\n  status: todo\n- id: also-b\n  theme: t\n  summary: b2\n  status: todo\nhistory:");
    let m = merged(BASE, &ours, &theirs);
    let ids: Vec<&str> = m.index.backlog().iter().map(|b| b.id.as_str()).collect();
    assert_eq!(ids, ["b1", "b2", "from-a", "from-b", "also-b"]);
}

/// Removed on one side and untouched on the other: removed. Removed on one side and
/// changed on the other: kept, and reported.
#[test]
fn removals() {
    let without_b1 = BASE.replace("- id: b1\n  theme: t\n  summary: one\n  status: todo\n", "");
    let m = merged(BASE, &without_b1, BASE);
    assert_eq!(m.text, without_b1);
    let changed_b1 = BASE.replace("summary: one", "summary: one, still wanted");
    let m = merged(BASE, &without_b1, &changed_b1);
    assert_eq!(m.index.backlog()[0].summary.as_deref(), Some("one, still wanted"));
    assert_eq!(m.conflicts.len(), 1);
    assert_eq!(m.conflicts[0].kind, ConflictKind::RemovedChanged);
    assert_eq!(m.conflicts[0].at, "backlog/b1");
}

/// The same field changed differently: statuses take the one further along, other values
/// the greater one; the loser is reported.
#[test]
fn same_field_conflicts() {
    let done = BASE.replace("    status: planned\n    notes", "    status: done\n    notes");
    let in_progress = BASE.replace("    status: planned\n    notes", "    status: in_progress\n    notes");
    let m = merged(BASE, &done, &in_progress);
    assert_eq!(m.index.sprints()[0].stories()[0].status(), "done");
    assert_eq!(m.conflicts[0].at, "sprints/s1/stories/STORY-1/status");
    assert_eq!(m.conflicts[0].lost, Some(Value::String("in_progress".into())));
    let x = BASE.replace("summary: two", "summary: two (x)");
    let y = BASE.replace("summary: two", "summary: deux");
    let m = merged(BASE, &x, &y);
    assert_eq!(m.index.backlog()[1].summary.as_deref(), Some("two (x)"));
    assert_eq!(m.conflicts[0].lost, Some(Value::String("deux".into())));
}

/// Notes both sides appended to keep both additions.
#[test]
fn appended_notes_keep_both() {
    let x = BASE.replace("notes: first notes", "notes: \"first notes\\n\\nfrom x\"");
    let y = BASE.replace("notes: first notes", "notes: \"first notes\\n\\nfrom y\"");
    let m = merged(BASE, &x, &y);
    assert_eq!(m.index.sprints()[0].stories()[0].notes.as_deref(), Some("first notes\n\nfrom x\n\nfrom y"));
    assert!(m.conflicts.is_empty());
}

/// Two different items added under one id: both kept, the second renamed, reported.
#[test]
fn id_collision_keeps_both() {
    let x = BASE.replace("history:", "- id: new\n  theme: t\n  summary: x's idea\n  status: todo\nhistory:");
    let y = BASE.replace("history:", "- id: new\n  theme: t\n  summary: y's idea\n  status: todo\nhistory:");
    let m = merged(BASE, &x, &y);
    let ids: Vec<&str> = m.index.backlog().iter().map(|b| b.id.as_str()).collect();
    assert_eq!(ids, ["b1", "b2", "new", "new-2"]);
    assert_eq!(m.conflicts[0].kind, ConflictKind::IdCollision);
}

/// Several ids each given to two different items: every item is kept, each renamed one
/// right after the one that kept the id, and a suffix already taken is skipped.
#[test]
fn several_id_collisions_keep_their_order() {
    let item = |id: &str, summary: &str| format!("- id: {id}\n  theme: t\n  summary: {summary}\n  status: todo\n");
    let x = BASE
        .replace("- id: b2\n", &format!("{}- id: b2\n", item("n1", "x one")))
        .replace("history:", &format!("{}{}history:", item("n2", "x two"), item("n2-2", "x three")));
    let y = BASE
        .replace("- id: b2\n", &format!("{}- id: b2\n", item("n1", "y one")))
        .replace("history:", &format!("{}history:", item("n2", "y two")));
    let m = merged(BASE, &x, &y);
    let items: Vec<(&str, &str)> =
        m.index.backlog().iter().map(|b| (b.id.as_str(), b.summary.as_deref().unwrap_or_default())).collect();
    assert_eq!(
        items,
        [
            ("b1", "one"),
            ("n1", "x one"),
            ("n1-2", "y one"),
            ("b2", "two"),
            ("n2", "x two"),
            ("n2-3", "y two"),
            ("n2-2", "x three")
        ]
    );
    let collisions: Vec<&str> = m.conflicts.iter().map(|c| c.at.as_str()).collect();
    assert_eq!(collisions, ["backlog/n1", "backlog/n2"]);
}

/// History entries both sides added on one date: each side's own order is kept, the two
/// sides' next entries compare by their text, whichever side is ours.
#[test]
fn history_additions_on_one_date_are_ordered_by_text() {
    let x = format!("{BASE}- date: '2026-01-03'\n  summary: zeta\n- date: '2026-01-03'\n  summary: alpha\n");
    let y = format!("{BASE}- date: '2026-01-03'\n  summary: mu\n");
    let m = merged(BASE, &x, &y);
    let summaries: Vec<&str> = m.index.history().iter().filter_map(|h| h.summary.as_deref()).collect();
    assert_eq!(summaries, ["started", "second day", "mu", "zeta", "alpha"]);
}

/// History: entries rotated away on one side and appended on both: each entry once, new
/// ones in date order.
#[test]
fn history_is_a_multiset() {
    let rotated = BASE.replace("- date: '2026-01-01'\n  summary: started\n", "");
    let x = format!("{rotated}- date: '2026-01-05'\n  summary: x did\n");
    let y = format!("{BASE}- date: '2026-01-04'\n  summary: y did\n");
    let m = merged(BASE, &x, &y);
    let summaries: Vec<&str> = m.index.history().iter().filter_map(|h| h.summary.as_deref()).collect();
    assert_eq!(summaries, ["second day", "y did", "x did"]);
    // An entry that reached both sides (a merge already applied on one) is kept once.
    let both = format!("{BASE}- date: '2026-01-04'\n  summary: y did\n");
    let m = merged(BASE, &both, &y);
    assert_eq!(m.text, both);
    let m = merged(BASE, &format!("{both}- date: '2026-01-06'\n  summary: x later\n"), &y);
    assert_eq!(m.index.history().len(), 4);
    // The same entry on both sides, and a back-dated one after it on one side: one order,
    // whichever side is ours.
    let shared = format!("{BASE}- date: '2026-01-09'\n  summary: x\n");
    let m = merged(BASE, &format!("{shared}- date: '2026-01-03'\n  summary: y\n"), &shared);
    let summaries: Vec<&str> = m.index.history().iter().filter_map(|h| h.summary.as_deref()).collect();
    assert_eq!(summaries, ["started", "second day", "x", "y"]);
}

/// Conflict markers from a text merge are refused with their line.
#[test]
fn conflict_markers_are_refused() {
    let marked = BASE.replace("- id: b2\n", "<<<<<<< HEAD\n- id: b2\n=======\n- id: b3\n>>>>>>> other\n");
    let error = merge(Path::new("w.yaml"), BASE, &marked, BASE).unwrap_err();
    assert!(error.to_string().contains("conflict marker"), "{error}");
}

mod properties {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::store::model::{BacklogItem, HistoryEntry, Story};

    const SAMPLE: &str = include_str!("../../../projects.example/orbit-api/work-index.yaml");

    /// What one side does to its copy of the plan.
    #[derive(Debug, Clone)]
    enum Edit {
        Add(u8),
        Remove(u8),
        Status(u8, u8),
        Summary(u8, u8),
        AppendNotes(u8, u8),
        AddStory(u8, u8),
        History(u8),
        Rotate(u8),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            any::<u8>().prop_map(Edit::Add),
            any::<u8>().prop_map(Edit::Remove),
            (any::<u8>(), any::<u8>()).prop_map(|(i, s)| Edit::Status(i, s)),
            (any::<u8>(), any::<u8>()).prop_map(|(i, s)| Edit::Summary(i, s)),
            (any::<u8>(), any::<u8>()).prop_map(|(i, s)| Edit::AppendNotes(i, s)),
            (any::<u8>(), any::<u8>()).prop_map(|(i, s)| Edit::AddStory(i, s)),
            any::<u8>().prop_map(Edit::History),
            (1..4u8).prop_map(Edit::Rotate),
        ]
    }

    const TEXTS: [&str; 5] = ["short", "yes", "two\nlines", "a: colon", "ümlaut — ✓"];

    /// Applies `edits` (made by `side`) to the sample; returns the text the server would
    /// write and the ids it added.
    fn apply(side: &str, edits: &[Edit]) -> (String, Vec<String>) {
        apply_to(SAMPLE, side, edits)
    }

    /// Applies `edits` to the plan `start`.
    fn apply_to(start: &str, side: &str, edits: &[Edit]) -> (String, Vec<String>) {
        let base: WorkIndex = serde_yaml_ng::from_str(start).unwrap();
        let mut index = base.clone();
        let mut added = Vec::new();
        for (n, edit) in edits.iter().enumerate() {
            let backlog = index.backlog.get_or_insert_with(Vec::new);
            let len = backlog.len().max(1);
            match edit {
                Edit::Add(k) => {
                    // Some ids are shared between the sides on purpose (collisions).
                    let id = if k % 3 == 0 { format!("both-{}", k % 4) } else { format!("{side}-{n}") };
                    if backlog.iter().any(|b| b.id == id) {
                        continue;
                    }
                    added.push(id.clone());
                    let summary = Some(TEXTS[*k as usize % TEXTS.len()].to_string());
                    let item = BacklogItem { id, summary, status: Some("todo".into()), ..Default::default() };
                    let at = *k as usize % (backlog.len() + 1);
                    backlog.insert(at, Arc::new(item));
                }
                Edit::Remove(i) if !backlog.is_empty() => {
                    let removed = backlog.remove(*i as usize % len);
                    added.retain(|id| *id != removed.id);
                }
                Edit::Status(i, s) if !backlog.is_empty() => {
                    let item = Arc::make_mut(&mut backlog[*i as usize % len.min(4)]);
                    item.status = Some(["todo", "in_progress", "done"][*s as usize % 3].into());
                }
                Edit::Summary(i, s) if !backlog.is_empty() => {
                    let item = Arc::make_mut(&mut backlog[*i as usize % len.min(4)]);
                    item.summary = Some(format!("{side} {}", TEXTS[*s as usize % TEXTS.len()]));
                }
                Edit::AppendNotes(i, s) | Edit::AddStory(i, s) => {
                    let sprints = index.sprints.as_mut().unwrap();
                    let at = *i as usize % sprints.len();
                    let sprint = Arc::make_mut(&mut sprints[at]);
                    let stories = sprint.stories.get_or_insert_with(Vec::new);
                    if let Edit::AddStory(..) = edit {
                        let id = format!("STORY-{side}{n}");
                        added.push(id.clone());
                        stories.push(Story { id, status: Some("planned".into()), ..Default::default() });
                    } else if !stories.is_empty() {
                        let k = *s as usize % stories.len();
                        let notes = stories[k].notes.clone().unwrap_or_default();
                        stories[k].notes = Some(format!("{notes}\n\n{side} {}", TEXTS[*s as usize % TEXTS.len()]));
                    }
                }
                Edit::History(s) => {
                    let entry = HistoryEntry {
                        date: Some(format!("2026-04-{:02}", 1 + s % 28)),
                        summary: Some(format!("{side} did {}", TEXTS[*s as usize % TEXTS.len()])),
                        ..Default::default()
                    };
                    index.history.get_or_insert_with(Vec::new).push(Arc::new(entry));
                }
                Edit::Rotate(k) => {
                    let history = index.history.get_or_insert_with(Vec::new);
                    let k = (*k as usize).min(history.len());
                    history.drain(..k);
                }
                _ => {}
            }
        }
        let old = serde_yaml_ng::to_value(&base).unwrap();
        let (text, _) = crate::store::yaml::render(start, &old, &index).unwrap();
        (text, added)
    }

    /// The ids of a plan's backlog items and stories.
    fn ids_of(text: &str) -> HashSet<String> {
        let index: WorkIndex = serde_yaml_ng::from_str(text).unwrap();
        index
            .backlog()
            .iter()
            .map(|b| b.id.clone())
            .chain(index.sprints().iter().flat_map(|s| s.stories()).map(|s| s.id.clone()))
            .collect()
    }

    /// One step of three replicas sharing a plan: replica `.0` edits its copy, or syncs.
    #[derive(Debug, Clone)]
    enum Step {
        Edit(u8, Vec<Edit>),
        Sync(u8),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0..3u8, proptest::collection::vec(edit(), 1..4)).prop_map(|(r, e)| Step::Edit(r, e)),
            (0..3u8).prop_map(Step::Sync),
        ]
    }

    /// A replica as the sync loop keeps it: its files, and the remote commit it last merged.
    #[derive(Clone)]
    struct Replica {
        local: String,
        confirmed: String,
    }

    /// The sync loop's merge against a linear remote: (last confirmed, local, remote tip),
    /// then the result is both the new remote tip and the replica's files.
    fn sync(replica: &mut Replica, remote: &mut String) {
        let text = merged(&replica.confirmed, &replica.local, remote).text;
        *remote = text.clone();
        replica.local = text.clone();
        replica.confirmed = text;
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

        /// For random edits on two sides: merge(O, A, B) is merge(O, B, A) byte for byte,
        /// every item either side added is there (under its id or a suffixed one), and the
        /// result reads back as the merged index.
        #[test]
        fn merges_are_symmetric_and_keep_every_addition(
            a in proptest::collection::vec(edit(), 0..12),
            b in proptest::collection::vec(edit(), 0..12),
        ) {
            let (ours, added_a) = apply("a", &a);
            let (theirs, added_b) = apply("b", &b);
            let m = merged(SAMPLE, &ours, &theirs);
            let ids: Vec<String> = m.index.backlog().iter().map(|b| b.id.clone())
                .chain(m.index.sprints().iter().flat_map(|s| s.stories()).map(|s| s.id.clone()))
                .collect();
            for id in added_a.iter().chain(&added_b) {
                prop_assert!(ids.contains(id), "{} lost", id);
            }
            let collisions = m.conflicts.iter().filter(|c| c.kind == ConflictKind::IdCollision).count();
            let expected = added_a.iter().chain(&added_b).collect::<HashSet<_>>().len() + collisions;
            let new = ids.iter().filter(|id| !SAMPLE.contains(&format!("id: {id}\n"))).count();
            prop_assert_eq!(new, expected);
            // Merging a side with itself is that side.
            prop_assert_eq!(merged(SAMPLE, &ours, &ours).text, ours);
        }
    }

    proptest! {
        // Each case runs dozens of merges of the whole sample plan.
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Three replicas editing and syncing in a random order through one linear remote
        /// end byte-identical once each has synced, with every id any of them added (ids
        /// added on two replicas under one name may be kept under a suffixed id).
        #[test]
        fn three_replicas_synced_in_any_order_end_identical(steps in proptest::collection::vec(step(), 1..24)) {
            let start = Replica { local: SAMPLE.to_string(), confirmed: SAMPLE.to_string() };
            let mut replicas = [start.clone(), start.clone(), start];
            let mut remote = SAMPLE.to_string();
            let mut added = Vec::new();
            let mut removed = HashSet::new();
            for (n, step) in steps.iter().enumerate() {
                match step {
                    Step::Edit(r, edits) => {
                        let replica = &mut replicas[*r as usize];
                        let before = ids_of(&replica.local);
                        let (text, ids) = apply_to(&replica.local, &format!("r{r}s{n}"), edits);
                        removed.extend(before.difference(&ids_of(&text)).cloned());
                        replica.local = text;
                        added.extend(ids.into_iter().filter(|id| !id.starts_with("both-")));
                    }
                    Step::Sync(r) => sync(&mut replicas[*r as usize], &mut remote),
                }
            }
            for r in [0, 1, 2, 0, 1] {
                sync(&mut replicas[r], &mut remote);
            }
            prop_assert_eq!(&replicas[0].local, &replicas[1].local);
            prop_assert_eq!(&replicas[1].local, &replicas[2].local);
            // Every id added is there, unless a replica removed it on purpose.
            let ids = ids_of(&remote);
            for id in added.iter().filter(|id| !removed.contains(*id)) {
                prop_assert!(ids.contains(id), "{} lost", id);
            }
        }
    }
}
