//! A suite: scenario files found under paths, loaded, filtered by tag, run in parallel.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::load::{self, LoadError, Loaded};
use super::run::{self, Outcome, RunOptions};

/// A path given to the runner that is no scenario file or folder.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("{0}: no such file or folder")]
    Missing(PathBuf),
    #[error("{path}: cannot read the folder: {source}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Every `.yaml`/`.yml` file under `paths` (files are taken as given), sorted.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, DiscoverError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out).map_err(|source| DiscoverError::Unreadable {
                path: p.clone(),
                source,
            })?;
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            return Err(DiscoverError::Missing(p.clone()));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
    Ok(())
}

/// Loads every file; load errors are kept beside the scenarios.
pub fn load_all(files: &[PathBuf]) -> (Vec<Loaded>, Vec<LoadError>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for f in files {
        match load::load_file(f) {
            Ok(l) => ok.push(l),
            Err(e) => bad.push(e),
        }
    }
    (ok, bad)
}

/// Keeps scenarios having any of `tags` (all when `tags` is empty).
pub(crate) fn filter_tags(scenarios: Vec<Loaded>, tags: &[String]) -> Vec<Loaded> {
    if tags.is_empty() {
        return scenarios;
    }
    scenarios
        .into_iter()
        .filter(|l| l.scenario.tags.iter().any(|t| tags.contains(t)))
        .collect()
}

/// Runs scenarios concurrently (each has its own mock and clock); results in input order.
pub async fn run_all(scenarios: Vec<Loaded>, opts: RunOptions, parallel: usize) -> Vec<Outcome> {
    let limit = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let mut handles = Vec::with_capacity(scenarios.len());
    for l in scenarios {
        let limit = limit.clone();
        let opts = opts.clone();
        handles.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await;
            run::run(&l, opts).await
        }));
    }
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        match h.await {
            Ok(o) => out.push(o),
            Err(e) => {
                let mut crashed = Outcome::empty("(crashed)", String::new(), Vec::new(), 0, 0);
                crashed
                    .failures
                    .push(format!("the scenario task failed: {e}"));
                out.push(crashed);
            }
        }
    }
    out
}
