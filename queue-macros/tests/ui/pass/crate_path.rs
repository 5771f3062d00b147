#![deny(warnings)]

use queue_core::JobError;

// The crate under another name.
use queue_core as qc;

pub mod reexport {
    pub use queue_core::*;
}

#[qc::job(crate = "queue_core")]
pub async fn plain(_: u32) -> Result<(), JobError> {
    Ok(())
}

#[qc::job(crate = "qc")]
pub async fn renamed(_: u32) -> Result<(), JobError> {
    Ok(())
}

#[reexport::job(crate = "crate::reexport")]
pub async fn reexported(_: u32) -> Result<(), JobError> {
    Ok(())
}

#[reexport::job(crate = "self::reexport")]
pub async fn relative(_: u32) -> Result<(), JobError> {
    Ok(())
}

fn main() {
    let _ = (plain::NAME, renamed::NAME, reexported::NAME, relative::NAME);
}
