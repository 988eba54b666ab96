pub struct Sent {
    pub id: u64,
}

#[zart::task]
async fn send_email(to: String) -> Result<Sent, zart::TaskError> {
    let _ = to;
    Ok(Sent { id: 1 })
}

fn main() {}
