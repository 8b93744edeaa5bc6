//! `sipamo gen`: Sipuni events in the wire form, from a scenario or seeded at random.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct GenArgs {
    /// A scenario file whose call steps to expand.
    pub(crate) scenario: Option<PathBuf>,
    /// Generate this many seeded random calls instead.
    #[arg(long, conflicts_with = "scenario")]
    pub(crate) calls: Option<usize>,
    /// Seed of the random calls (printed to stderr).
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Distinct client phones in the random calls.
    #[arg(long, default_value_t = 300)]
    pub(crate) clients: usize,
    /// Employees (short numbers from 201) in the random calls.
    #[arg(long, default_value_t = 8)]
    pub(crate) employees: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GenFormat::Lines)]
    pub(crate) format: GenFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum GenFormat {
    /// URL-encoded lines, as a GET query or form body.
    Lines,
    /// One JSON object of fields per line.
    Json,
}

pub(super) fn gen_events(args: GenArgs) -> anyhow::Result<ExitCode> {
    use crate::sim::scenario::{load, model::Action};
    use crate::sim::synth;
    let mut lines: Vec<String> = Vec::new();
    match (&args.scenario, args.calls) {
        (Some(path), _) => {
            let l = load::load_file(path)?;
            let sc = &l.scenario;
            for (i, step) in sc.steps.iter().enumerate() {
                let at = sc.start.0 + step.at.secs() as i64;
                if let Action::Call(c) = &step.action {
                    let spec = crate::sim::scenario::run::call_spec(sc, c, c.id(at, i))?;
                    lines.extend(spec.events(at).into_iter().map(|e| e.line));
                }
            }
        }
        (None, Some(n)) => {
            eprintln!("seed {}", args.seed);
            for (t, spec) in synth::random_calls(
                args.seed,
                n,
                args.clients,
                args.employees,
                crate::sim::scenario::model::Start::default().0,
            ) {
                lines.extend(spec.events(t).into_iter().map(|e| e.line));
            }
        }
        (None, None) => return Err(anyhow::anyhow!("give a scenario file or --calls N")),
    }
    for l in lines {
        match args.format {
            GenFormat::Lines => println!("{l}"),
            GenFormat::Json => println!("{}", synth::to_json_line(&l)),
        }
    }
    Ok(ExitCode::SUCCESS)
}
