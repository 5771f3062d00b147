#![deny(warnings)]

use queue_core::{job, Data, JobContext, JobError};

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Welcome {
    pub user_id: u64,
}

pub struct Db {
    pub url: String,
}

pub struct Mailer;

#[job]
pub async fn with_context(job: Welcome, ctx: JobContext) -> Result<(), JobError> {
    let _ = (job.user_id, ctx.attempt());
    Ok(())
}

#[job(queue = "mail")]
pub async fn with_state(
    job: Welcome,
    ctx: JobContext,
    db: Data<Db>,
    _mailer: Data<Mailer>,
) -> Result<(), JobError> {
    let _ = (job.user_id, ctx.name(), db.url.len());
    Ok(())
}

// Any pattern: destructuring, `mut`, `_`, and the context before the state or after it.
#[job]
pub async fn patterns(
    Welcome { user_id }: Welcome,
    mut db: Data<Db>,
    _: JobContext,
) -> Result<(), JobError> {
    db = db.clone();
    let _ = (user_id, db.url.len());
    Ok(())
}

#[job]
pub async fn mutable_payload(mut job: Welcome) -> Result<(), JobError> {
    job.user_id += 1;
    let _ = job.user_id;
    Ok(())
}

// Payloads of any serde type.
#[job]
pub async fn tuple(job: (u32, String, Vec<Option<bool>>)) -> Result<(), JobError> {
    let _ = job;
    Ok(())
}

#[job]
pub async fn std_type(job: std::collections::HashMap<String, u64>) -> Result<(), JobError> {
    let _ = job;
    Ok(())
}

fn main() {
    let _ = tuple::job((1, "a".into(), vec![None]));
}
