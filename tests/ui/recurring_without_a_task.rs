#[zart::recurring(every = "1h")]
async fn nightly() -> Result<(), zart::TaskError> {
    Ok(())
}

fn main() {}
