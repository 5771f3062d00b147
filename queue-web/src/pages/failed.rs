//! `/failed`: the newest failures of every queue.

use maud::{html, Markup};

use super::format::{count, time};
use super::layout::{action, page, Nav};
use crate::context::{seg, Ctx};
use crate::data::FailedView;

/// The failed page.
pub(crate) fn render(cx: &Ctx, v: &FailedView) -> Markup {
    let content = html! {
        h1 { "Failed jobs" }
        @if v.queues.is_empty() { p { "No queue has failed jobs." } }
        @for q in &v.queues {
            @let base = format!("/queues/{}", seg(&q.queue));
            section.failed-queue aria-labelledby=(format!("failed-{}", seg(&q.queue))) {
                h2 id=(format!("failed-{}", seg(&q.queue))) { (q.queue) ": " (count(q.failed)) " failed" }
                div.row {
                    a href=(cx.url(&format!("{base}/jobs?state=failed"))) { "All failed jobs of " (q.queue) }
                    (action(cx, &format!("{base}/retry-failed"), "Retry all", "", &[]))
                }
                table {
                    thead { tr { th scope="col" { "Id" } th scope="col" { "Job" } th scope="col" { "Failed" } th scope="col" { "Attempts" } th scope="col" { "Error" } } }
                    tbody {
                        @for j in &q.jobs {
                            tr {
                                td { a href=(cx.url(&format!("/jobs/{}/{}", seg(&j.queue), seg(&j.id)))) { (j.id) } }
                                td { (j.name) }
                                td { (time(j.failed_at)) }
                                td.num { (j.attempts) "/" (j.max_attempts) }
                                td.error { (j.last_error.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
    };
    page(cx, Nav::Failed, "Failed jobs", content)
}
