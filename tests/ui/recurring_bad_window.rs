#[zart::recurring(every = "1h", window = "mon-fry 09:00-17:00")]
#[zart::task]
async fn nightly() -> Result<(), zart::TaskError> {
    Ok(())
}

fn main() {}
