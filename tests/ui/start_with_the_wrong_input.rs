#[zart::durable]
async fn greet(name: String) -> Result<String, zart::TaskError> {
    Ok(format!("Hello, {name}!"))
}

async fn start(zart: &zart::Zart) -> zart::Result<()> {
    greet::start(zart, "greet-1", 42).await?;
    Ok(())
}

fn main() {
    let _ = start;
}
