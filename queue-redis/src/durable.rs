//! Durable dispatch ([`RedisOptions::durable_replicas`](crate::RedisOptions::durable_replicas)):
//! after storing jobs, `WAIT` until enough replicas confirmed the writes, on the connection
//! that made them (on a cluster, on the connection to each primary holding one of the jobs'
//! queues).
//!
//! `WAIT` counts every write sent on the connection before it, so the jobs of other dispatches
//! sharing the connection are confirmed with these, never the other way round. Should the
//! command connection be replaced between the store and the `WAIT` (it failed), the `WAIT`
//! runs on a connection that wrote nothing and confirms at once: a dispatch that saw its
//! connection fail should be taken as not durable.

use std::time::Instant;

use queue_core::{Dispatched, Error, NewJob, Result};

use crate::RedisDriver;

impl RedisDriver {
    /// Whether dispatches wait for replicas.
    pub(crate) fn durable(&self) -> bool {
        self.inner.options.durable_replicas > 0
    }

    /// The distinct queues of `jobs`, in order: where a durable dispatch waits for replicas.
    pub(crate) fn queues_of(jobs: &[NewJob]) -> Vec<String> {
        let mut queues: Vec<String> = Vec::new();
        for job in jobs {
            let queue = job.spec().queue;
            if !queues.iter().any(|q| q == queue) {
                queues.push(queue.to_string());
            }
        }
        queues
    }

    /// Waits until the options' number of replicas confirmed the writes to `queues` (at most
    /// the options' timeout for each primary), then hands `stored` back; fails with
    /// [`Error::NotReplicated`] when fewer did.
    pub(crate) async fn confirm_replicated(
        &self,
        queues: &[String],
        stored: Vec<Dispatched>,
    ) -> Result<Vec<Dispatched>> {
        let wanted = self.inner.options.durable_replicas;
        let timeout = self.inner.options.durable_timeout;
        let started = Instant::now();
        let mut confirmed = u32::MAX;
        for queue in queues {
            let key = self.inner.keys.queue(queue).data();
            let got = self.inner.conn.wait_replicas(&key, wanted, timeout).await?;
            confirmed = confirmed.min(got);
        }
        if confirmed >= wanted {
            return Ok(stored);
        }
        Err(Error::NotReplicated {
            stored,
            confirmed,
            wanted,
            waited: started.elapsed(),
        })
    }
}
