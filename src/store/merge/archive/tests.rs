use super::*;

fn merged(base: &str, ours: &str, theirs: &str) -> MergedArchive {
    let path = Path::new("COMPLETE/history.yaml");
    let one = merge_archive(path, base, ours, theirs).unwrap_or_else(|e| panic!("{e}"));
    let other = merge_archive(path, base, theirs, ours).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(one.text, other.text, "merge_archive(O, A, B) and merge_archive(O, B, A) differ");
    assert_eq!(one.conflicts, other.conflicts);
    let parsed: Archive = yaml::parse(path, &one.text).unwrap();
    assert_eq!(parsed.history, one.history, "the merged text reads as the merged history:\n{}", one.text);
    one
}

fn entry(date: &str, summary: &str) -> String {
    format!("- date: '{date}'\n  summary: {summary}\n")
}

fn summaries(m: &MergedArchive) -> Vec<&str> {
    m.history.iter().filter_map(|h| h.summary.as_deref()).collect()
}

const HEADER: &str = "# History moved out of work-index.yaml by worksync (settings.history_rotation).\n";

fn archive(entries: &[String]) -> String {
    format!("{HEADER}history:\n{}", entries.concat())
}

/// Both sides rotated entries into the archive, some the same: every entry once, the new
/// ones in date order after the common ones, and the common text (its header) kept.
#[test]
fn union_keeps_every_entry_once_in_date_order() {
    let (e1, e2) = (entry("2026-01-01", "started"), entry("2026-01-02", "second day"));
    let (e3, e4, e5) =
        (entry("2026-01-05", "both rotated"), entry("2026-01-07", "a only"), entry("2026-01-06", "b only"));
    let base = archive(&[e1.clone(), e2.clone()]);
    let ours = archive(&[e1.clone(), e2.clone(), e3.clone(), e4.clone()]);
    let theirs = archive(&[e1.clone(), e2.clone(), e3.clone(), e5.clone()]);
    let m = merged(&base, &ours, &theirs);
    assert_eq!(summaries(&m), ["started", "second day", "both rotated", "b only", "a only"]);
    assert_eq!(m.text, archive(&[e1, e2, e3, e5, e4]));
    assert!(m.conflicts.is_empty());
}

/// The common version's order is kept even where it is not in date order; additions are
/// merged in by date around it, each side's own order kept.
#[test]
fn common_order_is_kept() {
    let (late, early) = (entry("2026-02-02", "late"), entry("2026-02-01", "early"));
    let base = archive(&[late.clone(), early.clone()]);
    let ours = archive(&[late.clone(), early.clone(), entry("2026-02-03", "x"), entry("2026-01-30", "x back-dated")]);
    let theirs = archive(&[late.clone(), early.clone(), entry("2026-01-15", "y")]);
    let m = merged(&base, &ours, &theirs);
    assert_eq!(summaries(&m), ["y", "late", "early", "x", "x back-dated"]);
}

/// What one side dropped from the archive and the other kept stays (a union); what both
/// dropped goes.
#[test]
fn an_entry_either_side_has_is_kept() {
    let (e1, e2, e3) = (entry("2026-01-01", "one"), entry("2026-01-02", "two"), entry("2026-01-03", "three"));
    let base = archive(&[e1.clone(), e2.clone(), e3.clone()]);
    let ours = archive(&[e2.clone(), e3.clone(), entry("2026-01-04", "four")]);
    let theirs = archive(&[e1.clone(), e3.clone(), entry("2026-01-05", "five")]);
    assert_eq!(summaries(&merged(&base, &ours, &theirs)), ["one", "two", "three", "four", "five"]);
    let theirs = archive(&[e3.clone(), entry("2026-01-05", "five")]);
    assert_eq!(summaries(&merged(&base, &ours, &theirs)), ["two", "three", "four", "five"]);
}

/// Copies count: an entry written twice on one side stays twice; one both sides added once
/// is there once.
#[test]
fn copies_are_counted() {
    let e1 = entry("2026-01-01", "one");
    let same = entry("2026-01-02", "deploy");
    let base = archive(std::slice::from_ref(&e1));
    let ours = archive(&[e1.clone(), same.clone(), same.clone()]);
    let theirs = archive(&[e1.clone(), same.clone(), entry("2026-01-03", "other")]);
    assert_eq!(summaries(&merged(&base, &ours, &theirs)), ["one", "deploy", "deploy", "other"]);
}

/// Two machines that each created the archive (no common version): the union of both,
/// under the header both wrote.
#[test]
fn created_on_both_sides() {
    let (e1, e2, e3) = (entry("2026-01-01", "one"), entry("2026-01-02", "two"), entry("2026-01-03", "three"));
    let ours = archive(&[e1.clone(), e3.clone()]);
    let theirs = archive(&[e1.clone(), e2.clone()]);
    let m = merged("", &ours, &theirs);
    assert_eq!(m.text, archive(&[e1, e2, e3]));
}

