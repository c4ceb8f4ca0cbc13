//! The G001/G002 rules, shared by the staged scan and the working-tree scan. Each scan turns
//! what it sees into a [`Candidate`]; this module decides and words the finding.

use gate_policy::Policy;
use gate_report::Finding;
use sha2::{Digest, Sha256};

use crate::ScanError;
use crate::ddl;

/// Content bigger than this is judged by name only: emergency scripts are small, and a hook
/// must not stall on a stray data dump.
pub const MAX_TEXT_BYTES: u64 = 1024 * 1024;
/// A NUL byte within this prefix marks binary content (git's own heuristic), judged by name.
const BINARY_SNIFF: usize = 8 * 1024;

/// What kind of thing sits at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    /// Judged by its name; its target is hashed as text (that is what git stores) but never
    /// followed.
    Symlink,
    /// FIFOs, sockets, devices (working tree only): never opened, since opening a FIFO
    /// blocks; judged by name.
    Special,
}

/// One file a scan wants judged.
#[derive(Debug)]
pub struct Candidate {
    /// Raw path bytes, repository-relative with `/`.
    pub raw: Vec<u8>,
    /// `raw` as UTF-8 (lossy), for policy matching.
    pub rel: String,
    pub kind: Kind,
    /// Size in bytes, when known without reading.
    pub size: u64,
    /// Whether it lies in an `emergency.scope` folder (registered files outside scope are
    /// still checked for G002).
    pub in_scope: bool,
}

/// Whether a file is of a type that can be an emergency script at all.
#[derive(Debug)]
pub enum ScriptType {
    /// Reports, notes, data: never a script, whatever its name or text.
    Not,
    /// Its extension is in `emergency.extensions`.
    Extension,
    /// No extension, and a `#!` line naming an interpreter of one of `emergency.extensions`
    /// (`python3` for `py`, `bash` for `bash` or `sh`, ...). The content is returned, so it
    /// is read once.
    Shebang(Vec<u8>),
}

/// The `emergency.extensions` rule. Only extensionless regular files are read, and only up
/// to [`MAX_TEXT_BYTES`]: a script that size is no hand fix.
pub fn script_type(
    policy: &Policy,
    c: &Candidate,
    load: &mut dyn FnMut() -> Result<Vec<u8>, ScanError>,
) -> Result<ScriptType, ScanError> {
    if policy.emergency.has_script_extension(&c.rel) {
        return Ok(ScriptType::Extension);
    }
    let name = c.rel.rsplit('/').next().unwrap_or(&c.rel);
    if has_extension(name) || c.kind != Kind::File || c.size > MAX_TEXT_BYTES {
        return Ok(ScriptType::Not);
    }
    let text = load()?;
    let declared = shebang_interpreter(&text).is_some_and(|i| {
        interpreter_extensions(&i)
            .iter()
            .any(|e| policy.emergency.extensions.iter().any(|x| x == e))
    });
    Ok(if declared {
        ScriptType::Shebang(text)
    } else {
        ScriptType::Not
    })
}

/// The interpreter a `#!` line names, without path and version: `python` for
/// `#!/usr/bin/env -S python3.11 -u`, `bash` for `#!/bin/bash -e`.
fn shebang_interpreter(text: &[u8]) -> Option<String> {
    let rest = text.strip_prefix(b"#!")?;
    let line = &rest[..rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len())];
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    let mut program = words.next()?.rsplit('/').next()?.to_string();
    if program == "env" {
        // `env -S prog`, `env VAR=x prog`: the first word that is neither.
        program = words
            .find(|w| !w.starts_with('-') && !w.contains('='))?
            .rsplit('/')
            .next()?
            .to_string();
    }
    let name = program.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    Some(name.to_ascii_lowercase())
}

/// The file types (as in `emergency.extensions`) an interpreter runs; an interpreter not
/// known here stands for its own name (`php` for `#!/usr/bin/php`).
fn interpreter_extensions(interpreter: &str) -> Vec<&str> {
    match interpreter {
        "python" | "pypy" => vec!["py"],
        "sh" | "dash" | "ash" | "ksh" | "zsh" => vec!["sh"],
        "bash" => vec!["bash", "sh"],
        "node" | "nodejs" => vec!["js"],
        "deno" | "bun" => vec!["ts", "js"],
        "ts-node" | "tsx" => vec!["ts"],
        "ruby" => vec!["rb"],
        "perl" => vec!["pl"],
        "psql" => vec!["sql"],
        other => vec![other],
    }
}

