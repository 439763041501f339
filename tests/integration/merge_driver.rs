//! The merge driver and `worksync git-setup` as people meet them: real git, a bare
//! repository on local disk as the remote, clones set up with the real binary, pulls with
//! and without rebase.
//!
//! No server is involved, so these tests use their own lab ([`git_lab`]) instead of the
//! `common` harness. Every git call runs under a hostile user configuration: `HOME` holds a
//! `.gitconfig` with `core.autocrlf=true`, a global `core.hooksPath` whose hooks all fail,
//! and `commit.gpgSign=true` with no usable key. The test's own commits, clones and pulls
//! are a person's, so they pass `-c` overrides as a person would; the binary's own git calls
//! get none.

use crate::git_lab;

use std::path::Path;

use git_lab::*;
use worksync::store::merge;

const ADD_A: &str = "- id: a-new\n  theme: api\n  summary: from A\n  status: todo\nhistory:";
const ADD_B: &str = "- id: b-new\n  theme: api\n  summary: from B\n  status: todo\nhistory:";

/// Clone A changes b1's status and adds an item; clone B changes b1's summary (the next
/// line: a line merge conflicts), adds another item and appends a history entry. A pushes,
/// B pulls, B pushes, A pulls.
fn concurrent_edits(rebase: bool) {
    let lab = Lab::new();
    let (a, b) = (lab.clone("a"), lab.clone("b"));
    edit(
        &a.join("work-index.yaml"),
        &[("summary: one\n  status: todo", "summary: one\n  status: in_progress"), ("history:", ADD_A)],
    );
    lab.commit(&a, "A: b1 in progress, a-new");
    lab.push(&a);
    edit(
        &b.join("work-index.yaml"),
        &[
            ("summary: one\n", "summary: one, refined\n"),
            ("history:", ADD_B),
            ("  summary: started\n", "  summary: started\n- date: '2026-01-03'\n  summary: b did\n"),
        ],
    );
    lab.commit(&b, "B: b1 refined, b-new, history");
    let ours = lab.show(&b, "HEAD", "work-index.yaml");
    let pull = lab.git(&b, &["pull", if rebase { "--rebase" } else { "--no-rebase" }]);
    assert!(pull.status.success(), "the pull failed: {}", text(&pull));
    assert!(!text(&pull).contains("CONFLICT"), "{}", text(&pull));

    let raw = std::fs::read_to_string(b.join("work-index.yaml")).unwrap();
    assert!(raw.contains("\r\n"), "the person's core.autocrlf=true gave the merged file CRLF:\n{raw}");
    let merged = read(&b.join("work-index.yaml"));
    assert_no_markers(&merged);
    let plan = parse(&merged);
    assert_eq!(backlog_item(&plan, "b1")["status"], "in_progress");
    assert_eq!(backlog_item(&plan, "b1")["summary"], "one, refined");
    let ids: Vec<&str> = plan["backlog"].as_sequence().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["b1", "b2", "a-new", "b-new"]);
    let history: Vec<&str> =
        plan["history"].as_sequence().unwrap().iter().map(|h| h["summary"].as_str().unwrap()).collect();
    assert_eq!(history, ["started", "b did"]);
    // What git committed is exactly the engine's merge of the three versions.
    let theirs = lab.show(&b, "origin/main", "work-index.yaml");
    let engine = merge(Path::new("work-index.yaml"), PLAN, &ours, &theirs).unwrap();
    assert_eq!(lab.show(&b, "HEAD", "work-index.yaml"), engine.text);

    let merges = lab.git_ok(&b, &["log", "--merges", "--format=%s"]);
    let subjects = lab.git_ok(&b, &["log", "--format=%s"]);
    if rebase {
        assert!(merges.trim().is_empty(), "a rebase makes no merge commit: {merges}");
        let subjects: Vec<&str> = subjects.lines().collect();
        assert_eq!(subjects, ["B: b1 refined, b-new, history", "A: b1 in progress, a-new", "seed"]);
    } else {
        assert_eq!(merges.lines().count(), 1, "git log shows the merge: {subjects}");
    }

    lab.push(&b);
    lab.git_ok(&a, &["pull", "--no-rebase"]);
    for file in ["work-index.yaml", "COMPLETE/history.yaml", "worksync/format"] {
        assert_eq!(std::fs::read(a.join(file)).unwrap(), std::fs::read(b.join(file)).unwrap(), "{file} differs");
    }
    assert_eq!(lab.git_ok(&a, &["rev-parse", "HEAD"]), lab.git_ok(&b, &["rev-parse", "HEAD"]));
}

/// Changes to different fields of one item and additions on both sides: `git pull
/// --no-rebase` merges them item by item in a merge commit; after B pushes and A pulls,
/// both clones hold the same bytes.
#[test]
fn pull_merges_item_by_item() {
    concurrent_edits(false);
}

