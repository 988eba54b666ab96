use zart::durable::StepError;
use zart::TaskError;

#[zart::step]
fn charge_card(cents: u64) -> Result<u64, StepError> {
    Ok(cents)
}

// The caller awaits the step as written to be: the missing `async` is reported once, on the
// step, and not again here.
#[zart::durable]
async fn checkout(cents: u64) -> Result<u64, TaskError> {
    Ok(charge_card(cents).await?)
}

fn main() {}
