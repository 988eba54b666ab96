#[zart::recurring(cron = "0 2 * * *", every = "1h")]
#[zart::task]
async fn nightly() -> Result<(), zart::TaskError> {
    Ok(())
}

fn main() {}
