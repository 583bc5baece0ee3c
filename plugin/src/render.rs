//! Output: aligned tables like kubectl's, JSON/YAML of the same rows, times for people.

use jiff::Timestamp;
use serde::Serialize;
use wfe_api::duration;

use crate::cli::Format;
use crate::error::PluginError;

/// A table: header and rows of cells, printed with columns aligned by three spaces.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, cell) in cells.into_iter().enumerate() {
            out.push_str(cell);
            if i < last {
                let pad = widths[i] - cell.chars().count() + 3;
                out.push_str(&" ".repeat(pad));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// `value` as JSON or YAML.
pub fn encode<T: Serialize>(value: &T, format: Format) -> Result<String, PluginError> {
    match format {
        Format::Json => serde_json::to_string_pretty(value)
            .map(|s| s + "\n")
            .map_err(|e| PluginError::Output(e.to_string())),
        Format::Yaml => {
            serde_saphyr::to_string(value).map_err(|e| PluginError::Output(e.to_string()))
        }
    }
}

/// A timestamp to the second, UTC (`2026-03-01T12:00:00Z`).
pub fn time(t: Timestamp) -> String {
    t.round(jiff::Unit::Second).unwrap_or(t).to_string()
}

/// A timestamp with how long ago (or how far ahead) it is from `now`: `... (4m 10s ago)`.
pub fn time_relative(t: Timestamp, now: Timestamp) -> String {
    let (d, ahead) = if t <= now {
        (now.duration_since(t), false)
    } else {
        (t.duration_since(now), true)
    };
    let d = std::time::Duration::try_from(d).unwrap_or_default();
    let h = duration::human(d);
    if ahead {
        format!("{} (in {h})", time(t))
    } else {
        format!("{} ({h} ago)", time(t))
    }
}

/// A one-line, bounded version of `text` for a table cell.
pub fn one_line(text: &str, max_chars: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max_chars {
        return flat;
    }
    let cut: String = flat.chars().take(max_chars.saturating_sub(3)).collect();
    format!("{}...", cut.trim_end())
}

/// `value` or `-` for an absent cell.
pub fn or_dash(value: Option<String>) -> String {
    value
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_and_trims_trailing_space() {
        let t = table(
            &["NAME", "PHASE"],
            &[
                vec!["a".into(), "Failed".into()],
                vec!["longer-name".into(), "-".into()],
            ],
        );
        assert_eq!(
            t,
            "NAME          PHASE\na             Failed\nlonger-name   -\n"
        );
    }

    #[test]
    fn times_are_to_the_second_and_relative() {
        let t: Timestamp = "2026-03-01T12:00:00.6Z".parse().unwrap();
        assert_eq!(time(t), "2026-03-01T12:00:01Z");
        let now: Timestamp = "2026-03-01T12:04:10Z".parse().unwrap();
        let then: Timestamp = "2026-03-01T12:00:00Z".parse().unwrap();
        assert_eq!(
            time_relative(then, now),
            "2026-03-01T12:00:00Z (4m 10s ago)"
        );
        assert_eq!(time_relative(now, then), "2026-03-01T12:04:10Z (in 4m 10s)");
    }

    #[test]
    fn one_line_flattens_and_bounds() {
        assert_eq!(one_line("a\n  b\tc", 80), "a b c");
        assert_eq!(one_line("abcdefghij", 8), "abcde...");
        assert_eq!(one_line("abcdefgh", 8), "abcdefgh");
    }

    #[test]
    fn or_dash_marks_absent_cells() {
        assert_eq!(or_dash(None), "-");
        assert_eq!(or_dash(Some(String::new())), "-");
        assert_eq!(or_dash(Some("x".into())), "x");
    }
}
