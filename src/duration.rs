//! Scenario durations (`0s`, `90s`, `5m10s`, `1h0m20s`) as whole seconds.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, de};

/// A non-negative span of virtual time in whole seconds, written as number+unit groups
/// in the order h, m, s (`1h0m20s`). A bare integer in YAML means seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(pub u64);

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a duration: expected number+unit groups in the order h, m, s, e.g. 0s, 90s, 5m10s, 1h0m20s"
)]
pub struct SpanError(pub String);

impl Span {
    pub(crate) fn secs(self) -> u64 {
        self.0
    }
    pub fn ms(self) -> i64 {
        i64::try_from(self.0.saturating_mul(1000)).unwrap_or(i64::MAX)
    }
}

impl FromStr for Span {
    type Err = SpanError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || SpanError(s.to_string());
        let mut total: u64 = 0;
        let mut number = String::new();
        let mut last_rank = 0u8; // units must appear in the order h (1), m (2), s (3)
        if s.is_empty() {
            return Err(err());
        }
        for c in s.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let (rank, factor) = match c {
                'h' => (1, 3600),
                'm' => (2, 60),
                's' => (3, 1),
                _ => return Err(err()),
            };
            if number.is_empty() || rank <= last_rank {
                return Err(err());
            }
            let n: u64 = number.parse().map_err(|_| err())?;
            total = n
                .checked_mul(factor)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(err)?;
            number.clear();
            last_rank = rank;
        }
        if !number.is_empty() {
            return Err(err());
        }
        Ok(Span(total))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m, s) = (self.0 / 3600, self.0 / 60 % 60, self.0 % 60);
        let mut out = String::new();
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if m > 0 {
            out.push_str(&format!("{m}m"));
        }
        if s > 0 || out.is_empty() {
            out.push_str(&format!("{s}s"));
        }
        f.write_str(&out)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Span;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as 0s, 90s, 5m10s or 1h0m20s")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Span, E> {
                Ok(Span(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Span, E> {
                u64::try_from(v)
                    .map(Span)
                    .map_err(|_| E::custom(format!("{v} is not a duration: it is negative")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Span, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl serde::Serialize for Span {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("0s", 0)]
    #[case("90s", 90)]
    #[case("5m", 300)]
    #[case("5m10s", 310)]
    #[case("1h", 3600)]
    #[case("1h0m20s", 3620)]
    fn parses_the_documented_forms(#[case] s: &str, #[case] secs: u64) {
        assert_eq!(s.parse::<Span>().unwrap(), Span(secs));
    }

    #[rstest]
    #[case("")]
    #[case("5")]
    #[case("10s5m")]
    #[case("1d")]
    #[case("m")]
    #[case("-5s")]
    #[case("5m5m")]
    fn refuses_malformed_durations(#[case] s: &str) {
        assert!(s.parse::<Span>().is_err());
    }

    #[test]
    fn displays_in_the_shortest_form() {
        assert_eq!(Span(3620).to_string(), "1h20s");
        assert_eq!(Span(0).to_string(), "0s");
        assert_eq!(Span(660).to_string(), "11m");
    }
}
