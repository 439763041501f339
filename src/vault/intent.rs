//! The intent log: what a run is about to write, made durable before it writes it.
//!
//! Notes are written without fsync, and the manifest that lists them is saved once, after
//! them (one fsync per run instead of one per note). A run killed in between would leave
//! notes the manifest does not know, which the next run would take for a person's and keep
//! forever, stale. So before each batch of notes is written, their paths and the hashes of
//! what is about to be written there are appended to `<vault>/.worksync/intent.log` and
//! synced: one fdatasync per batch. Loading the manifest folds the log in, so a file counts
//! as ours if it holds what the manifest recorded *or* what an intent named. Once a run has
//! saved its manifest, the log is emptied, or rewritten with the intents of paths that run
//! did not cover (another project's notes, in a run limited to one project).
//!
//! A line left behind (the emptying is not synced) is harmless: it only ever names content
//! worksync itself wrote at that path.
//!
//! The log is also the record of incremental runs: one that only wrote notes does not save
//! the manifest (2 MB at 10,000 notes, most of such a run's time), its intents stand for it
//! until a checkpoint (a full run, a removal, shutdown, or 256 KiB of log). After a kill,
//! what those notes *said* (the manifest's `fields`) is as of the last save: a person's edit
//! of one of them meanwhile may be refused as stale (with its callout) or kept as theirs and
//! reported, never applied to a revision it was not made on.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::boundary;
use super::error::VaultError;
use super::manifest::Hash;
use crate::store::atomic;

/// `<vault>/.worksync/intent.log`: one `<hash> <path>` line per note about to be written.
pub(crate) struct IntentLog {
    path: PathBuf,
    /// Its length as this process last left it; another length means another process (a
    /// `worksync sync` that was killed) appended to it.
    len: u64,
}

impl IntentLog {
    /// The log of `vault`, as it is on disk now.
    pub(crate) fn open(vault: &Path) -> IntentLog {
        let path = vault.join(".worksync").join("intent.log");
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        IntentLog { path, len }
    }

