//! What a command prints, and the small printers it is made with: aligned columns,
//! label/value lists, instants, ages, durations and shortened text.
//!
//! Commands build their whole output before anything is written, so that a failure half
//! way prints nothing on stdout, and a closed pipe (`zart tasks list | head`) is not a
//! panic (see `main`).

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

/// A command's output: text for people, or one JSON document for programs.
#[derive(Debug, PartialEq)]
pub(crate) enum Output {
    Text(String),
    Json(Value),
}

impl Output {
    /// The text to write to stdout, ending with a newline.
    pub(crate) fn render(&self) -> String {
        let mut text = match self {
            Output::Text(text) => text.clone(),
            // A Value always serialises; the fallback keeps that a non-panic.
            Output::Json(value) => serde_json::to_string_pretty(value).unwrap_or_default(),
        };
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text
    }
}

/// Rows under headers, each column as wide as its widest cell.
pub(crate) struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(headers: &[&'static str]) -> Self {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; its cells are flattened to one line each (stored errors and ids may
    /// hold newlines or tabs, which would break the columns).
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells.iter().map(|c| one_line(c)).collect());
    }

    /// Appends the table to `out`. Widths count characters, not terminal cells: close
    /// enough for ids and names, and no dependency for East Asian widths.
    pub(crate) fn render(&self, out: &mut String) {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let headers: Vec<String> = self.headers.iter().map(|h| h.to_string()).collect();
        for row in std::iter::once(&headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, width) in widths.iter().enumerate() {
                let cell = row.get(i).map(String::as_str).unwrap_or("");
                if i + 1 == columns {
                    line.push_str(cell);
                } else {
                    let pad = width - cell.chars().count();
                    let _ = write!(line, "{cell}{}  ", " ".repeat(pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
}

/// Labels and values, the values aligned; a value of several lines (pretty JSON) is
/// indented under its first line.
#[derive(Default)]
pub(crate) struct Fields {
    fields: Vec<(&'static str, String)>,
}

impl Fields {
    pub(crate) fn add(&mut self, label: &'static str, value: impl Into<String>) -> &mut Self {
        self.fields.push((label, value.into()));
        self
    }

    pub(crate) fn render(&self, out: &mut String) {
        let width = self.fields.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        for (label, value) in &self.fields {
            let mut lines = value.lines();
            let first = lines.next().unwrap_or("");
            let _ = writeln!(out, "{label:width$}  {first}");
            for line in lines {
                let _ = writeln!(out, "{:width$}  {line}", "");
            }
        }
    }
}

/// An instant to the second, in UTC, as RFC 3339: what `--since` reads back.
pub(crate) fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// An optional instant, `-` when absent.
pub(crate) fn opt_time(at: Option<DateTime<Utc>>) -> String {
    at.map(time).unwrap_or_else(|| "-".to_owned())
}

/// An instant with how far it is from `now`: `2026-01-05T09:00:00Z (3m ago)`.
pub(crate) fn when(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!("{} ({})", time(at), relative(at, now))
}

/// An optional instant with how far it is from `now`, `-` when absent.
pub(crate) fn opt_when(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    at.map(|at| when(at, now)).unwrap_or_else(|| "-".to_owned())
}

/// `3m ago`, `in 2h05m`, or `now`.
pub(crate) fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let delta = at - now;
    match delta.num_seconds() {
        0 => "now".to_owned(),
        s if s < 0 => format!("{} ago", age(-delta)),
        _ => format!("in {}", age(delta)),
    }
}

/// A span in its two largest units, the second left out when zero: `850ms`, `12s`,
/// `3m12s`, `3m`, `2h05m`, `4d03h`.
pub(crate) fn age(span: chrono::Duration) -> String {
    let millis = span.num_milliseconds().max(0);
    let seconds = millis / 1000;
    let (big, big_unit, small, small_unit) = match seconds {
        0 => return format!("{millis}ms"),
        1..60 => return format!("{seconds}s"),
        60..3600 => (seconds / 60, "m", seconds % 60, "s"),
        3600..86_400 => (seconds / 3600, "h", seconds % 3600 / 60, "m"),
        _ => (seconds / 86_400, "d", seconds % 86_400 / 3600, "h"),
    };
    match small {
        0 => format!("{big}{big_unit}"),
        _ => format!("{big}{big_unit}{small:02}{small_unit}"),
    }
}

/// How long a step took: to the millisecond under a minute (`1.204s`), else [`age`].
pub(crate) fn duration(span: chrono::Duration) -> String {
    let millis = span.num_milliseconds().max(0);
    match millis {
        0..1000 => format!("{millis}ms"),
        1000..60_000 => format!("{}.{:03}s", millis / 1000, millis % 1000),
        _ => age(span),
    }
}

/// `text` on one line, at most `max` characters, `…` marking a cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    let line = one_line(text);
    if line.chars().count() <= max {
        return line;
    }
    let kept: String = line.chars().take(max.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// `value` as compact JSON.
pub(crate) fn compact(value: &Value) -> String {
    value.to_string()
}

/// `value` as indented JSON, for values shown whole.
pub(crate) fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// Whitespace runs (newlines, tabs) become single spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` as one shell word: as is when it is plain, else single-quoted, so that a
/// printed cursor can be pasted back whatever the task id holds.
pub(crate) fn shell_word(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "._-:/@%+=,".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        return text.to_owned();
    }
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    #[test]
    fn tables_align_their_columns_and_flatten_cells() {
        let mut table = Table::new(&["ID", "STATUS", "ERROR"]);
        table.row(vec![
            "t-1".into(),
            "failed".into(),
            "boom\non two lines".into(),
        ]);
        table.row(vec!["task-22".into(), "ok".into(), String::new()]);
        let mut out = String::new();
        table.render(&mut out);
        assert_eq!(
            out,
            "ID       STATUS  ERROR\n\
             t-1      failed  boom on two lines\n\
             task-22  ok\n"
        );
    }

    #[test]
    fn fields_indent_values_of_several_lines() {
        let mut out = String::new();
        Fields::default()
            .add("id", "t-1")
            .add("input", "{\n  \"a\": 1\n}")
            .render(&mut out);
        assert_eq!(out, "id     t-1\ninput  {\n         \"a\": 1\n       }\n");
    }

    #[test]
    fn spans_and_instants_read_well() {
        assert_eq!(age(Duration::milliseconds(850)), "850ms");
        assert_eq!(age(Duration::seconds(192)), "3m12s");
        assert_eq!(age(Duration::minutes(125)), "2h05m");
        assert_eq!(age(Duration::hours(99)), "4d03h");
        assert_eq!(duration(Duration::milliseconds(1204)), "1.204s");
        let now = Utc
            .with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
            .single()
            .unwrap_or_default();
        assert_eq!(
            when(now - Duration::minutes(3), now),
            "2026-01-05T08:57:00Z (3m ago)"
        );
        assert_eq!(relative(now + Duration::hours(2), now), "in 2h");
        assert_eq!(age(Duration::hours(24)), "1d");
    }

    #[test]
    fn text_is_shortened_and_quoted_for_the_shell() {
        assert_eq!(
            shorten("card declined:\n insufficient funds", 20),
            "card declined: insu…"
        );
        assert_eq!(shorten("short", 20), "short");
        assert_eq!(shell_word("1700.order-42"), "1700.order-42");
        assert_eq!(shell_word("1700.it's here"), r"'1700.it'\''s here'");
    }
}
