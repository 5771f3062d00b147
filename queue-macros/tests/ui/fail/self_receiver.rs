use queue_core::{job, JobError};

pub struct Mailer;

impl Mailer {
    #[job]
    pub async fn send(&self, _: u32) -> Result<(), JobError> {
        Ok(())
    }
}

fn main() {}
