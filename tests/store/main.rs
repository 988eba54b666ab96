//! The store conformance suite, run against PostgreSQL: each case on a schema of its own.

use std::sync::Arc;

use zart::store::Store;
use zart_tests::TestDb;

async fn fresh_store() -> Arc<dyn Store> {
    TestDb::new().await.scheduler
}

zart_store_tests::conformance!(fresh_store);
