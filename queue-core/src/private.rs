//! What `#[job]` expansions call. Not a stable interface.

use std::cell::{Cell, RefCell};
use std::fmt::Display;

use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use bytes::Bytes;
pub use futures_util::future::BoxFuture as HandlerFuture;
pub use inventory;
pub use std::time::Duration;

pub use crate::backoff::Backoff;
pub use crate::context::{FromContext, JobContext, Requirement, State};
pub use crate::error::{BoxError, JobError};
pub use crate::queue::{Dispatch, Queue};
pub use crate::registry::{HandlerFn, JobDefinition, Registration};
pub use crate::schedule::Missed;
pub use crate::NewJob;
pub use crate::RateKey;
pub use crate::UniqueMode;

/// Payload types: serializable, deserializable, sendable.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a job payload",
    label = "this payload type must implement `Serialize`, `DeserializeOwned` and `Send`",
    note = "derive `serde::Serialize` and `serde::Deserialize` for it; borrowed data such as `&str` cannot be a payload"
)]
pub trait JobPayload: Serialize + DeserializeOwned + Send + 'static {}
impl<T: Serialize + DeserializeOwned + Send + 'static> JobPayload for T {}

/// Handler return types: `Result<T, E>` with a displayable `E`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a job handler's return type",
    label = "a job handler must return `Result<T, E>` where `E: Display`",
    note = "return `Result<(), JobError>`, or a `Result` with any error type that implements `Display`"
)]
pub trait HandlerResult {}
impl<T, E: Display> HandlerResult for Result<T, E> {}

/// Compile-time check of the payload type, spanned on it by the macro.
pub const fn assert_payload<T: JobPayload>() {}
/// Compile-time check of the return type, spanned on it by the macro.
pub const fn assert_result<T: HandlerResult>() {}
/// Compile-time check of an extra argument's type, spanned on it by the macro.
pub const fn assert_argument<T: FromContext>() {}

/// Decodes a payload, or explains which job, handler and type it failed for. A trace context
/// ahead of the JSON is skipped (one byte compare when there is none).
pub fn decode<T: DeserializeOwned>(def: &JobDefinition, payload: &[u8]) -> Result<T, JobError> {
    let json = match json_of(payload) {
        Ok(json) => json,
        Err(malformed) => {
            return Err(JobError::fatal(crate::error::Message(format!(
                "payload of job `{}` cannot be read for handler `{}`: {malformed}",
                def.name, def.handler,
            ))))
        }
    };
    serde_json::from_slice(json).map_err(|e| {
        JobError::fatal(crate::error::Message(format!(
            "payload of job `{}` does not decode as `{}` for handler `{}`: {e}",
            def.name,
            std::any::type_name::<T>(),
            def.handler,
        )))
    })
}

/// Decodes a payload to compute its rate key (`#[job(rate_key = ..)]`), or says why it cannot.
pub fn decode_for_key<T: DeserializeOwned>(payload: &[u8]) -> Result<T, String> {
    let json = json_of(payload).map_err(|e| e.to_string())?;
    serde_json::from_slice(json).map_err(|e| {
        format!(
            "the payload does not decode as `{}` to compute its key: {e}",
            std::any::type_name::<T>()
        )
    })
}

/// Checks that a payload decodes as `T`, for dispatch by name.
pub fn check_payload<T: DeserializeOwned>(payload: &[u8]) -> Result<(), serde_json::Error> {
    let json = json_of(payload).map_err(<serde_json::Error as serde::de::Error>::custom)?;
    serde_json::from_slice::<T>(json).map(drop)
}

/// The JSON of a stored payload: the payload itself unless it opens with a trace context.
#[inline]
fn json_of(payload: &[u8]) -> Result<&[u8], crate::MalformedPayload> {
    if payload.first() != Some(&crate::CONTEXT_MARK) {
        return Ok(payload);
    }
    crate::StoredPayload::parse(payload).map(|stored| stored.json())
}

