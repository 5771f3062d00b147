//! Listing a queue's jobs by state, a page at a time.

use super::info::{JobInfo, JobState};
use crate::error::{Error, Result};

/// Most jobs one page may hold; a larger [`JobQuery::limit`] is refused.
pub const MAX_PAGE: usize = 1000;

/// The page size of [`JobQuery::new`].
pub const DEFAULT_PAGE: usize = 50;

/// Which end of a state's order a listing starts from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Order {
    /// The order jobs would run in (ready: higher priority first, then first in line), are due
    /// (scheduled), were leased (active) or failed (failed).
    #[default]
    Oldest,
    /// The reverse of [`Order::Oldest`].
    Newest,
}

/// What to list: the jobs of one state, of one handler's lane or of the whole queue, from one
/// end or from where a previous page stopped.
///
/// ```
/// use queue_core::{JobQuery, JobState, Order};
/// let query = JobQuery::new(JobState::Ready).name("send_welcome").order(Order::Newest).limit(20);
/// assert_eq!(query.limit, 20);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobQuery {
    /// The state listed.
    pub state: JobState,
    /// Only this job name's lane; `None` lists every lane of the queue.
    pub name: Option<String>,
    /// Which end the listing starts from.
    pub order: Order,
    /// Where to go on: [`JobPage::next`] of the previous page; `None` starts at the beginning.
    pub cursor: Option<String>,
    /// Most jobs in the page: 1 to [`MAX_PAGE`].
    pub limit: usize,
}

impl JobQuery {
    /// The first page of `state`'s jobs in every lane, [`Order::Oldest`] first, at most
    /// [`DEFAULT_PAGE`] of them.
    pub fn new(state: JobState) -> Self {
        Self {
            state,
            name: None,
            order: Order::Oldest,
            cursor: None,
            limit: DEFAULT_PAGE,
        }
    }

    /// Lists only the lane of job name `name`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Starts from this end of the state's order.
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }

    /// Goes on from a previous page's [`JobPage::next`].
    pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }

    /// Returns at most `limit` jobs per page (1 to [`MAX_PAGE`]).
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Checks the page size and the job name; drivers call it before listing.
    pub fn check(&self) -> Result<()> {
        if self.limit == 0 || self.limit > MAX_PAGE {
            return Err(Error::InvalidQuery {
                reason: format!(
                    "page size {} is out of range: it must be 1 to {MAX_PAGE}",
                    self.limit
                ),
            });
        }
        if let Some(name) = &self.name {
            super::validate_name("job name", name)?;
        }
        if self.state == JobState::Cancelled {
            return Err(Error::InvalidQuery {
                reason: "cancelled jobs are kept in the failed list: list the failed jobs".into(),
            });
        }
        Ok(())
    }

    /// The error for a cursor this listing cannot use, saying why.
    pub fn bad_cursor(&self, why: &str) -> Error {
        let cursor = self.cursor.as_deref().unwrap_or("");
        Error::InvalidQuery {
            reason: format!(
                "cursor `{}` is not one this listing made: {why}",
                cursor.chars().take(80).collect::<String>()
            ),
        }
    }
}

/// One page of a listing.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct JobPage {
    /// The jobs, in the listing's order.
    pub jobs: Vec<JobInfo>,
    /// The cursor of the next page ([`JobQuery::cursor`]); `None` when this page was the last.
    pub next: Option<String>,
}

impl JobPage {
    /// A page of `jobs`, followed by the page at `next` if any.
    pub fn new(jobs: Vec<JobInfo>, next: Option<String>) -> Self {
        Self { jobs, next }
    }
}

/// The code of a state and order that opens a cursor, so a cursor is refused by a listing of
/// another state or order.
fn listing_code(state: JobState, order: Order) -> &'static str {
    match (state, order) {
        (JobState::Ready, Order::Oldest) => "ro",
        (JobState::Ready, Order::Newest) => "rn",
        (JobState::Scheduled, Order::Oldest) => "so",
        (JobState::Scheduled, Order::Newest) => "sn",
        (JobState::Active, Order::Oldest) => "ao",
        (JobState::Active, Order::Newest) => "an",
        (JobState::Failed, Order::Oldest) => "fo",
        (JobState::Failed, Order::Newest) => "fn",
        (JobState::Completed, Order::Oldest) => "co",
        (JobState::Completed, Order::Newest) => "cn",
        // Listed with the failed jobs (`JobQuery::check` refuses them).
        (JobState::Cancelled, Order::Oldest) => "fo",
        (JobState::Cancelled, Order::Newest) => "fn",
    }
}

/// Where a listing stopped in one lane, as a driver records it in a [`Cursor`]: the part of
/// the lane's order it was in (`phase`, the driver's numbering) and the last job it took there,
/// as the driver locates it (`at`: a score or an index; `member`: a job id or another number,
/// or empty).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LanePosition {
    /// The lane's job name (empty for a listing kept per queue, such as the failed list).
    pub lane: String,
    /// The part of the lane's order, 0 to 9.
    pub phase: u8,
    /// The last job's score or index.
    pub at: i64,
    /// The last job's id or tie-breaker, if the driver needs one.
    pub member: String,
}

