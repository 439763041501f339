//! Three-way merge of a whole plan (every file of a commit's tree), for the sync loop.
//!
//! Each path merges on its own, and every rule looks only at the three versions' contents,
//! never at which side is ours, so `merge_plans(O, A, B)` and `merge_plans(O, B, A)` are the
//! same plan and every machine that merges the same versions writes the same bytes:
//! - `work-index.yaml`: item by item ([`crate::store::merge::merge`]);
//! - `COMPLETE/history.yaml`: as a union of entries ([`crate::store::merge::merge_archive`]);
//! - any other file: whole. Changed on one side only, that side's version; changed on both
//!   sides differently, the greater bytes win and the other version is reported as a
//!   conflict (never a conflict marker); removed on one side and changed on the other, it is
//!   kept and reported, as for items.
//!
//! Their side comes from a remote anyone with push access writes to, so it is checked before
//! anything merges: a work index or archive that does not load (or holds conflict markers)
//! or an unknown plan format refuses the whole input ([`PlanMergeError::Refused`]) and the
//! local files are left as they are.

use std::collections::BTreeSet;
use std::path::Path;

use serde_yaml_ng::Value;

use super::format::{self, FORMAT_FILE};
use super::repo::Plan;
use crate::store::merge::{self, Conflict, ConflictKind, MergeError};
use crate::store::plan::WORK_INDEX;

/// The history archive's path in a plan.
pub const ARCHIVE: &str = crate::store::history_archive::ARCHIVE;

/// A merged plan and every disagreement it resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct MergedPlan {
    pub plan: Plan,
    /// `at` is `<path>` for whole files, the engine's item paths for the work index.
    pub conflicts: Vec<Conflict>,
}

/// Why two plans could not be merged.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PlanMergeError {
    /// Their version cannot be merged: nothing changes here until the remote is fixed.
    #[error("the remote's plan was refused as sync input: {0}")]
    Refused(String),
    /// Our or the common version does not load (a local problem, reported as such).
    #[error("{0}")]
    Local(String),
}

/// Checks a plan received from the remote: its format, and that the work index and the
/// archive load.
pub fn check_incoming(plan: &Plan, place: &str) -> Result<(), PlanMergeError> {
    let index = check_format(plan, place)?;
    merge::merge(Path::new(WORK_INDEX), index, index, index).map_err(|e| refused(e, place, WORK_INDEX))?;
    if let Some(archive) = plan.get(ARCHIVE) {
        check_archive(archive, place)?;
    }
    Ok(())
}

/// Merges the plan received from the remote (`theirs`) into ours, checking it on the way as
/// [`check_incoming`] does, but reading each file once: the merge reads their work index
/// anyway (and refuses it if it does not load), so only an archive the merge would take
/// without reading it (changed there, unchanged here) is read here.
pub fn merge_incoming(base: &Plan, ours: &Plan, theirs: &Plan, place: &str) -> Result<MergedPlan, PlanMergeError> {
    check_format(theirs, place)?;
    if let Some(archive) = theirs.get(ARCHIVE)
        && theirs.get(ARCHIVE) != base.get(ARCHIVE)
        && ours.get(ARCHIVE) == base.get(ARCHIVE)
    {
        check_archive(archive, place)?;
    }
    merge_plans(base, ours, theirs).map_err(|e| match e {
        PlanMergeError::Refused(why) => PlanMergeError::Refused(format!("{why} ({place})")),
        local => local,
    })
}

/// Their plan's format is one this worksync knows, and it has a work index (returned as text).
fn check_format<'p>(plan: &'p Plan, place: &str) -> Result<&'p str, PlanMergeError> {
    if let Some(version) = plan.get(FORMAT_FILE) {
        format::check(version, place).map_err(|e| PlanMergeError::Refused(e.to_string()))?;
    }
    let Some(index) = plan.get(WORK_INDEX) else {
        return Err(PlanMergeError::Refused(format!("{place} has no {WORK_INDEX}")));
    };
    text(index, WORK_INDEX).map_err(PlanMergeError::Refused)
}

