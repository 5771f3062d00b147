//! Large payloads stored beside their records ([`RedisOptions::large_payload`]).
//!
//! A Lua script copies every byte it is given several times (into a Lua string, into the
//! command it calls, into its reply), so a 100 KB payload made the enqueue and reserve scripts
//! spend most of their time copying. A payload of at least `large_payload` bytes instead goes
//! to the queue's `body` hash (id -> one byte saying how it is stored, then the bytes) with a
//! plain `HSET` sent in one `MULTI` with the enqueue script, whose envelope for that job has an
//! empty payload; a reserve reply's jobs with empty payloads are then looked up there with one
//! `HMGET`. The scripts never read the hash: only the deletes of a job for good (ack, delete,
//! cancel, trims, clean, purge) drop its field, with the job's other side records.
//!
//! The ids of such jobs must be known before the script runs: the client takes their sequence
//! numbers first (`INCRBY seq n`, one round trip more per large batch), and the script is told
//! (`enqueue.lua`'s `n@first`). So only numbered jobs (no chosen id) of the plain enqueue go
//! this way; others keep their payloads in their records, however big.
//!
//! An envelope with an empty payload and no body field is a job whose payload is empty: it
//! costs the extra lookup, and nothing else.

use bytes::Bytes;
use queue_core::{Error, JobInfo, JobSpec, Lane, Lease, Reservation, Result};
use redis::Value;

use crate::connection::Commands;
use crate::keys::QueueKeys;
use crate::options::Compression;
use crate::record::into_bytes;
use crate::RedisDriver;

/// The first byte of a stored body: the payload follows as it is.
const RAW: u8 = b'=';
/// The first byte of a stored body: the payload follows compressed with LZ4
/// (`lz4_flex`'s block format, its size in front).
const LZ4: u8 = b'4';

/// Which payloads go to the body hash, and how they are stored there.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LargePayloads {
    /// Payloads of at least this many bytes (0: none).
    pub(crate) at_least: usize,
    pub(crate) compress: Compression,
}

impl LargePayloads {
    /// Whether `job`'s payload goes to the body hash: it is large and the job is numbered.
    pub(crate) fn takes(&self, job: &JobSpec<'_>) -> bool {
        self.at_least > 0 && job.payload.len() >= self.at_least && job.id.is_none()
    }

    /// The body-hash value holding `payload`, written into the command as it is sent (the
    /// payload is not copied into a value of its own first).
    pub(crate) fn body<'p>(&self, payload: &'p [u8]) -> Body<'p> {
        if self.compress == Compression::Lz4 {
            let packed = lz4_flex::block::compress_prepend_size(payload);
            if packed.len() < payload.len() {
                return Body::Packed(packed);
            }
        }
        Body::Raw(payload)
    }
}

/// A body-hash value, as a command argument.
pub(crate) enum Body<'p> {
    /// Stored as it is ([`RAW`]).
    Raw(&'p [u8]),
    /// Compressed ([`LZ4`]).
    Packed(Vec<u8>),
}

impl redis::ToRedisArgs for Body<'_> {
    fn write_redis_args<W: ?Sized + redis::RedisWrite>(&self, out: &mut W) {
        let (kind, bytes) = match self {
            Body::Raw(bytes) => (RAW, *bytes),
            Body::Packed(bytes) => (LZ4, bytes.as_slice()),
        };
        let mut w = out.writer_for_next_arg();
        // Writing into the command's buffer cannot fail.
        let _ = std::io::Write::write_all(&mut w, &[kind]);
        let _ = std::io::Write::write_all(&mut w, bytes);
    }
}

