#[zart::recurring(every = "1h")]
#[zart::task]
async fn nightly(region: String) -> Result<(), zart::TaskError> {
    let _ = region;
    Ok(())
}

fn main() {}