fn check_archive(archive: &[u8], place: &str) -> Result<(), PlanMergeError> {
    let archive = text(archive, ARCHIVE).map_err(PlanMergeError::Refused)?;
    merge::merge_archive(Path::new(ARCHIVE), archive, archive, archive).map_err(|e| refused(e, place, ARCHIVE))?;
    Ok(())
}

/// A merge's error: their version not loading is theirs to fix (refused as input); ours or
/// the common version not loading is a local problem.
fn classify(error: MergeError, path: &str) -> PlanMergeError {
    let MergeError::Unreadable { side, .. } = &error;
    if *side == merge::THEIRS {
        PlanMergeError::Refused(format!("{path}: {error}"))
    } else {
        PlanMergeError::Local(error.to_string())
    }
}

fn refused(error: MergeError, place: &str, path: &str) -> PlanMergeError {
    let MergeError::Unreadable { error, .. } = error;
    PlanMergeError::Refused(format!("{path} {place}: {error}"))
}

/// Merges two plans that derive from `base`. The format file is left out (a commit adds
/// it).
pub fn merge_plans(base: &Plan, ours: &Plan, theirs: &Plan) -> Result<MergedPlan, PlanMergeError> {
    let paths: BTreeSet<&String> = base.keys().chain(ours.keys()).chain(theirs.keys()).collect();
    let mut merged = MergedPlan { plan: Plan::new(), conflicts: Vec::new() };
    for path in paths {
        if path == FORMAT_FILE {
            continue;
        }
        let (o, a, b) = (base.get(path), ours.get(path), theirs.get(path));
        let result = match path.as_str() {
            WORK_INDEX => Some(merge_index(o, a, b, &mut merged.conflicts)?),
            ARCHIVE => merge_archive(o, a, b, &mut merged.conflicts)?,
            _ => merge_whole(path, o, a, b, &mut merged.conflicts),
        };
        if let Some(bytes) = result {
            merged.plan.insert(path.clone(), bytes);
        }
    }
    Ok(merged)
}

fn merge_index(
    o: Option<&Vec<u8>>,
    a: Option<&Vec<u8>>,
    b: Option<&Vec<u8>>,
    conflicts: &mut Vec<Conflict>,
) -> Result<Vec<u8>, PlanMergeError> {
    let side = |bytes: Option<&Vec<u8>>, name: &str| -> Result<String, PlanMergeError> {
        let bytes = bytes.ok_or_else(|| PlanMergeError::Local(format!("{name} has no {WORK_INDEX}")))?;
        text(bytes, WORK_INDEX).map(str::to_string).map_err(PlanMergeError::Local)
    };
    let theirs = match b {
        Some(bytes) => text(bytes, WORK_INDEX).map(str::to_string).map_err(PlanMergeError::Refused)?,
        None => return Err(PlanMergeError::Refused(format!("{} has no {WORK_INDEX}", merge::THEIRS))),
    };
    let (o, a) = (side(o, "the common version")?, side(a, "our version")?);
    let result = merge::merge(Path::new(WORK_INDEX), &o, &a, &theirs).map_err(|e| classify(e, WORK_INDEX))?;
    conflicts.extend(result.conflicts);
    Ok(result.text.into_bytes())
}

/// The archive only grows: a missing version is an empty archive.
fn merge_archive(
    o: Option<&Vec<u8>>,
    a: Option<&Vec<u8>>,
    b: Option<&Vec<u8>>,
    conflicts: &mut Vec<Conflict>,
) -> Result<Option<Vec<u8>>, PlanMergeError> {
    // One side unchanged (as when only one machine rotated history): the other side's file.
    if a == b || b == o {
        return Ok(a.cloned());
    }
    if a == o {
        return Ok(b.cloned());
    }
    let side = |bytes: Option<&Vec<u8>>, missing: &str| -> Result<String, PlanMergeError> {
        bytes.map_or(Ok(missing.to_string()), |b| text(b, ARCHIVE).map(str::to_string).map_err(PlanMergeError::Local))
    };
    // A missing common version is empty; a side without the file has no entries.
    let (o, a, b) = (side(o, "")?, side(a, "history: []\n")?, side(b, "history: []\n")?);
    let result = merge::merge_archive(Path::new(ARCHIVE), &o, &a, &b).map_err(|e| classify(e, ARCHIVE))?;
    conflicts.extend(result.conflicts);
    Ok(Some(result.text.into_bytes()))
}

