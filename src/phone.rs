//! Client phone numbers: read as dialled at the edge ([`Dialled`]), resolved with the cabinet's
//! country ([`Country`], behaviour.md «Client phone») into international form with Google's
//! libphonenumber metadata (the `phonenumber` crate), and matched on the national significant
//! number (all digits of a short service number).

use std::fmt;
use std::str::FromStr;

use phonenumber::country::Id;
use phonenumber::metadata::DATABASE;

/// A client's phone number in international form.
///
/// [`Phone::key`] is what two numbers are compared by: the national significant number (for
/// Russia and Kazakhstan the last 10 digits), or all digits of a short number. `Phone::e164`
/// is how the number is written into amoCRM: `+` and the digits (`+74951234567`,
/// `+998901234567`), or the bare digits of a short service number (`900`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone {
    /// Country code and national number, or the digits of a short number.
    digits: String,
    /// Where the national significant number starts in `digits`.
    key_at: usize,
    short: bool,
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
/// Most digits of any phone number (E.164).
const MAX_DIGITS: usize = 15;

/// The country of a Sipuni cabinet (`phone_country`, an ISO 3166 code such as `RU`, `KZ`,
/// `UZ`, `BY`): national numbers its events carry are numbers of this country.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Country(Id);

impl Default for Country {
    fn default() -> Self {
        Country(Id::RU)
    }
}

impl Country {
    /// The country calling code's digits (`7`, `998`).
    fn calling_code(self) -> String {
        DATABASE
            .by_id(self.0.as_ref())
            .map_or_else(|| "7".to_string(), |m| m.country_code().to_string())
    }

    /// How many digits a subscriber's national significant number of this country may have
    /// (fixed lines and mobiles).
    fn national_lengths(self) -> Vec<usize> {
        let Some(m) = DATABASE.by_id(self.0.as_ref()) else {
            return vec![10];
        };
        let d = m.descriptors();
        let mut lengths: Vec<usize> = [Some(d.general()), d.fixed_line(), d.mobile()]
            .into_iter()
            .flatten()
            .flat_map(|desc| desc.possible_length().iter().map(|l| usize::from(*l)))
            .collect();
        lengths.sort_unstable();
        lengths.dedup();
        if lengths.is_empty() {
            lengths.push(10);
        }
        lengths
    }

    /// The national trunk prefix (`8` in Russia and Kazakhstan), if the country has one.
    fn national_prefix(self) -> Option<String> {
        DATABASE
            .by_id(self.0.as_ref())
            .and_then(|m| m.national_prefix().map(str::to_string))
    }
}

/// A `phone_country` that is not a country the metadata knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a country code: give the ISO 3166 code of the Sipuni cabinet's country, such as RU, KZ, UZ or BY"
)]
pub struct CountryError(String);

impl FromStr for Country {
    type Err = CountryError;
    fn from_str(raw: &str) -> Result<Self, CountryError> {
        let upper = raw.trim().to_ascii_uppercase();
        Id::from_str(&upper)
            .ok()
            .filter(|id| DATABASE.by_id(id.as_ref()).is_some())
            .map(Country)
            .ok_or_else(|| CountryError(raw.to_string()))
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_ref())
    }
}

impl serde::Serialize for Country {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_ref())
    }
}

impl<'de> serde::Deserialize<'de> for Country {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <String as serde::Deserialize>::deserialize(d)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

/// A number as a Sipuni event or a person wrote it, checked to be a phone number but not yet
/// read in a country: its digits, and whether it was written with `+`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dialled {
    digits: String,
    plus: bool,
}

impl Dialled {
    /// Any common notation: `+7 916 123-45-67`, `8(916)1234567`, `998948867473`, `900`.
    pub fn parse(raw: &str) -> Result<Self, PhoneError> {
        let mut digits = String::with_capacity(raw.len());
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
        Ok(Dialled {
            digits,
            plus: raw.trim_start().starts_with('+'),
        })
    }

    /// The digits as sent (`79161234567`).
    pub(crate) fn digits(&self) -> &str {
        &self.digits
    }

