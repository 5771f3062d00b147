use queue_core::job;

// Every mistake is reported at once.
#[job(
    name = "has space",
    queue = mail,
    concurrency = 0,
    attempts = "3",
    backoff = "fixed(1x)",
    timeout = "1 hour",
    priority = 1000,
    retries = 3,
    queue = "again",
)]
pub unsafe fn everything<T>(&self, _: impl Clone) {}

fn main() {}
