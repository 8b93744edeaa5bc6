//! `sipamo schema`: the JSON Schema of the scenario format, printed or written.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct SchemaArgs {
    /// Write the schema to this file (replaced atomically) instead of printing it; the
    /// repository keeps it at schema/scenario.schema.json, which scenario files point at.
    #[arg(long, short, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Do not write: exit 1 when FILE differs from the schema the code generates (stale).
    #[arg(long, value_name = "FILE", conflicts_with = "output")]
    pub(crate) check: Option<PathBuf>,
}

pub(super) fn schema(args: SchemaArgs) -> anyhow::Result<ExitCode> {
    let text = crate::sim::scenario::schema::scenario_schema_text();
    if let Some(path) = args.check {
        let committed = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if committed == text {
            println!("{} is up to date", path.display());
            return Ok(ExitCode::SUCCESS);
        }
        eprintln!(
            "{} is stale: regenerate it with `sipamo schema -o {}`",
            path.display(),
            path.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    super::emit(&text, args.output.as_deref())?;
    Ok(ExitCode::SUCCESS)
}
