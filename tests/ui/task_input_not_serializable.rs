pub struct Email {
    pub to: String,
}

#[zart::task]
async fn send_email(email: Email) -> Result<(), zart::TaskError> {
    let _ = email.to;
    Ok(())
}

fn main() {}