    /// The number read in `country` (behaviour.md «Client phone»).
    pub fn resolve(&self, country: Country) -> Phone {
        let d = &self.digits;
        let lengths = country.national_lengths();
        let shortest = lengths.iter().copied().min().unwrap_or(10);
        if !self.plus && d.len() < shortest {
            return Phone::short(d);
        }
        if !self.plus
            && let Some(p) = parsed(Some(country.0), d).or_else(|| national(country, d, &lengths))
        {
            return p;
        }
        parsed(None, &format!("+{d}")).unwrap_or_else(|| international(d))
    }
}

/// A number libphonenumber reads and finds valid, in international form.
fn parsed(region: Option<Id>, text: &str) -> Option<Phone> {
    let n = phonenumber::parse(region, text).ok()?;
    if !phonenumber::is_valid(&n) {
        return None;
    }
    let code = n.code().value().to_string();
    let national = n.national().to_string();
    Some(Phone {
        key_at: code.len(),
        digits: format!("{code}{national}"),
        short: false,
    })
}

/// A number libphonenumber does not find valid in the cabinet's country, read by its length
/// there (so that test and newly issued numbers behave as valid ones): a national number gets
/// the country code, a national number with the trunk prefix has it replaced, a number with
/// the country code keeps it. `None`: no number of this country.
fn national(country: Country, d: &str, lengths: &[usize]) -> Option<Phone> {
    let code = country.calling_code();
    let national = |n: &str| Phone {
        digits: format!("{code}{n}"),
        key_at: code.len(),
        short: false,
    };
    if lengths.contains(&d.len()) {
        return Some(national(d));
    }
    if let Some(prefix) = country.national_prefix()
        && let Some(rest) = d.strip_prefix(prefix.as_str())
        && lengths.contains(&rest.len())
    {
        return Some(national(rest));
    }
    d.strip_prefix(code.as_str())
        .filter(|rest| lengths.contains(&rest.len()))
        .map(national)
}

/// Digits taken as an international number as they are; its key is the last 10 digits.
fn international(d: &str) -> Phone {
    Phone {
        digits: d.to_string(),
        key_at: d.len().saturating_sub(10),
        short: false,
    }
}

impl Phone {
    fn short(d: &str) -> Phone {
        Phone {
            digits: d.to_string(),
            key_at: 0,
            short: true,
        }
    }

    /// Parses any common notation in a Russian cabinet (the default `phone_country`).
    pub fn parse(raw: &str) -> Result<Self, PhoneError> {
        Self::parse_in(raw, Country::default())
    }

    /// Parses any common notation in a cabinet of `country`: `+7 916 123-45-67`,
    /// `8(916)1234567`, `4951234567` (RU: `+74951234567`), `901234567` (UZ: `+998901234567`),
    /// `900` (a short service number).
    pub fn parse_in(raw: &str, country: Country) -> Result<Self, PhoneError> {
        Ok(Dialled::parse(raw)?.resolve(country))
    }

    /// Reads back what [`Phone::e164`] wrote: `+` and digits, or a short number's digits.
    pub(crate) fn from_written(raw: &str) -> Result<Self, PhoneError> {
        let d = Dialled::parse(raw)?;
        if d.plus {
            Ok(parsed(None, raw.trim()).unwrap_or_else(|| international(&d.digits)))
        } else {
            Ok(Phone::short(&d.digits))
        }
    }

    /// A short service number (fewer digits than a subscriber number of the country),
    /// written and matched as its bare digits.
    #[cfg(test)]
    pub(crate) fn is_short(&self) -> bool {
        self.short
    }

    /// The matching key: the national significant number (all digits of a short number).
    pub fn key(&self) -> &str {
        &self.digits[self.key_at..]
    }

    /// The last 10 digits (all of a shorter number): how the mock amoCRM indexes phones and
    /// scenario expectations name a client, whatever the country ([`digits_key`]).
    pub fn last10(&self) -> &str {
        &self.digits[self.digits.len().saturating_sub(10)..]
    }

    /// The digits in international form (`79161234567`).
    pub fn digits(&self) -> &str {
        &self.digits
    }

