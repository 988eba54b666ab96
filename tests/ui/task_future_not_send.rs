#[zart::task]
async fn send_email(to: String) -> Result<(), zart::TaskError> {
    let counter = std::rc::Rc::new(to);
    tokio::task::yield_now().await;
    drop(counter);
    Ok(())
}

fn main() {}
