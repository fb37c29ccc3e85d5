//! The duration syntax of scenario files: `250ms`, `2s`, `1.5s`, `1m`, `1h`,
//! `500us`, `10ns`, optionally with one space between number and unit.
//!
//! Hand-written because `humantime` does not accept fractions. Arithmetic is
//! exact (integers only) and checked, so no input can panic or round.

use std::fmt;
use std::time::Duration;

/// The accepted units with their length in nanoseconds, as listed in error
/// messages.
const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// The unit list as shown to users.
const UNIT_LIST: &str = "ns, us, ms, s, m, h";

/// Why a duration string was rejected by [`parse_duration`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError {
    input: String,
    reason: String,
}

impl DurationError {
    fn new(input: &str, reason: impl Into<String>) -> Self {
        DurationError {
            input: input.to_owned(),
            reason: reason.into(),
        }
    }

    /// The rejected text.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// What is wrong with it, without repeating the input
    /// (e.g. "unknown unit `parsecs`; expected one of: ns, us, ms, s, m, h").
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid duration `{}`: {}", self.input, self.reason)
    }
}

impl std::error::Error for DurationError {}

/// Parses a scenario duration: a non-negative decimal number (`2`, `1.5`)
/// followed by a unit among `ns`, `us`, `ms`, `s`, `m`, `h`, with at most one
/// space in between (`"250ms"`, `"1.5 s"`).
///
/// Rejects negative values, missing or unknown units, fractions finer than a
/// nanosecond and values above `u64::MAX` nanoseconds (about 584 years).
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let err = |reason: String| DurationError::new(input, reason);
    let example = "write a number followed by a unit, like `250ms` or `1.5s`";

    if input.trim().is_empty() {
        return Err(err(format!("the string is empty; {example}")));
    }
    if input.starts_with('-') {
        return Err(err("durations cannot be negative".into()));
    }
    if input != input.trim() {
        return Err(err(format!(
            "unexpected leading or trailing whitespace; {example}"
        )));
    }

    let number_end = input
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(input.len());
    let (number, rest) = input.split_at(number_end);
    if number.is_empty() {
        return Err(err(format!("expected a number at the start; {example}")));
    }
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if int_part.is_empty() || frac_part.contains('.') || number.ends_with('.') {
        return Err(err(format!("`{number}` is not a valid number; {example}")));
    }

    let unit = rest.strip_prefix(' ').unwrap_or(rest);
    if unit.is_empty() {
        return Err(err(format!(
            "missing unit; expected one of: {UNIT_LIST} (for example `{number}s` or `{number}ms`)"
        )));
    }
    if unit.starts_with(char::is_whitespace) {
        return Err(err(format!(
            "at most one space is allowed between the number and the unit; {example}"
        )));
    }
    let Some(&(_, unit_ns)) = UNITS.iter().find(|(name, _)| *name == unit) else {
        return Err(err(format!(
            "unknown unit `{unit}`; expected one of: {UNIT_LIST}"
        )));
    };

    let too_large =
        || err("too large; durations are limited to u64::MAX nanoseconds (about 584 years)".into());
    // `int_part` is all ASCII digits, so parsing can only fail by overflow.
    let int_value: u128 = int_part.parse().map_err(|_| too_large())?;
    let mut nanos = int_value.checked_mul(unit_ns).ok_or_else(too_large)?;

    let frac = frac_part.trim_end_matches('0');
    if !frac.is_empty() {
        let not_whole = || {
            err(
                "durations are limited to whole nanoseconds; use a finer unit or fewer decimals"
                    .into(),
            )
        };
        // A unit is at most 3.6e12 ns, so more than 13 significant fraction
        // digits can never add up to whole nanoseconds.
        if frac.len() > 18 {
            return Err(not_whole());
        }
        let frac_value: u128 = frac.parse().map_err(|_| not_whole())?;
        let scale = 10u128.pow(frac.len() as u32);
        let scaled = frac_value * unit_ns; // < 1e18 * 3.6e12, fits in u128
        let (frac_nanos, remainder) = (scaled / scale, scaled % scale);
        if remainder != 0 {
            return Err(not_whole());
        }
        nanos = nanos.checked_add(frac_nanos).ok_or_else(too_large)?;
    }

    let nanos = u64::try_from(nanos).map_err(|_| too_large())?;
    Ok(Duration::from_nanos(nanos))
}

