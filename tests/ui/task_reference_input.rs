#[zart::task]
async fn send_email(to: &str) -> Result<(), zart::TaskError> {
    let _ = to;
    Ok(())
}

fn main() {}
