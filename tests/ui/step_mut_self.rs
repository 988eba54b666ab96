use zart::durable::StepError;

struct Bank {
    charged: u64,
}

impl Bank {
    #[zart::step]
    async fn charge(&mut self, cents: u64) -> Result<u64, StepError> {
        self.charged += cents;
        Ok(self.charged)
    }
}

fn main() {}