impl RedisDriver {
    /// Puts the payloads kept in the body hash into the jobs of `reservation` (of `lane`)
    /// whose envelopes' payloads are empty. A job whose stored payload cannot be read moves to
    /// `unreadable`, to be failed. When the lookup itself fails, those jobs are handed back to
    /// their lane (requeued without spending an attempt, or left for the reaper if even that
    /// fails) and the others still go out.
    pub(crate) async fn fill_reserved(
        &self,
        lane: &Lane,
        reservation: &mut Reservation,
        unreadable: &mut Vec<(Lease, String)>,
    ) {
        let jobs = &mut reservation.jobs;
        let waiting: Vec<usize> = (0..jobs.len())
            .filter(|&i| jobs[i].payload.is_empty())
            .collect();
        if waiting.is_empty() {
            return;
        }
        let key = self.inner.keys.queue(lane.queue()).body();
        let ids: Vec<&str> = waiting.iter().map(|&i| jobs[i].id.as_str()).collect();
        // Indexes of the jobs that cannot go out, ascending, with why (None: hand back).
        let mut out: Vec<(usize, Option<String>)> = Vec::new();
        match fetch(&self.inner.conn, &key, &ids).await {
            Ok(stored) => {
                for (&i, value) in waiting.iter().zip(stored) {
                    match value.map(decode) {
                        None => {}
                        Some(Ok(payload)) => jobs[i].payload = payload,
                        Some(Err(why)) => {
                            out.push((i, Some(format!("job `{}`: {why}", jobs[i].id))))
                        }
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%lane, %error, jobs = waiting.len(), "could not read the stored payloads of reserved jobs; handing them back");
                out = waiting.into_iter().map(|i| (i, None)).collect();
            }
        }
        let mut back = Vec::new();
        for (i, why) in out.into_iter().rev() {
            let lease = jobs.remove(i).lease();
            match why {
                Some(why) => unreadable.push((lease, why)),
                None => back.push(lease),
            }
        }
        if !back.is_empty() {
            if let Err(error) = self.requeue(lane, &back).await {
                tracing::warn!(%lane, %error, "could not hand back jobs whose payloads could not be read; their leases will expire and the reaper returns them");
            }
        }
    }

    /// Puts the payloads kept in the body hash of `queue` into `jobs` whose payloads are
    /// empty (for listings and lookups); one that cannot be read keeps its empty payload, and
    /// why is logged.
    pub(crate) async fn fill_infos(&self, queue: &QueueKeys, jobs: &mut [JobInfo]) -> Result<()> {
        let waiting: Vec<usize> = (0..jobs.len())
            .filter(|&i| jobs[i].payload.is_empty())
            .collect();
        if waiting.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = waiting.iter().map(|&i| jobs[i].id.as_str()).collect();
        let stored = fetch(&self.inner.conn, &queue.body(), &ids).await?;
        for (&i, value) in waiting.iter().zip(stored) {
            match value.map(decode) {
                None => {}
                Some(Ok(payload)) => jobs[i].payload = payload,
                Some(Err(why)) => {
                    tracing::warn!(queue = %jobs[i].queue, id = %jobs[i].id, "stored payload unreadable: {why}");
                }
            }
        }
        Ok(())
    }

    /// Which payloads this driver stores beside their records.
    pub(crate) fn large_payloads(&self) -> LargePayloads {
        LargePayloads {
            at_least: self.inner.options.large_payload,
            compress: self.inner.options.compress,
        }
    }
}

/// The payload a body-hash value holds, or why it cannot be read.
pub(crate) fn decode(stored: Bytes) -> std::result::Result<Bytes, String> {
    match stored.first() {
        Some(&RAW) => Ok(stored.slice(1..)),
        Some(&LZ4) => {
            let packed = &stored[1..];
            // The size in front is trusted for the allocation: refuse one no LZ4 block of this
            // length can reach (a byte of LZ4 expands to at most 255).
            let size = packed
                .get(..4)
                .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize);
            if size > packed.len().saturating_mul(255) {
                return Err(format!(
                    "its stored payload claims {size} bytes, more than its {} compressed bytes hold",
                    packed.len()
                ));
            }
            lz4_flex::block::decompress_size_prepended(packed)
                .map(Bytes::from)
                .map_err(|e| format!("its stored payload does not decompress (LZ4): {e}"))
        }
        _ => Err("its stored payload has an unknown form".to_string()),
    }
}

/// The body-hash values of `ids` (`HMGET`), `None` for each id without one.
pub(crate) async fn fetch(conn: &Commands, key: &str, ids: &[&str]) -> Result<Vec<Option<Bytes>>> {
    let values: Vec<Value> = conn.query(redis::cmd("HMGET").arg(key).arg(ids)).await?;
    if values.len() != ids.len() {
        return Err(Error::storage(format!(
            "HMGET of {} stored payloads returned {} values",
            ids.len(),
            values.len()
        )));
    }
    Ok(values.into_iter().map(into_bytes).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::ToRedisArgs;

    /// The value `large` stores for `payload`.
    fn stored(large: LargePayloads, payload: &[u8]) -> Bytes {
        let mut args = large.body(payload).to_redis_args();
        assert_eq!(args.len(), 1, "one argument");
        Bytes::from(args.remove(0))
    }

    #[test]
    fn bodies_round_trip_raw_and_compressed() {
        let text = br#"{"text":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#.repeat(100);
        for compress in [Compression::None, Compression::Lz4] {
            let large = LargePayloads {
                at_least: 1,
                compress,
            };
            let value = stored(large, &text);
            match compress {
                Compression::Lz4 => assert!(value.len() < text.len() / 4, "{}", value.len()),
                _ => assert_eq!(value.len(), text.len() + 1),
            }
            assert_eq!(decode(value).unwrap(), text.as_slice());
        }
        // A payload LZ4 would not shrink is stored as it is.
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let large = LargePayloads {
            at_least: 1,
            compress: Compression::Lz4,
        };
        assert_eq!(stored(large, &noise)[0], RAW);
        assert_eq!(decode(stored(large, &noise)).unwrap(), noise.as_slice());
        assert!(decode(Bytes::from_static(b"?x"))
            .unwrap_err()
            .contains("unknown form"));
        assert!(decode(Bytes::from_static(b"4\xff\xff\xff\x7fxx"))
            .unwrap_err()
            .contains("claims"));
        assert!(decode(Bytes::from_static(b"4\x08\x00\x00\x00\xffxx"))
            .unwrap_err()
            .contains("LZ4"));
    }
}
