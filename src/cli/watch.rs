//! `sipamo run --watch`: re-runs each scenario file that changes, until Ctrl-C.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use notify_debouncer_mini::notify::RecursiveMode;
use notify_debouncer_mini::{DebounceEventResult, new_debouncer};

/// How long a file must stay quiet before it is run (an editor's save is several writes).
const QUIET: Duration = Duration::from_millis(200);

/// Watches `paths` (files or folders) and calls `run` with the scenario files that changed.
pub(super) async fn watch<F, Fut>(paths: &[PathBuf], mut run: F) -> anyhow::Result<ExitCode>
where
    F: FnMut(Vec<PathBuf>) -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<DebounceEventResult>();
    let mut debouncer = new_debouncer(QUIET, move |event| {
        let _ = tx.send(event);
    })
    .context("cannot watch files")?;
    for path in paths {
        debouncer
            .watcher()
            .watch(path, RecursiveMode::Recursive)
            .with_context(|| format!("cannot watch {}", path.display()))?;
    }
    println!(
        "watching {} for changed scenario files (Ctrl-C stops)",
        paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    while let Some(event) = rx.recv().await {
        let changed = match event {
            Ok(events) => scenario_files(events.into_iter().map(|e| e.path)),
            Err(e) => {
                eprintln!("watch error: {e}");
                continue;
            }
        };
        if changed.is_empty() {
            continue;
        }
        for f in &changed {
            println!("changed: {}", f.display());
        }
        run(changed).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The YAML files among the changed paths that still exist, each once, in order.
fn scenario_files(paths: impl Iterator<Item = PathBuf>) -> Vec<PathBuf> {
    let set: BTreeSet<PathBuf> = paths.filter(|p| is_scenario(p) && p.is_file()).collect();
    set.into_iter().collect()
}

fn is_scenario(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    !name.starts_with('.') && p.extension().is_some_and(|e| e == "yaml" || e == "yml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_existing_visible_yaml_files_count() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.yaml");
        let hidden = dir.path().join(".a.yaml.swp");
        let txt = dir.path().join("notes.txt");
        for f in [&a, &hidden, &txt] {
            std::fs::write(f, "x").unwrap();
        }
        let gone = dir.path().join("gone.yaml");
        let got = scenario_files([a.clone(), hidden, txt, gone, a.clone()].into_iter());
        assert_eq!(got, vec![a]);
    }
}