/// A CRLF archive stays CRLF, and the trivial cases return a side's exact text.
#[test]
fn line_endings_and_trivial_cases() {
    let crlf = |text: String| text.replace('\n', "\r\n");
    let base = crlf(archive(&[entry("2026-01-01", "one")]));
    let ours = crlf(archive(&[entry("2026-01-01", "one"), entry("2026-01-02", "a")]));
    let theirs = crlf(archive(&[entry("2026-01-01", "one"), entry("2026-01-03", "b")]));
    let m = merged(&base, &ours, &theirs);
    assert_eq!(
        m.text,
        crlf(archive(&[entry("2026-01-01", "one"), entry("2026-01-02", "a"), entry("2026-01-03", "b")]))
    );
    assert_eq!(merged(&base, &ours, &base).text, ours);
    assert_eq!(merged(&base, &ours, &ours).text, ours);
}

/// Other keys both sides changed differently are resolved as in the work index, and the
/// loser is reported.
#[test]
fn other_keys_merge_and_report() {
    let base = format!("note: kept here\n{}", archive(&[entry("2026-01-01", "one")]).replace(HEADER, ""));
    let ours = base.replace("kept here", "kept by a") + &entry("2026-01-02", "a");
    let theirs = base.replace("kept here", "kept by b") + &entry("2026-01-03", "b");
    let m = merged(&base, &ours, &theirs);
    assert_eq!(summaries(&m), ["one", "a", "b"]);
    assert_eq!(m.conflicts.len(), 1);
    assert_eq!(m.conflicts[0].at, "note");
    assert!(m.text.starts_with("note: kept by b\n"), "{}", m.text);
}

/// Conflict markers and YAML that does not load are refused, naming the side.
#[test]
fn unreadable_sides_are_refused() {
    let base = archive(&[entry("2026-01-01", "one")]);
    let marked =
        format!("{base}<<<<<<< HEAD\n{}=======\n{}>>>>>>> other\n", entry("2026-01-02", "a"), entry("2026-01-02", "b"));
    let error = merge_archive(Path::new("h.yaml"), &base, &base, &marked).unwrap_err();
    assert!(error.to_string().contains("their version") && error.to_string().contains("conflict marker"), "{error}");
    let broken = format!("{base}- date: [unclosed\n");
    let error = merge_archive(Path::new("h.yaml"), &base, &broken, &base).unwrap_err();
    assert!(error.to_string().contains("our version"), "{error}");
    assert!(merge_archive(Path::new("h.yaml"), &base, "", &base).is_err(), "an emptied side is refused");
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    /// An entry from a small pool, so the sides often share entries.
    fn pool_entry(n: u8) -> String {
        entry(&format!("2026-03-{:02}", 1 + n % 9), &format!("event {}", n % 13))
    }

    fn sorted(mut entries: Vec<String>) -> Vec<String> {
        entries.sort_by_key(|e| e[..22].to_string());
        entries
    }

    fn count(list: &[HistoryEntry], entry: &HistoryEntry) -> usize {
        list.iter().filter(|e| *e == entry).count()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        /// For random archives: the merge is symmetric byte for byte; when both sides
        /// changed, each entry is there as many times as the side with more copies holds it,
        /// and nothing else is; when every version is in date order, so is the result.
        #[test]
        fn union_is_symmetric_complete_and_ordered(
            common in proptest::collection::vec(any::<u8>(), 0..6),
            drop_a in proptest::collection::vec(any::<bool>(), 6),
            drop_b in proptest::collection::vec(any::<bool>(), 6),
            add_a in proptest::collection::vec(any::<u8>(), 0..6),
            add_b in proptest::collection::vec(any::<u8>(), 0..6),
        ) {
            let common: Vec<String> = sorted(common.into_iter().map(pool_entry).collect());
            let side = |dropped: &[bool], added: &[u8]| -> Vec<String> {
                let kept = common.iter().zip(dropped).filter(|(_, d)| !**d).map(|(e, _)| e.clone());
                sorted(kept.chain(added.iter().copied().map(pool_entry)).collect())
            };
            let (a, b) = (side(&drop_a, &add_a), side(&drop_b, &add_b));
            let m = merged(&archive(&common), &archive(&a), &archive(&b));
            let parse = |list: &[String]| -> Vec<HistoryEntry> {
                yaml::parse::<Archive>(Path::new("h"), &archive(list)).unwrap().history
            };
            let (po, pa, pb) = (parse(&common), parse(&a), parse(&b));
            // A side that changed nothing takes the other side's version, as git itself does.
            if a == common || b == common {
                prop_assert_eq!(&m.history, if a == common { &pb } else { &pa });
                return Ok(());
            }
            for e in po.iter().chain(&pa).chain(&pb) {
                prop_assert_eq!(count(&m.history, e), count(&pa, e).max(count(&pb, e)), "{:?}", e);
            }
            prop_assert_eq!(m.history.len(), {
                let mut distinct: Vec<&HistoryEntry> = pa.iter().chain(&pb).collect();
                distinct.sort_by_key(|e| key_of(e));
                distinct.dedup();
                distinct.iter().map(|e| count(&pa, e).max(count(&pb, e))).sum::<usize>()
            });
            let dates: Vec<&Option<String>> = m.history.iter().map(|e| &e.date).collect();
            prop_assert!(dates.windows(2).all(|w| w[0] <= w[1]), "not in date order: {}", m.text);
        }
    }
}
