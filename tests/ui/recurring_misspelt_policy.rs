#[zart::recurring(every = "1h", missed = catch_up_onse)]
#[zart::task]
async fn nightly() -> Result<(), zart::TaskError> {
    Ok(())
}

fn main() {}
