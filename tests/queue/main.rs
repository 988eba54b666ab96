//! The task queue against a real PostgreSQL: each test in its own schema.

mod completion;
mod controls;
mod diagnostics;
mod durability;
mod exactly_once;
mod failures;
mod faults;
mod idempotency;
mod in_transaction;
mod in_transaction_faults;
mod limits;
mod metrics;
mod notify;
mod presence;
mod processes;
mod rescue;
mod retention;
mod retries;
mod routing;
mod shutdown;
mod table_names;
