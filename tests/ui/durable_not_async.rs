use zart::durable::StepError;

#[zart::step]
async fn reserve(order: String) -> Result<String, StepError> {
    Ok(order)
}

// One error, on the function: not a second one at the `.await` in its body.
#[zart::durable]
fn checkout(order: String) -> Result<String, zart::TaskError> {
    let reserved = reserve(order).await?;
    Ok(reserved)
}

fn main() {}
