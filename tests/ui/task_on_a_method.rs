struct Mailer;

impl Mailer {
    #[zart::task]
    async fn send_email(&self, to: String) -> Result<(), zart::TaskError> {
        let _ = to;
        Ok(())
    }
}

fn main() {}
