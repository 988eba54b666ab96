#[zart::task(timeout = "5 minutes")]
async fn send_email(to: String) -> Result<(), zart::TaskError> {
    let _ = to;
    Ok(())
}

fn main() {}