/// The same edits through `git pull --rebase`: B's commit is replayed on top of A's, item
/// by item, and both clones end with the same bytes.
#[test]
fn pull_rebase_merges_item_by_item() {
    concurrent_edits(true);
}

/// The same field changed differently on both sides: the pull succeeds, the fixed rule's
/// value is in the file, and the losing value is on the pull's stderr and in
/// `.git/worksync-conflicts.log` with a timestamp and the file's path.
#[test]
fn same_field_conflict_is_resolved_and_reported() {
    let lab = Lab::new();
    let (a, b) = (lab.clone("a"), lab.clone("b"));
    edit(&a.join("work-index.yaml"), &[("summary: two", "summary: two (x)")]);
    lab.commit(&a, "A renames b2");
    lab.push(&a);
    edit(&b.join("work-index.yaml"), &[("summary: two", "summary: deux")]);
    lab.commit(&b, "B renames b2");
    let pull = lab.git(&b, &["pull", "--no-rebase"]);
    let said = text(&pull);
    assert!(pull.status.success(), "{said}");
    assert_eq!(backlog_item(&parse(&read(&b.join("work-index.yaml"))), "b2")["summary"], "two (x)");
    let line =
        said.lines().find(|l| l.contains("backlog/b2/summary")).unwrap_or_else(|| panic!("not reported: {said}"));
    assert!(line.contains("kept \"two (x)\"") && line.contains("lost \"deux\""), "{line}");
    assert!(line.contains(".git/worksync-conflicts.log"), "the line says where the log is: {line}");
    let log = std::fs::read_to_string(b.join(".git/worksync-conflicts.log")).unwrap();
    let logged: Vec<&str> = log.lines().collect();
    assert_eq!(logged.len(), 1, "{log}");
    assert!(
        logged[0].contains(" work-index.yaml: backlog/b2/summary: ") && logged[0].contains("lost \"deux\""),
        "{log}"
    );
    let stamp = logged[0].split(' ').next().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(stamp).is_ok(), "a timestamp starts the line: {log}");
}

/// A side holding conflict markers (a text merge committed unresolved): the driver does not
/// merge, git reports a conflict, the pull fails, and the file keeps our version.
#[test]
fn conflict_markers_leave_a_conflict() {
    let lab = Lab::new();
    let (a, b) = (lab.clone("a"), lab.clone("b"));
    edit(&a.join("work-index.yaml"), &[("summary: two", "summary: two (x)")]);
    lab.commit(&a, "A renames b2");
    lab.push(&a);
    let marked = "- id: b2\n<<<<<<< HEAD\n  summary: deux\n=======\n  summary: zwei\n>>>>>>> other\n";
    edit(&b.join("work-index.yaml"), &[("- id: b2\n", marked)]);
    lab.commit(&b, "B commits a text merge unresolved");
    let ours = lab.show(&b, "HEAD", "work-index.yaml");
    let pull = lab.git(&b, &["pull", "--no-rebase"]);
    let said = text(&pull);
    assert!(!pull.status.success(), "the pull must not succeed: {said}");
    assert!(said.contains("CONFLICT") && said.contains("work-index.yaml"), "{said}");
    assert!(said.contains("conflict marker") && said.contains("our version"), "the driver says why: {said}");
    assert_eq!(read(&b.join("work-index.yaml")), ours, "the file is our version, untouched");
    let unmerged = lab.git_ok(&b, &["ls-files", "--unmerged", "--", "work-index.yaml"]);
    assert_eq!(unmerged.lines().count(), 3, "git holds the three versions for a person: {unmerged}");
}

