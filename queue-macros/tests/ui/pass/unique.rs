#![deny(warnings)]

use std::time::Duration;

use queue_core::{job, JobError, UniqueDefault, UniqueMode};

#[job(unique_for = "10m")]
pub async fn refresh(_: u64) -> Result<(), JobError> {
    Ok(())
}

#[job(unique_for = "1h", unique_mode = "until_finished")]
pub async fn export(_: u64) -> Result<(), JobError> {
    Ok(())
}

#[job(unique_mode = "debounce", unique_for = "30s")]
pub async fn reindex(_: u64) -> Result<(), JobError> {
    Ok(())
}

#[job(unique_mode = "until_started")]
pub async fn mode_only(_: u64) -> Result<(), JobError> {
    Ok(())
}

#[job]
pub async fn plain(_: u64) -> Result<(), JobError> {
    Ok(())
}

fn main() {
    let unique = |ttl, mode| Some((ttl, mode));
    let of = |u: Option<UniqueDefault>| u.map(|u| (u.ttl, u.mode));
    assert_eq!(
        of(refresh::DEFINITION.unique),
        unique(Duration::from_secs(600), UniqueMode::UntilStarted)
    );
    assert_eq!(
        of(export::DEFINITION.unique),
        unique(Duration::from_secs(3600), UniqueMode::UntilFinished)
    );
    assert_eq!(
        of(reindex::DEFINITION.unique),
        unique(Duration::from_secs(30), UniqueMode::Debounce)
    );
    assert_eq!(
        of(mode_only::DEFINITION.unique),
        unique(queue_core::DEFAULT_UNIQUE_FOR, UniqueMode::UntilStarted)
    );
    assert_eq!(plain::DEFINITION.unique, None);
}
