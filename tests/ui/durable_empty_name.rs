#[zart::durable(name = "")]
async fn checkout(order: String) -> Result<String, zart::TaskError> {
    Ok(order)
}

fn main() {}
