use zart::durable::StepError;
use zart::TaskError;

#[zart::step]
fn charge_card(cents: u64) -> Result<u64, StepError> {
    Ok(cents)
}

pub struct Bank;

impl Bank {
    #[zart::step]
    fn refund(&self, cents: u64) -> Result<u64, StepError> {
        Ok(cents)
    }
}

// The missing `async` is reported once, on each step, and not again at a call: neither at
// one that awaits the step as it was meant to be, nor at one that calls it as written.
#[zart::durable]
async fn checkout(cents: u64) -> Result<u64, TaskError> {
    let charged = charge_card(cents).await?;
    let refunded = Bank.refund(cents)?;
    Ok(charged - refunded)
}

fn total(cents: u64) -> Result<u64, StepError> {
    charge_card(cents)
}

fn main() {
    let _ = total(3);
}
