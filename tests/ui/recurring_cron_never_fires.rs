// February has no 30th: the schedule would never run.
#[zart::recurring(cron = "0 0 30 2 *")]
#[zart::task]
async fn nightly() -> Result<(), zart::TaskError> {
    Ok(())
}

fn main() {}