impl LanePosition {
    /// A position in `lane`.
    pub fn new(lane: &str, phase: u8, at: i64, member: impl Into<String>) -> Self {
        Self {
            lane: lane.to_string(),
            phase,
            at,
            member: member.into(),
        }
    }
}

/// The text of [`JobPage::next`] as drivers write and read it: the listing's state and order,
/// then one [`LanePosition`] per lane the listing has taken jobs from (lanes without one start
/// at the beginning). Callers treat it as opaque.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Cursor {
    /// Where each lane stopped.
    pub lanes: Vec<LanePosition>,
}

impl Cursor {
    /// The cursor of `query` (none for a first page), refusing text this listing did not make.
    pub fn read(query: &JobQuery) -> Result<Option<Cursor>> {
        let Some(text) = query.cursor.as_deref() else {
            return Ok(None);
        };
        let mut parts = text.split('|');
        let code = parts.next().unwrap_or_default();
        if code != listing_code(query.state, query.order) {
            return Err(query.bad_cursor("it was made for another state or order"));
        }
        let mut lanes: Vec<LanePosition> = Vec::new();
        for part in parts {
            let bad = || query.bad_cursor("a lane position is damaged");
            let (lane, rest) = part.split_once('=').ok_or_else(bad)?;
            let mut fields = rest.splitn(3, ',');
            let (phase, at, member) = match (fields.next(), fields.next(), fields.next()) {
                (Some(p), Some(a), Some(m)) => (p, a, m),
                _ => return Err(bad()),
            };
            let phase: u8 = phase.parse().ok().filter(|p| *p < 10).ok_or_else(bad)?;
            let at: i64 = at.parse().map_err(|_| bad())?;
            let fine = |s: &str| s.is_empty() || super::validate_name("", s).is_ok();
            if !fine(lane) || !fine(member) || lanes.iter().any(|l| l.lane == lane) {
                return Err(bad());
            }
            lanes.push(LanePosition::new(lane, phase, at, member));
        }
        Ok(Some(Cursor { lanes }))
    }

    /// The position of `lane`, if the listing took jobs from it.
    pub fn lane(&self, lane: &str) -> Option<&LanePosition> {
        self.lanes.iter().find(|l| l.lane == lane)
    }

    /// Records that the listing took a job of `position.lane` at `position`.
    pub fn set(&mut self, position: LanePosition) {
        match self.lanes.iter_mut().find(|l| l.lane == position.lane) {
            Some(l) => *l = position,
            None => self.lanes.push(position),
        }
    }

    /// The cursor's text for a listing of `state` in `order`.
    pub fn write(&self, state: JobState, order: Order) -> String {
        let mut out = listing_code(state, order).to_string();
        for l in &self.lanes {
            out.push_str(&format!("|{}={},{},{}", l.lane, l.phase, l.at, l.member));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_are_bounded() {
        assert!(JobQuery::new(JobState::Ready).check().is_ok());
        assert!(JobQuery::new(JobState::Ready)
            .limit(MAX_PAGE)
            .check()
            .is_ok());
        let err = JobQuery::new(JobState::Ready).limit(0).check().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid job query: page size 0 is out of range: it must be 1 to 1000"
        );
        let err = JobQuery::new(JobState::Ready)
            .limit(1001)
            .check()
            .unwrap_err();
        assert!(err.to_string().contains("1 to 1000"), "{err}");
        let err = JobQuery::new(JobState::Ready)
            .name("a b")
            .check()
            .unwrap_err();
        assert!(
            err.to_string().starts_with("invalid job name `a b`"),
            "{err}"
        );
    }

    #[test]
    fn cursors_round_trip_and_refuse_damage() {
        let mut cursor = Cursor::default();
        cursor.set(LanePosition::new("send", 1, 4, ""));
        cursor.set(LanePosition::new("mail", 0, -4_999_999_999_997, "42"));
        cursor.set(LanePosition::new("send", 2, 7, "order-9"));
        let text = cursor.write(JobState::Ready, Order::Oldest);
        let query = JobQuery::new(JobState::Ready).cursor(text.clone());
        assert_eq!(Cursor::read(&query).unwrap(), Some(cursor));
        assert_eq!(Cursor::read(&JobQuery::new(JobState::Ready)).unwrap(), None);
        let other = JobQuery::new(JobState::Ready)
            .order(Order::Newest)
            .cursor(text);
        assert!(Cursor::read(&other)
            .unwrap_err()
            .to_string()
            .contains("made for another state or order"));
        for bad in [
            "",
            "ro|x",
            "ro|x=1,2",
            "ro|x=a,2,",
            "ro|x=1,2,a b",
            "ro|x=1,1,|x=1,2,",
            "zz",
        ] {
            let query = JobQuery::new(JobState::Ready).cursor(bad);
            let err = Cursor::read(&query).unwrap_err();
            assert!(
                err.to_string().starts_with("invalid job query: cursor"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn builder_defaults() {
        let q = JobQuery::new(JobState::Failed);
        assert_eq!(
            (q.order, q.limit, &q.name, &q.cursor),
            (Order::Oldest, 50, &None, &None)
        );
        let q = q.name("x").order(Order::Newest).cursor("c").limit(2);
        assert_eq!(q.name.as_deref(), Some("x"));
        assert_eq!(q.cursor.as_deref(), Some("c"));
        assert_eq!((q.order, q.limit), (Order::Newest, 2));
    }
}
