//! Calls of one request each kept in flight together, in order: a bulk dispatch cut into
//! several script calls sends the next before the last one's reply is back, so across a network
//! it pays about one round trip instead of one per call.
//!
//! Each call is polled once as it is admitted, before the next is made. A driver call puts its
//! request on the connection on its first poll, so the server runs the calls in the order they
//! were given: the jobs of one lane are stored in dispatch order, as one call after another
//! would store them. (That holds for one connection to one server; a cluster connection sends
//! each request through a task of its own, so its caller keeps one call in flight.) A failed call ends the sending (the calls not sent yet are not made) and
//! the calls already in flight are awaited, so the caller learns the outcome of every request
//! that was sent.

use std::future::Future;
use std::task::{Context, Poll, Waker};

use futures_util::future::maybe_done;
use futures_util::stream::{FuturesOrdered, StreamExt};
use queue_core::Result;

/// The most calls in flight at once.
pub(crate) const MAX_CALLS: usize = 4;

/// Runs `calls`, each given with the bytes it sends, with up to `max_calls` in flight and,
/// past the first, no more than `max_bytes` sent and not yet answered. Returns the outcomes in
/// the order of the calls, up to and including the first failure and the calls in flight with
/// it; the calls after them are not made.
pub(crate) async fn in_order<T, F>(
    calls: impl IntoIterator<Item = (usize, F)>,
    max_calls: usize,
    max_bytes: usize,
) -> Vec<Result<T>>
where
    F: Future<Output = Result<T>>,
{
    let mut calls = calls.into_iter();
    let mut flying = FuturesOrdered::new();
    let mut bytes_flying = 0usize;
    let mut failed = false;
    let mut outcomes = Vec::new();
    loop {
        while !failed
            && flying.len() < max_calls.max(1)
            && (flying.is_empty() || bytes_flying < max_bytes)
        {
            let Some((bytes, call)) = calls.next() else {
                break;
            };
            // Unconstrained: the first poll must not stop short of sending because the
            // caller's task used up its share of the runtime's budget.
            let mut call = Box::pin(maybe_done(tokio::task::unconstrained(call)));
            // The request goes out here; the waker given is replaced by the next poll's.
            let _: Poll<()> = call.as_mut().poll(&mut Context::from_waker(Waker::noop()));
            bytes_flying += bytes;
            flying.push_back(async move {
                call.as_mut().await;
                let outcome = call
                    .as_mut()
                    .take_output()
                    .expect("a call polled to its end");
                (bytes, outcome)
            });
        }
        let Some((bytes, outcome)) = flying.next().await else {
            return outcomes;
        };
        bytes_flying -= bytes;
        failed |= outcome.is_err();
        outcomes.push(outcome);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use queue_core::Error;

    use super::*;

    /// A call that notes when it was sent (its first poll) and when it ended, taking `took`.
    async fn call(
        log: Arc<Mutex<Vec<String>>>,
        n: usize,
        took: Duration,
        fails: bool,
    ) -> Result<usize> {
        log.lock().unwrap().push(format!("sent {n}"));
        tokio::time::sleep(took).await;
        log.lock().unwrap().push(format!("ended {n}"));
        if fails {
            Err(Error::storage(format!("call {n} refused")))
        } else {
            Ok(n)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn calls_are_sent_in_order_four_at_a_time_and_outcomes_come_in_order() {
        let log = Arc::new(Mutex::new(Vec::new()));
        // Later calls end sooner, yet their outcomes come in the order of the calls.
        let calls = (0..6).map(|n| {
            let took = Duration::from_millis(60 - 10 * n as u64);
            (1, call(log.clone(), n, took, false))
        });
        let outcomes: Vec<usize> = in_order(calls, MAX_CALLS, usize::MAX)
            .await
            .into_iter()
            .map(|o| o.unwrap())
            .collect();
        assert_eq!(outcomes, [0, 1, 2, 3, 4, 5]);
        // Four sent before any ended; the next ones once the first call's outcome was in.
        let log = log.lock().unwrap().clone();
        assert_eq!(
            log,
            [
                "sent 0", "sent 1", "sent 2", "sent 3", "ended 3", "ended 2", "ended 1", "ended 0",
                "sent 4", "sent 5", "ended 5", "ended 4"
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn one_call_at_a_time_when_asked() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let calls = (0..3).map(|n| (1, call(log.clone(), n, Duration::from_millis(5), false)));
        assert_eq!(in_order(calls, 1, usize::MAX).await.len(), 3);
        let log = log.lock().unwrap().clone();
        assert_eq!(
            log,
            ["sent 0", "ended 0", "sent 1", "ended 1", "sent 2", "ended 2"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn big_calls_go_one_at_a_time() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let calls = (0..3).map(|n| (100, call(log.clone(), n, Duration::from_millis(5), false)));
        assert_eq!(in_order(calls, MAX_CALLS, 100).await.len(), 3);
        let log = log.lock().unwrap().clone();
        assert_eq!(
            log,
            ["sent 0", "ended 0", "sent 1", "ended 1", "sent 2", "ended 2"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_stops_the_sending_and_the_calls_in_flight_are_awaited() {
        let log = Arc::new(Mutex::new(Vec::new()));
        // Call 0 ends at 1 ms (call 4 goes out then), call 1 fails at 5 ms, while calls 2, 3
        // and 4 are in flight; they end later and are awaited, and call 5 is never made.
        let calls = (0..8).map(|n| {
            let took = Duration::from_millis(match n {
                0 => 1,
                1 => 5,
                _ => 20,
            });
            (1, call(log.clone(), n, took, n == 1))
        });
        let shown: Vec<String> = in_order(calls, MAX_CALLS, usize::MAX)
            .await
            .into_iter()
            .map(|o| match o {
                Ok(n) => n.to_string(),
                Err(e) => e.to_string(),
            })
            .collect();
        assert_eq!(shown.len(), 5, "{shown:?}");
        assert_eq!(shown[0], "0");
        assert!(shown[1].contains("call 1 refused"), "{shown:?}");
        assert_eq!(shown[2..], ["2", "3", "4"]);
        let log = log.lock().unwrap().clone();
        assert!(log.iter().any(|l| l == "ended 4"), "{log:?}");
        assert!(!log.iter().any(|l| l == "sent 5"), "{log:?}");
    }
}
