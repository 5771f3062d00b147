use queue_core::{job, JobError};

use std::rc::Rc;

#[job]
pub async fn send(_: u32) -> Result<(), JobError> {
    let shared = Rc::new(1);
    std::future::ready(()).await;
    drop(shared);
    Ok(())
}

fn main() {}
