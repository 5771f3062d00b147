//! `/queues/{queue}/jobs`: one page of a state's jobs, filter by handler, bulk actions.

use maud::{html, Markup};

use super::format::{count, time};
use super::layout::{form_fields, page, Nav};
use crate::context::{seg, Ctx};
use crate::data::{state_name, JobsView, STATES};

/// The jobs page.
pub(crate) fn render(cx: &Ctx, v: &JobsView) -> Markup {
    let base = format!("/queues/{}", seg(&v.queue));
    let state = state_name(v.state);
    let name_q = v
        .name
        .as_deref()
        .map(|n| format!("&name={}", seg(n)))
        .unwrap_or_default();
    let failed = state == "failed";
    let actions = !cx.read_only && !v.jobs.is_empty();
    let content = html! {
        p.crumbs { a href=(cx.url(&base)) { "Queue " (v.queue) } }
        h1 { (state) " jobs of " (v.queue) }
        nav.tabs aria-label="States" {
            @for s in STATES {
                @let href = cx.url(&format!("{base}/jobs?state={}{name_q}", state_name(s)));
                @if s == v.state { a href=(href) aria-current="page" { (state_name(s)) } }
                @else { a href=(href) { (state_name(s)) } }
            }
        }
        form.filter method="get" action=(cx.url(&format!("{base}/jobs"))) {
            input type="hidden" name="state" value=(state);
            label for="filter-name" { "Handler" }
            select #filter-name name="name" {
                option value="" { "all handlers" }
                @for n in &v.names {
                    @if v.name.as_deref() == Some(n.as_str()) { option value=(n) selected { (n) } }
                    @else { option value=(n) { (n) } }
                }
            }
            label for="filter-order" { "Order" }
            select #filter-order name="order" {
                @for o in ["oldest", "newest"] {
                    @if v.order == o { option value=(o) selected { (o) " first" } }
                    @else { option value=(o) { (o) " first" } }
                }
            }
            button type="submit" { "Show" }
        }
        p { (count(v.total)) " " (state) " jobs in this queue (all handlers); this page shows " (v.jobs.len()) "." }
        @if v.jobs.is_empty() {
            p { "No jobs here." }
        } @else {
            @if actions {
                form #bulk method="post" action=(cx.url(&format!("{base}/jobs/bulk"))) {
                    (form_fields(cx))
                    input type="hidden" name="state" value=(state);
                    @if let Some(n) = &v.name { input type="hidden" name="name" value=(n); }
                    (table(cx, v, actions))
                    fieldset.bulk {
                        legend { "Selected jobs" }
                        @if failed { button type="submit" name="op" value="retry" { "Retry selected" } }
                        button.danger type="submit" name="op" value="delete" { "Delete selected" }
                    }
                }
            } @else {
                (table(cx, v, actions))
            }
            @if actions {
                form.bulk method="post" action=(cx.url(&format!("{base}/jobs/bulk"))) {
                    (form_fields(cx))
                    input type="hidden" name="scope" value="matching";
                    input type="hidden" name="state" value=(state);
                    @if let Some(n) = &v.name { input type="hidden" name="name" value=(n); }
                    fieldset.bulk {
                        legend { "Every " (state) " job" @if let Some(n) = &v.name { " of " (n) } }
                        @if failed { button type="submit" name="op" value="retry" { "Retry all matching" } }
                        button.danger type="submit" name="op" value="delete" { "Delete all matching" }
                    }
                }
            }
        }
        @if let Some(next) = &v.next {
            nav.pager aria-label="Pages" {
                a href=(cx.url(&format!("{base}/jobs?{}", pager_query(v, next)))) rel="next" { "Next page →" }
            }
        }
    };
    page(
        cx,
        Nav::Queues,
        &format!("{state} jobs of {}", v.queue),
        content,
    )
}

/// The table of the page's jobs, with a checkbox per job when `actions`.
fn table(cx: &Ctx, v: &JobsView, actions: bool) -> Markup {
    let state = state_name(v.state);
    let failed = state == "failed";
    html! {
        table {
            caption.visually-hidden { (state) " jobs" }
            thead { tr {
                @if actions { th scope="col" { span.visually-hidden { "Select" } } }
                th scope="col" { "Id" } th scope="col" { "Job" } th scope="col" { "Attempts" }
                th scope="col" { "Priority" } th scope="col" { "Created" }
                @if failed { th scope="col" { "Failed" } th scope="col" { "Error" } }
                @if state == "completed" { th scope="col" { "Finished" } }
            } }
            tbody {
                @for j in &v.jobs {
                    tr {
                        @if actions { td {
                            input type="checkbox" name="id" value=(j.id) id=(format!("sel-{}", j.id)) aria-label=(format!("Select job {}", j.id));
                        } }
                        td { a href=(cx.url(&format!("/jobs/{}/{}", seg(&j.queue), seg(&j.id)))) { (j.id) } }
                        td { (j.name) }
                        td.num { (j.attempts) "/" (j.max_attempts) }
                        td.num { (j.priority) }
                        td { (time(Some(j.created_at))) }
                        @if failed {
                            td { (time(j.failed_at)) }
                            td.error { (j.last_error.as_deref().unwrap_or("")) }
                        }
                        @if state == "completed" { td { (time(j.finished_at)) } }
                    }
                }
            }
        }
    }
}

/// The query string of the page after this one.
fn pager_query(v: &JobsView, next: &str) -> String {
    let mut pairs = vec![
        ("state", state_name(v.state)),
        ("order", v.order),
        ("cursor", next),
    ];
    if let Some(n) = &v.name {
        pairs.push(("name", n));
    }
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}
