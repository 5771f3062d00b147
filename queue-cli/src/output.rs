//! How results are printed: aligned tables and key-value blocks for people (coloured only on a
//! terminal), JSON for scripts.

use std::io::IsTerminal;

/// Whether to colour, decided once per run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Style {
    colour: bool,
}

/// Colours the command uses, as ANSI SGR codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Paint {
    /// Headers and labels.
    Bold,
    /// Failed jobs, errors.
    Red,
    /// Ready jobs, success.
    Green,
    /// Scheduled jobs, paused queues.
    Yellow,
    /// Active jobs.
    Cyan,
    /// Secondary text.
    Dim,
}

impl Paint {
    fn code(self) -> &'static str {
        match self {
            Paint::Bold => "1",
            Paint::Red => "31",
            Paint::Green => "32",
            Paint::Yellow => "33",
            Paint::Cyan => "36",
            Paint::Dim => "2",
        }
    }

    /// The colour of a job state's name.
    pub(crate) fn of_state(state: &str) -> Option<Paint> {
        match state {
            "failed" => Some(Paint::Red),
            "cancelled" => Some(Paint::Yellow),
            "ready" => Some(Paint::Green),
            "scheduled" => Some(Paint::Yellow),
            "active" => Some(Paint::Cyan),
            _ => None,
        }
    }
}

impl Style {
    /// Colours for stdout when it is a terminal, JSON is off and `NO_COLOR` is unset.
    pub(crate) fn for_stdout(json: bool) -> Self {
        Self {
            colour: !json && std::io::stdout().is_terminal() && no_color_unset(),
        }
    }

    /// Colours for stderr when it is a terminal and `NO_COLOR` is unset.
    pub(crate) fn for_stderr() -> Self {
        Self {
            colour: std::io::stderr().is_terminal() && no_color_unset(),
        }
    }

    /// `text` in `paint`, or as is without colours.
    pub(crate) fn paint(self, paint: Option<Paint>, text: &str) -> String {
        match paint {
            Some(paint) if self.colour => format!("\x1b[{}m{text}\x1b[0m", paint.code()),
            _ => text.to_string(),
        }
    }
}

fn no_color_unset() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A table: a header row and rows of cells, each cell optionally coloured.
#[derive(Debug)]
pub(crate) struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<(String, Option<Paint>)>>,
}

impl Table {
    /// An empty table with these column names.
    pub(crate) fn new(header: &[&'static str]) -> Self {
        Self {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row of plain cells.
    pub(crate) fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.painted_row(cells.into_iter().map(|c| (c.into(), None)));
    }

    /// Adds a row whose cells may carry a colour.
    pub(crate) fn painted_row(&mut self, cells: impl IntoIterator<Item = (String, Option<Paint>)>) {
        let row: Vec<_> = cells.into_iter().collect();
        debug_assert_eq!(
            row.len(),
            self.header.len(),
            "a row has one cell per column"
        );
        self.rows.push(row);
    }

    /// The table as text: columns padded to their widest cell, two spaces apart, the last
    /// column unpadded; the padding is computed before colouring so codes take no width.
    pub(crate) fn render(&self, style: Style) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, (cell, _)) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let header = self
            .header
            .iter()
            .map(|h| (h.to_string(), Some(Paint::Bold)));
        for row in std::iter::once(header.collect::<Vec<_>>()).chain(self.rows.iter().cloned()) {
            let last = row.len().saturating_sub(1);
            let mut line = String::new();
            for (i, (cell, paint)) in row.iter().enumerate() {
                let pad = if i == last {
                    0
                } else {
                    widths[i] - cell.chars().count() + 2
                };
                line.push_str(&style.paint(*paint, cell));
                line.push_str(&" ".repeat(pad));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Label/value lines with the values aligned, for one record.
pub(crate) fn fields(style: Style, pairs: &[(&str, String, Option<Paint>)]) -> String {
    let width = pairs.iter().map(|(k, _, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (label, value, paint) in pairs {
        let padded = format!("{label:width$}");
        out.push_str(&style.paint(Some(Paint::Bold), &padded));
        out.push_str("  ");
        out.push_str(&style.paint(*paint, value));
        out.push('\n');
    }
    out
}

/// A cell's text cut to `max` characters, with `…` at the cut; line breaks become spaces.
pub(crate) fn clip(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        let mut cut = cut.trim_end().to_string();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_colour_takes_no_width() {
        let mut table = Table::new(&["ID", "STATE", "ERROR"]);
        table.painted_row([
            ("1".to_string(), None),
            ("failed".to_string(), Some(Paint::Red)),
            ("boom".to_string(), None),
        ]);
        table.row(["12345", "ready", ""]);
        assert_eq!(
            table.render(Style { colour: false }),
            "ID     STATE   ERROR\n1      failed  boom\n12345  ready\n"
        );
        let coloured = table.render(Style { colour: true });
        assert!(
            coloured.contains("\x1b[31mfailed\x1b[0m  boom"),
            "{coloured:?}"
        );
        assert!(
            coloured.starts_with("\x1b[1mID\x1b[0m     "),
            "{coloured:?}"
        );
    }

    #[test]
    fn clips_long_cells() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("line one\nline two", 10), "line one…");
        assert_eq!(clip("ééééé", 5), "ééééé");
    }
}
