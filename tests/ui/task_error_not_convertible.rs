pub struct MailboxFull;

#[zart::task]
async fn send_email(to: String) -> Result<(), MailboxFull> {
    let _ = to;
    Err(MailboxFull)
}

fn main() {}
