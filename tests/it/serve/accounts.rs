//! `sipamo accounts` on PostgreSQL: settings checked against the amoCRM account before they are
//! kept (R-CFG), tokens sealed at rest and opened only with the key, secret paths kept hashed.

use crate::serve::app::*;
use crate::serve::postgres::database;

const KEY: &str = "8f3c2a1b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8";

fn accounts(args: &[&str], key: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sipamo"))
        .arg("accounts")
        .args(args)
        .env("SIPAMO_KEY", key)
        .output()
        .unwrap()
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test]
async fn accounts_are_checked_sealed_and_listed() {
    let Some((_cluster, url)) = database("accounts") else {
        return;
    };
    let dir = tempdir();
    let mock = spawn_mock(dir.path()).await;
    write_config(dir.path(), SETTINGS);
    let p = |f: &str| dir.path().join(f).to_str().unwrap().to_string();
    let (token, secret, settings) = (p("token"), p("secret"), p("settings.yaml"));
    let add = |name: &str, settings: &str| {
        accounts(
            &[
                "add",
                name,
                "--db",
                &url,
                "--amocrm",
                &mock.url,
                "--token-file",
                &token,
                "--secret-file",
                &secret,
                "--settings",
                settings,
            ],
            KEY,
        )
    };
    let ok = add("acme", &settings);
    assert!(ok.status.success(), "{}", text(&ok));
    // A user the account does not have (R-CFG-2): refused, nothing kept.
    std::fs::write(p("bad.yaml"), SETTINGS.replace("1003", "9999")).unwrap();
    let bad = add("other", &p("bad.yaml"));
    assert!(
        !bad.status.success() && text(&bad).contains("do not fit the account"),
        "{}",
        text(&bad)
    );
    let again = add("acme2", &settings);
    assert!(
        text(&again).contains("exists already"),
        "the same secret path: {}",
        text(&again)
    );
    let listed = text(&accounts(&["list", "--db", &url], KEY));
    assert!(
        listed.contains("acme\t") && listed.contains("enabled") && listed.contains("1 account(s)"),
        "{listed}"
    );
    // At rest: neither the token nor the secret path in clear.
    let raw = at_rest(&url).await;
    assert!(
        !raw.0.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
        "token sealed"
    );
    assert!(!raw.1.contains(SECRET), "secret hashed");
    change_and_disable(&url, &settings);
    let sqlite = accounts(&["list", "--db", &p("x.db")], KEY);
    assert!(
        text(&sqlite).contains("kept in PostgreSQL"),
        "{}",
        text(&sqlite)
    );
}

/// The stored token and secret of the one account.
async fn at_rest(url: &str) -> (Vec<u8>, String) {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let r = c
            .query_one("SELECT token, secret_hash FROM accounts", &[])
            .unwrap();
        (r.get::<_, Vec<u8>>(0), r.get::<_, String>(1))
    })
    .await
    .unwrap()
}

/// Changing settings opens the sealed token, only with the key; then the account is disabled.
fn change_and_disable(url: &str, settings: &str) {
    let set = |key: &str| {
        accounts(
            &["set-settings", "acme", "--db", url, "--settings", settings],
            key,
        )
    };
    let wrong = set(&KEY.replace('8', "9"));
    assert!(
        text(&wrong).contains("does not open with this key"),
        "{}",
        text(&wrong)
    );
    let changed = set(KEY);
    assert!(changed.status.success(), "{}", text(&changed));
    let off = accounts(&["disable", "acme", "--db", url], KEY);
    assert!(off.status.success(), "{}", text(&off));
    assert!(text(&accounts(&["list", "--db", url], KEY)).contains("disabled"));
}
