//! Client phone numbers: parsed once at the edge, matched on the last 10 digits (all digits of
//! a short service number).

use std::fmt;

/// A client's phone number, normalised to its digits.
///
/// [`Phone::key`] is what two numbers are compared by: the last 10 digits, or all digits of a
/// short number. [`Phone::e164`] is how the number is written into amoCRM (behaviour.md,
/// «Client phone»): `+7XXXXXXXXXX` for Russian 11-digit numbers beginning with 7 or 8 and for
/// 10-digit national numbers; `+` and the digits for other numbers of 11 or more digits; the
/// bare digits for short numbers of 3 to 9 digits (service numbers such as `900`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone {
    digits: String,
}

/// Why a string is not a phone number (for a caller: a hidden number, R-HIDDEN).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("{0:?} is not a phone number: only digits, spaces, +, -, ( ) and . are allowed")]
    BadCharacter(String),
    #[error("{0:?} is not a phone number: expected 3 to 15 digits, found {1}")]
    BadLength(String, usize),
}

/// Fewest digits of a short service number (`900`).
const MIN_DIGITS: usize = 3;
/// Most digits of a short number; from 10 digits on a number is a full one.
const MAX_SHORT: usize = 9;
/// Most digits of any phone number (E.164).
const MAX_DIGITS: usize = 15;

impl Phone {
    /// Parses any common notation: `+7 916 123-45-67`, `8(916)1234567`, `79161234567`,
    /// `4951234567` (national, becomes `+74951234567`), `900` (a short service number).
    pub fn parse(raw: &str) -> Result<Self, PhoneError> {
        let mut digits = String::with_capacity(raw.len() + 1);
        for c in raw.trim().chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '+' | '-' | '(' | ')' | '.' | '\u{a0}' => {}
                _ => return Err(PhoneError::BadCharacter(raw.to_string())),
            }
        }
        if !(MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()) {
            return Err(PhoneError::BadLength(raw.to_string(), digits.len()));
        }
        if digits.len() == 11 && digits.starts_with('8') {
            digits.replace_range(0..1, "7");
        } else if digits.len() == 10 {
            // Sipuni is a Russian PBX: a 10-digit number is national.
            digits.insert(0, '7');
        }
        Ok(Phone { digits })
    }

    /// A short service number (3 to 9 digits), written and matched as its bare digits.
    pub(crate) fn is_short(&self) -> bool {
        self.digits.len() <= MAX_SHORT
    }

    /// The matching key: the last 10 digits (all digits of a short number).
    pub fn key(&self) -> &str {
        let n = self.digits.len();
        &self.digits[n.saturating_sub(10)..]
    }

    /// The digits as Sipuni sends them (`79161234567`).
    pub(crate) fn digits(&self) -> &str {
        &self.digits
    }

    /// The form written to amoCRM: `+79161234567`, or `900` for a short number.
    pub(crate) fn e164(&self) -> String {
        if self.is_short() {
            self.digits.clone()
        } else {
            format!("+{}", self.digits)
        }
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.e164())
    }
}

/// The matching key of a phone value as a manager may have typed it into amoCRM
/// (`8 (916) 555-00-11`, `+7…`, `900`): the key of [`Phone::parse`], or `None` when the value is
/// no phone number.
pub(crate) fn digits_key(raw: &str) -> Option<String> {
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < MIN_DIGITS {
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
    #[case("9161234567", "+79161234567")]
    #[case("4951234567", "+74951234567")]
    #[case("+375 29 123 45 67", "+375291234567")]
    #[case("900", "900")]
    #[case("0611", "0611")]
    #[case("123456789", "123456789")]
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
        assert_eq!(digits_key("8 (916) 123-45-67").as_deref(), Some(a.key()));
    }

    #[test]
    fn a_short_number_is_matched_on_all_its_digits() {
        let p = Phone::parse("900").unwrap();
        assert!(p.is_short());
        assert_eq!(p.key(), "900");
        assert_eq!(digits_key("900").as_deref(), Some("900"));
    }

    #[rstest]
    #[case("hello")]
    #[case("anonymous")]
    #[case("")]
    #[case("12")]
    #[case("+7 916 123 45 67 ext 5")]
    #[case("1234567890123456")]
    fn rejects_what_is_not_a_phone(#[case] raw: &str) {
        assert!(Phone::parse(raw).is_err());
    }
}