    /// The form written to amoCRM: `+79161234567`, or `900` for a short number.
    pub(crate) fn e164(&self) -> String {
        if self.short {
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
/// (`8 (916) 555-00-11`, `+998 90 123 45 67`, `900`), read in the cabinet's country; `None`
/// when the value is no phone number.
pub(crate) fn typed_key(raw: &str, country: Country) -> Option<String> {
    Phone::parse_in(raw, country)
        .ok()
        .map(|p| p.key().to_string())
}

/// The last 10 digits of a phone value (all digits of a shorter one): how the mock amoCRM
/// indexes phones and how scenario expectations name a client, whatever the country.
pub fn digits_key(raw: &str) -> Option<String> {
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

    fn in_country(raw: &str, country: &str) -> Phone {
        Phone::parse_in(raw, country.parse().unwrap()).unwrap()
    }

    #[rstest]
    #[case("+7 916 123-45-67", "+79161234567")]
    #[case("8(916)1234567", "+79161234567")]
    #[case("79161234567", "+79161234567")]
    #[case("9161234567", "+79161234567")]
    #[case("4951234567", "+74951234567")]
    #[case("+375 29 123 45 67", "+375291234567")]
    #[case("375291234567", "+375291234567")]
    #[case("998948867473", "+998948867473")]
    #[case("77011234567", "+77011234567")]
    #[case("900", "900")]
    #[case("0611", "0611")]
    #[case("123456789", "123456789")]
    #[case("1234567890", "+71234567890")]
    #[case("81234567890", "+71234567890")]
    fn parses_common_notations_in_a_russian_cabinet(#[case] raw: &str, #[case] written: &str) {
        assert_eq!(Phone::parse(raw).unwrap().e164(), written);
    }

    #[rstest]
    #[case("UZ", "901234567", "+998901234567", "901234567")]
    #[case("UZ", "951218115", "+998951218115", "951218115")]
    #[case("UZ", "998948867473", "+998948867473", "948867473")]
    #[case("UZ", "+998 94 886 74 73", "+998948867473", "948867473")]
    #[case("UZ", "79161234567", "+79161234567", "9161234567")]
    #[case("KZ", "87011234567", "+77011234567", "7011234567")]
    #[case("KZ", "7011234567", "+77011234567", "7011234567")]
    #[case("KZ", "77271234567", "+77271234567", "7271234567")]
    #[case("BY", "291234567", "+375291234567", "291234567")]
    #[case("RU", "+998 90 123 45 67", "+998901234567", "901234567")]
    #[case("UZ", "900", "900", "900")]
    fn numbers_of_the_cabinets_country_get_its_code(
        #[case] country: &str,
        #[case] raw: &str,
        #[case] written: &str,
        #[case] key: &str,
    ) {
        let p = in_country(raw, country);
        assert_eq!((p.e164().as_str(), p.key()), (written, key));
    }

    #[test]
    fn numbers_in_different_notations_share_a_key() {
        let a = Phone::parse("+7 (916) 123-45-67").unwrap();
        let b = Phone::parse("89161234567").unwrap();
        let c = Phone::parse("9161234567").unwrap();
        assert_eq!(a.key(), "9161234567");
        assert_eq!(a.key(), b.key());
        assert_eq!(b.key(), c.key());
        let ru = Country::default();
        assert_eq!(typed_key("8 (916) 123-45-67", ru).as_deref(), Some(a.key()));
        let uz: Country = "uz".parse().unwrap();
        assert_eq!(
            typed_key("+998 90 123-45-67", uz),
            typed_key("90 123 45 67", uz)
        );
    }

    #[test]
    fn what_is_written_reads_back_the_same() {
        for (raw, country) in [
            ("901234567", "UZ"),
            ("89161234567", "RU"),
            ("900", "RU"),
            ("77011234567", "KZ"),
            ("1234567890", "RU"),
        ] {
            let p = in_country(raw, country);
            assert_eq!(Phone::from_written(&p.e164()).unwrap(), p, "{raw}");
        }
    }

    #[test]
    fn a_short_number_is_matched_on_all_its_digits() {
        let p = Phone::parse("900").unwrap();
        assert!(p.is_short());
        assert_eq!(p.key(), "900");
        assert_eq!(digits_key("900").as_deref(), Some("900"));
    }

    #[test]
    fn an_unknown_country_is_refused_with_what_to_give() {
        let e = "XX".parse::<Country>().unwrap_err().to_string();
        assert!(e.contains("ISO 3166"), "{e}");
        assert_eq!("kz".parse::<Country>().unwrap().to_string(), "KZ");
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
