//! The throughput chart: the last hour's completed and failed runs per minute, as inline SVG
//! drawn on the server (stacked bars; failures on top in red).

use maud::{html, Markup};

use crate::data::MinuteView;

const WIDTH: u64 = 600;
const HEIGHT: u64 = 160;
const AXIS: u64 = 16;

/// The chart of `minutes` (oldest first), with a text alternative summing it up.
pub(crate) fn chart(minutes: &[MinuteView]) -> Markup {
    let completed: u64 = minutes.iter().map(|m| m.runs.completed).sum();
    let failed: u64 = minutes.iter().map(|m| m.runs.failed).sum();
    let peak = minutes
        .iter()
        .map(|m| m.runs.completed + m.runs.failed)
        .max()
        .unwrap_or(0)
        .max(1);
    let label = format!(
        "Runs per minute over the last hour: {completed} completed and {failed} failed in total, \
         at most {peak} in one minute"
    );
    let slots = minutes.len().max(1) as u64;
    let bar = WIDTH / slots;
    let plot = HEIGHT - AXIS;
    let height = |n: u64| n * plot / peak;
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-labelledby="chart-title" {
                title #chart-title { (label) }
                line x1="0" y1=(plot) x2=(WIDTH) y2=(plot) class="axis" {}
                @for (i, m) in minutes.iter().enumerate() {
                    @let x = i as u64 * bar;
                    @let ok = height(m.runs.completed);
                    @let bad = height(m.runs.failed);
                    @if ok > 0 {
                        rect x=(x) y=(plot - ok) width=(bar.saturating_sub(1)) height=(ok) class="ok" {}
                    }
                    @if bad > 0 {
                        rect x=(x) y=(plot - ok - bad) width=(bar.saturating_sub(1)) height=(bad) class="bad" {}
                    }
                }
                text x="0" y=(HEIGHT - 2) class="tick" { "60 min ago" }
                text x=(WIDTH) y=(HEIGHT - 2) class="tick end" { "now" }
                text x="2" y="12" class="tick" { "peak " (peak) "/min" }
            }
            figcaption {
                span.key.ok-key { "completed" } " " (completed) " · "
                span.key.bad-key { "failed" } " " (failed)
            }
        }
    }
}
