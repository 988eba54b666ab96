// An argument that does not parse is one error: the schedule it may hold is not also
// reported missing.
#[zart::recurring(cron: "0 2 * * *")]
#[zart::task]
async fn nightly() -> Result<(), zart::TaskError> {
    Ok(())
}

fn main() {}
