#[zart::task(retry = exponential(initial = "1m", max = "30s"))]
async fn send_email(to: String) -> Result<(), zart::TaskError> {
    let _ = to;
    Ok(())
}

fn main() {}
