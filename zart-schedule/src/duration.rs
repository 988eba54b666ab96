//! Duration literals: `"200ms"`, `"90s"`, `"1h30m"`, `"2d"`.

use std::time::Duration;

/// A duration literal that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {literal:?}: {reason}")]
pub struct DurationError {
    literal: String,
    reason: String,
}

impl DurationError {
    fn new(literal: &str, reason: impl Into<String>) -> Self {
        DurationError {
            literal: literal.to_owned(),
            reason: reason.into(),
        }
    }

    /// What was wrong, without the literal.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// The units a literal may use, largest first, with their length in milliseconds.
const UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Parses a duration literal: one or more `<whole number><unit>` parts, units largest
/// first and each at most once, with units `d`, `h`, `m`, `s` and `ms`.
///
/// ```
/// use std::time::Duration;
/// use zart_schedule::parse_duration;
///
/// assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
/// assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
/// assert!(parse_duration("30m1h").is_err()); // largest unit first
/// assert!(parse_duration("5 minutes").is_err());
/// ```
pub fn parse_duration(literal: &str) -> Result<Duration, DurationError> {
    if literal.is_empty() {
        return Err(DurationError::new(
            literal,
            "it is empty; write a number and a unit, such as \"30s\"",
        ));
    }
    let mut rest = literal;
    let mut total: u64 = 0;
    // Index into UNITS of the last unit used: the next must be smaller.
    let mut last_unit: Option<usize> = None;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(DurationError::new(
                literal,
                format!("expected a whole number at {rest:?}"),
            ));
        }
        let (number, after) = rest.split_at(digits);
        let letters = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, after) = after.split_at(letters);
        let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            let reason = match (unit, after.chars().next()) {
                ("", None) => format!("{number} has no unit (use d, h, m, s or ms)"),
                ("", Some(c)) => format!(
                    "unexpected {c:?} after {number}: write whole numbers with units, such as \"1s500ms\""
                ),
                _ => format!("unknown unit {unit:?} (use d, h, m, s or ms)"),
            };
            return Err(DurationError::new(literal, reason));
        };
        if last_unit.is_some_and(|last| index <= last) {
            return Err(DurationError::new(
                literal,
                "write each unit once, largest first (\"1h30m\", not \"30m1h\")",
            ));
        }
        last_unit = Some(index);
        let too_long = || DurationError::new(literal, "it is too long");
        let value: u64 = number.parse().map_err(|_| too_long())?;
        total = value
            .checked_mul(UNITS[index].1)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(too_long)?;
        rest = after;
    }
    Ok(Duration::from_millis(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_each_unit_and_combinations() {
        let cases = [
            ("1ms", 1),
            ("15s", 15_000),
            ("2m", 120_000),
            ("1h", 3_600_000),
            ("1d", 86_400_000),
            ("1h30m", 5_400_000),
            ("1d2h3m4s5ms", 93_784_005),
            ("0s", 0),
        ];
        for (literal, ms) in cases {
            assert_eq!(
                parse_duration(literal),
                Ok(Duration::from_millis(ms)),
                "{literal}"
            );
        }
    }

    #[test]
    fn refuses_what_is_not_a_duration_and_says_why() {
        let cases = [
            ("", "empty"),
            ("10 s", "unexpected ' ' after 10"),
            ("10sec", "unknown unit \"sec\""),
            ("1.5s", "unexpected '.' after 1"),
            ("10", "10 has no unit"),
            ("h", "expected a whole number"),
            ("30m1h", "largest first"),
            ("1s1s", "largest first"),
            ("-1s", "expected a whole number"),
            ("99999999999999999999s", "too long"),
            ("999999999999999d", "too long"),
        ];
        for (literal, reason) in cases {
            let error = parse_duration(literal).err();
            assert!(
                error.as_ref().is_some_and(|e| e.reason().contains(reason)),
                "{literal}: {error:?}"
            );
        }
    }
}