#[cfg(feature = "unit-tests")]
#[deny(dead_code)] // a test function left out of `unit_tests!` would never run
pub(crate) mod tests {
    use super::*;

    fn ok(s: &str) -> Duration {
        match parse_duration(s) {
            Ok(d) => d,
            Err(e) => panic!("`{s}` should parse: {e}"),
        }
    }

    fn reason(s: &str) -> String {
        match parse_duration(s) {
            Ok(d) => panic!("`{s}` should be rejected, got {d:?}"),
            Err(e) => e.reason().to_owned(),
        }
    }

    fn accepts_every_unit_and_fractions() {
        assert_eq!(ok("250ms"), Duration::from_millis(250));
        assert_eq!(ok("2s"), Duration::from_secs(2));
        assert_eq!(ok("1.5s"), Duration::from_millis(1500));
        assert_eq!(ok("1m"), Duration::from_secs(60));
        assert_eq!(ok("1h"), Duration::from_secs(3600));
        assert_eq!(ok("500us"), Duration::from_micros(500));
        assert_eq!(ok("10ns"), Duration::from_nanos(10));
        assert_eq!(ok("0s"), Duration::ZERO);
        assert_eq!(ok("5 ms"), Duration::from_millis(5));
        assert_eq!(ok("0.25h"), Duration::from_secs(900));
        assert_eq!(ok("1.000000001s"), Duration::new(1, 1));
        assert_eq!(ok("2.500s"), Duration::from_millis(2500));
        assert_eq!(ok("007s"), Duration::from_secs(7));
    }

    fn rejects_bad_input_with_reasons() {
        assert!(reason("-5s").contains("negative"));
        assert!(reason("5").contains("missing unit"));
        let r = reason("5 parsecs");
        assert!(
            r.contains("unknown unit `parsecs`") && r.contains("ns, us, ms, s, m, h"),
            "{r}"
        );
        assert!(reason("NaN").contains("expected a number"));
        assert!(reason("NaNs").contains("expected a number"));
        assert!(reason("inf s").contains("expected a number"));
        assert!(reason("").contains("empty"));
        assert!(reason("5  s").contains("one space"));
        assert!(reason(" 5s").contains("whitespace"));
        assert!(reason("5s ").contains("whitespace"));
        assert!(reason(".5s").contains("not a valid number"));
        assert!(reason("5.s").contains("not a valid number"));
        assert!(reason("1.2.3s").contains("not a valid number"));
        assert!(reason("1.5ns").contains("whole nanoseconds"));
        assert!(reason("0.0000000000000000000000001h").contains("whole nanoseconds"));
        assert!(reason("1e3s").contains("unknown unit `e3s`"));
        assert!(reason("5S").contains("unknown unit"));
    }

    fn rejects_unrepresentable_durations() {
        assert!(reason("600000000h").contains("too large"));
        assert!(reason("99999999999999999999999999999999999999999999h").contains("too large"));
        // The largest accepted value.
        assert_eq!(
            ok(&format!("{}ns", u64::MAX)),
            Duration::from_nanos(u64::MAX)
        );
        assert!(reason(&format!("{}ns", u64::MAX as u128 + 1)).contains("too large"));
    }

    fn display_names_the_input() {
        let e = parse_duration("5 parsecs").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid duration `5 parsecs`: unknown unit `parsecs`; expected one of: ns, us, ms, s, m, h"
        );
    }

    unit_tests![
        accepts_every_unit_and_fractions,
        rejects_bad_input_with_reasons,
        rejects_unrepresentable_durations,
        display_names_the_input,
    ];
}
