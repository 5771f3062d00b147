//! `/`: tiles, the last hour's chart and every queue's depth.

use maud::{html, Markup};

use super::chart::chart;
use super::format::{count, relative, time};
use super::layout::{page, Nav};
use crate::context::{seg, Ctx};
use crate::data::Overview;

/// The overview page.
pub(crate) fn render(cx: &Ctx, o: &Overview) -> Markup {
    let content = html! {
        h1 { "Overview" }
        section.tiles aria-label="Now" {
            div.tile {
                h2 { "Done per minute" }
                @match o.this_minute {
                    Some(runs) => { p.big { (count(runs.completed)) } p.small { "this minute; previous " (o.last_minute.map_or(0, |r| r.completed)) } }
                    None => { p.small { "not kept by this driver" } }
                }
            }
            div.tile {
                h2 { "Failed per minute" }
                @match o.this_minute {
                    Some(runs) => { p.big.bad-text { (count(runs.failed)) } p.small { "this minute; previous " (o.last_minute.map_or(0, |r| r.failed)) } }
                    None => { p.small { "not kept by this driver" } }
                }
            }
            div.tile {
                h2 { "Oldest waiting job" }
                @match o.oldest_ready {
                    Some(t) => { p.big { (relative(t.0).trim_end_matches(" ago")) } p.small { "waiting since " (time(Some(t))) } }
                    None => { p.big { "—" } p.small { "nothing is waiting" } }
                }
            }
            div.tile {
                h2 { "Live workers" }
                @match o.workers {
                    Some(n) => { p.big { (n) } p.small { a href=(cx.url("/workers")) { "see workers" } } }
                    None => { p.small { "not recorded by this driver" } }
                }
            }
        }
        @if !o.chart.is_empty() {
            section aria-labelledby="chart-heading" {
                h2 #chart-heading { "Throughput, last hour" }
                (chart(&o.chart))
            }
        }
        section aria-labelledby="queues-heading" {
            h2 #queues-heading { "Queues" }
            @if o.queues.is_empty() {
                p { "No queue holds jobs yet." }
            } @else {
                table {
                    thead { tr {
                        th scope="col" { "Queue" } th scope="col" { "Depth" } th scope="col" { "Ready" }
                        th scope="col" { "Scheduled" } th scope="col" { "Active" } th scope="col" { "Failed" }
                        th scope="col" { "Completed" } th scope="col" { "Oldest ready" } th scope="col" { "State" }
                    } }
                    tbody {
                        @for q in &o.queues {
                            @let base = format!("/queues/{}", seg(&q.name));
                            tr {
                                th scope="row" { a href=(cx.url(&base)) { (q.name) } }
                                td.num { (count(q.depth)) }
                                td.num { a href=(cx.url(&format!("{base}/jobs?state=ready"))) { (count(q.counts.ready)) } }
                                td.num { a href=(cx.url(&format!("{base}/jobs?state=scheduled"))) { (count(q.counts.scheduled)) } }
                                td.num { a href=(cx.url(&format!("{base}/jobs?state=active"))) { (count(q.counts.active)) } }
                                td.num { a.bad-text href=(cx.url(&format!("{base}/jobs?state=failed"))) { (count(q.counts.failed)) } }
                                td.num { a href=(cx.url(&format!("{base}/jobs?state=completed"))) { (count(q.counts.completed)) } }
                                td { (time(q.oldest_ready)) }
                                td { @if q.counts.paused { span.badge.warn { "paused" } } @else { "running" } }
                            }
                        }
                    }
                }
            }
        }
    };
    page(cx, Nav::Overview, "Overview", content)
}
