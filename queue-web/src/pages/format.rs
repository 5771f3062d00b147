//! Small pieces of text the pages share: times, ages, counts.

use std::time::{Duration, SystemTime};

use maud::{html, Markup};

use crate::data::Time;

/// How long ago (or, for a future time, in how long) `t` is, in words: `12 s ago`, `in 3 min`.
pub(crate) fn relative(t: SystemTime) -> String {
    let now = SystemTime::now();
    match now.duration_since(t) {
        Ok(past) => format!("{} ago", span(past)),
        Err(future) => format!("in {}", span(future.duration())),
    }
}

/// A duration in its largest sensible unit.
pub(crate) fn span(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{} ms", d.as_millis()),
        1..=119 => format!("{s} s"),
        120..=7_199 => format!("{} min", s / 60),
        7_200..=172_799 => format!("{} h", s / 3_600),
        _ => format!("{} d", s / 86_400),
    }
}

/// A `<time>` element: the relative time, the exact one in its title and datetime.
pub(crate) fn time(t: Option<Time>) -> Markup {
    match t {
        Some(t) => {
            let exact = t.rfc3339();
            html! { time datetime=(exact) title=(exact) { (relative(t.0)) } }
        }
        None => html! { span.muted { "—" } },
    }
}

/// A count with thousands separated by thin spaces.
pub(crate) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_spans_read_well() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1_234_567), "1\u{202f}234\u{202f}567");
        assert_eq!(span(Duration::from_millis(250)), "250 ms");
        assert_eq!(span(Duration::from_secs(90)), "90 s");
        assert_eq!(span(Duration::from_secs(600)), "10 min");
        assert_eq!(span(Duration::from_secs(3 * 86_400)), "3 d");
    }
}
