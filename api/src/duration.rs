//! Go-style duration strings (`90s`, `1h30m`, `1.5h`), as Tekton and Kubernetes users write them.

use std::time::Duration;

/// A duration string that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {problem} (use a number with a unit, e.g. 30s, 5m, 1h30m)")]
pub struct DurationError {
    /// The text that was given.
    pub input: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

/// Parses a non-negative Go duration (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`; decimals allowed).
pub fn parse(input: &str) -> Result<Duration, DurationError> {
    let err = |problem| DurationError {
        input: input.to_owned(),
        problem,
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(err("empty"));
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.starts_with('-') {
        return Err(err("negative durations are not allowed"));
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    let mut total_nanos: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(err("expected a number"));
        }
        let (num, tail) = rest.split_at(num_len);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        if unit_len == 0 {
            return Err(err("missing unit"));
        }
        let (unit, tail) = tail.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(err("unknown unit")),
        };
        let (int_part, frac_part) = match num.split_once('.') {
            Some((i, f)) => (i, f),
            None => (num, ""),
        };
        if (int_part.is_empty() && frac_part.is_empty()) || frac_part.contains('.') {
            return Err(err("malformed number"));
        }
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| err("number too large"))?
        };
        let mut nanos = int
            .checked_mul(unit_nanos)
            .ok_or_else(|| err("number too large"))?;
        if !frac_part.is_empty() {
            // Only the first 18 fractional digits matter at nanosecond resolution.
            let digits = &frac_part[..frac_part.len().min(18)];
            let frac: u128 = digits.parse().map_err(|_| err("malformed number"))?;
            let scale = 10u128.pow(digits.len() as u32);
            nanos += frac * unit_nanos / scale;
        }
        total_nanos = total_nanos
            .checked_add(nanos)
            .ok_or_else(|| err("number too large"))?;
        rest = tail;
    }
    let secs = u64::try_from(total_nanos / 1_000_000_000).map_err(|_| err("number too large"))?;
    Ok(Duration::new(secs, (total_nanos % 1_000_000_000) as u32))
}

/// Formats a duration the way Go's `time.Duration.String` does (`1h2m3s`, `1.5s`, `250ms`, `0s`).
pub fn format(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000_000_000 {
        let (value, unit, scale) = if nanos < 1_000 {
            return format!("{nanos}ns");
        } else if nanos < 1_000_000 {
            (nanos, "µs", 1_000u128)
        } else {
            (nanos, "ms", 1_000_000u128)
        };
        return format!("{}{unit}", fraction(value, scale));
    }
    let total_secs = d.as_secs();
    let h = total_secs / 3600;
    let m = (total_secs % 3600) / 60;
    let s_nanos = u128::from(total_secs % 60) * 1_000_000_000 + u128::from(d.subsec_nanos());
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&fraction(s_nanos, 1_000_000_000));
    out.push('s');
    out
}

/// Formats a duration for people, rounded to what matters at its size: `250ms`, `1.2s`, `42s`,
/// `4m 10s`, `1h 2m`, `3d 4h`. Not parseable back (use [`format`] for machine-read fields).
pub fn human(d: Duration) -> String {
    if d.is_zero() {
        return "0s".into();
    }
    if d < Duration::from_millis(999) {
        // Round to the millisecond, never down to a misleading "0ms".
        let ms = ((d.as_micros() + 500) / 1000).max(1);
        return format!("{ms}ms");
    }
    if d < Duration::from_millis(9950) {
        let tenths = (d.as_millis() + 50) / 100;
        return match tenths % 10 {
            0 => format!("{}s", tenths / 10),
            t => format!("{}.{t}s", tenths / 10),
        };
    }
    let secs = (d.as_millis() + 500) / 1000;
    let pair = |big: u128, big_unit: &str, small: u128, small_unit: &str| match small {
        0 => format!("{big}{big_unit}"),
        _ => format!("{big}{big_unit} {small}{small_unit}"),
    };
    if secs < 60 {
        return format!("{secs}s");
    }
    if secs < 3600 {
        return pair(secs / 60, "m", secs % 60, "s");
    }
    let minutes = (secs + 30) / 60;
    if minutes < 24 * 60 {
        return pair(minutes / 60, "h", minutes % 60, "m");
    }
    let hours = (minutes + 30) / 60;
    pair(hours / 24, "d", hours % 24, "h")
}

fn fraction(value: u128, scale: u128) -> String {
    let int = value / scale;
    let frac = value % scale;
    if frac == 0 {
        return int.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{int}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse("0").unwrap(), Duration::ZERO);
        assert_eq!(parse("0s").unwrap(), Duration::ZERO);
        assert_eq!(parse("1h0m0s").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse("10us").unwrap(), Duration::from_micros(10));
        assert_eq!(parse(".5s").unwrap(), Duration::from_millis(500));
    }

    #[test]
    fn rejects_bad_durations_with_reason() {
        for bad in ["", "5", "m", "5x", "-5s", "1..5s", "5 m", "s5", "1.2.3s"] {
            assert!(parse(bad).is_err(), "{bad:?} must be rejected");
        }
        assert_eq!(parse("5").unwrap_err().problem, "missing unit");
        assert_eq!(parse("5d").unwrap_err().problem, "unknown unit");
        assert!(parse("99999999999999999999999h").is_err());
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format(Duration::ZERO), "0s");
        assert_eq!(format(Duration::from_secs(42)), "42s");
        assert_eq!(format(Duration::from_secs(300)), "5m0s");
        assert_eq!(format(Duration::from_secs(3723)), "1h2m3s");
        assert_eq!(format(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format(Duration::from_millis(250)), "250ms");
        assert_eq!(format(Duration::from_nanos(7)), "7ns");
    }

    #[test]
    fn human_rounds_to_what_matters_at_each_size() {
        let ms = Duration::from_millis;
        let secs = Duration::from_secs;
        for (d, want) in [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(1), "1ms"),
            (Duration::from_micros(1499), "1ms"),
            (ms(250), "250ms"),
            (Duration::from_micros(998_600), "999ms"),
            (ms(999), "1s"),
            (ms(1000), "1s"),
            (Duration::from_nanos(1_174_255_767), "1.2s"),
            (ms(1049), "1s"),
            (ms(9949), "9.9s"),
            (ms(9950), "10s"),
            (ms(42_400), "42s"),
            (ms(59_499), "59s"),
            (ms(59_500), "1m"),
            (secs(60), "1m"),
            (secs(250), "4m 10s"),
            (secs(3599), "59m 59s"),
            (secs(3600), "1h"),
            (secs(3600 + 2 * 60 + 29), "1h 2m"),
            (secs(3600 + 2 * 60 + 30), "1h 3m"),
            (secs(86_399), "1d"),
            (secs(86_400 + 4 * 3600), "1d 4h"),
            (secs(10 * 86_400), "10d"),
            (Duration::MAX, "213503982334601d 7h"),
        ] {
            assert_eq!(human(d), want, "{d:?}");
        }
    }

    #[test]
    fn format_then_parse_round_trips() {
        for secs in [0u64, 1, 59, 60, 61, 3599, 3600, 86_400, 123_456] {
            let d = Duration::from_secs(secs);
            assert_eq!(parse(&format(d)).unwrap(), d);
        }
    }
}
