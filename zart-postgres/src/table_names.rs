//! Where the PostgreSQL driver keeps Zart's tables: an optional schema and a table-name
//! prefix, each checked against PostgreSQL's identifier rules.

use std::fmt;

/// The longest prefix accepted. PostgreSQL truncates identifiers at 63 bytes, and the
/// longest name Zart derives from a prefix (an index name) adds about 20 characters.
const MAX_PREFIX_LEN: usize = 40;
/// PostgreSQL's identifier limit (NAMEDATALEN - 1).
const MAX_SCHEMA_LEN: usize = 63;

/// Environment variable read by [`TableNames::from_env_or_default`] for the prefix.
pub const PREFIX_ENV: &str = "ZART_TABLE_PREFIX";
/// Environment variable read by [`TableNames::from_env_or_default`] for the schema.
pub const SCHEMA_ENV: &str = "ZART_SCHEMA";

/// The names of Zart's tables: `zart_tasks` and friends by default.
///
/// A prefix replaces `zart_` (`myapp_` gives `myapp_tasks`, ...) and a schema qualifies
/// every table (`"tenant_a"."zart_tasks"`). Both are validated when set: they must be plain
/// identifiers (ASCII letters, digits and `_`, not starting with a digit), so they can be
/// spliced into SQL safely. The migrations create the tables under these names, and two
/// `TableNames` that differ never see each other's tasks.
///
/// ```
/// use zart_postgres::TableNames;
///
/// let names = TableNames::with_prefix("svc_")?.with_schema("tenant_a")?;
/// assert_eq!(names.tasks(), r#""tenant_a"."svc_tasks""#);
///
/// assert!(TableNames::with_prefix("x; drop table y").is_err());
/// # Ok::<(), zart_postgres::TableNamesError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TableNames {
    prefix: String,
    schema: Option<String>,
}

/// A prefix or schema name that cannot be used as a PostgreSQL identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: {reason}")]
pub struct TableNamesError {
    what: &'static str,
    value: String,
    reason: &'static str,
}

impl Default for TableNames {
    fn default() -> Self {
        TableNames {
            prefix: "zart_".to_owned(),
            schema: None,
        }
    }
}

impl TableNames {
    /// Default names with `prefix` in place of `zart_`.
    pub fn with_prefix(prefix: &str) -> Result<Self, TableNamesError> {
        validate("table prefix", prefix, MAX_PREFIX_LEN)?;
        Ok(TableNames {
            prefix: prefix.to_owned(),
            schema: None,
        })
    }

    /// These names, qualified by `schema`. The migrations create the schema if it is missing.
    pub fn with_schema(self, schema: &str) -> Result<Self, TableNamesError> {
        validate("schema name", schema, MAX_SCHEMA_LEN)?;
        Ok(TableNames {
            schema: Some(schema.to_owned()),
            ..self
        })
    }

    /// Names from `ZART_TABLE_PREFIX` and `ZART_SCHEMA`, each optional; unset or empty
    /// variables keep the default.
    pub fn from_env_or_default() -> Result<Self, TableNamesError> {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        let names = match var(PREFIX_ENV) {
            Some(prefix) => TableNames::with_prefix(&prefix)?,
            None => TableNames::default(),
        };
        match var(SCHEMA_ENV) {
            Some(schema) => names.with_schema(&schema),
            None => Ok(names),
        }
    }

    /// The prefix, `zart_` by default.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The schema, if one was set.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The quoted, schema-qualified name of the task table.
    pub fn tasks(&self) -> String {
        self.qualified("tasks")
    }

    /// The quoted, schema-qualified name of the recurring-schedule table.
    pub fn schedules(&self) -> String {
        self.qualified("schedules")
    }

    /// The quoted, schema-qualified name of the table of recurring-schedule decisions.
    pub fn schedule_runs(&self) -> String {
        self.qualified("schedule_runs")
    }

    /// The quoted, schema-qualified name of the durable executions' step log.
    pub fn steps(&self) -> String {
        self.qualified("steps")
    }

    /// The quoted, schema-qualified name of the events sent to durable executions.
    pub fn events(&self) -> String {
        self.qualified("events")
    }

    /// The quoted, schema-qualified name of the table of failed attempts.
    pub fn attempts(&self) -> String {
        self.qualified("attempts")
    }

    /// The quoted, schema-qualified name of the table of live worker processes.
    pub fn workers(&self) -> String {
        self.qualified("workers")
    }

    /// The quoted, schema-qualified name of the table of the task names workers declare.
    pub fn declared_tasks(&self) -> String {
        self.qualified("declared_tasks")
    }

