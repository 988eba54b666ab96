#[zart::recurring(every = "1h", id = "nightly-run")]
#[zart::task]
async fn nightly() -> Result<(), zart::TaskError> {
    Ok(())
}

fn main() {}