/// Called directly as git would call it: broken YAML on a side exits 1 with %A byte for
/// byte as it was; a missing file exits 2; a path it does not merge exits 1; a good merge
/// exits 0 with %A replaced.
#[test]
fn driver_exit_codes_and_untouched_ours() {
    let lab = Lab::new();
    let a = lab.clone("a");
    let files = |ours: &str, theirs: &str| {
        write(&a.join(".merge_file_O"), PLAN);
        write(&a.join(".merge_file_A"), ours);
        write(&a.join(".merge_file_B"), theirs);
    };
    let driver =
        |path: &str| lab.worksync(&a, &["merge-driver", ".merge_file_O", ".merge_file_A", ".merge_file_B", path]);

    let ours = PLAN.replace("summary: one", "summary: one (a)");
    files(&ours, &format!("{PLAN}- date: [unclosed\n"));
    let out = driver("work-index.yaml");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("their version does not load"), "{}", text(&out));
    assert_eq!(std::fs::read(a.join(".merge_file_A")).unwrap(), ours.as_bytes(), "%A untouched");

    files(&ours, &PLAN.replace("summary: two", "summary: two (b)"));
    let out = driver("notes/plan.md");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(std::fs::read(a.join(".merge_file_A")).unwrap(), ours.as_bytes(), "%A untouched");

    let out = lab.worksync(&a, &["merge-driver", ".merge_file_O", ".merge_file_A", "missing", "work-index.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = lab.worksync(&a, &["merge-driver", ".merge_file_O"]);
    assert_eq!(out.status.code(), Some(2), "too few arguments: {}", text(&out));

    let out = driver("work-index.yaml");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let merged = std::fs::read_to_string(a.join(".merge_file_A")).unwrap();
    assert!(merged.contains("summary: one (a)") && merged.contains("summary: two (b)"), "{merged}");
    let leftovers: Vec<String> = std::fs::read_dir(&a)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|name| name.contains("worksync-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temp file is left: {leftovers:?}");
}

/// A plan repository in a format this worksync does not know: git-setup refuses a clone of
/// it, and the driver refuses to merge when the commit being pulled moved to that format.
#[test]
fn unknown_format_is_refused() {
    let lab = Lab::new();
    let (a, b) = (lab.clone("a"), lab.clone("b"));
    edit(&a.join("worksync/format"), &[("1", "2")]);
    edit(&a.join("work-index.yaml"), &[("summary: one", "summary: one (format 2)")]);
    lab.commit(&a, "A moves to format 2");
    lab.push(&a);
    edit(&b.join("work-index.yaml"), &[("summary: two", "summary: two (b)")]);
    lab.commit(&b, "B renames b2");
    let ours = lab.show(&b, "HEAD", "work-index.yaml");
    let pull = lab.git(&b, &["pull", "--no-rebase"]);
    let said = text(&pull);
    assert!(!pull.status.success(), "{said}");
    assert!(said.contains("plan format \"2\"") && said.contains("too old"), "{said}");
    assert_eq!(read(&b.join("work-index.yaml")), ours);

    // A fresh clone at format 2: git-setup refuses and registers nothing.
    lab.git_ok(lab.dir.path(), &["clone", "--quiet", "remote.git", "c"]);
    let c = lab.dir.path().join("c");
    let setup = lab.worksync(&c, &["git-setup"]);
    assert!(!setup.status.success());
    assert!(text(&setup).contains("plan format \"2\"") && text(&setup).contains("too old"), "{}", text(&setup));
    assert!(!lab.git(&c, &["config", "--get", "merge.worksync.driver"]).status.success());
    // The driver, called in that clone, exits 1.
    write(&c.join(".merge_file_O"), PLAN);
    write(&c.join(".merge_file_A"), PLAN);
    write(&c.join(".merge_file_B"), &PLAN.replace("two", "zwei"));
    let out = lab.worksync(&c, &["merge-driver", ".merge_file_O", ".merge_file_A", ".merge_file_B", "work-index.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(c.join(".merge_file_A")).unwrap(), PLAN);
}

/// git-setup a second time says so and changes nothing; it refuses a directory outside git,
/// a bare repository and a shallow clone, each saying what to do, and writes nothing there.
#[test]
fn git_setup_is_idempotent_and_refuses_what_it_cannot_serve() {
    let lab = Lab::new();
    let a = lab.clone("a");
    let config = std::fs::read(a.join(".git/config")).unwrap();
    let attributes = std::fs::read_to_string(a.join(".git/info/attributes")).unwrap();
    assert_eq!(attributes, "work-index.yaml merge=worksync\nCOMPLETE/history.yaml merge=worksync\n");
    let again = lab.worksync(lab.dir.path(), &["git-setup", a.to_str().unwrap()]);
    assert!(again.status.success() && text(&again).contains("already set up"), "{}", text(&again));
    assert_eq!(std::fs::read(a.join(".git/config")).unwrap(), config);
    assert_eq!(std::fs::read_to_string(a.join(".git/info/attributes")).unwrap(), attributes);
    let driver = lab.git_ok(&a, &["config", "--get", "merge.worksync.driver"]);
    assert!(driver.trim().ends_with(" merge-driver %O %A %B %P"), "{driver}");

    let plain = lab.dir.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let out = lab.worksync(&plain, &["git-setup"]);
    assert!(!out.status.success() && text(&out).contains("is not in a git clone"), "{}", text(&out));

    let bare_config = std::fs::read(lab.remote.join("config")).unwrap();
    let out = lab.worksync(lab.dir.path(), &["git-setup", lab.remote.to_str().unwrap()]);
    assert!(!out.status.success() && text(&out).contains("bare repository"), "{}", text(&out));
    assert_eq!(std::fs::read(lab.remote.join("config")).unwrap(), bare_config);

    let url = format!("file://{}", lab.remote.display());
    lab.git_ok(lab.dir.path(), &["clone", "--quiet", "--depth", "1", &url, "shallow"]);
    let shallow = lab.dir.path().join("shallow");
    let out = lab.worksync(&shallow, &["git-setup"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("shallow clone") && text(&out).contains("fetch --unshallow"), "{}", text(&out));
    assert!(
        !shallow.join(".git/info/attributes").exists()
            || !read(&shallow.join(".git/info/attributes")).contains("worksync")
    );

    let out = lab.worksync(lab.dir.path(), &["git-setup", "no-such-dir"]);
    assert!(!out.status.success() && text(&out).contains("no such directory"), "{}", text(&out));
}

/// A worksync binary installed under a path with spaces: git-setup quotes it for the shell
/// git runs the driver with, and a pull that a line merge could not make succeeds.
#[test]
fn binary_path_with_spaces() {
    let lab = Lab::new();
    let bin = lab.dir.path().join("Application Support").join("it's worksync");
    std::fs::create_dir_all(&bin).unwrap();
    let exe = bin.join("worksync");
    if std::fs::hard_link(BIN, &exe).is_err() {
        std::fs::copy(BIN, &exe).unwrap();
    }
    let mut clones = Vec::new();
    for name in ["a", "b"] {
        lab.git_ok(lab.dir.path(), &["clone", "--quiet", "remote.git", name]);
        let clone = lab.dir.path().join(name);
        let setup = lab.command(exe.to_str().unwrap()).current_dir(&clone).arg("git-setup").output().unwrap();
        assert!(setup.status.success(), "{}", text(&setup));
        clones.push(clone);
    }
    let (a, b) = (&clones[0], &clones[1]);
    let driver = lab.git_ok(b, &["config", "--get", "merge.worksync.driver"]);
    assert!(driver.starts_with('\''), "the path is quoted: {driver}");
    edit(&a.join("work-index.yaml"), &[("summary: one\n  status: todo", "summary: one\n  status: done")]);
    lab.commit(a, "A");
    lab.push(a);
    edit(&b.join("work-index.yaml"), &[("summary: one\n", "summary: uno\n")]);
    lab.commit(b, "B");
    let pull = lab.git(b, &["pull", "--no-rebase"]);
    assert!(pull.status.success(), "{}", text(&pull));
    let plan = parse(&read(&b.join("work-index.yaml")));
    assert_eq!(
        (&backlog_item(&plan, "b1")["summary"], &backlog_item(&plan, "b1")["status"]),
        (&"uno".into(), &"done".into())
    );
}

/// The history archive: entries appended on both sides (one the same) merge as a union,
/// each once, in date order; an archive both sides created anew merges the same way.
#[test]
fn history_archive_merges_as_a_union() {
    let lab = Lab::new();
    let (a, b) = (lab.clone("a"), lab.clone("b"));
    let archived = entry("2025-12-01", "archived");
    let (both, only_a, only_b) =
        (entry("2026-01-02", "rotated by both"), entry("2026-01-04", "a"), entry("2026-01-03", "b"));
    write(&a.join("COMPLETE/history.yaml"), &archive(&[archived.clone(), both.clone(), only_a.clone()]));
    lab.commit(&a, "A rotates");
    lab.push(&a);
    write(&b.join("COMPLETE/history.yaml"), &archive(&[archived.clone(), both.clone(), only_b.clone()]));
    lab.commit(&b, "B rotates");
    let pull = lab.git(&b, &["pull", "--rebase"]);
    assert!(pull.status.success(), "{}", text(&pull));
    assert_eq!(read(&b.join("COMPLETE/history.yaml")), archive(&[archived, both, only_b.clone(), only_a.clone()]));

    // Both sides create the archive anew (git gives the driver an empty common version).
    lab.push(&b);
    lab.git_ok(&a, &["pull", "--quiet", "--no-rebase"]);
    lab.git_ok(&a, &["rm", "--quiet", "COMPLETE/history.yaml"]);
    lab.commit(&a, "A drops the archive");
    lab.push(&a);
    lab.git_ok(&b, &["pull", "--quiet", "--no-rebase"]);
    let (new_a, new_b) = (entry("2026-02-02", "new a"), entry("2026-02-01", "new b"));
    write(&a.join("COMPLETE/history.yaml"), &archive(std::slice::from_ref(&new_a)));
    lab.commit(&a, "A starts an archive");
    lab.push(&a);
    write(&b.join("COMPLETE/history.yaml"), &archive(std::slice::from_ref(&new_b)));
    lab.commit(&b, "B starts an archive");
    let pull = lab.git(&b, &["pull", "--no-rebase"]);
    assert!(pull.status.success(), "{}", text(&pull));
    assert_eq!(read(&b.join("COMPLETE/history.yaml")), archive(&[new_b, new_a]));
}
