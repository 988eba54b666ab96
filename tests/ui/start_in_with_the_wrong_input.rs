use zart::postgres::sqlx::PgConnection;

#[zart::durable]
async fn greet(name: String) -> Result<String, zart::TaskError> {
    Ok(format!("Hello, {name}!"))
}

async fn start(tx: &mut PgConnection) -> zart::Result<()> {
    greet::start_in(tx, "greet-1", 42).await?;
    Ok(())
}

fn main() {
    let _ = start;
}
