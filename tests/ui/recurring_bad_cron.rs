#[zart::recurring(cron = "0 25 * * *")]
#[zart::task]
async fn nightly() -> Result<(), zart::TaskError> {
    Ok(())
}

fn main() {}
