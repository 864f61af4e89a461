//! What podctl shows people and programs: the plan as a diff (text or JSON) and the state
//! of objects as a table. Pure functions of plans and observations, golden-tested.

pub mod alerts;
pub mod controller_status;
pub mod diff;
pub mod live;
pub mod status;

/// An error and its causes, `: `-separated, as the journal and stderr show it (what
/// anyhow's `{:#}` prints).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Styles for terminal output; `anstream` drops them when the output is not a terminal or
/// `NO_COLOR` is set.
pub mod style {
    use anstyle::{AnsiColor, Style};

    pub const ADD: Style = AnsiColor::Green.on_default();
    pub const REMOVE: Style = AnsiColor::Red.on_default();
    pub const CHANGE: Style = AnsiColor::Yellow.on_default();
    pub const WARN: Style = AnsiColor::Magenta.on_default().bold();
    pub const HEADER: Style = Style::new().bold();
    pub const DIM: Style = Style::new().dimmed();
    pub const HUNK: Style = AnsiColor::Cyan.on_default();
}

#[cfg(test)]
mod tests;
