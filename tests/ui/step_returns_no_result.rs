#[zart::step]
async fn charge_card(cents: u64) -> u64 {
    cents
}

fn main() {}
