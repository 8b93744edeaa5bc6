//! Secrets at rest: amoCRM tokens sealed with ChaCha20-Poly1305 under a 32-byte key kept
//! outside the database (a file or the environment), and Sipuni secret paths kept only as
//! their SHA-256. The key and what it opens never appear in logs or errors.

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use crate::secret::Secret;

/// Why sealing or opening failed (never says more than that).
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("the key must be 64 hexadecimal digits (32 bytes), e.g. from `openssl rand -hex 32`")]
    BadKey,
    #[error("no key: give --key-file or set SIPAMO_KEY")]
    NoKey,
    #[error("cannot read the key file {0}: {1}")]
    KeyFile(String, std::io::Error),
    #[error(
        "the key file {0} can be read by other users (mode {1:o}): it opens every account's token; run `chmod 600 {0}`"
    )]
    KeyFileOpen(String, u32),
    #[error("a stored token does not open with this key (another key, or the row was altered)")]
    WrongKey,
    #[error("no randomness for a nonce")]
    Random,
}

/// The key that seals and opens tokens.
pub struct Vault {
    key: LessSafeKey,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(…)")
    }
}

#[cfg(test)]
mod key_file_tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_key_file_others_can_read_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("key");
        std::fs::write(&f, "ab".repeat(32)).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = Vault::load(Some(&f)).unwrap_err().to_string();
        assert!(e.contains("chmod 600") && e.contains("644"), "{e}");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(Vault::load(Some(&f)).is_ok());
    }
}

impl Vault {
    /// The key from `file` if given, else from `SIPAMO_KEY`: 64 hex digits.
    pub fn load(file: Option<&std::path::Path>) -> Result<Vault, VaultError> {
        let text = match file {
            Some(f) => {
                use std::os::unix::fs::PermissionsExt;
                let shown = || f.display().to_string();
                let mode = std::fs::metadata(f)
                    .map_err(|e| VaultError::KeyFile(shown(), e))?
                    .permissions()
                    .mode()
                    & 0o777;
                if mode & 0o077 != 0 {
                    return Err(VaultError::KeyFileOpen(shown(), mode));
                }
                std::fs::read_to_string(f).map_err(|e| VaultError::KeyFile(shown(), e))?
            }
            None => std::env::var("SIPAMO_KEY").map_err(|_| VaultError::NoKey)?,
        };
        Vault::from_hex(text.trim())
    }

    pub fn from_hex(hex: &str) -> Result<Vault, VaultError> {
        if hex.len() != 64 {
            return Err(VaultError::BadKey);
        }
        let bytes = (0..32)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| VaultError::BadKey)?;
        let key = UnboundKey::new(&CHACHA20_POLY1305, &bytes).map_err(|_| VaultError::BadKey)?;
        Ok(Vault {
            key: LessSafeKey::new(key),
        })
    }

    /// Seals a secret: a fresh random nonce, then the ciphertext and its tag.
    pub(crate) fn seal(&self, plain: &Secret, aad: &str) -> Result<Vec<u8>, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| VaultError::Random)?;
        let mut data = plain.expose().as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                &mut data,
            )
            .map_err(|_| VaultError::Random)?;
        let mut out = nonce.to_vec();
        out.extend(data);
        Ok(out)
    }

    /// Opens what [`Vault::seal`] sealed with the same `aad` (the account's name).
    pub(crate) fn open(&self, sealed: &[u8], aad: &str) -> Result<Secret, VaultError> {
        if sealed.len() < NONCE_LEN {
            return Err(VaultError::WrongKey);
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| VaultError::WrongKey)?;
        let mut data = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut data)
            .map_err(|_| VaultError::WrongKey)?;
        let text = String::from_utf8(plain.to_vec()).map_err(|_| VaultError::WrongKey)?;
        Ok(Secret::new(text))
    }
}

/// The SHA-256 of a Sipuni secret path, hex: what the database keeps of it.
pub(crate) fn secret_hash(secret: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, secret.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn a_token_opens_only_with_its_key_and_account() {
        let v = Vault::from_hex(KEY).unwrap();
        let sealed = v.seal(&Secret::new("t0ken-value"), "acme").unwrap();
        assert!(!sealed.windows(5).any(|w| w == b"t0ken"), "not in clear");
        assert_eq!(v.open(&sealed, "acme").unwrap().expose(), "t0ken-value");
        assert!(v.open(&sealed, "other").is_err(), "bound to its account");
        let other = Vault::from_hex(&KEY.replace('0', "f")).unwrap();
        assert!(other.open(&sealed, "acme").is_err());
        assert_ne!(sealed, v.seal(&Secret::new("t0ken-value"), "acme").unwrap());
    }

    #[test]
    fn keys_are_checked() {
        assert!(Vault::from_hex("abc").is_err());
        assert!(Vault::from_hex(&"zz".repeat(32)).is_err());
        assert_eq!(secret_hash("abc").len(), 64);
    }
}