/// Judge one candidate. `load` reads its content (staged blob or working copy); it is only
/// called when the verdict needs the content.
pub fn judge(
    policy: &Policy,
    c: &Candidate,
    load: &mut dyn FnMut() -> Result<Vec<u8>, ScanError>,
) -> Result<Option<Finding>, ScanError> {
    let shown = display_path(&c.raw);
    if let Some(script) = policy.emergency.script(&c.rel) {
        let content = load()?;
        let actual = hex::encode(Sha256::digest(&content));
        let approved = script.sha256.as_deref().map(str::trim);
        if approved.is_some_and(|a| a.eq_ignore_ascii_case(&actual)) {
            return Ok(None);
        }
        let quoted = shell_quote(&c.raw);
        let message = match approved {
            Some(a) if script.approved_by.is_some() => format!(
                "{shown} changed after approval: its sha256 is {actual}, the approval in {} (line {}) is pinned to {a}",
                policy_name(policy),
                script.line
            ),
            // A legacy or not yet approved entry pins what was registered, not an approval.
            Some(a) => format!(
                "{shown} changed since it was registered: its sha256 is {actual}, the entry in {} (line {}) is pinned to {a}",
                policy_name(policy),
                script.line
            ),
            None => format!(
                "{shown} is registered in {} (line {}) without a sha256, so no content is approved",
                policy_name(policy),
                script.line
            ),
        };
        return Ok(Some(
            Finding::new("G002", message).at(shown).help(format!(
                "revert the edit, or re-pin it with `gate-approve register {quoted} --update` and get it approved{}",
                if script.approved_by.is_some() { " again" } else { "" }
            )),
        ));
    }
    if !c.in_scope {
        return Ok(None);
    }
    let name = c.rel.rsplit('/').next().unwrap_or(&c.rel);
    let by_name = policy.emergency.names.iter().find(|r| r.is_match(name));
    if by_name.is_none() && !policy.emergency.ddl {
        return Ok(None);
    }
    let content = match script_type(policy, c, load)? {
        ScriptType::Not => return Ok(None),
        ScriptType::Extension => None,
        ScriptType::Shebang(text) => Some(text),
    };
    let (reason, line) = if let Some(re) = by_name {
        (format!("its name matches `{}`", re.as_str()), None)
    } else if c.kind == Kind::File && c.size <= MAX_TEXT_BYTES {
        let content = match content {
            Some(text) => text,
            None => load()?,
        };
        if is_binary(&content) {
            return Ok(None);
        }
        match ddl::first_ddl_line(&content) {
            Some(line) => (
                format!("it runs DDL (line {line}) outside the migration chain"),
                Some(line),
            ),
            None => return Ok(None),
        }
    } else {
        return Ok(None);
    };
    let quoted = shell_quote(&c.raw);
    let mut f = Finding::new(
        "G001",
        format!(
            "{shown} is an unregistered emergency script: {reason}, and it is not in [[emergency.script]]"
        ),
    )
    .at(shown)
    .help(format!(
        "turn it into a migration in {}/, or register it for approval: gate-approve register {quoted} --reason \"...\" --ticket INC-...",
        policy.migrations.path.trim_end_matches('/')
    ));
    if let Some(l) = line {
        f = f.line(l);
    }
    Ok(Some(f))
}

fn policy_name(policy: &Policy) -> String {
    policy.file.file_name().map_or_else(
        || "policy.toml".into(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Whether a file name has an extension, the way `Emergency::has_script_extension` reads
/// one: a dot file such as `.envrc` has none.
fn has_extension(name: &str) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(stem, _)| !stem.is_empty())
}

pub fn is_binary(content: &[u8]) -> bool {
    content[..content.len().min(BINARY_SNIFF)].contains(&0)
}

/// A path as users should read it: unchanged when it is plain UTF-8 without control
/// characters, else quoted with escapes (`"a\nb"`, `"caf\xe9.py"`) so a newline or a raw
/// byte cannot forge or garble a line of output.
pub fn display_path(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(s) if !s.chars().any(char::is_control) => s.to_string(),
        _ => format!("\"{}\"", escape(raw)),
    }
}

