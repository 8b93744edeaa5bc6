//! The store contract (`sipamo::sim::testkit::store_contract`) against both databases: SQLite in a temporary
//! file, PostgreSQL in a throw-away cluster this test starts from the OS packages. Without
//! PostgreSQL installed its cases are reported as ignored, with a warning on stderr; under
//! `CI=true` a missing PostgreSQL fails the run instead (CI must always run them).

use std::sync::Arc;

use libtest_mimic::{Arguments, Failed, Trial};
use sipamo::clock::Clock;
use sipamo::server::store::{DbUrl, StoreMemory};
use sipamo::sim::testkit::pg_cluster::Cluster;
use sipamo::sim::testkit::store_contract as contract;

/// Makes a fresh database for a case, by name; armed to refuse [`contract::REFUSED_KEY`] when
/// asked.
type Fresh = Arc<dyn Fn(&str, bool) -> Result<DbUrl, String> + Send + Sync>;

const CASES: [&str; 3] = ["lifecycle", "atomicity", "durability"];

async fn open(url: &DbUrl) -> Result<StoreMemory, contract::Broken> {
    StoreMemory::open(url, Clock::virtual_at(1_772_434_800_000))
        .await
        .map_err(|e| contract::Broken::Open(e.to_string()))
}

/// Runs case `name` on the database `db`, on a runtime of its own.
fn run(name: &str, db: &DbUrl) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        match name {
            "lifecycle" => contract::lifecycle(&mut open(db).await?).await,
            "atomicity" => contract::atomicity(&mut open(db).await?).await,
            _ => contract::durability(|| open(db)).await,
        }
    })
    .map_err(|e| e.to_string())
}

/// The trials of one database; `url` makes a fresh database for each.
fn trials(store: &'static str, url: Fresh) -> Vec<Trial> {
    CASES
        .iter()
        .map(|name| {
            let (url, name) = (url.clone(), *name);
            Trial::test(format!("{store}::{name}"), move || {
                let db = url(name, name == "atomicity")?;
                run(name, &db).map_err(Failed::from)
            })
        })
        .collect()
}

/// A SQLite database for case `name` in `dir`, armed to refuse when `refuse`.
fn sqlite(dir: &std::path::Path, name: &str, refuse: bool) -> Result<DbUrl, String> {
    let path = dir.join(format!("{name}.db"));
    if refuse {
        create(&DbUrl::Sqlite(path.clone()))?;
        let c = rusqlite::Connection::open(&path).map_err(|e| e.to_string())?;
        c.execute_batch(contract::REFUSE_SQLITE)
            .map_err(|e| e.to_string())?;
    }
    Ok(DbUrl::Sqlite(path))
}

fn main() {
    let args = Arguments::from_args();
    let dir = Arc::new(tempfile::tempdir().expect("a temporary directory"));
    let mut all = trials(
        "sqlite",
        Arc::new(move |name, refuse| sqlite(dir.path(), name, refuse)),
    );
    match Cluster::start() {
        Ok(cluster) => {
            let cluster = Arc::new(cluster);
            let c = cluster.clone();
            all.extend(trials(
                "postgres",
                Arc::new(move |name, refuse| {
                    let url = c.database(name).map_err(|e| e.to_string())?;
                    if refuse {
                        postgres_refusing(&url)?;
                    }
                    url.parse()
                        .map_err(|e: sipamo::server::store::BadDbUrl| e.to_string())
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
            for name in CASES {
                all.push(
                    Trial::test(format!("postgres::{name}"), || Ok(())).with_ignored_flag(true),
                );
            }
            libtest_mimic::run(&args, all).exit()
        }
    }
}

/// Arms the PostgreSQL database at `url` to refuse [`contract::REFUSED_KEY`] (its tables made
/// first by opening it).
fn postgres_refusing(url: &str) -> Result<(), String> {
    create(
        &url.parse()
            .map_err(|e: sipamo::server::store::BadDbUrl| e.to_string())?,
    )?;
    let mut c = postgres::Client::connect(url, postgres::NoTls).map_err(|e| e.to_string())?;
    c.batch_execute(contract::REFUSE_POSTGRES)
        .map_err(|e| e.to_string())
}

/// Makes the tables of `db` (the triggers that arm it need them).
fn create(db: &DbUrl) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(open(db)).map(drop).map_err(|e| e.to_string())
}