/// A job of the handler `def` with its payload encoded.
pub fn new_job<T: Serialize>(def: &'static JobDefinition, payload: &T) -> NewJob {
    match encode(payload) {
        Ok(bytes) => {
            let mut job = NewJob::for_definition(def, bytes);
            job.typed = true;
            job
        }
        Err(source) => NewJob::failed(
            def.name,
            crate::Error::Serialize {
                job: def.name.to_string(),
                source,
            },
        ),
    }
}

/// Payloads larger than this do not keep the encoding buffer at their size.
const SCRATCH_KEEP: usize = 64 * 1024;

thread_local! {
    /// Where payloads are encoded before being copied out at their exact size.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// The size of the last payload this thread encoded that outgrew [`SCRATCH_KEEP`]: the
    /// room the next one starts with.
    static LAST_LARGE: Cell<usize> = const { Cell::new(0) };
    /// Whether the last payload this thread encoded was at least [`LONG_TEXT`] bytes: the next
    /// one is then encoded by [`crate::json`].
    static LAST_LONG: Cell<bool> = const { Cell::new(false) };
}

/// A payload of this size or more makes the next one on its thread go through
/// [`crate::json`], which escapes strings a word at a time (about twice as fast as `serde_json`
/// on text with few characters to escape): a thread that dispatched one large payload likely
/// dispatches more. After a smaller one, `serde_json` encodes the next, a few nanoseconds
/// quicker on small values (24-40 ns against 26-45). Both write the same text.
const LONG_TEXT: usize = 4096;

/// Encodes a payload as JSON into an allocation of exactly its size: the text `serde_json`
/// writes, by [`crate::json`] after a payload of [`LONG_TEXT`] bytes or more on this thread.
///
/// Encoding straight into a new `Vec` grows it several times for a typical payload, and the
/// stored copy then keeps the spare capacity; encoding into a reused buffer and copying the
/// result out costs one allocation. A payload that outgrows the reused buffer's limit instead
/// takes the buffer itself, trimmed to its size; the buffer makes room for as much as the last
/// such payload took once the next one outgrows the limit too, so successive large payloads
/// are neither copied out nor grown step by step, and small ones never get that room.
pub(crate) fn encode<T: Serialize>(payload: &T) -> Result<Bytes, serde_json::Error> {
    SCRATCH.with(|scratch| {
        // A payload whose `Serialize` dispatches another job on this thread finds the buffer
        // in use; it gets a buffer of its own.
        let Ok(mut buffer) = scratch.try_borrow_mut() else {
            return serde_json::to_vec(payload).map(Bytes::from);
        };
        buffer.clear();
        let scratch = Scratch {
            buffer: &mut buffer,
        };
        let long = LAST_LONG.get();
        let encoded = if long {
            crate::json::to_writer(scratch, payload)
        } else {
            serde_json::to_writer(scratch, payload)
        };
        if (buffer.len() >= LONG_TEXT) != long {
            LAST_LONG.set(!long);
        }
        if buffer.len() > SCRATCH_KEEP {
            LAST_LARGE.set(buffer.len().next_multiple_of(4096));
            let mut large = std::mem::take(&mut *buffer);
            large.shrink_to_fit();
            return encoded.map(|()| Bytes::from(large));
        }
        let bytes = encoded.map(|()| Bytes::copy_from_slice(&buffer));
        if buffer.capacity() > SCRATCH_KEEP {
            // Room made for a payload that then failed to encode: not kept.
            *buffer = Vec::new();
        }
        bytes
    })
}

/// The scratch buffer as serde_json writes into it.
struct Scratch<'a> {
    buffer: &'a mut Vec<u8>,
}

impl Scratch<'_> {
    /// Makes room for `more` bytes: past [`SCRATCH_KEEP`], at once as much as the thread's
    /// last large payload took when that covers it (see [`encode`]); else the usual doubling.
    #[cold]
    fn grow(&mut self, more: usize) {
        let need = self.buffer.len() + more;
        let room = LAST_LARGE.get();
        if need > SCRATCH_KEEP && room >= need {
            self.buffer.reserve_exact(room - self.buffer.len());
        } else {
            self.buffer.reserve(more);
        }
    }
}

