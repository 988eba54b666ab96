#[zart::task]
async fn send_email(to: String, subject: String) -> Result<(), zart::TaskError> {
    let _ = (to, subject);
    Ok(())
}

fn main() {}
