// One mistake, one error: the misspelt key, with the one it was meant to be. The schedule
// and the zone's use are then unknown, not reported missing.
#[zart::recurring(crom = "0 2 * * *", timezone = "Europe/Berlin", input = "eu".to_owned())]
#[zart::task]
async fn nightly(region: String) -> Result<(), zart::TaskError> {
    let _ = region;
    Ok(())
}

fn main() {}
