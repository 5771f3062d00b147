//! Listing jobs a page at a time, with a cursor the user passes back for the next page.
//!
//! [`page`] lists one queue through `Queue::jobs` and passes its opaque cursor through.
//! Listing several queues chains their pages queue by queue, in name order: the cursor is then
//! `<queue>,<cursor in that queue>` (a queue name cannot contain a comma), so paging resumes in
//! the right queue and reaches the end of the last one.

use queue_core::{JobInfo, JobQuery, JobState, Order, Queue};

use crate::error::{CliError, CliResult};

/// One page of jobs and where the next one starts, if there is one.
#[derive(Debug)]
pub(crate) struct Page {
    /// The jobs, in the storage's order.
    pub(crate) jobs: Vec<JobInfo>,
    /// Pass back with `--cursor` for the next page; `None` at the end.
    pub(crate) next_cursor: Option<String>,
}

/// What to list in each queue: the state, the lane, the order and the page size.
#[derive(Clone, Debug)]
pub(crate) struct Listing {
    /// The state listed.
    pub(crate) state: JobState,
    /// Only this job name's lane.
    pub(crate) name: Option<String>,
    /// Which end to start from.
    pub(crate) order: Order,
    /// Most jobs in the page.
    pub(crate) limit: usize,
}

/// Up to `listing.limit` jobs of queue `name`, from `cursor` (the start when `None` or empty).
pub(crate) async fn page(
    queue: &Queue,
    name: &str,
    listing: &Listing,
    cursor: Option<&str>,
) -> CliResult<Page> {
    let mut query = JobQuery::new(listing.state)
        .order(listing.order)
        .limit(listing.limit);
    if let Some(job) = &listing.name {
        query = query.name(job.clone());
    }
    if let Some(cursor) = cursor.filter(|c| !c.is_empty()) {
        query = query.cursor(cursor);
    }
    let page = queue.jobs(name, query).await?;
    Ok(Page {
        jobs: page.jobs,
        next_cursor: page.next,
    })
}

/// Up to `listing.limit` jobs across `queues` (in that order), from `cursor`.
pub(crate) async fn page_across(
    queue: &Queue,
    queues: &[String],
    listing: &Listing,
    cursor: Option<&str>,
) -> CliResult<Page> {
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
        if jobs.len() == listing.limit {
            return Ok(Page {
                jobs,
                next_cursor: Some(format!("{name},")),
            });
        }
        let rest = Listing {
            limit: listing.limit - jobs.len(),
            ..listing.clone()
        };
        let mut part = page(queue, name, &rest, inner.as_deref()).await?;
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
        JobState::Completed => "completed",
        JobState::Cancelled => "cancelled",
        _ => "other",
    }
}

/// `text` quoted for a POSIX shell, unless it needs no quoting.
pub(crate) fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.,:/=@+".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

fn bad_cursor(text: &str) -> CliError {
    CliError::usage(format!(
        "invalid --cursor `{}`: pass back the `next` cursor a previous page printed, \
         with the same --state, --queue, --name and --order",
        text.chars().take(80).collect::<String>()
    ))
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn quotes_what_a_shell_would_split_or_expand() {
        assert_eq!(shell_quote("mail,"), "mail,");
        assert_eq!(shell_quote("ro|send=0,4,"), "'ro|send=0,4,'");
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
        assert_eq!(shell_quote(""), "''");
    }
}
