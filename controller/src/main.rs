//! `podctl`: the command-line entry point; parses arguments and dispatches to a command.
fn main() {}
