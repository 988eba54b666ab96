//! The store conformance suite, run against each driver: each case on a store of its own
//! (a PostgreSQL schema, a SQLite file).

mod postgres {
    use std::sync::Arc;

    use zart::store::Store;
    use zart_tests::TestDb;

    async fn fresh_store() -> Arc<dyn Store> {
        TestDb::postgres().await.scheduler
    }

    zart_store_tests::conformance!(fresh_store);
}

mod sqlite {
    use std::sync::Arc;

    use zart::store::Store;

    async fn fresh_store() -> Arc<dyn Store> {
        zart_tests::TestDb::sqlite().await.scheduler
    }

    zart_store_tests::conformance!(fresh_store);
}
