//! Listing jobs a page at a time, with a cursor the user passes back for the next page.
//!
//! [`page`] is the one place that knows how storage lists jobs. Today only the failed list can
//! be listed (`Queue::failed`, by offset), so the cursor of one queue is that offset as text
//! and other states are refused as not yet supported. When `Queue` lists every state with an
//! opaque cursor, `page` calls it and passes its cursor through; nothing else here changes.
//!
//! Listing several queues chains their pages: the cursor is then `<queue>,<cursor in that
//! queue>` (a queue name cannot contain a comma), so paging resumes in the right queue.

use queue_core::{JobInfo, JobState, Queue};

use crate::error::{CliError, CliResult};

/// One page of jobs and where the next one starts, if there is one.
#[derive(Debug)]
pub(crate) struct Page {
    /// The jobs, in the storage's order.
    pub(crate) jobs: Vec<JobInfo>,
    /// Pass back with `--cursor` for the next page; `None` at the end.
    pub(crate) next_cursor: Option<String>,
}

/// Up to `limit` jobs of `queue` in `state`, from `cursor` (the start when `None`).
pub(crate) async fn page(
    queue: &Queue,
    name: &str,
    state: JobState,
    limit: usize,
    cursor: Option<&str>,
) -> CliResult<Page> {
    listable(state)?;
    let offset = match cursor {
        None | Some("") => 0,
        Some(text) => text.parse::<usize>().map_err(|_| bad_cursor(text))?,
    };
    // One more than asked tells whether a next page exists.
    let mut jobs = queue.failed(name, offset, limit + 1).await?;
    let next_cursor = (jobs.len() > limit).then(|| (offset + limit).to_string());
    jobs.truncate(limit);
    Ok(Page { jobs, next_cursor })
}

/// Fails for a state whose jobs cannot be listed.
pub(crate) fn listable(state: JobState) -> CliResult<()> {
    if state == JobState::Failed {
        return Ok(());
    }
    Err(CliError::failed(format!(
        "listing {} jobs is not supported yet: only `--state failed` can be listed \
         (see `queue stats` for counts in every state)",
        state_name(state)
    )))
}

/// Up to `limit` jobs in `state` across `queues` (in that order), from `cursor`.
pub(crate) async fn page_across(
    queue: &Queue,
    queues: &[String],
    state: JobState,
    limit: usize,
    cursor: Option<&str>,
) -> CliResult<Page> {
    listable(state)?;
    let (start, mut inner) = match cursor {
        None | Some("") => (0, None),
        Some(text) => {
            let (name, inner) = text.split_once(',').ok_or_else(|| bad_cursor(text))?;
            // A queue that has gone since the cursor was made: resume at the next name.
            let start = queues.partition_point(|q| q.as_str() < name);
            let inner = queues
                .get(start)
                .is_some_and(|q| q == name)
                .then(|| inner.to_string());
            (start, inner)
        }
    };
    let mut jobs = Vec::new();
    for name in queues.iter().skip(start) {
        if jobs.len() == limit {
            return Ok(Page {
                jobs,
                next_cursor: Some(format!("{name},")),
            });
        }
        let mut part = page(queue, name, state, limit - jobs.len(), inner.as_deref()).await?;
        inner = None;
        jobs.append(&mut part.jobs);
        if let Some(next) = part.next_cursor {
            return Ok(Page {
                jobs,
                next_cursor: Some(format!("{name},{next}")),
            });
        }
    }
    Ok(Page {
        jobs,
        next_cursor: None,
    })
}

/// A state's name as the command line spells it.
pub(crate) fn state_name(state: JobState) -> &'static str {
    match state {
        JobState::Scheduled => "scheduled",
        JobState::Ready => "ready",
        JobState::Active => "active",
        JobState::Failed => "failed",
        _ => "other",
    }
}

fn bad_cursor(text: &str) -> CliError {
    CliError::usage(format!(
        "invalid --cursor `{text}`: pass back the `next_cursor` a previous page printed"
    ))
}
