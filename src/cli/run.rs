//! `sipamo run`: the scenario suite on the embedded mock.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Scenario files or folders (default: scenarios/).
    pub(crate) paths: Vec<PathBuf>,
    /// Run only scenarios with this tag (repeat for any of several).
    #[arg(long = "tag", value_name = "TAG")]
    pub(crate) tags: Vec<String>,
    /// Also write a JUnit XML report here (one testcase per scenario).
    #[arg(long, value_name = "FILE")]
    pub(crate) junit: Option<PathBuf>,
    /// Also write a self-contained HTML report here (opens offline by double-click): the
    /// summary with rule coverage and, per scenario, a timeline on the virtual clock (Sipuni
    /// events, settled calls with their rule IDs, manager actions, faults, amoCRM requests),
    /// the account at the end, what did not hold beside what the account holds, and the
    /// snapshot diff when the journal changed.
    #[arg(long, value_name = "FILE.html")]
    pub(crate) report: Option<PathBuf>,
    /// Print each scenario's amoCRM requests (the journal).
    #[arg(long)]
    pub(crate) journal: bool,
    /// Print, per handled call, the rule IDs and reasons behind what it did.
    #[arg(long)]
    pub(crate) explain: bool,
    /// Scenarios run at once.
    #[arg(long, default_value_t = 16)]
    pub(crate) parallel: usize,
    /// After the run, keep watching PATHs and re-run each scenario file that changes (saved,
    /// added or renamed into place), for the edit-run loop; Ctrl-C stops.
    #[arg(long)]
    pub(crate) watch: bool,
    /// Run with the planted bug (callback-task dedup off), to check a reproducer.
    #[arg(long, hide = true)]
    pub(crate) sabotage_task_dedup: bool,
}

pub(super) fn default_paths(paths: &[PathBuf]) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        paths.to_vec()
    }
}

pub(super) async fn run_scenarios(args: RunArgs) -> anyhow::Result<ExitCode> {
    use crate::sim::scenario::suite;
    let paths = default_paths(&args.paths);
    let files = suite::discover(&paths)?;
    let ok = run_files(&files, &args).await?;
    if args.watch {
        let args = &args;
        return super::watch::watch(
            &paths,
            |changed| async move { run_files(&changed, args).await },
        )
        .await;
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs the given files (tag filter applied), prints a line each and a summary; true when all
/// passed and something was selected.
async fn run_files(files: &[PathBuf], args: &RunArgs) -> anyhow::Result<bool> {
    use crate::sim::scenario::{report, run::RunOptions, suite};
    let (loaded, load_errors) = suite::load_all(files);
    let selected = suite::filter_tags(loaded, &args.tags);
    for e in &load_errors {
        println!("FAIL {e}");
    }
    if selected.is_empty() && load_errors.is_empty() {
        eprintln!(
            "no scenario matches (files: {}, tags: {:?})",
            files.len(),
            args.tags
        );
        return Ok(false);
    }
    let started = std::time::Instant::now();
    let opts = RunOptions {
        sabotage_task_dedup: args.sabotage_task_dedup,
        ..RunOptions::default()
    };
    let outcomes = suite::run_all(selected, opts, args.parallel).await;
    for o in &outcomes {
        println!("{}", report::line(o));
        if args.explain {
            for e in &o.explanation {
                println!("  {}", e.replace('\n', "\n  "));
            }
        }
        if args.journal {
            println!(
                "  journal (seed {}):\n    {}",
                o.seed,
                o.journal_yaml().trim_end().replace('\n', "\n    ")
            );
        }
    }
    println!(
        "{} in {:.2} s",
        report::summary(&outcomes, &load_errors),
        started.elapsed().as_secs_f64()
    );
    if let Some(path) = &args.report {
        crate::sim::scenario::html::write(path, &outcomes, &load_errors, started.elapsed())?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &args.junit {
        let xml = report::junit(&outcomes, &load_errors, args.report.as_deref())?;
        std::fs::write(path, xml).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(load_errors.is_empty() && outcomes.iter().all(|o| o.passed()))
}
