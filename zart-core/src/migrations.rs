//! How a store's tables compare with the migrations its driver embeds: what a tool checks
//! before it reads or steers a store that it must not create.

/// What a driver found of its tables under the names it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MigrationState {
    /// None of them: nothing was ever migrated under these names (or in this schema, or
    /// this file).
    Missing,
    /// Some migrations are applied, not every one this driver embeds: the tables are
    /// older than the code.
    Behind {
        /// How many of the driver's migrations are applied.
        applied: usize,
        /// How many the driver embeds.
        embedded: usize,
    },
    /// Every migration the driver embeds is applied.
    Current,
}

impl MigrationState {
    /// The state of tables on which the migrations numbered `applied` were run, for a
    /// driver that embeds those numbered `embedded`; `None` if the migrations table is
    /// missing.
    ///
    /// ```
    /// use zart_core::migrations::MigrationState;
    ///
    /// let embedded = [1, 2, 3];
    /// assert_eq!(MigrationState::of(None, &embedded), MigrationState::Missing);
    /// assert_eq!(MigrationState::of(Some(&[]), &embedded), MigrationState::Missing);
    /// assert_eq!(
    ///     MigrationState::of(Some(&[1, 2]), &embedded),
    ///     MigrationState::Behind { applied: 2, embedded: 3 }
    /// );
    /// assert_eq!(MigrationState::of(Some(&[1, 2, 3, 4]), &embedded), MigrationState::Current);
    /// ```
    pub fn of(applied: Option<&[i64]>, embedded: &[i64]) -> Self {
        let Some(applied) = applied.filter(|a| !a.is_empty()) else {
            return MigrationState::Missing;
        };
        // Versions past the driver's were applied by a newer one: nothing is missing for
        // this code.
        let known = embedded.iter().filter(|v| applied.contains(v)).count();
        match known == embedded.len() {
            true => MigrationState::Current,
            false => MigrationState::Behind {
                applied: known,
                embedded: embedded.len(),
            },
        }
    }
}

/// Said as the reason in a store's "run `migrate()`" error
/// ([`StoreError::not_migrated`](crate::StoreError::not_migrated)).
impl std::fmt::Display for MigrationState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MigrationState::Missing => f.write_str("no migration was ever applied there"),
            MigrationState::Behind { applied, embedded } => write!(
                f,
                "{applied} of the {embedded} migrations this code has are applied"
            ),
            MigrationState::Current => f.write_str("every migration is applied"),
        }
    }
}

impl std::error::Error for MigrationState {}
