//! `sipamo storm`: seeded random traffic with the invariants checked, breaks shrunk.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct StormArgs {
    /// Seed of the traffic (same seed, same storm).
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Calls in the day.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) calls: usize,
    /// Distinct client phones (repeat callers).
    #[arg(long, default_value_t = 300)]
    pub(crate) clients: usize,
    /// Employees (short numbers 201.., users 1001..).
    #[arg(long, default_value_t = 8)]
    pub(crate) employees: usize,
    /// Settings file (the keys of a scenario's `settings:` block); default: the spec's defaults.
    #[arg(long, value_name = "FILE")]
    pub(crate) settings: Option<PathBuf>,
    /// Where to write the reproducer when an invariant breaks.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// Plant a bug (callback-task dedup off) to see the harness catch it.
    #[arg(long, hide = true)]
    pub(crate) sabotage_task_dedup: bool,
}

pub(super) async fn storm(args: StormArgs) -> anyhow::Result<ExitCode> {
    use crate::sim::storm::generate;
    let settings_yaml = match &args.settings {
        Some(p) => Some(
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
        ),
        None => None,
    };
    let cfg = generate::StormConfig {
        seed: args.seed,
        calls: args.calls,
        clients: args.clients,
        employees: args.employees,
        settings_yaml,
    };
    let (scenario, settings_yaml) = generate::generate(&cfg)?;
    eprintln!("{} (seed {})", scenario.name, args.seed);
    let bar = indicatif::ProgressBar::new(scenario.steps.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} steps ({per_sec}, eta {eta})",
        )?
        .progress_chars("=> "),
    );
    let (outcome, elapsed) = {
        let (sc, sabotage, progress) = (
            scenario.clone(),
            args.sabotage_task_dedup,
            Some(bar.clone()),
        );
        tokio::task::spawn_blocking(move || {
            crate::sim::storm::run_storm_pinned(&sc, sabotage, progress)
        })
        .await??
    };
    bar.finish_and_clear();
    print!("{}", crate::sim::storm::summary(&outcome, elapsed));
    let Some(v) = &outcome.violation else {
        return Ok(if outcome.error.is_none() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    };
    let last = outcome.violation_step.unwrap_or(0);
    write_reproducer(&args, &scenario, &settings_yaml, v, last).await?;
    Ok(ExitCode::FAILURE)
}

/// Shrinks the steps up to the break and writes them as a scenario that reproduces it.
async fn write_reproducer(
    args: &StormArgs,
    scenario: &crate::sim::scenario::model::Scenario,
    settings_yaml: &str,
    v: &crate::sim::scenario::invariants::Violation,
    last: usize,
) -> anyhow::Result<()> {
    use crate::sim::storm::{generate, shrink};
    eprintln!("{v}\nshrinking {} steps…", last + 1);
    let opts = crate::sim::storm::storm_options(args.sabotage_task_dedup, None);
    let small = shrink::shrink(
        scenario,
        scenario.steps[..=last].to_vec(),
        v.invariant,
        &opts,
    )
    .await;
    let crm = generate::crm_yaml(args.employees.clamp(1, 90));
    let note = format!(
        "Reproducer of `sipamo storm --seed {} --calls {} --clients {} --employees {}`{}:\n{v}\nShrunk from {} steps to {}.",
        args.seed,
        args.calls,
        args.clients,
        args.employees,
        if args.sabotage_task_dedup {
            " --sabotage-task-dedup"
        } else {
            ""
        },
        last + 1,
        small.len()
    );
    let yaml = shrink::scenario_yaml(
        &format!("Storm seed {} breaks {}", args.seed, v.invariant),
        args.seed,
        settings_yaml,
        &crm,
        &small,
        &note,
    );
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("storm-seed-{}.yaml", args.seed)));
    std::fs::write(&out, yaml).with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "invariant `{}` broken; {} steps reproduce it: {}",
        v.invariant,
        small.len(),
        out.display()
    );
    println!(
        "reproduce with: sipamo run {}{}",
        out.display(),
        if args.sabotage_task_dedup {
            " --sabotage-task-dedup"
        } else {
            ""
        }
    );
    Ok(())
}
