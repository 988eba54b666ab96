#[zart::task(timeout = "0s")]
async fn send_email(to: String) -> Result<(), zart::TaskError> {
    let _ = to;
    Ok(())
}

fn main() {}
