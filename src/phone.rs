//! Client phone numbers: parsed once at the edge, matched on the last 10 digits.

use std::fmt;

/// A client's phone number, normalised to its digits.
///
/// amoCRM matches phones on the last 10 digits, so [`Phone::key`] is what two numbers are
/// compared by. [`Phone::e164`] is how the number is written into amoCRM: `+7XXXXXXXXXX` for
/// Russian 11-digit numbers beginning with 7 or 8, otherwise `+` and the digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone {
    digits: String,
}

/// Why a string is not a phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("{0:?} is not a phone number: only digits, spaces, +, -, ( ) and . are allowed")]
    BadCharacter(String),
    #[error("{0:?} is not a phone number: expected 7 to 15 digits, found {1}")]
    BadLength(String, usize),
}

impl Phone {
    /// Parses any common notation: `+7 916 123-45-67`, `8(916)1234567`, `79161234567`.
    pub fn parse(raw: &str) -> Result<Self, PhoneError> {
        let mut digits = String::with_capacity(raw.len());
        for c in raw.trim().chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '+' | '-' | '(' | ')' | '.' | '\u{a0}' => {}
                _ => return Err(PhoneError::BadCharacter(raw.to_string())),
            }
        }
        if !(7..=15).contains(&digits.len()) {
            return Err(PhoneError::BadLength(raw.to_string(), digits.len()));
        }
        if digits.len() == 11 && digits.starts_with('8') {
            digits.replace_range(0..1, "7");
        }
        Ok(Phone { digits })
    }

    /// The matching key: the last 10 digits (all digits when shorter).
    pub fn key(&self) -> &str {
        let n = self.digits.len();
        &self.digits[n.saturating_sub(10)..]
    }

    /// The digits as Sipuni sends them (`79161234567`).
    pub fn digits(&self) -> &str {
        &self.digits
    }

    /// The form written to amoCRM: `+79161234567`.
    pub fn e164(&self) -> String {
        format!("+{}", self.digits)
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.digits)
    }
}

/// The last-10-digit key of any string, keeping only its digits; `None` when it has none.
pub fn digits_key(raw: &str) -> Option<String> {
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return None;
    }
    let n = digits.len();
    Some(digits[n.saturating_sub(10)..].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("+7 916 123-45-67", "+79161234567")]
    #[case("8(916)1234567", "+79161234567")]
    #[case("79161234567", "+79161234567")]
    #[case("9161234567", "+9161234567")]
    #[case("+375 29 123 45 67", "+375291234567")]
    fn parses_common_notations(#[case] raw: &str, #[case] written: &str) {
        assert_eq!(Phone::parse(raw).unwrap().e164(), written);
    }

    #[test]
    fn numbers_in_different_notations_share_a_key() {
        let a = Phone::parse("+7 (916) 123-45-67").unwrap();
        let b = Phone::parse("89161234567").unwrap();
        let c = Phone::parse("9161234567").unwrap();
        assert_eq!(a.key(), "9161234567");
        assert_eq!(a.key(), b.key());
        assert_eq!(b.key(), c.key());
    }

    #[rstest]
    #[case("hello")]
    #[case("201")]
    #[case("+7 916 123 45 67 ext 5")]
    #[case("1234567890123456")]
    fn rejects_what_is_not_a_phone(#[case] raw: &str) {
        assert!(Phone::parse(raw).is_err());
    }
}
