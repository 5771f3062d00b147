//! `/jobs/{queue}/{id}`: one job in full, with retry, delete and cancel.

use maud::{html, Markup};

use super::format::time;
use super::layout::{action, page, Nav};
use crate::context::{seg, Ctx};
use crate::data::{state_name, JobView};

/// The job page.
pub(crate) fn render(cx: &Ctx, j: &JobView) -> Markup {
    let path = format!("/jobs/{}/{}", seg(&j.queue), seg(&j.id));
    let state = state_name(j.state);
    let queue_page = format!("/queues/{}", seg(&j.queue));
    let retryable = matches!(state, "failed" | "cancelled");
    let cancellable = matches!(state, "ready" | "scheduled" | "active");
    let content = html! {
        p.crumbs { a href=(cx.url(&queue_page)) { "Queue " (j.queue) } " / "
            a href=(cx.url(&format!("{queue_page}/jobs?state={}", if state == "cancelled" { "failed" } else { state }))) { (state) " jobs" } }
        h1 { "Job " (j.id) }
        p { span class=(format!("badge state-{state}")) { (state) } " " (j.name) }
        @if !cx.read_only {
            div.row.actions {
                @if retryable { (action(cx, &format!("{path}/retry"), "Retry", "primary", &[])) }
                @if cancellable { (action(cx, &format!("{path}/cancel"), "Cancel", "", &[])) }
                (action(cx, &format!("{path}/delete"), "Delete", "danger", &[("back", &queue_page)]))
            }
        }
        @if let Some(error) = &j.last_error {
            section aria-labelledby="error-heading" {
                h2 #error-heading { "Last error" }
                pre.error { (error) }
            }
        }
        section aria-labelledby="details-heading" {
            h2 #details-heading { "Details" }
            dl.details {
                dt { "Queue" } dd { (j.queue) }
                dt { "Job" } dd { (j.name) }
                dt { "Attempts" } dd { (j.attempts) " of " (j.max_attempts) @if j.lost_leases > 0 { " (" (j.lost_leases) " lost leases)" } }
                dt { "Priority" } dd { (j.priority) }
                dt { "Created" } dd { (time(Some(j.created_at))) }
                dt { "First run started" } dd { (time(j.first_started_at)) }
                dt { "Latest run started" } dd { (time(j.started_at)) }
                dt { "Finished" } dd { (time(j.finished_at)) }
                dt { "Failed" } dd { (time(j.failed_at)) }
                dt { "Worker" } dd { @if let Some(w) = &j.held_by { (w) } @else { span.muted { "—" } } }
                dt { "Progress" } dd { @if let Some(p) = &j.progress { code { (p.to_string()) } } @else { span.muted { "—" } } }
            }
        }
        section aria-labelledby="payload-heading" {
            h2 #payload-heading { "Payload" }
            pre.payload tabindex="0" { code { (j.payload) } }
        }
        @if let Some(result) = &j.result {
            section aria-labelledby="result-heading" {
                h2 #result-heading { "Result" }
                pre.payload tabindex="0" { code { (result) } }
            }
        }
        section aria-labelledby="attempts-heading" {
            h2 #attempts-heading { "Attempts with errors" }
            @if j.errors.is_empty() { p { "No run has failed." } } @else {
                table {
                    thead { tr { th scope="col" { "Attempt" } th scope="col" { "Started" } th scope="col" { "Failed" } th scope="col" { "Error" } } }
                    tbody {
                        @for e in &j.errors {
                            tr { td.num { (e.attempt) } td { (time(e.started_at)) } td { (time(Some(e.at))) } td.error { (e.error) } }
                        }
                    }
                }
            }
        }
    };
    page(cx, Nav::Queues, &format!("Job {}", j.id), content)
}