/// A file merged whole (`None`: absent from the merge).
fn merge_whole(
    path: &str,
    o: Option<&Vec<u8>>,
    a: Option<&Vec<u8>>,
    b: Option<&Vec<u8>>,
    conflicts: &mut Vec<Conflict>,
) -> Option<Vec<u8>> {
    if a == b || b == o {
        return a.cloned();
    }
    if a == o {
        return b.cloned();
    }
    // Both sides changed it, differently.
    let (kept, lost, kind) = match (a, b) {
        (Some(a), Some(b)) => (a.max(b), Some(a.min(b)), ConflictKind::SameField),
        (Some(changed), None) | (None, Some(changed)) => (changed, None, ConflictKind::RemovedChanged),
        (None, None) => return None,
    };
    let as_value = |bytes: &Vec<u8>| Value::String(String::from_utf8_lossy(bytes).into_owned());
    conflicts.push(Conflict { at: path.to_string(), kind, kept: Some(as_value(kept)), lost: lost.map(as_value) });
    Some(kept.clone())
}

fn text<'b>(bytes: &'b [u8], path: &str) -> Result<&'b str, String> {
    std::str::from_utf8(bytes).map_err(|e| format!("{path} is not UTF-8 text (byte {})", e.valid_up_to()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(files: &[(&str, &str)]) -> Plan {
        files.iter().map(|(p, t)| (p.to_string(), t.as_bytes().to_vec())).collect()
    }

    const BASE: &str = "backlog:\n- id: A\n  summary: a\n  status: planned\n";

    /// Whole files: one side's change wins over no change; a change on both sides keeps the
    /// greater version and reports the other, the same whichever side is ours.
    #[test]
    fn whole_files_merge_symmetrically() {
        let o = plan(&[(WORK_INDEX, BASE), ("PROMPTS/a.md", "a"), ("PROMPTS/b.md", "b"), ("PROMPTS/c.md", "c")]);
        let a =
            plan(&[(WORK_INDEX, BASE), ("PROMPTS/a.md", "a2"), ("PROMPTS/b.md", "b-ours"), ("PROMPTS/new.md", "n")]);
        let b =
            plan(&[(WORK_INDEX, BASE), ("PROMPTS/a.md", "a"), ("PROMPTS/b.md", "b-theirs"), ("PROMPTS/c.md", "c2")]);
        let ab = merge_plans(&o, &a, &b).unwrap();
        let ba = merge_plans(&o, &b, &a).unwrap();
        assert_eq!(ab, ba);
        let got = |p: &str| ab.plan.get(p).map(|b| String::from_utf8_lossy(b).to_string());
        assert_eq!(got("PROMPTS/a.md").as_deref(), Some("a2"));
        assert_eq!(got("PROMPTS/b.md").as_deref(), Some("b-theirs"), "the greater bytes");
        assert_eq!(got("PROMPTS/c.md").as_deref(), Some("c2"), "removed on one side, changed on the other: kept");
        assert_eq!(got("PROMPTS/new.md").as_deref(), Some("n"));
        let at: Vec<_> = ab.conflicts.iter().map(|c| (c.at.as_str(), c.kind)).collect();
        assert_eq!(at, [("PROMPTS/b.md", ConflictKind::SameField), ("PROMPTS/c.md", ConflictKind::RemovedChanged)]);
        assert_eq!(ab.conflicts[0].lost, Some(Value::String("b-ours".into())));
    }

    /// A remote version that does not load, holds conflict markers or is in an unknown
    /// format is refused as input.
    #[test]
    fn bad_input_is_refused() {
        let marked = format!("{BASE}<<<<<<< HEAD\n=======\n>>>>>>> other\n");
        for (bad, why) in [
            (plan(&[(WORK_INDEX, "backlog: [\n")]), "work-index.yaml:2:1"),
            (plan(&[(WORK_INDEX, marked.as_str())]), "conflict marker"),
            (plan(&[(WORK_INDEX, BASE), (FORMAT_FILE, "2\n")]), "format"),
            (plan(&[("PROMPTS/a.md", "a")]), "no work-index.yaml"),
            (plan(&[(WORK_INDEX, BASE), (ARCHIVE, "history: {\n")]), "COMPLETE/history.yaml"),
        ] {
            let error = check_incoming(&bad, "in commit 1234567").unwrap_err();
            assert!(matches!(error, PlanMergeError::Refused(_)), "{why}: {error}");
            assert!(error.to_string().contains(why), "{why}: {error}");
        }
        check_incoming(&plan(&[(WORK_INDEX, BASE), (FORMAT_FILE, "1\n")]), "here").unwrap();
    }

    /// An archive that only one side has (only one machine rotated) is taken as it is.
    #[test]
    fn archive_on_one_side_only() {
        let o = plan(&[(WORK_INDEX, BASE)]);
        let archive = "history:\n- date: '2026-01-01'\n  summary: s\n";
        let a = plan(&[(WORK_INDEX, BASE), (ARCHIVE, archive)]);
        let b = plan(&[(WORK_INDEX, "backlog:\n- id: A\n  summary: a2\n  status: planned\n")]);
        let ab = merge_plans(&o, &a, &b).unwrap();
        assert_eq!(ab, merge_plans(&o, &b, &a).unwrap());
        assert_eq!(ab.plan[ARCHIVE], archive.as_bytes());
    }

    /// Merging what the remote sent refuses their broken files as input (and says where),
    /// while a broken file of ours is a local problem.
    #[test]
    fn merging_incoming_refuses_their_broken_files() {
        let o = plan(&[(WORK_INDEX, BASE)]);
        let marked = format!("{BASE}<<<<<<< HEAD\n=======\n>>>>>>> other\n");
        let broken_archive = plan(&[(WORK_INDEX, BASE), (ARCHIVE, "history: {\n")]);
        for (theirs, why) in [
            (plan(&[(WORK_INDEX, marked.as_str())]), "conflict marker"),
            (broken_archive.clone(), "COMPLETE/history.yaml"),
            (plan(&[(WORK_INDEX, BASE), (FORMAT_FILE, "2\n")]), "format"),
        ] {
            let error = merge_incoming(&o, &o, &theirs, "in commit 1234567").unwrap_err();
            assert!(matches!(error, PlanMergeError::Refused(_)), "{why}: {error}");
            assert!(error.to_string().contains(why) && error.to_string().contains("1234567"), "{why}: {error}");
        }
        let error = merge_incoming(&o, &plan(&[(WORK_INDEX, marked.as_str())]), &o, "here").unwrap_err();
        assert!(matches!(error, PlanMergeError::Local(_)), "ours broken: {error}");
    }

    /// The archive merges as a union, also when it is new on both sides.
    #[test]
    fn archive_created_on_both_sides() {
        let entry = |d: &str| format!("history:\n- date: '{d}'\n  summary: s{d}\n");
        let o = plan(&[(WORK_INDEX, BASE)]);
        let a = plan(&[(WORK_INDEX, BASE), (ARCHIVE, &entry("2026-01-01"))]);
        let b = plan(&[(WORK_INDEX, BASE), (ARCHIVE, &entry("2026-01-02"))]);
        let ab = merge_plans(&o, &a, &b).unwrap();
        assert_eq!(ab, merge_plans(&o, &b, &a).unwrap());
        let archive = String::from_utf8(ab.plan[ARCHIVE].clone()).unwrap();
        assert!(archive.contains("2026-01-01") && archive.contains("2026-01-02"), "{archive}");
    }
}
