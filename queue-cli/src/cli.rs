//! The command line: global options, commands and their arguments (clap derive).

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use queue_core::{JobState, Order};

use crate::duration::parse_duration;

/// Inspect and administer job queues: counts, failed jobs, retries, workers, dispatch.
#[derive(Debug, Parser)]
#[command(name = "queue", version)]
pub(crate) struct Cli {
    /// Storage URL: `redis://[user:password@]host:6379/0[?prefix=app]` or `memory://`.
    /// Defaults to $QUEUE_URL, else `memory://` (which sees only this process's jobs).
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) url: Option<String>,

    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Jobs per queue by state (ready, scheduled, active, failed, completed), whether it is
    /// paused, and per lane (job name).
    Stats {
        /// Only this queue.
        #[arg(long, short)]
        queue: Option<String>,
    },
    /// Names of the queues that hold or held jobs.
    Queues,
    /// Lists jobs in one state, a page at a time.
    Jobs(JobsArgs),
    /// Shows one job in full; without --queue, looks in every queue.
    Show {
        /// The job's id.
        id: String,
        /// The queue holding it.
        #[arg(long, short)]
        queue: Option<String>,
    },
    /// Moves a failed job (or, with --all, every failed job of the queue) back to ready with
    /// fresh attempts.
    Retry {
        /// The failed job's id.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Retry every failed job of the queue.
        #[arg(long)]
        all: bool,
        /// The queue holding the job(s).
        #[arg(long, short)]
        queue: String,
    },
    /// Cancels a job: a waiting one is removed; a running one is stopped by its worker at its
    /// next lease renewal and kept in the failed list as cancelled. It is never retried on its
    /// own. Without --queue, looks in every queue.
    Cancel {
        /// The job's id.
        id: String,
        /// The queue holding it.
        #[arg(long, short)]
        queue: Option<String>,
    },
    /// Deletes one job, in any state.
    Delete {
        /// The job's id.
        id: String,
        /// The queue holding it.
        #[arg(long, short)]
        queue: String,
    },
    /// Deletes every job of a queue, in every state, without asking.
    Purge {
        /// The queue to empty.
        queue: String,
    },
    /// Stops workers from taking jobs of a queue (dispatch still stores them).
    Pause {
        /// The queue to pause.
        queue: String,
    },
    /// Lets workers take jobs of a paused queue again.
    Resume {
        /// The queue to resume.
        queue: String,
    },
    /// Stores a job by name with a JSON payload, for a worker that has its handler.
    Dispatch(DispatchArgs),
    /// The live workers and the lanes they serve.
    Workers,
    /// Lanes whose ready or scheduled jobs no live worker serves.
    Unserved,
    /// Follows job events as workers write them, one line each (time, kind, queue/job, id,
    /// attempt, run time, error), until Ctrl-C; `--json` prints each as a JSON object.
    ///
    /// Workers write events only when started with `Queue::with_event_log`. Without
    /// `--queue`, follows every queue the storage lists, from now on; the queues are listed
    /// again every 5 seconds, and a queue that appeared since is followed from its oldest kept
    /// event.
    Events {
        /// Follow only this queue (which need not exist yet).
        #[arg(long)]
        queue: Option<String>,
    },
    /// Prints the result a job's handler kept (handlers with `keep_result`), as pretty JSON.
    Result {
        /// The job's id.
        id: String,
        /// The queue holding it.
        #[arg(long, short)]
        queue: String,
        /// Wait up to this long for the job to finish (`10s`, `2m`); a job that fails or is
        /// still pending at the end is an error.
        #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
        wait: Option<Duration>,
    },
    /// Removes completed or failed jobs that finished longer ago than --older-than, oldest
    /// first, with their results.
    Clean(CleanArgs),
    /// Serves the web dashboard until Ctrl-C: queues, jobs, failures, workers and schedules,
    /// with actions (retry, delete, cancel, pause, purge...) unless --read-only.
    ///
    /// Beyond loopback it needs credentials from the environment: QUEUE_WEB_TOKEN (a bearer
    /// token; browsers send it as the password of any user), or QUEUE_WEB_USER and
    /// QUEUE_WEB_PASSWORD.
    Web(WebArgs),
}

/// Arguments of `queue web`.
#[derive(Debug, Args)]
pub(crate) struct WebArgs {
    /// The address to listen on (`127.0.0.1:8080`; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub(crate) listen: std::net::SocketAddr,
    /// Hide every action and refuse every action request.
    #[arg(long)]
    pub(crate) read_only: bool,
}

/// Arguments of `queue clean`.
#[derive(Debug, Args)]
pub(crate) struct CleanArgs {
    /// Which jobs to remove: `completed` or `failed`.
    #[arg(value_parser = parse_clean_state, value_name = "STATE")]
    pub(crate) state: JobState,
    /// Remove only jobs that finished longer ago than this (`1h`, `7d`, `0s` for all).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub(crate) older_than: Duration,
    /// Only this queue (default: every queue).
    #[arg(long, short)]
    pub(crate) queue: Option<String>,
    /// Most jobs to remove per queue.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) limit: u32,
}

/// The state `queue clean` takes: `completed` or `failed`, refusing the others by name.
fn parse_clean_state(text: &str) -> Result<JobState, String> {
    match text {
        "completed" => Ok(JobState::Completed),
        "failed" => Ok(JobState::Failed),
        "ready" | "scheduled" | "active" => Err(format!(
            "cannot clean {text} jobs: only `completed` and `failed` jobs can be cleaned"
        )),
        other => Err(format!(
            "unknown state `{other}`: `queue clean` takes `completed` or `failed`"
        )),
    }
}

