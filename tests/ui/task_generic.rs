#[zart::task]
async fn send_email<T: serde::Serialize>(to: T) -> Result<(), zart::TaskError> {
    let _ = to;
    Ok(())
}

fn main() {}
