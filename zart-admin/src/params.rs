//! What a request asks for, read and checked: the task filter shared by the pages, the API
//! and the bulk actions, and the small URL helpers the pages need.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use zart::inspect::Inspector;
use zart::scheduler::{TaskCursor, TaskFilter, TaskStatus};

use crate::error::{AdminError, AdminResult};

/// Most tasks one page lists.
pub(crate) const MAX_LIMIT: usize = 500;
/// Tasks a page lists unless told otherwise.
pub(crate) const DEFAULT_LIMIT: usize = 50;

/// A task listing's query, as given: every field optional, all text, checked by
/// [`ListParams::filter`] so that each mistake is named.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct ListParams {
    pub status: Option<String>,
    pub name: Option<String>,
    pub queue: Option<String>,
    /// An id prefix.
    pub id: Option<String>,
    /// Created at or after: RFC 3339, or a time ago like `-2h`.
    pub since: Option<String>,
    /// Created before.
    pub until: Option<String>,
    pub after: Option<String>,
    pub limit: Option<String>,
    pub parent: Option<String>,
}

/// Text that says nothing counts as not given (an empty form field).
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl ListParams {
    /// Every parameter, by its name in the query string.
    fn fields(&self) -> [(&'static str, &Option<String>); 9] {
        [
            ("status", &self.status),
            ("name", &self.name),
            ("queue", &self.queue),
            ("id", &self.id),
            ("since", &self.since),
            ("until", &self.until),
            ("after", &self.after),
            ("limit", &self.limit),
            ("parent", &self.parent),
        ]
    }

    /// The filter these parameters ask for (the queue resolved to its task names).
    pub async fn filter(&self, inspector: &Inspector) -> AdminResult<TaskFilter> {
        for (field, value) in self.fields() {
            if let Some(value) = value {
                without_nul(&format!("`{field}`"), value)?;
            }
        }
        let mut filter = TaskFilter::default();
        if let Some(status) = given(&self.status) {
            filter = filter.status(parse_status(status)?);
        }
        if let Some(name) = given(&self.name) {
            filter = filter.name(name);
        }
        if let Some(queue) = given(&self.queue) {
            filter = inspector
                .in_queue(filter, queue)
                .await?
                .ok_or_else(|| AdminError::bad_request(format!("no queue is named {queue:?}")))?;
        }
        if let Some(prefix) = self.id.as_deref().filter(|id| !id.is_empty()) {
            filter = filter.id_prefix(prefix);
        }
        let since = given(&self.since)
            .map(|t| parse_time("since", t))
            .transpose()?;
        let until = given(&self.until)
            .map(|t| parse_time("until", t))
            .transpose()?;
        if since.is_some() || until.is_some() {
            filter = filter.created_between(since, until);
        }
        if let Some(parent) = given(&self.parent) {
            filter = filter.parent(parent);
        }
        if let Some(after) = given(&self.after) {
            let cursor: TaskCursor = after.parse().map_err(|e: zart::scheduler::CursorError| {
                AdminError::bad_request(e.to_string())
            })?;
            filter = filter.after(cursor);
        }
        Ok(filter)
    }

    /// How many tasks a page lists.
    pub fn limit(&self) -> AdminResult<usize> {
        match given(&self.limit) {
            None => Ok(DEFAULT_LIMIT),
            Some(text) => match text.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                _ => Err(AdminError::bad_request(format!(
                    "limit {text:?} is not a number from 1 to {MAX_LIMIT}"
                ))),
            },
        }
    }

    /// These parameters as a query string, without the page position, for links that
    /// keep the filter (the next page adds `after`).
    pub fn query_without_position(&self) -> String {
        self.fields()
            .into_iter()
            .filter(|(key, _)| *key != "after")
            .filter_map(|(key, value)| {
                let value = value.as_deref().filter(|v| !v.is_empty())?;
                Some(format!("{key}={}", percent_encode(value)))
            })
            .collect::<Vec<_>>()
            .join("&")
    }
}

pub(crate) fn parse_status(text: &str) -> AdminResult<TaskStatus> {
    TaskStatus::parse(text).ok_or_else(|| {
        let known: Vec<_> = TaskStatus::ALL.iter().map(|s| s.as_str()).collect();
        AdminError::bad_request(format!(
            "unknown status {text:?}; use one of {}",
            known.join(", ")
        ))
    })
}

/// An instant: RFC 3339 (`2026-01-05T09:00:00Z`), or a time ago (`-30m`, `-2h`, `-7d`).
pub(crate) fn parse_time(field: &str, text: &str) -> AdminResult<DateTime<Utc>> {
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Ok(instant.with_timezone(&Utc));
    }
    let refused = || {
        AdminError::bad_request(format!(
            "{field} {text:?} is neither an RFC 3339 instant (2026-01-05T09:00:00Z) nor a time \
             ago (-30m, -2h, -7d)"
        ))
    };
    let ago = text.strip_prefix('-').ok_or_else(refused)?;
    let unit = ago.chars().last().ok_or_else(refused)?;
    let amount: i64 = ago[..ago.len() - unit.len_utf8()]
        .parse()
        .map_err(|_| refused())?;
    let span = match unit {
        's' => Duration::try_seconds(amount),
        'm' => Duration::try_minutes(amount),
        'h' => Duration::try_hours(amount),
        'd' => Duration::try_days(amount),
        _ => None,
    };
    span.and_then(|span| Utc::now().checked_sub_signed(span))
        .ok_or_else(refused)
}

