//! The store contract, for those who write a driver or test one: the records and traits of
//! `zart-core`, which every store implements and the engine runs on.
//!
//! Application code does not need this module: [`Zart`](crate::Zart) and the views it hands
//! out cover what programs do, and nothing in them bypasses a worker's lease.

pub use zart_core::controls::{KeyLimit, QueueDeclaration, QueueLimits, QueueState, RateLimit};
pub use zart_core::error::{ErrorKind, StoreError, StoreResult};
pub use zart_core::joined::JoinedTransaction;
pub use zart_core::migrations::MigrationState;
pub use zart_core::queue::{
    ClaimScope, ClaimedTask, Lease, Outcome, OutcomeKind, RescueReport, Wake,
};
pub use zart_core::schedules::{HistoryEntry, ScheduleProgress, TickState};
pub use zart_core::steps::Checkpointed;
pub use zart_core::store::{
    InspectStore, QueueControlStore, QueueStore, ScheduleStore, StepStore, Store, UnitOfWork,
    WorkerStore,
};
