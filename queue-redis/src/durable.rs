//! Durable dispatch ([`RedisOptions::durable_replicas`](crate::RedisOptions::durable_replicas)):
//! after storing jobs, wait until enough replicas confirmed the writes (on a cluster, on each
//! primary holding one of the jobs' queues).
//!
//! `WAIT` counts the writes of the connection it is sent on, and on one that wrote nothing
//! confirms at once. So each wait writes a mark in the queue's hash tag
//! ([`replicated`](crate::keys::QueueKeys::replicated)) and sends `WAIT` in the same request:
//! replicas take a primary's writes in order, so a replica that confirmed the mark holds every
//! write the primary made before it, the jobs' included, whichever connection sent them. That
//! request goes on a connection of the blocking pool ([`Waiters::confirm`](crate::wait::Waiters::confirm)), not on the command
//! connection the store used: Redis holds a client's later commands while its `WAIT` waits, and
//! the command connection carries every call of the process, renewals among them. And
//! should the command connection have been replaced between the store and the wait (it could
//! now reach another primary, after a failover), the jobs are reported as confirmed by none.
//! Whatever fails after the store, the dispatch fails with [`Error::NotReplicated`], which
//! hands back what was stored, so the caller never dispatches stored jobs again unknowingly.

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
    /// [`Error::NotReplicated`] when fewer did, when the wait failed, or when the command
    /// connection is no longer number `generation`, the one in use when the store began.
    pub(crate) async fn confirm_replicated(
        &self,
        queues: &[String],
        stored: Vec<Dispatched>,
        generation: u64,
    ) -> Result<Vec<Dispatched>> {
        let wanted = self.inner.options.durable_replicas;
        let timeout = self.inner.options.durable_timeout;
        let started = Instant::now();
        let mut confirmed = u32::MAX;
        for queue in queues {
            let mark = self.inner.keys.queue(queue).replicated();
            let waited = self
                .inner
                .waiters
                .confirm(&mark, wanted, timeout, &self.inner.conn)
                .await
                .map_err(|e| self.inner.conn.error(e));
            match waited {
                Ok(got) => confirmed = confirmed.min(got),
                Err(error) => {
                    tracing::warn!(%error, queue, "could not wait for replicas after a durable dispatch");
                    confirmed = 0;
                    break;
                }
            }
        }
        if self.inner.conn.generation() != generation {
            confirmed = 0;
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
