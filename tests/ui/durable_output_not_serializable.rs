pub struct Receipt {
    pub id: u64,
}

#[zart::durable]
async fn checkout(cents: u64) -> Result<Receipt, zart::TaskError> {
    Ok(Receipt { id: cents })
}

fn main() {}
