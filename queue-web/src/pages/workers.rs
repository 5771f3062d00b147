//! `/workers`: live workers, the lanes they serve and the jobs they run.

use maud::{html, Markup};

use super::format::time;
use super::layout::{page, Nav};
use crate::context::{seg, Ctx};
use crate::data::{Time, WorkersView};

/// The workers page.
pub(crate) fn render(cx: &Ctx, v: &WorkersView) -> Markup {
    let content = html! {
        h1 { "Workers" }
        @if !v.supported {
            p { "This driver keeps no records of workers." }
        } @else {
            p { "Workers send a heartbeat every " (v.heartbeat_every_s) " s; one silent for "
                (v.heartbeat_ttl_s) " s is gone. " (v.workers.len()) " alive now." }
            @for w in &v.workers {
                section.worker aria-label=(format!("Worker {}", w.id)) {
                    h2 { (w.id) }
                    p { "Host " (w.host) ", process " (w.pid) ", started " (time(Some(Time(w.started_at.0)))) }
                    table {
                        thead { tr { th scope="col" { "Queue" } th scope="col" { "Job" } th scope="col" { "Running" } th scope="col" { "Jobs" } } }
                        tbody {
                            @for l in &w.lanes {
                                tr {
                                    td { a href=(cx.url(&format!("/queues/{}", seg(&l.queue)))) { (l.queue) } }
                                    td { (l.job) }
                                    td.num { @match (l.running, l.concurrency) {
                                        (Some(r), Some(c)) => { (r) " of " (c) }
                                        _ => { "—" }
                                    } }
                                    td { @for id in &l.jobs {
                                        a href=(cx.url(&format!("/jobs/{}/{}", seg(&l.queue), seg(id)))) { (id) } " "
                                    } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page(cx, Nav::Workers, "Workers", content)
}
