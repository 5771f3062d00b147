//! The frame of every page: head, navigation, notice, main content, the script.

use maud::{html, Markup, DOCTYPE};

use crate::context::Ctx;

/// Which part of the navigation is the current page's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Nav {
    Overview,
    Queues,
    Failed,
    Workers,
    Schedules,
}

/// A whole page titled `title` with `content` in its `main`.
pub(crate) fn page(cx: &Ctx, nav: Nav, title: &str, content: Markup) -> Markup {
    let link = |target: Nav, path: &str, label: &str| {
        html! {
            @if target == nav {
                a href=(cx.url(path)) aria-current="page" { (label) }
            } @else {
                a href=(cx.url(path)) { (label) }
            }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · queue dashboard" }
                link rel="icon" href="data:,";
                link rel="stylesheet" href=(cx.url(crate::assets::CSS_PATH));
                script src=(cx.url(crate::assets::JS_PATH)) defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href=(cx.url("/")) { "queue" }
                    nav aria-label="Dashboard" {
                        (link(Nav::Overview, "/", "Overview"))
                        (link(Nav::Failed, "/failed", "Failed"))
                        (link(Nav::Workers, "/workers", "Workers"))
                        (link(Nav::Schedules, "/schedules", "Schedules"))
                    }
                    @if cx.read_only {
                        span.badge { "read-only" }
                    }
                    button #live-toggle type="button" hidden aria-pressed="true" { "Live: on" }
                }
                main #main data-live tabindex="-1" {
                    @if let Some(notice) = &cx.notice {
                        p.notice role="status" { (notice) }
                    }
                    (content)
                }
            }
        }
    }
}

/// A form posting action `path` (under the mount point) with the CSRF token, coming back to
/// the current page; `None` in read-only mode.
pub(crate) fn action(
    cx: &Ctx,
    path: &str,
    label: &str,
    class: &str,
    fields: &[(&str, &str)],
) -> Markup {
    if cx.read_only {
        return html! {};
    }
    html! {
        form.inline method="post" action=(cx.url(path)) {
            input type="hidden" name=(crate::csrf::FIELD) value=(cx.csrf);
            @if !fields.iter().any(|(name, _)| *name == "back") {
                input type="hidden" name="back" value=(cx.here);
            }
            @for (name, value) in fields {
                input type="hidden" name=(name) value=(value);
            }
            button type="submit" class=(class) { (label) }
        }
    }
}

/// The hidden fields every action form carries.
pub(crate) fn form_fields(cx: &Ctx) -> Markup {
    html! {
        input type="hidden" name=(crate::csrf::FIELD) value=(cx.csrf);
        input type="hidden" name="back" value=(cx.here);
    }
}