impl std::io::Write for Scratch<'_> {
    #[inline]
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.write_all(data)?;
        Ok(data.len())
    }

    #[inline]
    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        if self.buffer.capacity() - self.buffer.len() < data.len() {
            self.grow(data.len());
        }
        self.buffer.extend_from_slice(data);
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Typed dispatch of a job of the handler `def`.
pub fn dispatch<'q, T: Serialize>(
    queue: &'q Queue,
    def: &'static JobDefinition,
    payload: &T,
) -> Dispatch<'q> {
    queue.dispatch(new_job(def, payload))
}

/// Adds the state that argument type `T` needs.
pub fn requirement<T: FromContext>(out: &mut Vec<Requirement>) {
    out.extend(T::requirement());
}

/// A kept result as JSON; a value that does not serialize fails the run for good (running it
/// again would not change its type).
pub fn encode_result<T: Serialize>(value: &T) -> Result<Option<Bytes>, JobError> {
    match serde_json::to_vec(value) {
        Ok(json) => Ok(Some(Bytes::from(json))),
        Err(error) => Err(JobError::fatal(JobError::msg(format!(
            "the handler succeeded but its result could not be kept: it does not serialize as \
             JSON: {error}"
        )))),
    }
}

/// True when the running job is a workflow step, whose value is stored for its dependents
/// whatever the handler keeps (one compare of the id's opening).
pub fn wants_result(ctx: &JobContext) -> bool {
    crate::flow::is_step_id(ctx.id())
}

/// A step's value, encoded as JSON when its type serializes (through [`ViaSerialize`]) and
/// stored as nothing otherwise (through [`ViaAny`]). Call as
/// `(&StepValue(&value)).encode_step()` with both traits in scope.
#[derive(Debug)]
pub struct StepValue<'a, T>(pub &'a T);

/// First choice: the value serializes.
pub trait ViaSerialize {
    /// Encodes.
    fn encode_step(&self) -> Result<Option<Bytes>, JobError>;
}

impl<T: Serialize> ViaSerialize for StepValue<'_, T> {
    fn encode_step(&self) -> Result<Option<Bytes>, JobError> {
        Ok(serde_json::to_vec(self.0).ok().map(Bytes::from))
    }
}

/// Last choice: any other value, stored as nothing.
pub trait ViaAny {
    /// Encodes nothing.
    fn encode_step(&self) -> Result<Option<Bytes>, JobError>;
}

impl<T> ViaAny for &StepValue<'_, T> {
    fn encode_step(&self) -> Result<Option<Bytes>, JobError> {
        Ok(None)
    }
}

/// A handler future that fails at once.
pub fn fail_now(error: JobError) -> BoxFuture<'static, Result<Option<Bytes>, JobError>> {
    Box::pin(std::future::ready(Err(error)))
}

/// Holds a handler's error so the macro can convert it by its type: a `JobError` keeps its
/// disposition, a boxed error holding a `JobError` is unwrapped, anything displayable retries.
/// Call as `(&&&Tag::new(err)).into_job_error()` with the three `Via*` traits in scope.
pub struct Tag<E>(Cell<Option<E>>);

impl<E> std::fmt::Debug for Tag<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tag")
    }
}

impl<E> Tag<E> {
    /// Wraps an error.
    pub fn new(error: E) -> Self {
        Tag(Cell::new(Some(error)))
    }

    fn take(&self) -> E {
        self.0.take().expect("error converted twice")
    }
}

/// First choice: the handler returned a `JobError`.
pub trait ViaJobError {
    /// Converts.
    fn into_job_error(self) -> JobError;
}

impl ViaJobError for &&&Tag<JobError> {
    fn into_job_error(self) -> JobError {
        self.take()
    }
}

/// Second choice: a boxed error, which may hold a `JobError`.
pub trait ViaBoxError {
    /// Converts.
    fn into_job_error(self) -> JobError;
}

