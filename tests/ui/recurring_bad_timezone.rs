#[zart::recurring(cron = "0 2 * * *", timezone = "Europe/Bonn")]
#[zart::task]
async fn nightly() -> Result<(), zart::TaskError> {
    Ok(())
}

fn main() {}
