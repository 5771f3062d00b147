#![deny(warnings)]

use std::fmt;

use queue_core::{job, JobError};

#[job]
pub async fn job_error(_: u32) -> Result<(), JobError> {
    Err(JobError::fatal("no"))
}

#[job]
pub async fn io_error(n: u32) -> Result<u32, std::io::Error> {
    Ok(n)
}

#[job]
pub async fn boxed(_: u32) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Err(Box::new(JobError::fatal("boxed")))
}

#[job]
pub async fn string_error(_: u32) -> Result<String, String> {
    Err("a message".to_string())
}

#[job]
pub async fn queue_result(_: u32) -> queue_core::Result<()> {
    Ok(())
}

#[job]
pub async fn core_result(_: u32) -> std::result::Result<(), JobError> {
    Ok(())
}

pub struct MyError;

impl fmt::Display for MyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("my error")
    }
}

#[job]
pub async fn displayable(_: u32) -> Result<(), MyError> {
    Err(MyError)
}

fn main() {}
