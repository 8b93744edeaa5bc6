//! `sipamo check` and `sipamo coverage`: scenarios validated, rule IDs counted.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use super::run::default_paths;

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// Scenario files or folders (default: scenarios/).
    pub(crate) paths: Vec<PathBuf>,
}

pub(super) fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    use crate::sim::scenario::suite;
    let files = suite::discover(&default_paths(&args.paths))?;
    let (loaded, errors) = suite::load_all(&files);
    let mut bad = errors.len();
    for e in &errors {
        println!("FAIL {e}");
    }
    for l in &loaded {
        let sc = &l.scenario;
        let problem = sc.crm.build(sc.start.0).err().map(|e| e.to_string());
        match problem {
            Some(p) => {
                bad += 1;
                println!("FAIL {}: {p}", l.path.display());
            }
            None => println!("ok   {}  {}", l.path.display(), sc.name),
        }
    }
    println!("{} passed, {bad} failed", loaded.len() + errors.len() - bad);
    if files.is_empty() {
        eprintln!("no scenario files found");
        return Ok(ExitCode::FAILURE);
    }
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[derive(Debug, Args)]
pub(crate) struct CoverageArgs {
    /// Scenario files or folders (default: scenarios/).
    pub(crate) paths: Vec<PathBuf>,
    /// Read the rule IDs from this behaviour spec instead of the built-in list.
    #[arg(long, value_name = "FILE")]
    pub(crate) spec: Option<PathBuf>,
}

pub(super) fn coverage(args: CoverageArgs) -> anyhow::Result<ExitCode> {
    use crate::sim::scenario::{rules, suite};
    let ids: Vec<String> = match &args.spec {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            let ids = rules::ids_in_spec(&text);
            if ids.is_empty() {
                return Err(anyhow::anyhow!(
                    "{}: no rule headings (**R-…**) found",
                    p.display()
                ));
            }
            ids
        }
        None => rules::all_ids().map(str::to_string).collect(),
    };
    let files = suite::discover(&default_paths(&args.paths))?;
    let (loaded, errors) = suite::load_all(&files);
    for e in &errors {
        eprintln!("FAIL {e}");
    }
    let mut uncovered = 0;
    for id in &ids {
        let by: Vec<String> = loaded
            .iter()
            .filter(|l| l.scenario.rules.iter().any(|r| &r.0 == id))
            .map(|l| l.path.display().to_string())
            .collect();
        if by.is_empty() {
            uncovered += 1;
            println!("{id:<18} UNCOVERED");
        } else {
            println!("{id:<18} {} scenario(s)", by.len());
        }
    }
    println!(
        "{} of {} rules covered by {} scenarios",
        ids.len() - uncovered,
        ids.len(),
        loaded.len()
    );
    Ok(if uncovered == 0 && errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
