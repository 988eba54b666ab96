async fn send_email(to: String) -> Result<(), zart::TaskError> {
    let _ = to;
    Ok(())
}

fn main() {
    let _registry = zart::registry![send_email];
}
