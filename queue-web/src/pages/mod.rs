//! The HTML pages, rendered with maud (escaped by default) from the `data` views.

pub(crate) mod chart;
pub(crate) mod failed;
pub(crate) mod format;
pub(crate) mod job;
pub(crate) mod jobs;
pub(crate) mod layout;
pub(crate) mod overview;
pub(crate) mod queue;
pub(crate) mod schedules;
pub(crate) mod workers;
