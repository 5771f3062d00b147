#![deny(warnings)]

use std::time::Duration;

use queue_core::{job, Backoff, JobError};

pub fn linear(attempt: u32) -> Duration {
    Duration::from_secs(u64::from(attempt) * 10)
}

pub mod policies {
    use std::time::Duration;

    pub fn quick(_attempt: u32) -> Duration {
        Duration::from_millis(10)
    }
}

#[job(backoff = linear)]
pub async fn plain(_: u32) -> Result<(), JobError> {
    Ok(())
}

#[job(backoff = policies::quick)]
pub async fn in_module(_: u32) -> Result<(), JobError> {
    Ok(())
}

#[job(backoff = self::linear)]
pub async fn self_path(_: u32) -> Result<(), JobError> {
    Ok(())
}

#[job(backoff = crate::policies::quick)]
pub async fn crate_path(_: u32) -> Result<(), JobError> {
    Ok(())
}

pub mod nested {
    use queue_core::{job, JobError};

    #[job(backoff = super::linear)]
    pub async fn super_path(_: u32) -> Result<(), JobError> {
        Ok(())
    }
}

fn main() {
    for (definition, expected) in [
        (&plain::DEFINITION, 30),
        (&in_module::DEFINITION, 0),
        (&self_path::DEFINITION, 30),
        (&crate_path::DEFINITION, 0),
        (&nested::super_path::DEFINITION, 30),
    ] {
        assert!(matches!(definition.backoff, Backoff::Custom(_)));
        assert_eq!(definition.backoff.delay(3).as_secs(), expected);
    }
}