/// Arguments of `queue jobs`.
#[derive(Debug, Args)]
pub(crate) struct JobsArgs {
    /// Which jobs to list.
    #[arg(long, value_enum)]
    pub(crate) state: StateArg,
    /// Only this queue (default: every queue, in name order, one after the other).
    #[arg(long, short)]
    pub(crate) queue: Option<String>,
    /// Only this job name's lane.
    #[arg(long, short)]
    pub(crate) name: Option<String>,
    /// Which end to start from: `oldest` lists in the order jobs run (ready), come due
    /// (scheduled), were leased (active), failed or completed; `newest` the reverse. Default:
    /// oldest, and newest for `--state failed` and `--state completed` (latest first).
    #[arg(long, value_enum)]
    pub(crate) order: Option<OrderArg>,
    /// Most jobs to print (1 to 1000).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=queue_core::MAX_PAGE as i64))]
    pub(crate) limit: u32,
    /// Where to continue: the `next` cursor a previous page printed (with the same --state,
    /// --queue, --name and --order).
    #[arg(long)]
    pub(crate) cursor: Option<String>,
}

/// A listing's order, as `--order` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum OrderArg {
    /// The order jobs run, come due, were leased or failed.
    Oldest,
    /// The reverse.
    Newest,
}

impl OrderArg {
    /// The order for `state`: the one asked for, else the state's default.
    pub(crate) fn or_default(order: Option<Self>, state: StateArg) -> Self {
        match (order, state) {
            (Some(order), _) => order,
            (None, StateArg::Failed | StateArg::Completed) => OrderArg::Newest,
            (None, _) => OrderArg::Oldest,
        }
    }

    /// The core order it names.
    pub(crate) fn order(self) -> Order {
        match self {
            OrderArg::Oldest => Order::Oldest,
            OrderArg::Newest => Order::Newest,
        }
    }

    /// Its name as `--order` takes it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            OrderArg::Oldest => "oldest",
            OrderArg::Newest => "newest",
        }
    }
}

/// Arguments of `queue dispatch`.
#[derive(Debug, Args)]
pub(crate) struct DispatchArgs {
    /// The job name (the handler's name in the worker).
    pub(crate) name: String,
    /// The payload, as JSON: '{"user_id": 7}'.
    pub(crate) payload: String,
    /// The queue to store it in (a worker serving this queue for the handler runs it).
    #[arg(long, short, default_value = queue_core::DEFAULT_QUEUE)]
    pub(crate) queue: String,
    /// Run no earlier than this from now: `250ms`, `10s`, `5m`, `1h`, `2d`, `1m30s`.
    #[arg(long, value_parser = parse_duration)]
    pub(crate) delay: Option<Duration>,
    /// Choose the job's id (a job with this id that still exists is not stored twice).
    #[arg(long)]
    pub(crate) id: Option<String>,
    /// Priority, -128 to 127: higher runs first.
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) priority: Option<i8>,
    /// How many times the job may run.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) attempts: Option<u32>,
}

/// A job state, as `--state` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum StateArg {
    /// Waiting for their due time.
    Scheduled,
    /// Waiting for a worker.
    Ready,
    /// Leased to a worker.
    Active,
    /// Out of attempts, or failed fatally.
    Failed,
    /// Kept after success (handlers that keep completed jobs).
    Completed,
}

impl StateArg {
    /// The core state it names.
    pub(crate) fn state(self) -> JobState {
        match self {
            StateArg::Scheduled => JobState::Scheduled,
            StateArg::Ready => JobState::Ready,
            StateArg::Active => JobState::Active,
            StateArg::Failed => JobState::Failed,
            StateArg::Completed => JobState::Completed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_a_dispatch() {
        let cli = Cli::try_parse_from([
            "queue",
            "dispatch",
            "send",
            "{}",
            "--delay",
            "1m30s",
            "--priority",
            "-3",
            "--json",
        ])
        .unwrap();
        assert!(cli.json);
        let Command::Dispatch(args) = cli.command else {
            panic!("not a dispatch: {:?}", cli.command)
        };
        assert_eq!(args.delay, Some(Duration::from_secs(90)));
        assert_eq!(args.priority, Some(-3));
        assert_eq!(args.queue, "default");
    }

    #[test]
    fn retry_takes_an_id_or_all() {
        assert!(Cli::try_parse_from(["queue", "retry", "--queue", "q"]).is_err());
        assert!(Cli::try_parse_from(["queue", "retry", "7", "--all", "--queue", "q"]).is_err());
        assert!(Cli::try_parse_from(["queue", "retry", "--all", "--queue", "q"]).is_ok());
        assert!(Cli::try_parse_from(["queue", "retry", "7", "--queue", "q"]).is_ok());
    }

    #[test]
    fn clean_takes_completed_or_failed_only() {
        let cli =
            Cli::try_parse_from(["queue", "clean", "completed", "--older-than", "1h"]).unwrap();
        let Command::Clean(args) = cli.command else {
            panic!("not a clean: {:?}", cli.command)
        };
        assert_eq!(args.state, JobState::Completed);
        assert_eq!(args.older_than, Duration::from_secs(3_600));
        assert_eq!((args.queue, args.limit), (None, 1000));
        let err = Cli::try_parse_from(["queue", "clean", "ready", "--older-than", "1h"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot clean ready jobs"), "{err}");
        let err = Cli::try_parse_from(["queue", "clean", "done", "--older-than", "1h"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown state `done`"), "{err}");
        assert!(Cli::try_parse_from(["queue", "clean", "failed"]).is_err());
    }
}
