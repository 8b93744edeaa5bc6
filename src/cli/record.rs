//! `sipamo record`: calls from the service's database as a scenario file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct RecordArgs {
    /// The database of `sipamo serve` (a SQLite file or a postgres:// URL); also from SIPAMO_DB.
    #[arg(long, value_name = "URL", env = "SIPAMO_DB", hide_env_values = true)]
    pub(crate) db: crate::server::store::DbUrl,
    /// In a many-account deployment (`serve --accounts`): the account to record from.
    #[arg(long, value_name = "NAME")]
    pub(crate) account: Option<String>,
    /// A Sipuni call id to record (repeat for several).
    #[arg(long = "call", value_name = "ID")]
    pub(crate) calls: Vec<String>,
    /// Record the calls of this client phone (any notation).
    #[arg(long, value_name = "PHONE")]
    pub(crate) phone: Option<String>,
    /// Record calls with an event received at or after this time (RFC 3339, or Unix seconds).
    #[arg(long, value_name = "TIME")]
    pub(crate) since: Option<String>,
    /// Write the scenario here (created 0600: it holds client phones) instead of printing it.
    #[arg(long, short, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
}

pub(super) async fn record(args: RecordArgs) -> anyhow::Result<ExitCode> {
    use crate::sim::scenario::record::{Selection, record};
    if args.calls.is_empty() && args.phone.is_none() && args.since.is_none() {
        return Err(anyhow::anyhow!(
            "say which calls: --call ID, --phone PHONE or --since TIME"
        ));
    }
    let phone = args
        .phone
        .as_deref()
        .map(crate::phone::Phone::parse)
        .transpose()
        .context("--phone")?;
    let since_ms = args.since.as_deref().map(parse_since).transpose()?;
    let db = crate::server::fleet::accounts::account_db(&args.db, args.account.as_deref()).await?;
    let conn = crate::server::store::Db::open_existing(&db).await?;
    let sel = Selection {
        calls: args.calls,
        phone,
        since_ms,
    };
    let text = record(&conn, &sel).await?;
    super::emit(&text, args.output.as_deref())?;
    Ok(ExitCode::SUCCESS)
}

fn parse_since(raw: &str) -> anyhow::Result<i64> {
    if let Ok(secs) = raw.trim().parse::<i64>() {
        return secs
            .checked_mul(1000)
            .ok_or_else(|| anyhow::anyhow!("--since {raw}: out of range"));
    }
    chrono::DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|e| anyhow::anyhow!("--since {raw:?}: not Unix seconds nor RFC 3339 ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_seconds_or_rfc3339() {
        assert_eq!(parse_since("1772434800").ok(), Some(1_772_434_800_000));
        assert_eq!(
            parse_since("2026-03-02T10:00:00+03:00").ok(),
            Some(1_772_434_800_000)
        );
        let bad = parse_since("yesterday").unwrap_err().to_string();
        assert!(bad.contains("--since"), "{bad}");
        assert!(parse_since("9223372036854775807").is_err());
    }
}
