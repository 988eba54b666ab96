#[zart::durable]
async fn greet(name: String) -> Result<String, zart::TaskError> {
    Ok(format!("Hello, {name}!"))
}

async fn start(zart: &zart::Zart) -> Result<(), Box<dyn std::error::Error>> {
    let handle = greet::start(zart, "greet-1", "Ada".to_owned()).await?;
    let count: u64 = handle.wait(std::time::Duration::from_secs(1)).await?;
    let _ = count;
    Ok(())
}

fn main() {
    let _ = start;
}
