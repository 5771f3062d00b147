//! `/schedules`: recurring jobs with their next runs; trigger now, pause, resume.

use maud::{html, Markup};

use super::format::time;
use super::layout::{action, page, Nav};
use crate::context::{seg, Ctx};
use crate::data::ScheduleView;

/// The schedules page; `None` when the driver keeps no schedules.
pub(crate) fn render(cx: &Ctx, v: Option<&[ScheduleView]>) -> Markup {
    let content = html! {
        h1 { "Schedules" }
        @match v {
            None => { p { "This driver keeps no schedules." } }
            Some([]) => { p { "No schedules. Add one with " code { "#[job(cron = \"...\")]" } " or " code { "Queue::add_schedule" } "." } }
            Some(list) => {
                table {
                    thead { tr {
                        th scope="col" { "Schedule" } th scope="col" { "Queue" } th scope="col" { "Job" }
                        th scope="col" { "When" } th scope="col" { "Next run" } th scope="col" { "Last run" }
                        th scope="col" { "State" }
                        @if !cx.read_only { th scope="col" { "Actions" } }
                    } }
                    tbody {
                        @for s in list {
                            @let path = format!("/schedules/{}/{}", seg(&s.queue), seg(&s.name));
                            tr {
                                th scope="row" { (s.name) }
                                td { a href=(cx.url(&format!("/queues/{}", seg(&s.queue)))) { (s.queue) } }
                                td { (s.job) br; code.small { (s.payload) } }
                                td { code { (s.cron) } " " span.small { (s.tz) } }
                                td { @if s.paused { span.muted { "paused" } } @else { (time(s.next_tick)) } }
                                td { (time(s.last_tick)) }
                                td { @if s.paused { span.badge.warn { "paused" } } @else { "active" } }
                                @if !cx.read_only {
                                    td.row {
                                        (action(cx, &format!("{path}/trigger"), "Trigger now", "", &[]))
                                        @if s.paused { (action(cx, &format!("{path}/resume"), "Resume", "", &[])) }
                                        @else { (action(cx, &format!("{path}/pause"), "Pause", "", &[])) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page(cx, Nav::Schedules, "Schedules", content)
}
