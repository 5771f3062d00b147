#![deny(warnings)]

use queue_core::{job, JobError};

/// A documented handler; its attributes are kept.
#[job]
#[must_use = "handlers return results"]
#[inline]
pub async fn documented(_: u32) -> Result<(), JobError> {
    Ok(())
}

// Compiled out together with its module and registration.
#[cfg(any())]
#[job]
pub async fn absent(_: DoesNotExist) -> Result<(), JobError> {
    Ok(())
}

#[job]
#[cfg(all())]
pub async fn present(_: u32) -> Result<(), JobError> {
    Ok(())
}

#[job]
#[cfg(any())]
pub async fn also_absent(_: DoesNotExist) -> Result<(), JobError> {
    Ok(())
}

fn main() {
    let _ = documented::NAME;
    let _ = present::NAME;
}