impl ViaBoxError for &&Tag<BoxError> {
    fn into_job_error(self) -> JobError {
        match self.take().downcast::<JobError>() {
            Ok(job_error) => *job_error,
            Err(other) => JobError::retry(other),
        }
    }
}

/// Last choice: any displayable error, retried with backoff.
pub trait ViaDisplay {
    /// Converts.
    fn into_job_error(self) -> JobError;
}

impl<E: Display> ViaDisplay for &Tag<E> {
    fn into_job_error(self) -> JobError {
        JobError::retry(crate::error::Message(self.take().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::needless_borrow)] // the borrows select the conversion, as in expansions
    fn error_conversion_keeps_fatal() {
        #[allow(unused_imports)]
        use super::{ViaBoxError as _, ViaDisplay as _, ViaJobError as _};
        let fatal = (&&&Tag::new(JobError::fatal("no"))).into_job_error();
        assert!(fatal.is_fatal());
        let boxed: BoxError = Box::new(JobError::fatal("boxed"));
        assert!((&&&Tag::new(boxed)).into_job_error().is_fatal());
        let plain = (&&&Tag::new(std::fmt::Error)).into_job_error();
        assert!(!plain.is_fatal());
        assert_eq!(
            plain.to_string(),
            "an error occurred when formatting an argument"
        );
    }

    #[test]
    fn payloads_are_encoded_whole_at_their_size_whatever_came_before() {
        // Small, large, larger, smaller large, small again: each comes out whole, as serde_json
        // writes it, whatever size the buffer had from the one before.
        for len in [10, 200_000, 300_000, 90_000, 100, 70_000, 5] {
            let text = "y".repeat(len);
            let bytes = encode(&text).unwrap();
            assert_eq!(
                bytes,
                serde_json::to_vec(&text).unwrap(),
                "payload of {len}"
            );
            assert_eq!(bytes.len(), len + 2);
        }
        // Large and small in turn: the small ones get no large room (the buffer stays within
        // its limit), the large ones still come out whole.
        for len in [150_000, 10, 150_000, 20, 1_000_000, 30] {
            let text = "w".repeat(len);
            assert_eq!(encode(&text).unwrap(), serde_json::to_vec(&text).unwrap());
            let kept = SCRATCH.with(|s| s.borrow().capacity());
            assert!(kept <= SCRATCH_KEEP, "after {len}: {kept} bytes kept");
        }
        assert_eq!(
            LAST_LARGE.get(),
            1_000_002usize.next_multiple_of(4096),
            "small payloads leave the room of the last large one for the next"
        );
        // A payload written in many small pieces past the limit comes out whole too (the buffer
        // grows by doubling there, not by each piece).
        let many: Vec<u32> = (0..40_000).collect();
        assert_eq!(encode(&many).unwrap(), serde_json::to_vec(&many).unwrap());
        // A payload that dispatches another while being encoded gets its own buffer.
        struct Nested;
        impl Serialize for Nested {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let inner = encode(&"z".repeat(100_000)).unwrap();
                assert_eq!(inner.len(), 100_002);
                s.serialize_str("outer")
            }
        }
        assert_eq!(encode(&Nested).unwrap(), &b"\"outer\""[..]);
    }

    #[test]
    fn payloads_after_a_long_one_are_written_as_serde_json_writes_them() {
        let text = "a line with \"quotes\",\ta tab and a \\ backslash\n".repeat(200);
        let value = serde_json::json!({"text": text, "n": [1, 2.5, null], "k": {"é": "\u{1}"}});
        // The first after a small payload goes through serde_json, the next ones (after a long
        // one) through the word-at-a-time encoder; a small one after them goes back.
        encode(&1u8).unwrap();
        assert!(!LAST_LONG.get());
        for _ in 0..2 {
            assert_eq!(encode(&value).unwrap(), serde_json::to_vec(&value).unwrap());
            assert!(LAST_LONG.get());
        }
        assert_eq!(
            encode(&"tail").unwrap(),
            serde_json::to_vec(&"tail").unwrap()
        );
        assert!(!LAST_LONG.get());
    }
}
