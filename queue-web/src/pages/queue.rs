//! `/queues/{queue}`: counts by state, one row per handler, and the queue's actions.

use maud::{html, Markup};

use super::format::{count, time};
use super::layout::{action, form_fields, page, Nav};
use crate::context::{seg, Ctx};
use crate::data::{state_name, QueueView, STATES};

/// The queue page.
pub(crate) fn render(cx: &Ctx, q: &QueueView) -> Markup {
    let base = format!("/queues/{}", seg(&q.name));
    let state_count = |s| match state_name(s) {
        "ready" => q.counts.ready,
        "scheduled" => q.counts.scheduled,
        "active" => q.counts.active,
        "failed" => q.counts.failed,
        _ => q.counts.completed,
    };
    let content = html! {
        h1 { "Queue " (q.name) }
        p {
            @if q.counts.paused { span.badge.warn { "paused" } " workers take no jobs from it" }
            @else { span.badge.okay { "running" } }
            " · oldest ready job: " (time(q.oldest_ready))
        }
        section aria-labelledby="states-heading" {
            h2 #states-heading { "Jobs by state" }
            ul.states {
                @for s in STATES {
                    li { a href=(cx.url(&format!("{base}/jobs?state={}", state_name(s)))) {
                        span.state-name { (state_name(s)) } " " span.num { (count(state_count(s))) }
                    } }
                }
            }
        }
        section aria-labelledby="lanes-heading" {
            h2 #lanes-heading { "Handlers" }
            @if q.lanes.is_empty() { p { "No handler has jobs here." } } @else {
                table {
                    thead { tr {
                        th scope="col" { "Job" } th scope="col" { "Ready" } th scope="col" { "Scheduled" }
                        th scope="col" { "Active" } th scope="col" { "Completed runs" } th scope="col" { "Failed runs" } th scope="col" { "Retried runs" }
                    } }
                    tbody {
                        @for lane in &q.lanes {
                            tr {
                                th scope="row" { a href=(cx.url(&format!("{base}/jobs?state=ready&name={}", seg(&lane.name)))) { (lane.name) } }
                                td.num { (count(lane.counts.ready)) }
                                td.num { (count(lane.counts.scheduled)) }
                                td.num { (count(lane.counts.active)) }
                                @match lane.runs {
                                    Some(r) => { td.num { (count(r.completed)) } td.num { (count(r.failed)) } td.num { (count(r.retried)) } }
                                    None => { td { "—" } td { "—" } td { "—" } }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if !cx.read_only {
            section.actions aria-labelledby="actions-heading" {
                h2 #actions-heading { "Actions" }
                div.row {
                    @if q.counts.paused {
                        (action(cx, &format!("{base}/resume"), "Resume queue", "primary", &[]))
                    } @else {
                        (action(cx, &format!("{base}/pause"), "Pause queue", "", &[]))
                    }
                    @if q.counts.failed > 0 {
                        (action(cx, &format!("{base}/retry-failed"), "Retry all failed", "", &[]))
                    }
                }
                form.stack method="post" action=(cx.url(&format!("{base}/clean"))) {
                    (form_fields(cx))
                    h3 { "Clean finished jobs" }
                    label for="clean-state" { "Which jobs" }
                    select #clean-state name="state" {
                        option value="completed" { "completed" }
                        option value="failed" { "failed" }
                    }
                    label for="clean-age" { "Finished more than (seconds) ago" }
                    input #clean-age type="number" name="older_than" min="0" value="3600" required;
                    button type="submit" { "Clean" }
                }
                form.stack.danger method="post" action=(cx.url(&format!("{base}/purge"))) {
                    (form_fields(cx))
                    h3 { "Purge" }
                    p { "Deletes every job of this queue, in every state. It cannot be undone." }
                    label for="purge-confirm" { "Type the queue's name, " strong { (q.name) } ", to confirm" }
                    input #purge-confirm type="text" name="confirm" autocomplete="off" required;
                    button.danger type="submit" { "Purge queue" }
                }
            }
        }
    };
    page(cx, Nav::Queues, &format!("Queue {}", q.name), content)
}