/// `path` (from `/`) under the admin mounted at `base`. Nested at `/admin`, the admin's
/// root is `/admin` itself: axum's nesting routes no `/admin/`.
pub(crate) fn under(base: &str, path: &str) -> String {
    match path.strip_prefix('/') {
        Some(rest) if !base.is_empty() && (rest.is_empty() || rest.starts_with('?')) => {
            format!("{base}{rest}")
        }
        _ => format!("{base}{path}"),
    }
}

/// A request's path made one that a redirect can only follow inside the admin: a single
/// leading slash, since a browser reads `//host` and `/\host` as another site, and every
/// backslash or byte outside printable ASCII percent-encoded.
pub(crate) fn local_path(path: &str) -> String {
    let mut out = String::from("/");
    for byte in path.trim_start_matches(['/', '\\']).bytes() {
        match byte {
            b'\\' => out.push_str("%5C"),
            b'!'..=b'~' => out.push(char::from(byte)),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// `value`, given as `field`, if it holds no NUL character, which no id, name or text
/// the store keeps can hold (PostgreSQL refuses it in text).
pub(crate) fn without_nul<'a>(field: &str, value: &'a str) -> AdminResult<&'a str> {
    match value.contains('\0') {
        false => Ok(value),
        true => Err(AdminError::bad_request(format!(
            "{field} must not contain a NUL character (\\u{{0}})"
        ))),
    }
}

/// Percent-encodes everything but unreserved characters: for query values, path segments
/// and the cookie.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(byte))
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Decodes `%XX` escapes and `+` (a space, in a query); malformed escapes stay as given.
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match bytes[i] {
            b'%' => {
                let digit = |at: usize| bytes.get(at).and_then(|b| hex(*b));
                match (digit(i + 1), digit(i + 2)) {
                    (Some(high), Some(low)) => {
                        // Two hex digits make at most 255.
                        out.push(u8::try_from(high * 16 + low).unwrap_or(b'?'));
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of `key` in a raw query string.
pub(crate) fn query_value(query: &str, key: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| percent_decode(k) == key)
        .map(|(_, value)| percent_decode(value))
}

/// A raw query string without `key`.
pub(crate) fn without_query_value(query: &str, key: &str) -> String {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| percent_decode(pair.split('=').next().unwrap_or_default()) != key)
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_round_trips_anything() {
        for text in [
            "plain",
            "a b/c?d=e&f",
            "<script>alert(1)</script>",
            "ü%+",
            "",
        ] {
            assert_eq!(percent_decode(&percent_encode(text)), text);
        }
        assert_eq!(percent_decode("100%"), "100%", "a lone % stays");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn paths_go_under_the_base() {
        assert_eq!(under("", "/"), "/");
        assert_eq!(under("", "/tasks"), "/tasks");
        assert_eq!(under("/admin", "/"), "/admin");
        assert_eq!(under("/admin", "/?notice=x"), "/admin?notice=x");
        assert_eq!(under("/admin", "/tasks?a=b"), "/admin/tasks?a=b");
    }

    #[test]
    fn a_local_path_never_names_another_site() {
        for (given, local) in [
            ("/", "/"),
            ("/tasks/a%20b", "/tasks/a%20b"),
            ("//evil.example/x", "/evil.example/x"),
            ("/\\evil.example/", "/evil.example/"),
            ("/\\/\\evil.example", "/evil.example"),
            ("/a\\b", "/a%5Cb"),
            ("/ü", "/%C3%BC"),
        ] {
            assert_eq!(local_path(given), local, "{given}");
        }
    }

    #[test]
    fn query_values_are_found_and_removed() {
        let query = "status=failed&token=s%20t&name=a+b";
        assert_eq!(query_value(query, "token").as_deref(), Some("s t"));
        assert_eq!(query_value(query, "name").as_deref(), Some("a b"));
        assert_eq!(query_value(query, "none"), None);
        assert_eq!(
            without_query_value(query, "token"),
            "status=failed&name=a+b"
        );
    }

    #[test]
    fn times_are_rfc3339_or_ago() {
        assert!(parse_time("since", "2026-01-05T09:00:00Z").is_ok());
        let two_hours_ago = parse_time("since", "-2h").map(|t| Utc::now() - t);
        assert!(two_hours_ago.is_ok_and(|d| (d - Duration::hours(2)).num_seconds().abs() < 5));
        for bad in ["yesterday", "-2y", "-h", "2h", "-99999999999999d"] {
            let error = parse_time("since", bad).map_err(|e| e.message);
            assert!(
                error.as_ref().is_err_and(|m| m.contains(bad)),
                "{bad}: {error:?}"
            );
        }
    }

    #[test]
    fn a_bad_status_or_limit_is_named() {
        let error = parse_status("done").map_err(|e| e.message);
        assert!(error.is_err_and(|m| m.contains("\"done\"") && m.contains("completed")));
        let params = ListParams {
            limit: Some("0".into()),
            ..ListParams::default()
        };
        assert!(params.limit().is_err());
    }
}
