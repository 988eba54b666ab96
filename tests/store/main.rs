//! The store conformance suite, run against each driver: each case on a store of its own
//! (a PostgreSQL schema, a SQLite file), removed when the case ends.

mod postgres {
    use std::sync::Arc;

    use zart::store::Store;
    use zart_tests::TestDb;

    async fn fresh_store() -> (Arc<dyn Store>, TestDb) {
        let db = TestDb::postgres().await;
        (db.scheduler.clone(), db)
    }

    zart_store_tests::conformance!(fresh_store);
}

mod sqlite {
    use std::sync::Arc;

    use zart::store::Store;
    use zart_tests::TestDb;

    async fn fresh_store() -> (Arc<dyn Store>, TestDb) {
        let db = TestDb::sqlite().await;
        (db.scheduler.clone(), db)
    }

    zart_store_tests::conformance!(fresh_store);
}
