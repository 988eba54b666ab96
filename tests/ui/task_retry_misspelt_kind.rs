#[zart::task(retry = exponentail(max_attempts = 3))]
async fn send_email(to: String) -> Result<(), zart::TaskError> {
    let _ = to;
    Ok(())
}

fn main() {}
