//! Unit tests of `queue.rs`: URL redaction, the checks a job passes before it is stored,
//! and what needs a capability the driver lacks.

use super::*;

#[test]
fn redacts_passwords() {
    assert_eq!(
        redact_url("redis://user:s3cret@host:6379/0"),
        "redis://user:***@host:6379/0"
    );
    assert_eq!(redact_url("redis://:s3cret@host"), "redis://:***@host");
    assert_eq!(redact_url("rediss://s3cret@host/1"), "rediss://***@host/1");
    assert_eq!(redact_url("redis://host:6379"), "redis://host:6379");
    assert_eq!(redact_url("memory://"), "memory://");
    assert_eq!(
        redact_url("redis://:wrong/pa?ss#x@host:6379/2"),
        "redis://:***@host:6379/2"
    );
    assert_eq!(
        redact_url("redis://u:p@ss@host/0?x=1"),
        "redis://u:***@host/0?x=1"
    );
}

#[test]
fn chosen_ids_must_not_look_generated() {
    let mut job = NewJob::named("not_registered_anywhere", "{}").id("123");
    let err = job.check(1024).unwrap_err();
    assert!(err
        .to_string()
        .contains("must contain a character that is not a digit"));
    assert!(NewJob::named("x", "{}").id("order-123").check(1024).is_ok());
}

#[test]
fn unique_keys_are_checked_and_defaulted() {
    let err = NewJob::named("x", "{}").unique("").check(1024).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid unique key ``: a unique key must not be empty"
    );
    let long = "k".repeat(crate::MAX_UNIQUE_KEY_LEN + 1);
    assert!(NewJob::named("x", "{}").unique(long).check(1024).is_err());
    let queue = Queue::new(Arc::new(NoDriver));
    let mut job = NewJob::named("x", "{\"a\":1}")
        .queue("q")
        .unique_for(Duration::from_secs(1));
    queue.check(&mut job).unwrap();
    let key = &job.spec().unique.unwrap().key;
    assert!(key.starts_with("x:") && key.len() == 2 + 32, "{key}");
}

#[tokio::test]
async fn unique_jobs_need_a_driver_that_offers_them() {
    let queue = Queue::new(Arc::new(NoDriver));
    let job = NewJob::named("x", "{}").queue("q").unique("k");
    let err = queue.dispatch(job).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unsupported {
                capability: "unique jobs",
                ..
            }
        ),
        "{err}"
    );
    let err = queue.cancel("q", &JobId::from("j-1")).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unsupported {
                capability: "cancelling jobs",
                ..
            }
        ),
        "{err}"
    );
}

/// A driver for checks that never reach storage.
#[derive(Debug)]
struct NoDriver;

#[async_trait::async_trait]
impl Driver for NoDriver {
    async fn enqueue(&self, _: Vec<NewJob>) -> Result<Vec<Dispatched>> {
        unreachable!()
    }
    async fn ack_and_reserve(
        &self,
        _: &Lane,
        _: &[crate::Lease],
        _: usize,
        _: Duration,
    ) -> Result<(Vec<bool>, crate::Reservation)> {
        unreachable!()
    }
    async fn wait(&self, _: &Lane, _: Option<Duration>) -> Result<()> {
        unreachable!()
    }
    async fn renew(&self, _: &Lane, _: &[crate::Lease], _: Duration) -> Result<Vec<bool>> {
        unreachable!()
    }
    async fn ack(&self, _: &Lane, _: &[crate::Lease]) -> Result<Vec<bool>> {
        unreachable!()
    }
    async fn fail(&self, _: &Lane, _: &crate::Lease, _: crate::Failure) -> Result<bool> {
        unreachable!()
    }
    async fn requeue(&self, _: &Lane, _: &[crate::Lease]) -> Result<Vec<bool>> {
        unreachable!()
    }
    async fn progress(&self, _: &Lane, _: &crate::Lease, _: serde_json::Value) -> Result<bool> {
        unreachable!()
    }
    async fn reap(&self, _: &Lane) -> Result<usize> {
        unreachable!()
    }
}

#[test]
fn payload_limit() {
    let err = NewJob::named("big", vec![b'1'; 10]).check(5).unwrap_err();
    assert_eq!(
        err.to_string(),
        "payload of job `big` is 10 bytes, over the limit of 5 bytes"
    );
}
