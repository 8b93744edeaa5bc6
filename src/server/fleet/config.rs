//! What `sipamo serve` reads at start: settings, the amoCRM token, the receiver's secret.

use std::path::{Path, PathBuf};

use crate::amocrm::client::{Refresh, Secret};
use crate::engine::rules::settings::Settings;
use crate::server::error::ServeError;

/// The settings file: the keys of a scenario's `settings:` block at its top level.
/// Answers the settings and their text (kept in the database for `sipamo record`).
pub(crate) fn read_settings(path: &Path) -> Result<(Settings, String), ServeError> {
    let text = read(path, "settings")?;
    let settings = Settings::from_yaml(&text).map_err(|e| invalid(path, e.to_string()))?;
    Ok((settings, text))
}

/// The receiver's secret path segment. Never printed.
pub(crate) fn read_secret(path: &Path) -> Result<Secret, ServeError> {
    let text = read(path, "secret")?;
    let secret = text.trim();
    if secret.len() < 16
        || !secret
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(invalid(
            path,
            "the secret must be at least 16 characters of A-Z, a-z, 0-9, - and _ (it is part of the URL Sipuni calls)",
        ));
    }
    Ok(Secret::new(secret))
}

/// The amoCRM token: a long-lived token as plain text, or OAuth2 JSON
/// `{"access_token", "refresh_token", "client_id", "client_secret", "redirect_uri"}`
/// (refreshed on 401 and written back to the same file).
pub(crate) fn read_token(path: &Path) -> Result<(Secret, Option<Refresh>), ServeError> {
    parse_token(&read(path, "token")?, path)
}

/// [`read_token`] of text already read (`path` names it in messages and is where a refreshed
/// pair would be written).
pub(crate) fn parse_token(
    text: &str,
    path: &Path,
) -> Result<(Secret, Option<Refresh>), ServeError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(invalid(path, "the token file is empty"));
    }
    if !t.starts_with('{') {
        return Ok((Secret::new(t), None));
    }
    let v: serde_json::Value = serde_json::from_str(t).map_err(|e| {
        // The position only: the text around it holds the token.
        invalid(
            path,
            format!("not valid JSON (line {}, column {})", e.line(), e.column()),
        )
    })?;
    let field = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    };
    let access = field("access_token").ok_or_else(|| invalid(path, "no access_token"))?;
    let refresh = match field("refresh_token") {
        None => None,
        Some(r) => Some(Refresh {
            refresh_token: Secret::new(r),
            client_id: field("client_id")
                .ok_or_else(|| invalid(path, "a refresh_token but no client_id"))?,
            client_secret: Secret::new(
                field("client_secret")
                    .ok_or_else(|| invalid(path, "a refresh_token but no client_secret"))?,
            ),
            redirect_uri: field("redirect_uri").unwrap_or_default(),
            file: Some(PathBuf::from(path)),
            save: None,
        }),
    };
    Ok((Secret::new(access), refresh))
}

fn read(path: &Path, what: &'static str) -> Result<String, ServeError> {
    std::fs::read_to_string(path).map_err(|source| ServeError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

fn invalid(path: &Path, message: impl Into<String>) -> ServeError {
    ServeError::Invalid {
        path: path.to_path_buf(),
        message: message.into(),
    }
}
