//! Subcommands every binary has: `explain CODE` and `completions SHELL`. A gate flattens
//! [`SharedCommand`] into its own subcommands and hands it to [`run_shared`].

use std::io::Write as _;
use std::process::ExitCode;

use gate_report::rules::RULES;

/// `explain` and `completions`, the same on every binary.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum SharedCommand {
    /// Explain a rule code (G001, C003, ...): what it detects, why it matters, how to fix it
    Explain {
        /// The rule code, any case
        #[arg(value_name = "CODE")]
        code: String,
    },
    /// Print a shell completion script: bash, zsh, fish, powershell or elvish
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
}

/// Run a shared subcommand; `command` is the binary's whole clap definition (for completions).
// The binaries' output: an explanation or a completion script is what the user asked for.
#[allow(clippy::disallowed_macros)]
pub fn run_shared(cmd: &SharedCommand, mut command: clap::Command) -> ExitCode {
    match cmd {
        SharedCommand::Explain { code } => match gate_report::explain(code) {
            Some(text) => {
                print_or_ignore_closed_pipe(&text);
                ExitCode::SUCCESS
            }
            None => {
                let near = close_codes(code);
                let hint = if near.is_empty() {
                    format!(
                        "known codes: {}",
                        RULES
                            .iter()
                            .map(|r| r.code.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                } else {
                    format!("did you mean {}?", near.join(", "))
                };
                eprintln!(
                    "error: unknown rule code `{}`; {hint}",
                    gate_report::redact::redact(code.trim())
                );
                ExitCode::from(2)
            }
        },
        SharedCommand::Completions { shell } => {
            let name = command.get_name().to_string();
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut command, name, &mut script);
            print_or_ignore_closed_pipe(&String::from_utf8_lossy(&script));
            ExitCode::SUCCESS
        }
    }
}

// The binaries' output, as above.
#[allow(clippy::disallowed_macros)]
fn print_or_ignore_closed_pipe(text: &str) {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error.
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("error: cannot write to stdout: {e}");
    }
}

/// Catalogue codes within edit distance 1 of `code` (a typo), else those sharing its
/// family letter and first digit, so `G01` and `g0001` and `G9` each get a short list.
fn close_codes(code: &str) -> Vec<&'static str> {
    let wanted = code.trim().to_ascii_uppercase();
    let near: Vec<&'static str> = RULES
        .iter()
        .map(|r| r.code.as_str())
        .filter(|c| edit_distance(c, &wanted) <= 1)
        .collect();
    if !near.is_empty() {
        return near;
    }
    let family: String = wanted.chars().take(1).collect();
    if family.is_empty() {
        return Vec::new();
    }
    RULES
        .iter()
        .map(|r| r.code.as_str())
        .filter(|c| c.starts_with(&family))
        .collect()
}

/// Levenshtein distance over chars; codes are a few characters long.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut row = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            row.push((prev[j] + cost).min(prev[j + 1] + 1).min(row[j] + 1));
        }
        prev = row;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_finds_the_code_it_meant() {
        assert!(close_codes("G01").contains(&"G001"));
        assert!(close_codes("g0002").contains(&"G002"));
        assert_eq!(edit_distance("G001", "G001"), 0);
        assert_eq!(edit_distance("G001", "G010"), 2);
    }

    #[test]
    fn an_unknown_family_lists_nothing_close() {
        assert!(close_codes("Z999").is_empty());
    }
}
