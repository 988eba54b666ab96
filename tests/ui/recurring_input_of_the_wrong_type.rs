#[zart::recurring(every = "1h", input = 42)]
#[zart::task]
async fn nightly(region: String) -> Result<(), zart::TaskError> {
    let _ = region;
    Ok(())
}

fn main() {}
