use zart::postgres::sqlx::PgPool;

#[zart::task]
async fn send_receipt(order_id: i64) -> Result<(), zart::TaskError> {
    let _ = order_id;
    Ok(())
}

async fn schedule(pool: &PgPool) -> zart::Result<()> {
    // A pool is no transaction: take a connection or begin one.
    send_receipt::schedule_in(pool, "receipt-1", 1).await?;
    Ok(())
}

fn main() {
    let _ = schedule;
}
