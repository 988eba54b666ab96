#[zart::task]
async fn send_email(to: String) -> u32 {
    to.len() as u32
}

fn main() {}