fn escape(raw: &[u8]) -> String {
    let mut out = String::new();
    for chunk in raw.utf8_chunks() {
        for ch in chunk.valid().chars() {
            match ch {
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\'' => out.push_str("\\'"),
                c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Quote a path for a POSIX shell command line the user can paste: bare when it is made of
/// safe characters, `'...'` otherwise, and bash's `$'...'` when it holds control characters
/// or non-UTF-8 bytes. A leading `-` gets a `./` so it cannot be read as an option.
pub fn shell_quote(raw: &[u8]) -> String {
    let dashed = raw.first() == Some(&b'-');
    let mut owned;
    let raw = if dashed {
        owned = b"./".to_vec();
        owned.extend_from_slice(raw);
        &owned[..]
    } else {
        raw
    };
    let safe = |b: &u8| b.is_ascii_alphanumeric() || b"_./-+,:@%=".contains(b);
    if !raw.is_empty() && raw.iter().all(safe) {
        return String::from_utf8_lossy(raw).into_owned();
    }
    match std::str::from_utf8(raw) {
        Ok(s) if !s.chars().any(char::is_control) => format!("'{}'", s.replace('\'', r"'\''")),
        _ => format!("$'{}'", escape(raw)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_are_shown_unchanged() {
        assert_eq!(display_path(b"emergency fix.py"), "emergency fix.py");
        assert_eq!(display_path("répare.py".as_bytes()), "répare.py");
    }

    #[test]
    fn control_characters_and_raw_bytes_are_escaped() {
        assert_eq!(display_path(b"a\nb.py"), "\"a\\nb.py\"");
        assert_eq!(display_path(b"caf\xe9_fix.py"), "\"caf\\xe9_fix.py\"");
    }

    #[test]
    fn shell_quoting_is_minimal_and_safe() {
        assert_eq!(shell_quote(b"emergency_fix.py"), "emergency_fix.py");
        assert_eq!(shell_quote(b"my fix.py"), "'my fix.py'");
        assert_eq!(shell_quote(b"it's fix.py"), r"'it'\''s fix.py'");
        assert_eq!(shell_quote(b"-fix.py"), "./-fix.py");
        assert_eq!(shell_quote(b"a\nfix.py"), "$'a\\nfix.py'");
        assert_eq!(shell_quote(b"\xff_fix.py"), "$'\\xff_fix.py'");
    }

    #[test]
    fn shebangs_name_their_interpreter_and_its_file_types() {
        let i = |t: &str| shebang_interpreter(t.as_bytes());
        assert_eq!(
            i("#!/usr/bin/env python3\nprint(1)").as_deref(),
            Some("python")
        );
        assert_eq!(
            i("#!/usr/bin/env -S python3.11 -u\n").as_deref(),
            Some("python")
        );
        assert_eq!(
            i("#!/usr/bin/env PYTHONPATH=. python\n").as_deref(),
            Some("python")
        );
        assert_eq!(i("#! /bin/bash -e\n").as_deref(), Some("bash"));
        assert_eq!(i("#!/usr/bin/php").as_deref(), Some("php"));
        assert_eq!(i("#!\n"), None);
        assert_eq!(i("print(1)\n"), None);
        assert_eq!(interpreter_extensions("bash"), ["bash", "sh"]);
        assert_eq!(interpreter_extensions("python"), ["py"]);
        assert_eq!(interpreter_extensions("php"), ["php"]);
    }

    #[test]
    fn extensions_are_read_like_the_policy_reads_them() {
        assert!(has_extension("README.md"));
        assert!(has_extension("fix.tar.gz"));
        assert!(!has_extension("fix_admin"));
        assert!(!has_extension(".envrc"));
    }

    #[test]
    fn binary_means_nul_in_the_first_8_kib() {
        assert!(is_binary(b"abc\0def"));
        assert!(!is_binary(b"ALTER TABLE t"));
        let mut late = vec![b'a'; 9000];
        late.push(0);
        assert!(!is_binary(&late));
    }
}