    /// Where the log is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Did anyone but this process write to the log since it last did?
    pub(crate) fn changed_on_disk(&self) -> bool {
        std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0) != self.len
    }

    /// Does the log hold intents not yet settled?
    pub(crate) fn is_unsettled(&self) -> bool {
        self.len > 0
    }

    /// Its length in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The intents in the log, and a line for each one that was ignored. A last line
    /// without its newline was being appended when the run was killed; its notes were never
    /// written (writing waits for the append to be durable), so it is skipped silently.
    pub(crate) fn read(&self) -> (Vec<(String, Hash)>, Vec<String>) {
        let Ok(text) = std::fs::read_to_string(&self.path) else { return (Vec::new(), Vec::new()) };
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        let (mut intents, mut problems) = (Vec::new(), Vec::new());
        for line in complete.lines() {
            let parsed = line.split_once(' ').and_then(|(hex, path)| Some((Hash::from_str_radix(hex, 16).ok()?, path)));
            match parsed.map(|(hash, path)| (hash, path, boundary::check(path))) {
                Some((hash, path, Ok(()))) => intents.push((path.to_string(), hash)),
                Some((_, path, Err(why))) => problems.push(format!("intent.log: {path:?} {why}")),
                None => problems.push(format!("intent.log: {line:?} is not `<hash> <path>`")),
            }
        }
        (intents, problems)
    }

    /// Appends `intents` and waits until they are durable: only then may their notes be
    /// written.
    pub(crate) fn record<'a>(&mut self, intents: impl Iterator<Item = (&'a str, Hash)>) -> std::io::Result<()> {
        let mut text = String::new();
        for (path, hash) in intents {
            let _ = writeln!(text, "{hash:032x} {path}");
        }
        let created = !self.path.exists();
        let mut file = std::fs::File::options().create(true).append(true).open(&self.path)?;
        let written = file.write_all(text.as_bytes()).and_then(|()| file.sync_data());
        self.len = file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
        written?;
        if created {
            atomic::sync_dir(self.path.parent().expect("the log is in .worksync/"))?;
        }
        Ok(())
    }

    /// Called once the manifest is saved: keeps only `remaining`, the intents for paths the
    /// run did not cover, durably; with none, empties the log (without a sync, see above).
    pub(crate) fn settle(&mut self, remaining: &HashMap<String, Vec<Hash>>) -> Result<(), VaultError> {
        let failed =
            |cause: Box<dyn std::error::Error + Send + Sync>| VaultError::Settle { path: self.path.clone(), cause };
        if remaining.is_empty() {
            if self.len > 0 {
                let emptied = std::fs::File::options().write(true).open(&self.path).and_then(|file| file.set_len(0));
                emptied.map_err(|e| failed(e.into()))?;
                self.len = 0;
            }
            return Ok(());
        }
        let mut text = String::new();
        for (path, hashes) in remaining {
            for hash in hashes {
                let _ = writeln!(text, "{hash:032x} {path}");
            }
        }
        atomic::write_atomic(&self.path, text.as_bytes()).map_err(|e| failed(e.into()))?;
        self.len = text.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Layout, Snapshot};
    use crate::vault::manifest::Manifest;
    use crate::vault::{Generator, Options, Report, VaultError};

    /// Intents are read back after a restart, a line torn by a kill is skipped, a hostile one
    /// is reported, and settling keeps exactly the intents it is given.
    #[test]
    fn intents_are_read_back_and_settled() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".worksync")).unwrap();
        let mut log = IntentLog::open(dir.path());
        assert!(!log.is_unsettled());
        log.record([("a.md", 1), ("projects/p/b.md", 2)].into_iter()).unwrap();
        assert!(log.is_unsettled() && !log.changed_on_disk());
        let mut file = std::fs::File::options().append(true).open(log.path()).unwrap();
        file.write_all(format!("{:032x} ../x.md\n{:032x} c.m", 3, 4).as_bytes()).unwrap();
        assert!(log.changed_on_disk(), "another process appended");
        let mut log = IntentLog::open(dir.path());
        let (intents, problems) = log.read();
        assert_eq!(intents, [("a.md".to_string(), 1), ("projects/p/b.md".to_string(), 2)]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("../x.md"), "{problems:?}");
        log.settle(&HashMap::from([("a.md".to_string(), vec![1, 5])])).unwrap();
        assert_eq!(log.read().0, [("a.md".to_string(), 1), ("a.md".to_string(), 5)]);
        log.settle(&HashMap::new()).unwrap();
        assert!(!log.is_unsettled() && log.read().0.is_empty() && !log.changed_on_disk());
    }

    /// A data root bootstrapped from the bundled defaults, plus `orbit-web`, a copy of
    /// `orbit-api`.
    fn two_projects() -> (tempfile::TempDir, Layout) {
        let root = tempfile::tempdir().unwrap();
        let layout = Layout::new(root.path());
        layout.bootstrap().unwrap();
        let (from, to) = (layout.project_dir("orbit-api").unwrap(), layout.project_dir("orbit-web").unwrap());
        std::fs::create_dir_all(&to).unwrap();
        std::fs::copy(from.join("work-index.yaml"), to.join("work-index.yaml")).unwrap();
        let config = std::fs::read_to_string(layout.config()).unwrap();
        let config = config.replace("vault_path:", "  orbit-web:\n    repo: ~/src/web\nvault_path:");
        std::fs::write(layout.config(), config).unwrap();
        (root, layout)
    }

    /// A run of a generator that starts with nothing in memory, as after a restart; with
    /// `crash_after`, the run stops where a SIGKILL after that many written notes leaves it.
    fn run(layout: &Layout, crash_after: Option<usize>, project: Option<&str>) -> Result<Report, VaultError> {
        let mut generator = Generator::new(layout.root().join("vault"), &layout.templates_dir());
        generator.crash_after = crash_after;
        let options = Options { full: true, project: project.map(str::to_string), ..Options::default() };
        generator.run(&Snapshot::read_only(layout).unwrap(), &options)
    }

    /// While worksync is down, a person edits STORY-1's notes and removes STORY-2.
    fn edit_story_1_and_remove_story_2(layout: &Layout, project: &str) {
        let path = layout.work_index(project).unwrap();
        let mut index: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let stories = index["sprints"][0]["stories"].as_sequence_mut().unwrap();
        stories[0]["notes"] = "Edited while worksync was down".into();
        stories.remove(1);
        std::fs::write(&path, serde_yaml_ng::to_string(&index).unwrap()).unwrap();
    }

    /// The vault after a completed run: STORY-1's note is current, STORY-2's is gone, and
    /// nothing worksync wrote was kept as a person's.
    fn assert_recovered(layout: &Layout, project: &str, report: &Report) {
        let stories = layout.root().join("vault/projects").join(project).join("Stories");
        assert!(report.kept.is_empty() && report.errors.is_empty(), "{report:?}");
        let story = std::fs::read_to_string(stories.join("STORY-1.md")).unwrap();
        assert!(story.contains("Edited while worksync was down"), "{story}");
        assert!(!stories.join("STORY-2.md").exists(), "{report:?}");
    }

    /// A first run killed after five notes (the global dashboard and four stories), STORY-1
    /// edited and STORY-2 removed while down: the next run updates and removes their notes
    /// and the dashboard, and keeps nothing.
    #[test]
    fn notes_of_a_killed_run_are_still_ours() {
        let (_root, layout) = two_projects();
        let vault = layout.root().join("vault");
        assert_eq!(run(&layout, Some(5), None).unwrap_err().to_string(), "simulated crash");
        assert!(!Manifest::path(&vault).exists(), "killed before its manifest");
        for note in
            ["Global Dashboard.md", "projects/orbit-api/Stories/STORY-1.md", "projects/orbit-api/Stories/STORY-2.md"]
        {
            assert!(vault.join(note).exists(), "{note} was written before the kill");
        }
        edit_story_1_and_remove_story_2(&layout, "orbit-api");
        let report = run(&layout, None, None).unwrap();
        assert_recovered(&layout, "orbit-api", &report);
        assert!(report.written_paths.iter().any(|p| p == "Global Dashboard.md"), "{report:?}");
    }

    /// Killed twice: first in a full run, then in a run of `orbit-web` alone, after which a
    /// run of `orbit-web` alone completes. The notes the first run wrote for `orbit-api`
    /// stay claimed until a run covers `orbit-api`, which then updates and removes them.
    #[test]
    fn notes_of_killed_runs_stay_ours_until_a_run_covers_them() {
        let (_root, layout) = two_projects();
        assert_eq!(run(&layout, Some(5), None).unwrap_err().to_string(), "simulated crash");
        assert_eq!(run(&layout, Some(3), Some("orbit-web")).unwrap_err().to_string(), "simulated crash");
        let report = run(&layout, None, Some("orbit-web")).unwrap();
        assert!(report.kept.is_empty(), "{report:?}");
        edit_story_1_and_remove_story_2(&layout, "orbit-api");
        let report = run(&layout, None, None).unwrap();
        assert_recovered(&layout, "orbit-api", &report);
    }

    /// Incremental runs that only write notes leave their intents as the record and do not
    /// save the manifest; a generator started afterwards (as after a kill) still knows
    /// those notes as worksync's, and a checkpoint saves the manifest and empties the log.
    #[test]
    fn incremental_runs_record_their_notes_in_the_log_until_a_checkpoint() {
        let (_root, layout) = two_projects();
        let vault = layout.root().join("vault");
        let mut server = Generator::new(vault.clone(), &layout.templates_dir());
        let snapshot = || Snapshot::read_only(&layout).unwrap();
        server.run(&snapshot(), &Options { full: true, ..Options::default() }).unwrap();
        let saved = std::fs::read(Manifest::path(&vault)).unwrap();
        assert!(!IntentLog::open(&vault).is_unsettled(), "a full run settles the log");

        // A changed story: its note, its sprint's and the dashboards are rewritten.
        let path = layout.work_index("orbit-api").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let (start, _) = text.match_indices("status: planned").next().expect("a planned story");
        std::fs::write(&path, format!("{}status: in_progress{}", &text[..start], &text[start + 15..])).unwrap();
        let report = server.run(&snapshot(), &Options::default()).unwrap();
        assert!(report.written > 0 && report.errors.is_empty() && report.skipped.is_empty(), "{report:?}");
        assert_eq!(std::fs::read(Manifest::path(&vault)).unwrap(), saved, "the manifest was not saved");
        let (intents, _) = IntentLog::open(&vault).read();
        assert_eq!(intents.len(), report.written, "every note written is in the log");

        // Killed here; the next start edits a story and removes another: every note written
        // since the manifest was saved is still recognised as worksync's and replaced.
        drop(server);
        edit_story_1_and_remove_story_2(&layout, "orbit-api");
        let report = run(&layout, None, None).unwrap();
        assert_recovered(&layout, "orbit-api", &report);

        // Stopping saves: the log is empty and the manifest names every note.
        let mut server = Generator::new(vault.clone(), &layout.templates_dir());
        server.run(&snapshot(), &Options::default()).unwrap();
        std::fs::write(
            &path,
            std::fs::read_to_string(&path).unwrap().replacen("status: in_progress", "status: planned", 1),
        )
        .unwrap();
        let report = server.run(&snapshot(), &Options::default()).unwrap();
        assert!(report.written > 0, "{report:?}");
        assert!(IntentLog::open(&vault).is_unsettled());
        server.checkpoint().unwrap();
        assert!(!IntentLog::open(&vault).is_unsettled(), "a checkpoint empties the log");
        let manifest = Manifest::load(&vault);
        for written in &report.written_paths {
            let bytes = std::fs::read(vault.join(written)).unwrap();
            assert!(manifest.proves(written, &bytes), "{written} is in the saved manifest");
        }
    }
}
