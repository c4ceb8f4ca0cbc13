//! Render a report of N synthetic findings in one format, for timing renderers:
//! `cargo run --release -p gate-report --example render_many -- sarif 10000 > /dev/null`
// An example program: printing its results is what it is for.
#![allow(clippy::disallowed_macros)]

use std::io::{BufWriter, Write};

use gate_report::{Code, Finding, Format, Report, render};

fn main() {
    let mut args = std::env::args().skip(1);
    let format: Format = args
        .next()
        .unwrap_or_else(|| "text".into())
        .parse()
        .unwrap_or_else(|e| {
            eprintln!("error: {e}");
            std::process::exit(2)
        });
    let n: u32 = args.next().map_or(10_000, |s| {
        s.parse().unwrap_or_else(|_| {
            eprintln!("error: the finding count `{s}` is not a number");
            std::process::exit(2)
        })
    });
    let codes = [
        Code::G001,
        Code::C003,
        Code::R001,
        Code::R005,
        Code::F003,
        Code::A010,
    ];
    let mut report = Report::new("gate-replay", format!("{n} synthetic findings"));
    report.findings = (0..n)
        .map(|i| {
            Finding::new(
                codes[i as usize % codes.len()],
                format!(
                    "finding {i}: relation \"t{i}\" <already> exists | 100% `odd`\nsecond line"
                ),
            )
            .at(format!("alembic/versions/{i:04}_step, part {i}.py"))
            .line(i + 1)
            .column(3)
            .help("Make the later migration tolerate the fix (`IF NOT EXISTS`).")
        })
        .collect();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if let Err(e) = render(&report, format, &mut out).and_then(|()| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("error: cannot write the report: {e}");
        std::process::exit(2);
    }
}
