//! Vault benchmark: full and incremental regeneration of a data root's vault, timed.
//!
//! ```text
//! python3 bench/gen_project.py ROOT/projects/orbit-api/work-index.yaml \
//!     --backlog 10000 --sprints 50 --stories-per-sprint 10
//! cargo run --release --example vaultbench -- --root ROOT --runs 5
//! ```
//! Prints the median (and min–max) wall time and files written of: a full regeneration
//! into an empty vault, a full regeneration over a current vault (what start-up and
//! `worksync_sync` do), and an incremental one after one backlog item changed status (what
//! the server does after a mutation).

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use worksync::store::{Layout, Snapshot};
use worksync::vault::{self, Generator, Options, Report, VaultError};

#[derive(Debug, Parser)]
struct Args {
    /// Data root (with config.yaml and the project to render).
    #[arg(long)]
    root: PathBuf,
    /// Repetitions of each measurement.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Only the incremental case (for profiling it).
    #[arg(long)]
    incremental_only: bool,
    /// Project whose work index the incremental case edits.
    #[arg(long, default_value = "orbit-api")]
    project: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let layout = Layout::new(&args.root);
    let snapshot = Snapshot::read_only(&layout)?;
    let dir = vault::vault_dir(&layout, &snapshot.config);
    let generator = || Generator::new(dir.clone(), &layout.templates_dir());

    // Each empty-vault run gets a new directory: deleting 10,000 files just before creating
    // as many makes ext4 scan past the recently freed inodes, which no real first run meets.
    let scratch = tempfile::tempdir_in(dir.parent().unwrap_or(&args.root))?;
    let mut empty = Vec::new();
    for run in 0..args.runs * usize::from(!args.incremental_only) {
        let fresh = scratch.path().join(format!("vault-{run}"));
        let mut generator = Generator::new(fresh, &layout.templates_dir());
        empty.push(timed(|| generator.run(&snapshot, &Options { full: true, ..Options::default() }))?);
    }
    drop(scratch);
    print("full, empty vault", &empty);
    let _ = std::fs::remove_dir_all(&dir);
    generator().run(&snapshot, &Options { full: true, ..Options::default() })?;

    let mut current = Vec::new();
    for _ in 0..args.runs * usize::from(!args.incremental_only) {
        current.push(timed(|| generator().run(&snapshot, &Options { full: true, ..Options::default() }))?);
    }
    print("full, vault current", &current);

    // The server's case: a generator that has run before, then one item changes.
    let mut server_side = generator();
    server_side.run(&snapshot, &Options::default())?;
    let mut incremental = Vec::new();
    // The snapshot the last run saw stays alive until after the next run is timed: in the
    // server, the old and the new version share every unchanged item, so a run never pays
    // for freeing a whole project (here they share nothing: each is read from disk).
    let mut previous = snapshot;
    for run in 0..args.runs {
        let status = if run % 2 == 0 { "in_progress" } else { "todo" };
        set_first_todo(&layout.work_index(&args.project)?, status)?;
        let snapshot = Snapshot::read_only(&layout)?;
        incremental.push(timed(|| server_side.run(&snapshot, &Options::default()))?);
        previous = snapshot;
    }
    drop(previous);
    print("incremental, one item changed", &incremental);
    if let Some(last) = incremental.last() {
        println!("  written by the last incremental run: {:?}", last.1.written_paths);
    }
    Ok(())
}

fn timed(run: impl FnOnce() -> Result<Report, VaultError>) -> anyhow::Result<(f64, Report)> {
    let started = Instant::now();
    let report = run()?;
    anyhow::ensure!(report.errors.is_empty(), "errors: {:?}", report.errors);
    Ok((started.elapsed().as_secs_f64() * 1000.0, report))
}

fn print(name: &str, runs: &[(f64, Report)]) {
    if runs.is_empty() {
        return;
    }
    let mut millis: Vec<f64> = runs.iter().map(|(ms, _)| *ms).collect();
    millis.sort_by(f64::total_cmp);
    let median = millis[millis.len() / 2];
    let (notes, written) = runs.last().map(|(_, r)| (r.notes, r.written)).unwrap_or_default();
    println!(
        "{name:32} median {median:8.1} ms (min {:.1}, max {:.1}); {notes} notes, {written} written",
        millis[0],
        millis[millis.len() - 1]
    );
}

/// Sets the status of the first backlog item (`item-1` in generated projects) by a text
/// edit, as a hand edit or a mutation would change one line.
fn set_first_todo(path: &Path, status: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)?;
    let start = text.find("- id: item-1\n").ok_or_else(|| anyhow::anyhow!("no item-1 in {}", path.display()))?;
    let at = start + text[start..].find("  status: ").expect("items have a status") + "  status: ".len();
    let end = at + text[at..].find('\n').expect("line ends");
    std::fs::write(path, format!("{}{status}{}", &text[..at], &text[end..]))?;
    Ok(())
}
