// The input the task needs is in the misspelt key: one error, on it.
#[zart::recurring(every = "1h", inptu = "eu".to_owned())]
#[zart::task]
async fn nightly(region: String) -> Result<(), zart::TaskError> {
    let _ = region;
    Ok(())
}

fn main() {}
