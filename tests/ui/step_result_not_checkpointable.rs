use zart::durable::StepError;

pub struct Payment {
    pub id: u64,
}

#[zart::step]
async fn charge_card(cents: u64) -> Result<Payment, StepError> {
    Ok(Payment { id: cents })
}

fn main() {}
