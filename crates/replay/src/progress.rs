//! What a replay shows while it runs: a progress bar on a terminal (indicatif), plain lines
//! on stderr elsewhere (CI logs, pipes), nothing on stdout, which belongs to the report.

use std::io::IsTerminal as _;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::runner::Applied;

#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    /// `--quiet`: no bar, no lines.
    silent: bool,
}

// The progress printer: writing progress to stderr is its job.
#[allow(clippy::disallowed_macros)]
impl Progress {
    /// A bar when stderr is a terminal and `CI` is not set; plain lines otherwise, and with
    /// `--verbose` (the lines carry each migration's time, which a bar hides). Nothing with
    /// `--quiet`.
    pub fn new(total: Option<usize>) -> Self {
        let verbosity = gate_cli::verbosity();
        if verbosity == gate_cli::Verbosity::Quiet {
            return Progress {
                bar: None,
                silent: true,
            };
        }
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
        if ci || verbosity == gate_cli::Verbosity::Verbose || !std::io::stderr().is_terminal() {
            return Progress {
                bar: None,
                silent: false,
            };
        }
        let bar = match total {
            Some(n) => ProgressBar::new(n as u64),
            None => ProgressBar::new_spinner(),
        };
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed}] {bar:30} {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress {
            bar: Some(bar),
            silent: false,
        }
    }

    /// A new phase (`upgrade`, `snapshot`, `round trip`, `fix emergency_x.py`).
    pub fn stage(&self, msg: &str) {
        if self.silent {
            return;
        }
        match &self.bar {
            Some(b) => b.set_message(msg.to_string()),
            None => eprintln!("gate-replay: {msg}"),
        }
    }

    /// A migration finished during the main upgrade.
    pub fn applied(&self, a: &Applied) {
        if self.silent {
            return;
        }
        match &self.bar {
            Some(b) => {
                b.inc(1);
                b.set_message(a.revision.clone());
            }
            None => eprintln!(
                "gate-replay:   {} {} ms",
                a.revision,
                a.duration.as_millis()
            ),
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
