#[zart::recurring(every = "1h", overlap = skip)]
#[zart::task]
async fn nightly() -> Result<(), zart::TaskError> {
    Ok(())
}

fn main() {}
