#[zart::task(retry = exponential(max_attempts = 5, jitter = 1.5))]
async fn send_email(to: String) -> Result<(), zart::TaskError> {
    let _ = to;
    Ok(())
}

fn main() {}
