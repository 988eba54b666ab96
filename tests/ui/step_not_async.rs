use zart::durable::StepError;

#[zart::step]
fn charge_card(cents: u64) -> Result<u64, StepError> {
    Ok(cents)
}

fn main() {}
