#![doc = "The `#[job]` attribute of the queue job framework: it turns an `async fn` into a job \
          handler, registered by name at link time, with typed dispatch helpers in a module named \
          after the function.\n\nUse it through `queue_core::job` (or `queue_core::prelude`); \
          the expansion refers to `queue_core`'s hidden `__private` module, which is not a \
          stable interface."]

mod check;
mod cron;
// The schedule rule too: `#[job(cron = ...)]` refuses what the run-time API refuses.
#[path = "../../queue-core/src/schedule/cron_rule.rs"]
mod cron_rule;
mod duration;
mod errors;
mod expand;
mod literal;
// The name rule lives in queue-core (this crate cannot depend on it): one source for both.
#[path = "../../queue-core/src/job/name_rule.rs"]
mod name_rule;
mod parse;
mod rate_key;

use proc_macro::TokenStream;

/// Turns an `async fn` into a job handler.
///
/// ```
/// use std::time::Duration;
///
/// use queue_core::{job, Data, JobContext, Queue};
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Welcome {
///     user_id: u64,
/// }
///
/// /// Application state, registered on the worker with `queue.worker().state(Mailer)`.
/// struct Mailer;
///
/// impl Mailer {
///     async fn send(&self, user_id: u64, last_try: bool) -> std::io::Result<()> {
///         let _ = (user_id, last_try);
///         Ok(())
///     }
/// }
///
/// #[job(queue = "mail", attempts = 5, backoff = "exponential(1s, max = 10m)", timeout = "30s")]
/// async fn send_welcome(
///     job: Welcome,
///     ctx: JobContext,
///     mailer: Data<Mailer>,
/// ) -> std::io::Result<()> {
///     mailer.send(job.user_id, ctx.is_last_attempt()).await
/// }
///
/// async fn sign_up(queue: &Queue, user_id: u64) -> queue_core::Result<()> {
///     // One job, run in a minute at the earliest.
///     send_welcome::dispatch(queue, Welcome { user_id })
///         .delay(Duration::from_secs(60))
///         .await?;
///     // Several jobs in one round trip.
///     queue
///         .dispatch_bulk([
///             send_welcome::job(Welcome { user_id: 1 }),
///             send_welcome::job(Welcome { user_id: 2 }).priority(5),
///         ])
///         .await?;
///     Ok(())
/// }
/// # fn main() {
/// #     assert_eq!(send_welcome::NAME, "send_welcome");
/// #     assert_eq!(send_welcome::DEFINITION.queue, "mail");
/// #     let _ = sign_up;
/// # }
/// ```
///
/// The function stays as written and can still be called directly. The attribute adds:
///
/// - a module with the function's name (modules and functions live in different namespaces),
///   visible wherever the function is, holding:
///   - `DEFINITION`: the job's `JobDefinition` (name and options);
///   - `NAME`: the job name;
///   - `Payload`: the payload type;
///   - `job(payload) -> NewJob`: a job to adjust and dispatch, or to dispatch in bulk;
///   - `dispatch(&queue, payload) -> Dispatch`: dispatches a job; adjust it with `.delay(..)`,
///     `.priority(..)`, `.id(..)`... and `.await` it;
/// - the handler's registration, so that workers of any `Queue` in the program run jobs of this
///   name, and so `queue_core::definitions()` lists it.
///
/// # The handler
///
/// It must be an `async fn` without generic or lifetime parameters, `where` clause, `self`,
/// `const`, `unsafe` or `extern`, and must return `Result<T, E>` where `E: Display`:
///
/// - an `Err` holding a `JobError` keeps its disposition (`JobError::fatal` fails the job at
///   once, `JobError::retry_after` chooses the delay);
/// - a `Box<dyn Error + Send + Sync>` holding a `JobError` is unwrapped the same way;
/// - any other error is retried with the handler's backoff until its attempts are used up.
///
/// Its first argument is the payload: any type that implements `serde::Serialize`,
/// `serde::Deserialize` (owned) and `Send`. A handler without arguments has the payload `()`.
/// Further arguments are built for each run by `FromContext`: `JobContext` (the running job's
/// id, attempt, cancellation...) and `Data<T>` (state registered on the worker). Argument
/// patterns may be anything, e.g. `Welcome { user_id }: Welcome`. Arguments are owned: a
/// borrowed type such as `&str` is refused.
///
/// `#[cfg(...)]` attributes of the function apply to the generated module and registration too.
///
/// The types the generated module mentions are resolved inside that module, which imports
/// everything from the function's module with `use super::*`: define a handler in a module,
/// not inside a function body, when its payload type is defined next to it.
///
/// # Options
///
/// All are optional; each may be given once.
///
/// - `name = "send_welcome"`: the job name jobs are stored and dispatched under; by default
///   the function's name. 1 to 200 bytes of ASCII letters, digits and `_-.:/@`.
/// - `queue = "mail"`: the queue its jobs go to by default (same rule as names); by default
///   `"default"`.
/// - `concurrency = 8`: how many of its jobs one worker runs at once, at least 1; by default 10.
/// - `attempts = 5`: runs allowed per job, retries included, at least 1; by default 3.
/// - `backoff = "..."`: the delay between attempts, one of
///   - `"fixed(5s)"`: the same delay every time;
///   - `"exponential(1s)"`: `1s`, `2s`, `4s`... capped at one hour, with jitter (the delay is
///     drawn from the upper half of its range);
///   - `"exponential(1s, max = 10m)"`, `"exponential(500ms, max = 1h, jitter = false)"`:
///     another cap, or no jitter (in any order);
///   - `backoff = my::policy` (a path, not a string): a `fn(u32) -> Duration` of the attempt that
///     just failed, from 1.
///
///   By default `"exponential(1s, max = 1h)"`.
/// - `timeout = "30s"`: the longest a run may take before it is cancelled and counted as a
///   failed attempt; by default none.
/// - `priority = 3`: the default priority of its jobs, from -128 to 127; higher runs first;
///   by default 0.
/// - `rate = "100/1s"`: at most this many of its jobs start in any window of that length,
///   across every worker sharing the storage; by default none.
/// - `global_concurrency = 4`: at most this many of its jobs run at once across every worker,
///   held by leases; by default none.
/// - `rate_key = "tenant"` or `rate_key = my::tenant_of`: splits `rate` and
///   `global_concurrency` per key, taken from a field of the payload (any type that
///   implements `Display`) or computed by a `fn(&Payload) -> String`, when the job is
///   dispatched. Each key then has its own window, running jobs and pause
///   (`JobError::rate_limited` pauses the key, not the handler), and the keys with jobs
///   waiting are served round robin, so one key's backlog does not starve the others. Needs
///   `rate` or `global_concurrency`.
/// - `unique_for = "10m"`: its jobs are unique by default, under the job name and a hash of the
///   payload (or the key given with `.unique(key)`), for at most this long: a duplicate
///   dispatch stores nothing and reports the waiting job's id with `created: false`.
/// - `unique_mode = "until_finished"`: what the uniqueness covers: `"until_started"` (the
///   default: while the job waits), `"until_finished"` (also while it runs or waits for a
///   retry) or `"debounce"` (a duplicate replaces the waiting job's payload and, with a delay,
///   its due time). Alone, it makes the jobs unique for an hour.
/// - `shards = 4`: splits the handler's lane into this many shards, 1 to 256 (by default 1):
///   each shard is a storage queue of its own (on Redis, its own hash tag, so the shards of a
///   lane spread over a cluster's masters). Dispatch sends each job to the next shard in turn,
///   or to the shard its `.shard_key(..)`, unique key or chosen id picks; a worker serves
///   every shard with the handler's concurrency shared between them. Jobs keep their order
///   (FIFO, priority, delays) within their shard, not across shards. Not with `cron`, `rate` or
///   `global_concurrency`, which are kept per lane.
/// - `crate = "::queue_core"`: the path of the `queue_core` crate, when it is renamed or
///   re-exported.
///
/// Durations are one or more groups of an integer and a unit, `ms`, `s`, `m`, `h` or `d`:
/// `"250ms"`, `"30s"`, `"1h30m"`. The timeout and backoff delays must be longer than zero, and
/// an exponential backoff's `max` no shorter than its base delay.
///
/// # Errors
///
/// Every mistake found in the options or the signature is reported at once, on the offending
/// tokens; types that are not payloads, arguments or results are reported on the type.
#[proc_macro_attribute]
pub fn job(args: TokenStream, input: TokenStream) -> TokenStream {
    job_impl(args.into(), input.into()).into()
}

/// Parses and checks; on error, the function as written followed by every error, so that the
/// function still exists for the rest of the program and for IDEs.
fn job_impl(
    args: proc_macro2::TokenStream,
    input: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    let mut errors = errors::Errors::default();
    let args = parse::parse_args(args, &mut errors).unwrap_or_else(|error| {
        errors.push(error);
        parse::Args::default()
    });
    let job = match syn::parse2::<syn::Item>(input.clone()) {
        Ok(syn::Item::Fn(func)) => check::check(args, func, &mut errors),
        Ok(item) => {
            errors.push(syn::Error::new_spanned(
                item,
                "`#[job]` applies to an `async fn` handler",
            ));
            None
        }
        Err(error) => {
            errors.push(error);
            None
        }
    };
    match (job, errors.finish()) {
        (Some(job), Ok(())) => expand::expand(job, input),
        (_, result) => {
            let errors = result.err().map(|errors| errors.to_compile_error());
            quote::quote!(#input #errors)
        }
    }
}
