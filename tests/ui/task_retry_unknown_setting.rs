#[zart::task(retry = exponential(attempts = 5, initial = "200ms"))]
async fn send_email(to: String) -> Result<(), zart::TaskError> {
    let _ = to;
    Ok(())
}

fn main() {}
