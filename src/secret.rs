//! Secrets (tokens, the receiver's path secret): never shown in logs, `Debug` output or
//! errors, and compared in constant time.

use std::fmt;

/// A secret that never shows in logs, `Debug` output or errors.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_shows_itself() {
        assert_eq!(format!("{:?}", Secret::new("t0ken")), "Secret(***)");
    }
}
