//! The store contract (`sipamo::server::contract`) against both databases: SQLite in a temporary
//! file, PostgreSQL in a throw-away cluster this test starts from the OS packages. Without
//! PostgreSQL installed its cases are reported as ignored, with a warning on stderr; under
//! `CI=true` a missing PostgreSQL fails the run instead (CI must always run them).

use std::sync::Arc;

use libtest_mimic::{Arguments, Failed, Trial};
use sipamo::clock::Clock;
use sipamo::server::contract;
use sipamo::server::pg_cluster::Cluster;
use sipamo::server::store::{DbUrl, StoreMemory};

type Case = fn(&mut StoreMemory) -> Result<(), String>;

/// Makes a fresh database for a case, by name.
type Fresh = Arc<dyn Fn(&str) -> Result<DbUrl, String> + Send + Sync>;

const CASES: [(&str, Case); 2] = [
    ("lifecycle", contract::lifecycle),
    ("atomicity", contract::atomicity),
];

fn open(url: &DbUrl) -> Result<StoreMemory, String> {
    StoreMemory::open(url, Clock::virtual_at(1_772_434_800_000)).map_err(|e| e.to_string())
}

/// The trials of one database; `url` makes a fresh database for each.
fn trials(store: &'static str, url: Fresh) -> Vec<Trial> {
    let mut out: Vec<Trial> = CASES
        .iter()
        .map(|(name, case)| {
            let (url, case, name) = (url.clone(), *case, *name);
            Trial::test(format!("{store}::{name}"), move || {
                let db = url(name)?;
                case(&mut open(&db)?).map_err(Failed::from)
            })
        })
        .collect();
    out.push(Trial::test(format!("{store}::durability"), move || {
        let db = url("durability")?;
        contract::durability(&|| open(&db)).map_err(Failed::from)
    }));
    out
}

fn main() {
    let args = Arguments::from_args();
    let dir = Arc::new(tempfile::tempdir().expect("a temporary directory"));
    let mut all = trials(
        "sqlite",
        Arc::new(move |name| Ok(DbUrl::Sqlite(dir.path().join(format!("{name}.db"))))),
    );
    match Cluster::start() {
        Ok(cluster) => {
            let cluster = Arc::new(cluster);
            let c = cluster.clone();
            all.extend(trials(
                "postgres",
                Arc::new(move |name| {
                    c.database(name)
                        .map_err(|e| e.to_string())
                        .and_then(|u| u.parse())
                }),
            ));
            let conclusion = libtest_mimic::run(&args, all);
            // The trials are gone: the last handle stops the cluster and removes its files
            // (`exit` would skip that).
            drop(cluster);
            conclusion.exit()
        }
        Err(why) => {
            eprintln!("\n*** WARNING: the PostgreSQL store tests did NOT run: {why}");
            eprintln!("*** install the OS package `postgresql` to run them (.ci/run does).\n");
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                eprintln!("*** CI=true: PostgreSQL is required here.");
                std::process::exit(1);
            }
            for (name, _) in CASES
                .iter()
                .chain(&[("durability", contract::lifecycle as Case)])
            {
                all.push(
                    Trial::test(format!("postgres::{name}"), || Ok(())).with_ignored_flag(true),
                );
            }
            libtest_mimic::run(&args, all).exit()
        }
    }
}