    /// The quoted, schema-qualified name of the table of queues' controls.
    pub fn queues(&self) -> String {
        self.qualified("queues")
    }

    /// The quoted, schema-qualified name of the table of rate-limited queues' recent starts.
    pub fn queue_starts(&self) -> String {
        self.qualified("queue_starts")
    }

    /// The quoted, schema-qualified name of the table that records applied migrations.
    pub fn migrations(&self) -> String {
        self.qualified("migrations")
    }

    /// Where these names look, for messages: `schema "tenant_a", prefix "svc_"`.
    pub(crate) fn describe(&self) -> String {
        match &self.schema {
            Some(schema) => format!("schema {schema:?}, prefix {:?}", self.prefix),
            None => format!("the search path's schema, prefix {:?}", self.prefix),
        }
    }

    /// A quoted, schema-qualified table name for `suffix` (`tasks` → `"zart_tasks"`).
    pub(crate) fn qualified(&self, suffix: &str) -> String {
        match &self.schema {
            Some(schema) => format!("\"{schema}\".\"{}{suffix}\"", self.prefix),
            None => format!("\"{}{suffix}\"", self.prefix),
        }
    }

    /// The `LISTEN`/`NOTIFY` channel for `purpose` (`notify`: new due work; `ended`: tasks
    /// ended), distinct for every prefix and schema. The store listens on it and the
    /// migrations render it into the SQL functions that notify it: one source for both.
    pub(crate) fn channel(&self, purpose: &str) -> String {
        format!("zart_{:016x}", self.fingerprint(purpose))
    }

    /// A stable 64-bit fingerprint of these names, used to derive notification channels and
    /// advisory-lock keys that differ between prefixes and schemas.
    pub(crate) fn fingerprint(&self, purpose: &str) -> u64 {
        // FNV-1a: stable across processes and Rust versions, unlike `DefaultHasher`.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let parts = [
            purpose,
            "\0",
            self.schema.as_deref().unwrap_or(""),
            "\0",
            &self.prefix,
        ];
        for byte in parts.iter().flat_map(|part| part.bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash
    }
}

impl fmt::Display for TableNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.tasks())
    }
}

fn validate(what: &'static str, value: &str, max_len: usize) -> Result<(), TableNamesError> {
    let fail = |reason| {
        Err(TableNamesError {
            what,
            value: value.to_owned(),
            reason,
        })
    };
    let mut chars = value.chars();
    match chars.next() {
        None => return fail("it is empty"),
        Some(c) if !(c.is_ascii_alphabetic() || c == '_') => {
            return fail("it must start with an ASCII letter or '_'")
        }
        Some(_) => {}
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return fail("only ASCII letters, digits and '_' are allowed");
    }
    if value.len() > max_len {
        return fail("it is too long for a PostgreSQL identifier");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names() {
        let names = TableNames::default();
        assert_eq!(names.tasks(), "\"zart_tasks\"");
        assert_eq!(names.migrations(), "\"zart_migrations\"");
    }

    #[test]
    fn prefix_and_schema_compose() {
        let names = TableNames::with_prefix("myapp_")
            .and_then(|n| n.with_schema("tenant_a"))
            .map(|n| n.tasks());
        assert_eq!(names, Ok("\"tenant_a\".\"myapp_tasks\"".to_owned()));
    }

    #[test]
    fn hostile_and_malformed_names_are_rejected() {
        for bad in [
            "x; drop table y",
            "",
            "1abc",
            "a\"b",
            "tab le",
            "é",
            &"a".repeat(41),
        ] {
            assert!(TableNames::with_prefix(bad).is_err(), "prefix {bad:?}");
        }
        for bad in ["x; drop table y", "", "s.t", &"a".repeat(64)] {
            assert!(
                TableNames::default().with_schema(bad).is_err(),
                "schema {bad:?}"
            );
        }
        let err = TableNames::with_prefix("x; drop table y")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("invalid table prefix \"x; drop table y\": only ASCII letters, digits and '_' are allowed")
        );
    }

    #[test]
    fn fingerprints_differ_by_names_and_purpose() {
        let a = TableNames::default();
        let b = TableNames::with_prefix("other_").unwrap_or_default();
        assert_ne!(a.fingerprint("x"), b.fingerprint("x"));
        assert_ne!(a.fingerprint("x"), a.fingerprint("y"));
        assert_eq!(a.fingerprint("x"), TableNames::default().fingerprint("x"));
    }
}
