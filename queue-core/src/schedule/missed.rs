//! A schedule's policy for ticks missed while no worker could fire them.

use serde::{Deserialize, Serialize};

use super::cron_rule::{parse_missed, MissedRule, MAX_CATCH_UP};
use crate::error::{Error, Result};

/// What a schedule does with ticks that came due while no worker could fire them (all workers
/// were stopped, or storage was unreachable): a tick more than
/// [`SCHEDULE_GRACE`](crate::SCHEDULE_GRACE) late is missed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Missed {
    /// Missed ticks are dropped; the schedule goes on with its next tick (the default).
    #[default]
    Skip,
    /// Missed ticks are run once, as one job for the latest of them.
    Once,
    /// Each missed tick runs, oldest first, up to the latest `max` of them.
    Each {
        /// Most missed ticks run (from 1 to 1000).
        max: u32,
    },
}

impl Missed {
    /// Reads a policy as `#[job(missed = ...)]` writes it: `skip`, `once` or `each(N)`.
    pub fn parse(text: &str) -> Result<Self> {
        match parse_missed(text) {
            Ok(MissedRule::Skip) => Ok(Missed::Skip),
            Ok(MissedRule::Once) => Ok(Missed::Once),
            Ok(MissedRule::Each(max)) => Ok(Missed::Each { max }),
            Err(reason) => Err(Error::InvalidSchedule {
                name: String::new(),
                reason,
            }),
        }
    }

    /// How many missed ticks to run at most.
    pub(crate) fn catch_up(self) -> usize {
        match self {
            Missed::Skip => 0,
            Missed::Once => 1,
            Missed::Each { max } => max.clamp(1, MAX_CATCH_UP) as usize,
        }
    }
}
